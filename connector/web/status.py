"""Status endpoints: is it running, what is stuck, what went wrong (JSON, no secrets).

``/healthz`` (open, for load balancers and the helpdesk's first look) is ``200 {"status": "ok"}``
only when the connector can work: the database file is the one opened (not deleted or
replaced) and writable, and a worker has beaten within ``limits.worker_stale_after`` (``0``
leaves the worker out, for a web app deployed on its own). Otherwise ``503`` with the reasons.
``/readyz`` is the same check under the name orchestrators expect.

``/status`` (details, including file paths and error texts) needs ``web.status_token``, as
``Authorization: Bearer <token>`` or ``?token=<token>``; only ``web.public_status: true`` opens it.
"""
from __future__ import annotations

import hmac
from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request

from ..health import live_worker as _live_worker
from ..health import problems as health_problems
from ..message import iso, parse_iso, utcnow

bp = Blueprint("status", __name__)


def _problems() -> list[str]:
    return health_problems(current_app.config["CONNECTOR"], current_app.config["STORE"])


def _health_response():
    problems = _problems()
    if problems:
        # open endpoint: say what is wrong, never where files live
        path = str(current_app.config["STORE"].path)
        return jsonify({"status": "error", "problems": [p.replace(path, "the database") for p in problems]}), 503
    return jsonify({"status": "ok"})


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


@bp.get("/status")
def status():
    allowed, reason = _authorised()
    if not allowed:
        response = jsonify({"error": reason})
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="connector status"'
        return response
    config = current_app.config["CONNECTOR"]
    store = current_app.config["STORE"]
    rules = current_app.config["RULES"]
    rules.refresh()
    limits = config.limits
    channel_rows = {row["name"]: row for row in store.channel_rows()}
    sink_rows = {row["name"]: row for row in store.sink_rows()}
    now = utcnow()
    # a poll is bounded by poll_deadline plus one call's deadline; running longer, it is stuck
    stalled_after = timedelta(seconds=limits["poll_deadline"] + 2 * limits["call_deadline"])
    channels = []
    for channel in config.channels:
        row = channel_rows.get(channel.name, {})
        paused = _future(row.get("paused_until"), now)
        polling_since = row.get("poll_started_at")
        channels.append({
            "name": channel.name,
            "kind": channel.kind,
            "enabled": channel.enabled,
            "poll_interval_seconds": channel.poll_interval,
            "last_poll_at": row.get("last_poll_at"),
            "last_success_at": row.get("last_success_at"),
            "last_error": row.get("last_error"),
            "consecutive_failures": row.get("failures", 0),
            "polling_since": polling_since,
            "stalled": bool(polling_since) and parse_iso(polling_since) < now - stalled_after,
            "paused_until": paused,
            "paused_reason": row.get("paused_reason") if paused else None,
            "rate_limited_until": paused if paused and row.get("paused_reason") == "rate_limited" else None,
            "messages": row.get("messages", 0),
            "quarantined": row.get("quarantined", 0),
            "deleted_on_platform": row.get("deleted", 0),
        })
    sinks = []
    for sink in config.sinks:
        row = sink_rows.get(sink.name, {})
        paused = _future(row.get("paused_until"), now)
        sinks.append({"name": sink.name, "kind": sink.kind, "parallel": sink.parallel,
                      "last_error": row.get("last_error"), "last_ok_at": row.get("last_ok_at"),
                      "paused": bool(paused), "paused_until": paused,
                      "paused_reason": row.get("paused_reason") if paused else None})
    workers = store.worker_rows()
    live = _live_worker(workers, limits["worker_stale_after"])
    body = {
        "version": current_app.config["VERSION"],
        "time": iso(now),
        "healthy": not _problems(),
        "worker": _worker(live or (workers[0] if workers else None), live is not None),
        "channels": channels,
        "sinks": sinks,
        "deliveries": store.delivery_counts(),
        # messages the platform no longer shows: kept, marked, and told to the sinks that can keep it
        "deleted_on_platform": [{"channel": r["channel"], "id": r["platform_id"], "url": r["url"],
                                 "deleted_at": r["deleted_at"], "reason": r["deleted_reason"], "sinks": r["notices"]}
                                for r in store.deletions(limit=20)],
    }
    current = rules.current()
    files = {"fingerprint": current.fingerprint if current else None,
             "rules": len(current.rules) if current else 0,
             "errors": [str(p) for p in (rules.error or [])]}
    if live is not None:  # what the worker actually runs; the files may hold an edit it refused
        body["mappings"] = {"path": str(rules.path), "source": "worker", "fingerprint": live["rules_fingerprint"],
                            "rules": live["rules_count"] or 0, "errors": live["rules_errors"],
                            "files": files}
    else:
        body["mappings"] = {"path": str(rules.path), "source": "files", **files}
    return jsonify(body)


def _worker(row: dict | None, alive: bool) -> dict | None:
    if row is None:
        return None
    return {"id": row["id"], "alive": alive, "started_at": row["started_at"], "beat_at": row["beat_at"],
            "stopped_at": row["stopped_at"], "activity": row["activity"]}


def _future(value: str | None, now) -> str | None:
    """``value`` (ISO) if it lies in the future, else None: an expired pause is no pause."""
    return value if value and parse_iso(value) > now else None


__all__ = ["bp"]
