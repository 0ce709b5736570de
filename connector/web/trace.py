"""A message's full trace: the rule and why, every delivery step, the original payload, the rendition.

The message page (:func:`connector.web.pages.message`) takes its extra data from :func:`trace_of`:

* ``uitleg``: :func:`connector.rules.explain.explain` with the app's rules of now, beside the
  decision stored with each delivery (what was decided then; ``verschilt`` says when they differ);
* ``sporen``: each delivery's steps and state changes (:meth:`~connector.store.webviews.WebViewsMixin.delivery_trace`,
  every value clipped there);
* ``origineel``: the first :data:`PREVIEW_BYTES` of the raw payload as text (JSON pretty-printed
  when it parses), with its size and SHA-256.

Two views of this blueprint (login required, any role) answer what the page links to or frames:

``GET /berichten/<id>/origineel``  the stored raw bytes verbatim, as a download (``attachment``, the
                                   stored media type when it is one, ``nosniff``, a CSP that runs nothing);
``GET /berichten/<id>/weergave``   the HTML rendition (:func:`connector.rendition.render_html`) with its
                                   own CSP: ``sandbox``, nothing loaded but ``data:`` images and its inline
                                   style, and ``frame-ancestors 'self'``: only our message page may frame it
                                   (in an ``<iframe sandbox>``: no script, an opaque origin).

Platform content stays hostile throughout: the page shows it as escaped text only, and the rendition
sanitises the post's HTML (no script, no event handlers, links only http(s)).
"""
from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, Response, abort, current_app

from ..message import Message
from ..routing import Routing
from .auth import login_required

log = logging.getLogger(__name__)
bp = Blueprint("trace", __name__)
PREVIEW_BYTES = 64 * 1024  # of the original shown on the page
_MAX_ID = 2**63 - 1
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*\Z")
_CHARSET = re.compile(r"charset=\"?([A-Za-z0-9][\w.:-]*)\"?", re.I)
DOWNLOAD_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
RENDITION_CSP = ("sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self';"
                 " base-uri 'none'; form-action 'none'")


def _routing(data) -> Routing | None:
    try:
        return Routing.from_dict(data) if data else None
    except (TypeError, ValueError, KeyError):
        return None


def explanation(detail: dict) -> dict:
    """``{"uitleg": Explanation | None, "fout": Dutch text | None}`` for the message of ``detail``."""
    from ..rules.explain import explain

    ruleset = current_app.config["RULES"].current()
    if ruleset is None:
        return {"uitleg": None, "fout": "De regels van nu konden niet worden geladen; zie de pagina Regels."}
    try:
        return {"uitleg": explain(ruleset, Message.from_dict(detail["message"])), "fout": None}
    except Exception:  # noqa: BLE001 - an odd stored message must not take the whole page down
        log.exception("message %s: explaining its rule failed", detail.get("id"))
        return {"uitleg": None, "fout": "De uitleg kon voor dit bericht niet worden gemaakt."}


def original_preview(store, message_id: int) -> dict | None:
    """The first :data:`PREVIEW_BYTES` of the raw payload as text: ``tekst``, ``json`` (pretty-printed),
    ``afgekapt`` (clipped), ``size``, ``sha256``, ``media_type``, ``scope``; None when there is none."""
    found = store.message_original(message_id, limit=PREVIEW_BYTES)
    if found is None or not found["size"]:
        return None
    text, pretty = found["body"].decode("utf-8", errors="replace"), False
    clipped = found["size"] > PREVIEW_BYTES
    if not clipped:
        try:
            text, pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False), True
        except ValueError:
            pass
    return {**{k: found[k] for k in ("size", "sha256", "media_type", "scope")}, "tekst": text,
            "json": pretty, "afgekapt": clipped}


def trace_of(detail: dict) -> dict:
    """What the message page shows beyond ``message_detail``: ``uitleg``, ``uitleg_fout``, ``sporen``
    (each delivery's trace, with ``besluit``: its stored routing, and ``verschilt``) and ``origineel``."""
    store = current_app.config["STORE"]
    explained = explanation(detail)
    traces = store.delivery_trace(detail["id"])
    for trace in traces:
        stored = _routing(trace["routing"])
        trace["besluit"] = stored
        trace["verschilt"] = explained["uitleg"].differs_from(stored) if explained["uitleg"] else None
    return {"uitleg": explained["uitleg"], "uitleg_fout": explained["fout"], "sporen": traces,
            "origineel": original_preview(store, detail["id"])}


def download_type(stored: str | None) -> str:
    """The stored media type as a safe ``Content-Type``: its ``type/subtype`` and charset only (a
    parameter could carry anything), ``application/octet-stream`` when it is no media type."""
    base, _, params = (stored or "").partition(";")
    if not _MEDIA_TYPE.match(base.strip()):
        return "application/octet-stream"
    charset = _CHARSET.search(params)
    return f"{base.strip()}; charset={charset.group(1)}" if charset else base.strip()


def _known(message_id: int) -> int:
    if message_id > _MAX_ID:
        abort(404)
    return message_id


@bp.get("/berichten/<int:message_id>/origineel")
@login_required()
def original(message_id: int):
    """The stored raw payload, byte for byte, as a download."""
    from ..record import extension

    found = current_app.config["STORE"].message_original(_known(message_id))
    if found is None:
        abort(404)
    media_type = download_type(found["media_type"])
    name = f"bericht-{message_id}-origineel{extension(media_type)}"
    response = Response(found["body"], headers={"Content-Type": media_type})
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.get("/berichten/<int:message_id>/weergave")
@login_required()
def rendition(message_id: int):
    """The message's HTML rendition, to be framed by its page only."""
    from ..rendition import render_html

    message = current_app.config["STORE"].stored_message(_known(message_id))
    if message is None:
        abort(404)
    response = Response(render_html(message), content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = RENDITION_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


__all__ = ["bp", "trace_of"]
