"""What the status API answers, built from the configuration and the store alone (no Flask request).

``/status`` (:mod:`.status`) and ``connector status`` (:mod:`connector.cli.status`) build their
answers here, so the terminal shows exactly what the helpdesk's API serves; both dump them through
the marshmallow schemas of :mod:`.status_schemas`, which also generate ``/openapi.json``.

* :func:`status_report`: the connector as a whole: the workers (and what each holds), channels, sinks, backlog, oldest
  undelivered delivery, dead deliveries, mapping rules in force.
* :func:`message_story`: one post (every stored version) and what became of it in each sink: the
  stored routing decision, zaak, documents, steps and attempts, reusing the message page's read
  models (:meth:`~connector.store.webviews.WebViewsMixin.message_detail` and
  :meth:`~connector.store.webviews.WebViewsMixin.delivery_trace`, values clipped and secrets masked there).
* :func:`message_finder`: which post is "the one from yesterday 14:02": a keyset page of posts by
  publication time. A time without an offset is Amsterdam time, as the helpdesk reads a clock;
  a date alone is that whole day.

Every store query is bounded (see :mod:`connector.store.status`), so these cost the same with
100,000 messages stored.
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..health import live_worker, problems  # noqa: F401 - problems re-exported for the status views and CLI
from ..message import fixed_iso, iso, parse_iso, utcnow

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
EXCERPT = 140  # characters of a post's text in a list
FINDER_MAX = 100  # posts per page of the finder
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_FRACTION = re.compile(r"(\.\d{1,6})\d+")
_LEAP = re.compile(r"(T\d{2}:\d{2}:)60")


def _future(value: str | None, now) -> str | None:
    """``value`` (ISO) if it lies in the future, else None: an expired pause is no pause."""
    return value if value and parse_iso(value) > now else None


def _seconds(since: str | None, now) -> float | None:
    return round((now - parse_iso(since)).total_seconds(), 3) if since else None


def midnight_utc(now: datetime) -> datetime:
    """The start of today in Europe/Amsterdam, as a UTC datetime."""
    local = now.astimezone(AMSTERDAM)
    return datetime.combine(local.date(), time(0), tzinfo=AMSTERDAM).astimezone(timezone.utc)


def _next_poll(channel, row: dict, paused: str | None) -> str | None:
    """When the channel polls next: the pause's end, else its last poll plus its interval (None: disabled,
    or never polled, when the worker polls it at its start)."""
    if not channel.enabled:
        return None
    if paused:
        return paused
    last = row.get("last_poll_at")
    return iso(parse_iso(last) + timedelta(seconds=channel.poll_interval)) if last else None


def _reachable(row: dict, paused: str | None) -> bool | None:
    """True when its last call went well, False when it failed since, None when never tried."""
    if row.get("last_error") or row.get("failure_streak") or paused:
        return False
    return True if row.get("last_ok_at") else None


def _channels(config, store, now) -> list[dict]:
    limits = config.limits
    rows = {row["name"]: row for row in store.channel_rows()}
    today = store.messages_since([c.name for c in config.channels], fixed_iso(midnight_utc(now)))
    # a poll is bounded by poll_deadline plus one call's deadline; running longer, it is stuck
    stalled_after = timedelta(seconds=limits["poll_deadline"] + 2 * limits["call_deadline"])
    channels = []
    for channel in config.channels:
        row = rows.get(channel.name, {})
        paused = _future(row.get("paused_until"), now)
        polling_since = row.get("poll_started_at")
        channels.append({
            "name": channel.name, "kind": channel.kind, "enabled": channel.enabled,
            "poll_interval_seconds": channel.poll_interval,
            "last_poll_at": row.get("last_poll_at"), "last_success_at": row.get("last_success_at"),
            "next_poll_at": _next_poll(channel, row, paused),
            "last_error": row.get("last_error"), "consecutive_failures": row.get("failures", 0),
            "polling_since": polling_since,
            "stalled": bool(polling_since) and parse_iso(polling_since) < now - stalled_after,
            "paused_until": paused, "paused_reason": row.get("paused_reason") if paused else None,
            "rate_limited_until": paused if paused and row.get("paused_reason") == "rate_limited" else None,
            "messages": row.get("messages", 0), "messages_today": today.get(channel.name, 0),
            "quarantined": row.get("quarantined", 0), "deleted_on_platform": row.get("deleted", 0),
        })
    return channels


def _sinks(config, store, now) -> list[dict]:
    rows = {row["name"]: row for row in store.sink_rows()}
    sinks = []
    for sink in config.sinks:
        row = rows.get(sink.name, {})
        paused = _future(row.get("paused_until"), now)
        sinks.append({"name": sink.name, "kind": sink.kind, "parallel": sink.parallel,
                      "reachable": _reachable(row, paused),
                      "last_error": row.get("last_error"), "last_ok_at": row.get("last_ok_at"),
                      "paused": bool(paused), "paused_until": paused,
                      "paused_reason": row.get("paused_reason") if paused else None})
    return sinks


def _worker(row: dict | None, alive: bool, now, held: dict) -> dict | None:
    """A worker's row with what it holds now (``held``: :meth:`~connector.store.Store.holdings`)."""
    if row is None:
        return None
    holds = held.get(row["id"], {})
    return {"id": row["id"], "alive": alive, "started_at": row["started_at"], "beat_at": row["beat_at"],
            "stopped_at": row["stopped_at"], "activity": row["activity"],
            "uptime_seconds": _seconds(row["started_at"], now) if alive else None,
            "channels": holds.get("channels", []), "deliveries": holds.get("deliveries", 0)}


def _holder(holder: str, holds: dict) -> dict:
    """One that holds a lease without being a worker that beats: the web process delivering a message on a
    person's request (:func:`connector.ondemand.holder`, ``web:USER@HOST:PID``)."""
    return {"id": holder, "alive": True, "started_at": None, "beat_at": None, "stopped_at": None, "activity": {},
            "uptime_seconds": None, "channels": holds["channels"], "deliveries": holds["deliveries"]}


def _oldest(store, now) -> dict | None:
    row = store.oldest_undelivered()
    if row is None:
        return None
    return {"message_id": row["message_id"], "channel": row["channel"], "id": row["platform_id"],
            "sink": row["sink"], "state": row["state"], "stored_at": row["stored_at"],
            "age_seconds": _seconds(row["stored_at"], now)}


def _mappings(rules, live: dict | None) -> dict:
    current = rules.current()
    files = {"fingerprint": current.fingerprint if current else None,
             "rules": len(current.rules) if current else 0,
             "errors": [str(p) for p in (rules.error or [])]}
    if live is not None:  # what the worker actually runs; the files may hold an edit it refused
        return {"path": str(rules.path), "source": "worker", "fingerprint": live["rules_fingerprint"],
                "rules": live["rules_count"] or 0, "errors": [str(e) for e in live["rules_errors"] or []],
                "files": files}
    return {"path": str(rules.path), "source": "files", **files}


def status_report(config, store, rules, version: str, started: datetime | None = None) -> dict:
    """The body of ``GET /status`` (before its schema dumps it); ``started``: when this process started."""
    rules.refresh()
    now = utcnow()
    workers = store.worker_rows()
    stale_after = config.limits["worker_stale_after"]
    live = live_worker(workers, stale_after)
    alive = [row for row in workers if live_worker([row], stale_after)]  # several share one store (issue 13)
    held = store.holdings(now)
    known = {row["id"] for row in workers}
    others = [_holder(name, holds) for name, holds in sorted(held.items()) if name not in known]
    counts = store.delivery_counts()
    return {
        "version": version, "time": iso(now), "healthy": not problems(config, store),
        "uptime_seconds": round((now - started).total_seconds(), 3) if started else None,
        "worker": _worker(live or (workers[0] if workers else None), live is not None, now, held),
        "workers": [_worker(row, True, now, held) for row in alive] + others,
        "channels": _channels(config, store, now),
        "sinks": _sinks(config, store, now),
        "deliveries": counts,
        "oldest_undelivered": _oldest(store, now),
        "dead": counts.get("dead", 0),
        # messages the platform no longer shows: kept, marked, and told to the sinks that can keep it
        "deleted_on_platform": [{"channel": r["channel"], "id": r["platform_id"], "url": r["url"],
                                 "deleted_at": r["deleted_at"], "reason": r["deleted_reason"], "sinks": r["notices"]}
                                for r in store.deletions(limit=20)],
        "mappings": _mappings(rules, live),
    }


def _number(value) -> int | None:
    """A whole number from an event's detail, None when it holds something else (an old or odd event)."""
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _delivery(delivery: dict, trace: dict) -> dict:
    routing = trace.get("routing") or {}
    return {
        "delivery_id": delivery["id"], "sink": delivery["sink"], "state": delivery["state"],
        "rule": delivery["rule"] or routing.get("rule") or None, "source": routing.get("source") or None,
        "action": routing.get("action"), "reason": routing.get("reason") or None,
        "attempts_count": delivery["attempts"] or 0, "last_error": delivery["last_error"],
        "next_attempt_at": delivery["next_attempt_at"], "created_at": delivery["created_at"],
        "updated_at": delivery["updated_at"],
        "zaak": {"url": delivery["zaak_url"], "identificatie": delivery["zaak_identificatie"]}
        if delivery["zaak_url"] or delivery["zaak_identificatie"] else None,
        "documents": delivery["documents"],
        "steps": [{"name": s["name"], "saved_at": s["saved_at"],
                   "fields": [{"key": k, "value": v} for k, v in s["fields"]]} for s in trace.get("steps", [])],
        "attempts": [{"at": a["at"], "state": a["state"], "from": a["from"], "attempt": _number(a["attempt"]),
                      "verdict": a["verdict"], "status": _number(a["status"]), "error": a["error"]}
                     for a in trace.get("attempts", [])],
        "attempts_hidden": trace.get("attempts_hidden", 0),
    }


def message_story(store, channel: str, platform_id: str) -> dict | None:
    """Every stored version of post ``platform_id`` on ``channel`` with its deliveries, or None when unknown."""
    versions = []
    for message_id in store.message_versions(channel, platform_id):
        detail = store.message_detail(message_id)
        if detail is None:  # gone between the two reads: not possible (nothing deletes), but never a 500
            continue
        traces = {t["id"]: t for t in store.delivery_trace(message_id)}
        versions.append({
            "message_id": detail["id"], "version": detail["version"], "url": detail["url"],
            "created_at": detail["created_at"], "fetched_at": detail["fetched_at"], "stored_at": detail["stored_at"],
            "sha256": detail["raw_sha256"], "size": detail["raw_size"] or 0,
            "deleted": {"at": detail["deleted_at"], "reason": detail["deleted_reason"]}
            if detail["deleted_at"] else None,
            "deliveries": [_delivery(d, traces.get(d["id"], {})) for d in detail["deliveries"]],
            "notices": detail["notices"],
        })
    if not versions:
        return None
    newest = versions[-1]
    return {"channel": channel, "id": platform_id, "url": newest["url"], "created_at": newest["created_at"],
            "deleted": next((v["deleted"] for v in reversed(versions) if v["deleted"]), None),
            "versions": versions}


def boundary(text: str | None, end: bool = False) -> str | None:
    """A ``since``/``until`` parameter as a fixed-width UTC timestamp (ValueError when it is none):
    ISO 8601 with an offset as given, without one in Amsterdam time; a date alone is the start of that
    day (``end``: of the next day, so an ``until`` date includes its whole day)."""
    if text is None or text == "":
        return None
    try:
        return _boundary(text, end)
    except OverflowError:  # a valid date whose day after or UTC time lies beyond year 9999 or before year 1
        return "9999-12-31T23:59:59.999Z" if text >= "5000" else "0001-01-01T00:00:00.000Z"


def _boundary(text: str, end: bool) -> str:
    if _DATE.match(text):
        day = datetime.strptime(text, "%Y-%m-%d").date() + timedelta(days=1 if end else 0)
        return fixed_iso(datetime.combine(day, time(0), tzinfo=AMSTERDAM))
    # RFC 3339 allows what Python's parser does not: a leap second, lower case, more than 6 decimals
    text = _FRACTION.sub(r"\1", text.replace("Z", "+00:00").replace("z", "+00:00").replace("t", "T"))
    text = _LEAP.sub(r"\g<1>59", text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=AMSTERDAM)
    return fixed_iso(moment)


def message_finder(store, channel: str | None, since: str | None, until: str | None,
                   before: int | None, limit: int = FINDER_MAX) -> dict:
    """A page of posts published in ``[since, until)``, newest first, and the ``before`` of the next page."""
    rows, more = store.message_finder(channel=channel, since=since, until=until, before=before, limit=limit)
    return {"messages": [{"message_id": r["id"], "channel": r["channel"], "id": r["platform_id"],
                          "version": r["version"], "created_at": r["created_at"], "stored_at": r["stored_at"],
                          "url": r["url"], "excerpt": _excerpt(r["text"]), "deliveries": r["deliveries"]}
                         for r in rows],
            "next_before": more}


def _excerpt(text) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= EXCERPT else text[:EXCERPT - 1] + "…"
