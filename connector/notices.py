"""Notices: telling a sink that holds a record what became of the message afterwards.

Today one kind: a **deletion on the platform** (see :mod:`connector.store.deletions`). The record
is never deleted; a sink that can keep such a fact as metadata is told, once, after it holds the
record. A sink says it can by having a method::

    def report_deletion(self, message: Message, deletion: dict, delivered: dict) -> None

``deletion`` is ``{"platform_id", "reason", "at", "url"}``; ``delivered`` is what the sink made of
the newest delivered version (``zaak_url``, ``documents`` as stored, ``delivery_id``, ``message_id``).
It must be idempotent (a notice whose answer was lost is sent again) and raises
:class:`~connector.failures.Failed` like ``deliver``. The ZGW sink writes the deletion into the
``beschrijving`` of each zaak-informatieobject with an ``X-Audit-Toelichting``; the archive and
StUF-ZDS sinks have no such field, so their notices end ``unsupported`` and the deletion stays an
event on the record in the connector's store (shown by ``/status``).

:func:`deliver_notices` runs at the start of every delivery run, a bounded batch, never blocking
deliveries for long: a sink that is paused is skipped, a failed notice is retried with backoff and
given up (``dead``) after :data:`MAX_ATTEMPTS` or at once on a permanent refusal.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from .failures import PERMANENT, Failed
from .message import utcnow

log = logging.getLogger(__name__)

BATCH = 20
MAX_ATTEMPTS = 8
BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=6)
WAIT_FOR_RECORD = timedelta(minutes=15)  # a notice whose sink does not hold the record yet


def deliver_notices(connector, now: datetime | None = None, limit: int = BATCH) -> dict[str, int]:
    """Send the due notices; returns counts per outcome (``done``, ``unsupported``, ``waiting``, ...)."""
    now = now or utcnow()
    store = connector.store
    counts: dict[str, int] = {}
    try:
        due = store.due_notices(limit, now)
    except Exception:  # noqa: BLE001 - notices must never stop the deliveries behind them
        log.exception("reading the due notices failed")
        return counts
    for notice in due:
        if connector.stopping.is_set():
            break
        outcome = _one(connector, notice, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _one(connector, notice: dict, now: datetime) -> str:
    store, name = connector.store, notice["sink"]
    sink = connector.sinks.get(name)
    report = getattr(sink, "report_deletion", None)
    if report is None:
        store.finish_notice(notice["id"], "unsupported", f"sink {name!r} has no place for a deletion on the platform;"
                            " it is kept as an event on the record in the connector's store")
        return "unsupported"
    if notice["delivered"] is None:
        if notice["on_its_way"]:
            store.finish_notice(notice["id"], "pending", "waiting until the sink holds the record",
                                now + WAIT_FOR_RECORD, count_attempt=False)
            return "waiting"
        store.finish_notice(notice["id"], "unsupported", f"sink {name!r} does not hold the record (not delivered"
                            " there: held, ignored or given up on)")
        return "unsupported"
    paused, _ = store.sink_pause(name)
    if paused and paused > now:
        return "paused"
    try:
        message = store.message_by_platform_id(notice["channel"], notice["platform_id"])
        report(message, _detail(notice), notice["delivered"])
    except Failed as exc:
        return _failed(store, notice, exc.failure.message, exc.failure.verdict == PERMANENT, now)
    except Exception as exc:  # noqa: BLE001 - a bug costs one notice's attempt, not the run
        log.exception("notice %s to sink %s crashed", notice["id"], name, extra=_about(notice))
        return _failed(store, notice, f"internal error: {type(exc).__name__}: {exc}", False, now)
    store.finish_notice(notice["id"], "done")
    log.info("sink %s told that message %s of channel %s was deleted on the platform", name,
             notice["platform_id"], notice["channel"], extra=_about(notice))
    return "done"


def _about(notice: dict) -> dict:
    """``extra=`` for a log line about a notice: its message and sink (:mod:`connector.logs`)."""
    return {"channel": notice["channel"], "message_id": notice["platform_id"], "sink": notice["sink"]}


def _failed(store, notice: dict, error: str, permanent: bool, now: datetime) -> str:
    attempts = (notice["attempts"] or 0) + 1
    if permanent or attempts >= MAX_ATTEMPTS:
        store.finish_notice(notice["id"], "dead", error)
        log.error("sink %s refused the deletion notice of message %s (%s); the deletion stays recorded in the"
                  " connector's store", notice["sink"], notice["platform_id"], error, extra=_about(notice))
        return "dead"
    wait = min(BACKOFF * 2 ** (attempts - 1), MAX_BACKOFF)
    store.finish_notice(notice["id"], "pending", error, now + wait)
    return "retry"


def _detail(notice: dict) -> dict:
    return json.loads(notice["detail_json"] or "{}")
