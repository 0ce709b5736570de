"""Read-models for ``/status``, the CLI and the demo: counts, rows, deliveries.

Every method here only reads, through :meth:`connector.store.base.StoreBase.query` (under the
store's lock); none of them changes the database.
"""
from __future__ import annotations

import json

from .. import states


class StatusMixin:
    """What the status page and the CLI show: the read-only part of :class:`connector.store.Store`."""

    def delivery_counts(self) -> dict[str, int]:
        counts = {state: 0 for state in states.STATES}
        for row in self.query("select state, count(*) as n from deliveries group by state"):
            counts[row["state"]] = row["n"]
        return counts

    def channel_rows(self) -> list[dict]:
        return self.query(
            "select c.name, c.kind, c.last_poll_at, c.last_success_at, c.last_error, c.paused_until,"
            " c.paused_reason, coalesce(c.failures, 0) as failures, c.poll_started_at,"
            " (select count(*) from messages m where m.channel = c.name) as messages,"
            " (select count(*) from quarantine q where q.channel = c.name) as quarantined,"
            " (select count(distinct m.platform_id) from messages m where m.channel = c.name"
            "  and m.deleted_at is not null) as deleted"
            " from channels c order by c.name")

    def sink_rows(self) -> list[dict]:
        return self.query("select name, kind, last_error, last_ok_at, paused_until, paused_reason from sinks"
                          " order by name")

    def worker_rows(self) -> list[dict]:
        """Workers that beat in the last day, the most recent first."""
        rows = self.query("select * from workers order by beat_at desc")
        for row in rows:
            row["rules_errors"] = json.loads(row.pop("rules_errors_json") or "[]")
            row["activity"] = json.loads(row.pop("activity_json") or "{}")
        return rows

    def deliveries(self, state: str | None = None, limit: int = 100) -> list[dict]:
        where, params = ("where d.state = ?", [state]) if state else ("", [])
        return self.query(
            "select d.id, d.state, d.sink, d.rule, d.attempts, d.last_error, d.zaak_identificatie, d.zaak_url,"
            " d.updated_at, m.channel, m.platform_id, m.version"
            f" from deliveries d join messages m on m.id = d.message_id {where} order by d.id limit ?", params + [limit])

    def recent_failures(self, limit: int = 10) -> list[dict]:
        """The newest failed deliveries (dead, or waiting for a retry) with their reason, newest first.

        One indexed range per state (``deliveries(state, next_attempt_at)``: a dead delivery's is the time
        it died, a retry's the time it is tried again), so it costs the same whatever the store holds.
        """
        rows = []
        for state in (states.DEAD, states.RETRY_WAIT):
            rows += self.query(
                "select d.id, d.message_id, d.sink, d.state, d.attempts, d.last_error, d.next_attempt_at,"
                " d.updated_at, m.channel, m.platform_id from deliveries d join messages m on m.id = d.message_id"
                " where d.state = ? order by d.next_attempt_at desc limit ?", [state, limit])
        return sorted(rows, key=lambda row: (row["updated_at"] or "", row["id"]), reverse=True)[:limit]
