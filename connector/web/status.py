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
        paused = row.get("paused_until")
        channels.append({
            "name": channel.name,
            "kind": channel.kind,
            "enabled": channel.enabled,
            "poll_interval_seconds": channel.poll_interval,
            "last_poll_at": row.get("last_poll_at"),
            "last_success_at": row.get("last_success_at"),
            "last_error": row.get("last_error"),
            "rate_limited_until": paused if paused and parse_iso(paused) > now else None,
            "messages": row.get("messages", 0),
            "quarantined": row.get("quarantined", 0),
        })
    sinks = [{"name": sink.name, "kind": sink.kind,
              "last_error": sink_rows.get(sink.name, {}).get("last_error"),
              "last_ok_at": sink_rows.get(sink.name, {}).get("last_ok_at")} for sink in config.sinks]
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


__all__ = ["bp"]
