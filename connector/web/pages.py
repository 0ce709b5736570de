"""The web UI's read-only pages, in Dutch: dashboard, messages list, a message's page, and overviews.

Every page needs a login (:func:`~.auth.login_required`); ``/gebruikers`` needs the ``admin`` role.
What they show comes from the store's read-models (:mod:`connector.store.webviews`,
:mod:`connector.store.status`) and the configuration's names and kinds, never a channel's or
sink's options (they hold credentials). Platform content is only ever escaped text (Jinja
autoescape, no ``|safe``); a link from a post is a link only when it is http(s).
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for

from .. import states
from ..message import parse_iso, utcnow
from ..store.users import role_allows
from .auth import current_user, login_required

bp = Blueprint("pages", __name__)
PAGE_SIZE = 50
_MAX_ID = 2**63 - 1  # SQLite's largest integer: a bigger number in a URL is no message, not an error


def safe_url(value) -> str | None:
    """``value`` when it is an http(s) URL (safe in an ``href``), else None (shown as text, if at all)."""
    if not isinstance(value, str):
        return None
    try:
        scheme = urlsplit(value.strip()).scheme.lower()
    except ValueError:
        return None
    return value.strip() if scheme in ("http", "https") else None


def moment(value) -> str:
    """A stored timestamp as ``2026-01-01 12:00:00 UTC`` (empty for none)."""
    if not value:
        return ""
    text = str(value)
    return f"{text[:10]} {text[11:19]} UTC" if len(text) >= 19 and text[10:11] == "T" else text


def _future(value: str | None) -> str | None:
    try:
        return value if value and parse_iso(value) > utcnow() else None
    except (TypeError, ValueError):
        return None


@bp.get("/")
@login_required()
def dashboard():
    config = current_app.config["CONNECTOR"]
    store = current_app.config["STORE"]
    rows = {row["name"]: row for row in store.channel_rows()}
    channels = []
    for channel in config.channels:
        row = rows.get(channel.name, {})
        paused = _future(row.get("paused_until"))
        channels.append({"name": channel.name, "kind": channel.kind, "enabled": channel.enabled,
                         "last_poll_at": row.get("last_poll_at"), "last_error": row.get("last_error"),
                         "paused_until": paused, "paused_reason": row.get("paused_reason") if paused else None,
                         "messages": row.get("messages", 0)})
    sink_rows = {row["name"]: row for row in store.sink_rows()}
    sinks = []
    for sink in config.sinks:
        row = sink_rows.get(sink.name, {})
        paused = _future(row.get("paused_until"))
        sinks.append({"name": sink.name, "kind": sink.kind, "last_ok_at": row.get("last_ok_at"),
                      "last_error": row.get("last_error"), "paused_until": paused,
                      "paused_reason": row.get("paused_reason") if paused else None})
    hourly = store.hourly(CHART_HOURS)
    return render_template("dashboard.html", kanalen=channels, sinks=sinks, aflevering=store.delivery_counts(),
                           verwijderd=store.deletions(limit=10), grafieken=[
                               bars("Berichten opgehaald per uur", hourly["hours"], hourly["fetched"]),
                               bars("Documenten afgeleverd per uur", hourly["hours"], hourly["delivered"])],
                           doorlooptijd=hourly["latency"], mislukt=store.recent_failures(10))


CHART_HOURS = 72
CHART_HEIGHT = 60


def bars(title: str, hours: list[str], values: list[int]) -> dict:
    """An SVG bar chart's geometry (drawn by the template as plain ``<rect>`` elements: no script, no
    inline style, so the strict CSP holds): one bar per hour, scaled to the highest."""
    top = max(values, default=0) or 1
    return {"titel": title, "breedte": len(values) * 4, "hoogte": CHART_HEIGHT, "totaal": sum(values),
            "hoogste": max(values, default=0), "van": moment(hours[0] + ":00:00") if hours else "",
            "balken": [{"x": i * 4, "h": round(v / top * CHART_HEIGHT, 1),
                        "y": round(CHART_HEIGHT - v / top * CHART_HEIGHT, 1),
                        "uur": f"{h[:10]} {h[11:13]}:00 UTC", "n": v} for i, (h, v) in enumerate(zip(hours, values))]}


@bp.get("/berichten")
@login_required()
def messages():
    store = current_app.config["STORE"]
    channel = request.args.get("kanaal", "").strip() or None
    state = request.args.get("status", "").strip() or None
    if state is not None and state not in states.STATES:
        state = None
    text = request.args.get("tekst", "").strip()[:200] or None
    before = request.args.get("voor", type=int)
    if before is not None and not 0 <= before <= _MAX_ID:
        before = None
    more = {name: request.args.get(name, "").strip()[:200] or None for name in ("account", "regel", "zaak")}
    dates = {name: _date(request.args.get(name, "")) for name in ("van", "tot")}
    rows, next_before = store.message_list(channel=channel, state=state, text=text, before=before,
                                           limit=PAGE_SIZE, account=more["account"], rule=more["regel"],
                                           zaak=more["zaak"], since=dates["van"], until=dates["tot"])
    chosen = {"kanaal": channel, "status": state, "tekst": text, **more, **dates}
    return render_template("berichten.html", berichten=rows, volgende=next_before, kanalen=store.message_channels(),
                           statussen=states.STATES, filter={k: v or "" for k, v in chosen.items()},
                           verder={k: v for k, v in chosen.items() if v})


def _date(value: str) -> str | None:
    """``YYYY-MM-DD`` when ``value`` is such a date, else None (an odd value filters nothing)."""
    from datetime import date

    try:
        return date.fromisoformat(value.strip()[:10]).isoformat() if len(value.strip()) == 10 else None
    except ValueError:
        return None


@bp.get("/berichten/<int:message_id>")
@login_required()
def message(message_id: int):
    detail = current_app.config["STORE"].message_detail(message_id) if message_id <= _MAX_ID else None
    if detail is None:
        abort(404)
    user = current_user()
    from .trace import trace_of  # the rule and why, steps, original, rendition (connector.web.trace)

    return render_template("bericht.html", b=detail, m=detail["message"],
                           mag_opnieuw=role_allows(user["role"] if user else None, "archivist"), **trace_of(detail))


@bp.post("/afleveringen/<int:delivery_id>/opnieuw")
@login_required("archivist")
def requeue(delivery_id: int):
    """Deliver again (also a delivered, dead, held or ignored delivery), recorded in the audit trail with
    the user; refused (409, in Dutch) while a worker holds it."""
    store = current_app.config["STORE"]
    found = store.query("select message_id from deliveries where id = ?", [delivery_id]) \
        if delivery_id <= _MAX_ID else []
    if not found:
        abort(404)
    user = current_user()
    try:
        store.requeue(delivery_id, who=f"web:{user['name']}")
    except states.IllegalTransition:
        return render_template("melding.html", titel="Nu niet mogelijk", tekst=(
            f"Aflevering {delivery_id} wordt op dit moment afgeleverd; probeer het straks opnieuw.")), 409
    store.event("web.requeue", delivery_id=delivery_id, message_id=found[0]["message_id"],
                detail={"user": user["name"], "role": user["role"]})
    return redirect(url_for("pages.message", message_id=found[0]["message_id"]))


@bp.get("/kanalen")
@login_required()
def channels():
    config = current_app.config["CONNECTOR"]
    return render_template("kanalen.html", kanalen=config.channels, sinks=config.sinks, uitslag=None,
                           mag_testen=role_allows(current_user()["role"], "admin"))


@bp.post("/kanalen/<soort>/<naam>/test")
@login_required("admin")
def test_connection(soort: str, naam: str):
    """"Verbinding testen": the channel's or sink's own ``check()`` (settings, connection, credentials,
    account or catalogue), shown with every configured secret taken out of the messages."""
    from ..registry import SINKS, SOURCES

    config = current_app.config["CONNECTOR"]
    configured = {"kanaal": config.channels, "bestemming": config.sinks}.get(soort)
    chosen = next((c for c in configured or () if c.name == naam), None)
    if chosen is None:
        abort(404)
    registry = (SOURCES if soort == "kanaal" else SINKS).load()
    try:
        checks = registry.get_class(chosen.kind)(chosen.name, chosen.options).check()
        results = [{"naam": c.name, "ok": c.ok, "tekst": _scrub(c.message, chosen.options)} for c in checks]
    except Exception as exc:  # noqa: BLE001 - a broken plugin is a result to show, not a 500
        results = [{"naam": "controle", "ok": False, "tekst": _scrub(f"{type(exc).__name__}: {exc}", chosen.options)}]
    store = current_app.config["STORE"]
    user = current_user()
    store.event("web.test_connection", **({"channel": naam} if soort == "kanaal" else {"sink": naam}),
                detail={"user": user["name"], "ok": all(r["ok"] for r in results)})
    return render_template("kanalen.html", kanalen=config.channels, sinks=config.sinks, mag_testen=True,
                           uitslag={"soort": soort, "naam": naam, "controles": results})


def _scrub(text: str, options: dict) -> str:
    """``text`` without the values of the options that hold secrets (a token echoed by a server, say)."""
    from ..config import SECRET_KEYS

    pending = [options]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str) and SECRET_KEYS.search(str(key)) and len(item) >= 4:
                    text = text.replace(item, "***")
                elif isinstance(item, (dict, list)):
                    pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
    return text


@bp.get("/gebruikers")
@login_required("admin")
def users():
    return render_template("gebruikers.html", gebruikers=current_app.config["STORE"].users())


__all__ = ["bp", "moment", "safe_url"]
