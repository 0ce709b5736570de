""""Archiveer in zaak" (issue 11): archive one message now, into a zaak a person chooses, in Dutch.

* ``GET /archiveren``: paste the permalink of a post on any configured channel; ``POST`` fetches it
  (:func:`connector.ondemand.fetch_url`: the channel that recognises it fetches that one item, stored with
  what the rules plan, the cursor untouched) and goes on to that message's archive page.
* ``GET /berichten/<id>/archiveren``: the message, its deliveries (a delivered one is moved, "re-routed",
  to the zaak chosen now), a sink, a search in that sink's case system (``?zoek=``: identificatie exactly,
  or words of the omschrijving) and a form for a new zaak (its zaaktypen from the sink).
* ``POST /berichten/<id>/archiveren``: attach it to the chosen zaak (by identificatie) and deliver now
  (:func:`connector.ondemand.archive`); ``POST /berichten/<id>/nieuwe-zaak``: create a zaak first (once
  per form: a nonce in the form is the key) and archive into it. Both answer with a redirect to
  ``GET /afleveringen/<id>/uitkomst``, which says what happened (delivered into zaak X with N documents,
  or pending/failed with the reason), so a reload never sends anything twice.

Everything here needs the ``archivist`` role (an admin has it too); each action is in the audit trail
with the user (``delivery.rerouted``, ``zaak.created_on_request``, ``web.archive``). The web process
delivers with its own :class:`connector.engine.Connector` on the app's store and rules, claiming the
delivery under a lease as a worker would, so the two never deliver it at the same time.
"""
from __future__ import annotations

import secrets
import threading

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from .. import ondemand
from ..failures import Failed
from .auth import current_user, login_required
from .pages import _MAX_ID, _scrub

bp = Blueprint("archive", __name__)
_BUILD = threading.Lock()
MAX_QUERY = 200
MAX_TEXT = 1000


def connector():
    """The app's :class:`~connector.engine.Connector` (built once, on first use: it opens every sink)."""
    app = current_app
    with _BUILD:
        built = app.extensions.get("connector.ondemand")
        if built is None:
            from ..engine import Connector

            built = app.extensions["connector.ondemand"] = Connector(
                app.config["CONNECTOR"], store=app.config["STORE"], rules=app.config["RULES"])
    return built


def _sinks(engine) -> list[dict]:
    return [{"name": name, "kind": sink.kind, "zoekt": sink.searches_zaken, "maakt": sink.creates_zaken}
            for name, sink in engine.sinks.items()]


def _said(exc: Exception) -> str:
    """An error as a person may read it: a sink's classified failure or our own reason, no secrets."""
    text = exc.failure.message if isinstance(exc, Failed) else str(exc)
    config = current_app.config["CONNECTOR"]
    for part in [*config.sinks, *config.channels]:
        text = _scrub(text, part.options)
    return text[:MAX_TEXT]


def _message_row(message_id: int) -> dict:
    detail = current_app.config["STORE"].message_detail(message_id) if message_id <= _MAX_ID else None
    if detail is None:
        abort(404)
    return detail


@bp.get("/archiveren")
@login_required("archivist")
def paste():
    return render_template("archiveren_url.html", url="", fout=None)


@bp.post("/archiveren")
@login_required("archivist")
def fetch():
    url = request.form.get("url", "").strip()[:ondemand.MAX_URL + 1]
    try:
        fetched = ondemand.fetch_url(connector(), url)
    except (ondemand.OnDemandError, Failed) as exc:
        return render_template("archiveren_url.html", url=url[:ondemand.MAX_URL], fout=_said(exc)), 422
    _audit("fetch", message_id=fetched.message_id, detail={"url": url, "new": fetched.new})
    return redirect(url_for("archive.choose", message_id=fetched.message_id))


@bp.get("/berichten/<int:message_id>/archiveren")
@login_required("archivist")
def choose(message_id: int):
    detail = _message_row(message_id)
    engine = connector()
    sinks = _sinks(engine)
    searchable = [s["name"] for s in sinks if s["zoekt"]]
    chosen = request.args.get("bestemming", "")
    chosen = chosen if chosen in searchable else (searchable[0] if searchable else "")
    query = request.args.get("zoek", "").strip()[:MAX_QUERY]
    found, problem, types = [], None, []
    if chosen:
        try:
            if query:
                found = ondemand.find_zaken(engine, chosen, query)
            types = engine.sinks[chosen].zaaktypen() if engine.sinks[chosen].creates_zaken else []
        except (ondemand.OnDemandError, Failed) as exc:
            problem = _said(exc)
    return render_template("archiveren.html", b=detail, m=detail["message"], bestemmingen=sinks, gekozen=chosen,
                           zoek=query, gevonden=found, fout=problem, zaaktypen=types,
                           nonce=secrets.token_urlsafe(16))


@bp.post("/berichten/<int:message_id>/archiveren")
@login_required("archivist")
def archive(message_id: int):
    _message_row(message_id)
    sink = request.form.get("bestemming", "")
    zaak = request.form.get("zaak", "").strip()[:MAX_QUERY]
    return _archive(message_id, sink, zaak)


@bp.post("/berichten/<int:message_id>/nieuwe-zaak")
@login_required("archivist")
def new_zaak(message_id: int):
    _message_row(message_id)
    form = request.form
    sink, nonce = form.get("bestemming", ""), form.get("nonce", "")[:64]
    user = current_user()["name"]
    if not nonce:
        abort(400)
    try:
        zaak = ondemand.create_zaak(connector(), sink, form.get("zaaktype", "")[:MAX_QUERY],
                                    form.get("omschrijving", "")[:MAX_TEXT], form.get("toelichting", "")[:MAX_TEXT],
                                    key=f"{user}\0{nonce}", who=user)
    except (ondemand.OnDemandError, Failed, NotImplementedError) as exc:
        return _refused(message_id, f"De zaak is niet aangemaakt: {_said(exc)}")
    return _archive(message_id, sink, zaak.identificatie)


def _archive(message_id: int, sink: str, zaak: str):
    user = current_user()["name"]
    try:
        outcome = ondemand.archive(connector(), message_id, sink, zaak, user)
    except (ondemand.OnDemandError, Failed) as exc:
        return _refused(message_id, f"Niet gearchiveerd: {_said(exc)}")
    _audit("archive", message_id=message_id, delivery_id=outcome.delivery_id,
           detail={"sink": sink, "zaak": zaak, "state": outcome.state})
    return redirect(url_for("archive.result", delivery_id=outcome.delivery_id))


def _refused(message_id: int, text: str):
    return render_template("melding.html", titel="Archiveren niet gelukt", tekst=text,
                           terug=url_for("archive.choose", message_id=message_id)), 422


def _audit(what: str, **fields) -> None:
    user = current_user()
    detail = {"user": user["name"], "role": user["role"], **fields.pop("detail", {})}
    current_app.config["STORE"].event(f"web.{what}", detail=detail, **fields)


@bp.get("/afleveringen/<int:delivery_id>/uitkomst")
@login_required("archivist")
def result(delivery_id: int):
    store = current_app.config["STORE"]
    found = store.query("select message_id, sink from deliveries where id = ?", [delivery_id]) \
        if delivery_id <= _MAX_ID else []
    if not found:
        abort(404)
    return render_template("archiveren_uitkomst.html", uitkomst=ondemand.outcome(store, delivery_id),
                           bericht=found[0]["message_id"], bestemming=found[0]["sink"])
