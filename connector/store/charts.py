"""Read-models for the dashboard's charts: what came in and went out per hour, and how long it took.

Only reads, over a bounded window (the last ``hours``), through indexes on ``messages.stored_at`` and
``events(kind, at)``, so a store with 100,000 messages answers as fast as one with a hundred.
"""
from __future__ import annotations

import statistics
from datetime import datetime, timedelta

from ..message import fixed_iso, parse_iso, utcnow


class ChartsMixin:
    def hourly(self, hours: int = 72, now: datetime | None = None) -> dict:
        """Per UTC hour of the last ``hours``: ``fetched`` (messages stored) and ``delivered`` (deliveries
        that reached their sink), oldest hour first, empty hours as 0; and ``latency``: per UTC day, the
        median and the largest minutes from a message's publication to its delivery."""
        now = now or utcnow()
        start = (now - timedelta(hours=hours - 1)).replace(minute=0, second=0, microsecond=0)
        since = fixed_iso(start)
        fetched = {r["hour"]: r["n"] for r in self.query(
            "select substr(stored_at, 1, 13) as hour, count(*) as n from messages where stored_at >= ?"
            " group by hour", [since])}
        delivered = {r["hour"]: r["n"] for r in self.query(
            "select substr(at, 1, 13) as hour, count(*) as n from events where kind = 'delivery.delivered'"
            " and at >= ? group by hour", [since])}
        hours_list = [(start + timedelta(hours=i)) for i in range(hours)]
        keys = [fixed_iso(h)[:13] for h in hours_list]
        by_day: dict[str, list[float]] = {}
        for row in self.query(
                "select e.at, m.created_at from events e join messages m on m.id = e.message_id"
                " where e.kind = 'delivery.delivered' and e.at >= ?", [since]):
            minutes = (parse_iso(row["at"]) - parse_iso(row["created_at"])).total_seconds() / 60
            by_day.setdefault(row["at"][:10], []).append(max(minutes, 0.0))
        return {
            "hours": keys,
            "fetched": [fetched.get(k, 0) for k in keys],
            "delivered": [delivered.get(k, 0) for k in keys],
            "latency": [{"day": day, "count": len(values), "median_minutes": statistics.median(values),
                         "max_minutes": max(values)} for day, values in sorted(by_day.items())],
        }
