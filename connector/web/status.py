"""Status endpoints: is it running, what is stuck, what went wrong (JSON, no secrets)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..message import iso, parse_iso, utcnow

bp = Blueprint("status", __name__)


@bp.get("/healthz")
def healthz():
    store = current_app.config["STORE"]
    try:
        store.query("select 1")
    except Exception as exc:  # the database is the one thing we cannot run without
        return jsonify({"status": "error", "error": f"store unavailable: {type(exc).__name__}"}), 503
    return jsonify({"status": "ok"})


@bp.get("/status")
def status():
    config = current_app.config["CONNECTOR"]
    store = current_app.config["STORE"]
    rules = current_app.config["RULES"]
    rules.refresh()
    channel_rows = {row["name"]: row for row in store.channel_rows()}
    sink_rows = {row["name"]: row for row in store.sink_rows()}
    now = utcnow()
    channels = []
    for channel in config.channels:
        row = channel_rows.get(channel.name, {})
        paused = _future(row.get("paused_until"), now)
        channels.append({
            "name": channel.name,
            "kind": channel.kind,
            "enabled": channel.enabled,
            "poll_interval_seconds": channel.poll_interval,
            "last_poll_at": row.get("last_poll_at"),
            "last_success_at": row.get("last_success_at"),
            "last_error": row.get("last_error"),
            "consecutive_failures": row.get("failures", 0),
            "paused_until": paused,
            "paused_reason": row.get("paused_reason") if paused else None,
            "rate_limited_until": paused if paused and row.get("paused_reason") == "rate_limited" else None,
            "messages": row.get("messages", 0),
            "quarantined": row.get("quarantined", 0),
        })
    sinks = []
    for sink in config.sinks:
        row = sink_rows.get(sink.name, {})
        paused = _future(row.get("paused_until"), now)
        sinks.append({"name": sink.name, "kind": sink.kind, "parallel": sink.parallel,
                      "last_error": row.get("last_error"), "last_ok_at": row.get("last_ok_at"),
                      "paused": bool(paused), "paused_until": paused,
                      "paused_reason": row.get("paused_reason") if paused else None})
    body = {
        "version": current_app.config["VERSION"],
        "time": iso(now),
        "channels": channels,
        "sinks": sinks,
        "deliveries": store.delivery_counts(),
    }
    current = rules.current()
    body["mappings"] = {
        "path": str(rules.path),
        "fingerprint": current.fingerprint if current else None,
        "rules": len(current.rules) if current else 0,
        "errors": [str(p) for p in (rules.error or [])],
    }
    return jsonify(body)


def _future(value: str | None, now) -> str | None:
    """``value`` (ISO) if it lies in the future, else None: an expired pause is no pause."""
    return value if value and parse_iso(value) > now else None


__all__ = ["bp"]
