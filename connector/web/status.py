"""Status endpoints: is it running, what is stuck, what went wrong (JSON, no secrets).

``/healthz`` (open, for load balancers and the helpdesk's first look) is ``200 {"status": "ok"}``
only when the connector can work: the database file is the one opened (not deleted or
replaced) and writable, and a worker has beaten within ``limits.worker_stale_after`` (``0``
leaves the worker out, for a web app deployed on its own). Otherwise ``503`` with the reasons.
``/readyz`` is the same check under the name orchestrators expect.

``/status`` (details, including file paths and error texts) needs ``web.status_token``, as
``Authorization: Bearer <token>`` or ``?token=<token>``; only ``web.public_status: true`` opens it.
The same rule holds for ``/status/messages`` (find a post by when it was published) and
``/status/messages/<channel>/<id>`` (the whole story of one post).

Every answer is built by :mod:`.status_data` (which ``connector status`` shares) and dumped through
its schema in :mod:`.status_schemas`; ``/openapi.json`` (open: it holds no data) is generated from
those schemas by :mod:`.status_openapi`, so the document describes exactly what is served.
"""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, jsonify, request
from werkzeug.routing import PathConverter

from ..message import utcnow
from .status_data import FINDER_MAX, boundary, message_finder, message_story, problems, status_report
from .status_openapi import build_spec
from .status_schemas import ErrorSchema, FinderSchema, HealthSchema, StatusSchema, StorySchema

bp = Blueprint("status", __name__)
_MAX_ID = 2**63 - 1  # SQLite's largest integer


class _PlatformId(PathConverter):
    """A platform id as it is: slashes (a feed's guid is often a URL) and line breaks included."""
    regex = "(?s:[^/].*?)"


@bp.record_once
def _started(state) -> None:
    """When this web process started serving (``uptime_seconds`` in ``/status``); the id converter
    (registered before the blueprint's routes are added, which use it)."""
    state.app.config.setdefault("STARTED", utcnow())
    state.app.url_map.converters.setdefault("platform_id", _PlatformId)


def _problems() -> list[str]:
    return problems(current_app.config["CONNECTOR"], current_app.config["STORE"])


def _health_response():
    found = _problems()
    if found:
        # open endpoint: say what is wrong, never where files live
        path = str(current_app.config["STORE"].path)
        return _answer(HealthSchema(), {"status": "error",
                                        "problems": [p.replace(path, "the database") for p in found]}, 503)
    return _answer(HealthSchema(), {"status": "ok"})


@bp.get("/healthz")
def healthz():
    return _health_response()


@bp.get("/readyz")
def readyz():
    return _health_response()


def _authorised() -> tuple[bool, str]:
    web = current_app.config["CONNECTOR"].web
    if web.get("public_status"):
        return True, ""
    token = web.get("status_token")
    if not token:
        return False, "/status is closed: set web.status_token (from ${ENV}) or web.public_status: true"
    given = request.args.get("token", "")
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        given = header[7:].strip()
    if given and hmac.compare_digest(given.encode(), token.encode()):
        return True, ""
    return False, "a valid status token is needed (Authorization: Bearer <token>, or ?token=<token>)"


def _refused():
    allowed, reason = _authorised()
    if allowed:
        return None
    response = _answer(ErrorSchema(), {"error": reason}, 401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="connector status"'
    return response


def _answer(schema, body: dict, code: int = 200):
    """``body`` dumped through ``schema`` (the document's own schema), as JSON."""
    response = jsonify(schema.dump(body))
    response.status_code = code
    return response


@bp.get("/status")
def status():
    refused = _refused()
    if refused is not None:
        return refused
    app = current_app
    body = status_report(app.config["CONNECTOR"], app.config["STORE"], app.config["RULES"],
                         app.config["VERSION"], started=app.config.get("STARTED"))
    return _answer(StatusSchema(), body)


@bp.get("/status/messages")
def messages():
    refused = _refused()
    if refused is not None:
        return refused
    args = request.args
    try:
        since = boundary(args.get("since"))
        until = boundary(args.get("until"), end=True)
    except ValueError:
        return _answer(ErrorSchema(), {"error": "since and until are a date (2026-11-25) or an ISO 8601 time"
                                                " (2026-11-25T14:02, Amsterdam time without an offset)"}, 400)
    numbers = {}
    for name, top in (("before", _MAX_ID), ("limit", FINDER_MAX)):
        text = args.get(name)
        if text is not None and not (text.isascii() and text.isdigit() and len(text) < 20 and 1 <= int(text) <= top):
            return _answer(ErrorSchema(), {"error": f"{name} is a whole number from 1 to {top}"}, 400)
        numbers[name] = int(text) if text is not None else None
    body = message_finder(current_app.config["STORE"], args.get("channel") or None, since, until,
                          numbers["before"], numbers["limit"] or FINDER_MAX)
    return _answer(FinderSchema(), body)


@bp.get("/status/messages/<channel>/<platform_id:platform_id>")
def story(channel: str, platform_id: str):
    refused = _refused()
    if refused is not None:
        return refused
    body = message_story(current_app.config["STORE"], channel, platform_id)
    if body is None:
        return _answer(ErrorSchema(), {"error": f"no message {platform_id!r} stored on channel {channel!r};"
                                                " find its id with /status/messages?channel=&since=&until="}, 404)
    return _answer(StorySchema(), body)


@bp.get("/openapi.json")
def openapi():
    web = current_app.config["CONNECTOR"].web
    return jsonify(build_spec(current_app.config["VERSION"], public=bool(web.get("public_status"))))


__all__ = ["bp"]
