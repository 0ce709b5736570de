"""Read-models for the dashboard's charts: what came in and went out per hour, and how long it took.

Only reads: the per-hour counts over a window (the last ``hours``) through indexes on
``messages.stored_at`` and ``events(kind, at)``, the latency over a bounded sample of the newest
deliveries (``bench/pages.py``: the dashboard of a store with 100,000 messages, all of them in the
window, well under 300 ms).
"""
from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from ..message import fixed_iso, utcnow


LATENCY_SAMPLE = 2000  # the newest deliveries the latency figures are taken over


class ChartsMixin:
    def latency(self, sample: int = LATENCY_SAMPLE) -> dict | None:
        """Minutes from a message's publication to its delivery, over the newest ``sample`` deliveries:
        ``count``, ``median``, ``p95``, ``max`` and the period (``since``, ``until``); None before any.

        Bounded by the sample, not by the store: a busy store delivers 100,000 documents in three days."""
        rows = self.query(
            f"select e.at, {self.db.dialect.seconds_between('e.at', 'm.created_at')} / 60.0 as minutes"
            " from (select at, message_id from events where kind = 'delivery.delivered' order by at desc limit ?) e"
            " join messages m on m.id = e.message_id", [sample])
        if not rows:
            return None
        minutes = sorted(max(r["minutes"] or 0.0, 0.0) for r in rows)
        at = sorted(r["at"] for r in rows)
        return {"count": len(minutes), "median": round(statistics.median(minutes), 3),
                "p95": round(minutes[min(len(minutes) - 1, int(0.95 * len(minutes)))], 3),
                "max": round(minutes[-1], 3), "since": at[0], "until": at[-1]}

    def hourly(self, hours: int = 72, now: datetime | None = None) -> dict:
        """Per UTC hour of the last ``hours``: ``fetched`` (messages stored) and ``delivered`` (deliveries
        that reached their sink), oldest hour first, empty hours as 0; and ``latency`` (:meth:`latency`)."""
        now = now or utcnow()
        start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
        since = fixed_iso(start)
        fetched = {r["hour"]: r["n"] for r in self.query(
            "select substr(stored_at, 1, 13) as hour, count(*) as n from messages where stored_at >= ?"
            " group by hour", [since])}
        delivered = {r["hour"]: r["n"] for r in self.query(
            "select substr(at, 1, 13) as hour, count(*) as n from events where kind = 'delivery.delivered'"
            " and at >= ? group by hour", [since])}
        keys = [fixed_iso(start + timedelta(hours=i))[:13] for i in range(hours)]
        return {
            "hours": keys,
            "fetched": [fetched.get(k, 0) for k in keys],
            "delivered": [delivered.get(k, 0) for k in keys],
            "latency": self.latency(),
        }
