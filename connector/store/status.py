"""Read-models for ``/status``, the CLI and the demo: counts, rows, deliveries.

Every method here only reads, through :meth:`connector.store.base.StoreBase.query` (under the
store's lock); none of them changes the database.

Each query costs the same with 100,000 messages stored as with a hundred (``bench/pages.py``): the
messages of today are a range of the ``messages(channel, stored_at)`` index, the oldest undelivered
delivery the smallest id of each unfinished state in ``deliveries(state, ...)`` (a covering range of
that state only), and a story or a list is a LIMIT over an index or the primary key.
"""
from __future__ import annotations

import json
from datetime import datetime

from .. import states
from ..message import fixed_iso, utcnow

#: the states of a delivery not yet done: waiting for an attempt, for a retry, for its parent, or in one now
UNDELIVERED = (states.PENDING, states.RETRY_WAIT, states.WAITING, states.IN_PROGRESS)
VERSIONS_MAX = 50  # stored versions of one post shown in its story (the newest)


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
        return self.query("select name, kind, last_error, last_ok_at, paused_until, paused_reason,"
                          " coalesce(failure_streak, 0) as failure_streak from sinks order by name")

    def worker_rows(self) -> list[dict]:
        """Workers that beat in the last day, the most recent first."""
        rows = self.query("select * from workers order by beat_at desc")
        for row in rows:
            row["rules_errors"] = json.loads(row.pop("rules_errors_json") or "[]")
            row["activity"] = json.loads(row.pop("activity_json") or "{}")
        return rows

    def holdings(self, now: datetime | None = None) -> dict[str, dict]:
        """Who holds what (m016): worker id -> ``channels`` (names, under an unexpired lease) and ``deliveries``
        (how many in progress under an unexpired lease). A lease that ran out is nobody's any more."""
        now = fixed_iso(now or utcnow())
        held: dict[str, dict] = {}
        for row in self.query("select name, lease_holder from channels where lease_holder is not null"
                              " and lease_until >= ? order by name", [now]):
            held.setdefault(row["lease_holder"], {"channels": [], "deliveries": 0})["channels"].append(row["name"])
        for row in self.query("select claimed_by, count(*) as n from deliveries where state = 'in_progress'"
                              " and claimed_by is not null and lease_until > ? group by claimed_by", [now]):
            held.setdefault(row["claimed_by"], {"channels": [], "deliveries": 0})["deliveries"] = row["n"]
        return held

    def deliveries(self, state: str | None = None, limit: int = 100) -> list[dict]:
        where, params = ("where d.state = ?", [state]) if state else ("", [])
        return self.query(
            "select d.id, d.state, d.sink, d.rule, d.attempts, d.last_error, d.zaak_identificatie, d.zaak_url,"
            " d.updated_at, m.channel, m.platform_id, m.version"
            f" from deliveries d join messages m on m.id = d.message_id {where} order by d.id limit ?",
            params + [limit])

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

    def messages_since(self, channels: list[str], since: str) -> dict[str, int]:
        """Per channel named, the messages stored at or after ``since`` (a :func:`~connector.message.fixed_iso`
        timestamp): one range of the ``messages(channel, stored_at)`` index per channel."""
        return {name: self.query("select count(*) as n from messages where channel = ? and stored_at >= ?",
                                 [name, since])[0]["n"] for name in channels}

    def oldest_undelivered(self) -> dict | None:
        """The delivery waiting longest among :data:`UNDELIVERED` (the smallest id: deliveries are made
        with their message), with its message's channel, platform id and ``stored_at``; None if none."""
        oldest = None
        for state in UNDELIVERED:
            found = self.query("select min(id) as id from deliveries where state = ?", [state])[0]["id"]
            if found is not None and (oldest is None or found < oldest):
                oldest = found
        if oldest is None:
            return None
        rows = self.query("select d.id as delivery_id, d.message_id, d.sink, d.state, m.channel, m.platform_id,"
                          " m.stored_at from deliveries d join messages m on m.id = d.message_id where d.id = ?",
                          [oldest])
        return rows[0] if rows else None

    def message_versions(self, channel: str, platform_id: str) -> list[int]:
        """The store ids of the stored versions of one post, oldest first (at most :data:`VERSIONS_MAX`,
        the newest), by the ``messages(channel, platform_id, version)`` index."""
        rows = self.query("select id from messages where channel = ? and platform_id = ? order by id desc limit ?",
                          [channel, platform_id, VERSIONS_MAX])
        return [row["id"] for row in reversed(rows)]

    def message_finder(self, channel: str | None = None, since: str | None = None, until: str | None = None,
                       before: int | None = None, limit: int = 100) -> tuple[list[dict], int | None]:
        """Messages published in ``[since, until)`` (fixed-width ISO timestamps, either may be None), of
        ``channel`` if given, newest stored first (by id, keyset ``before``), at most ``limit``, each with
        its deliveries' sink and state; and the ``before`` of the next page, or None.

        Publication time has no index: the scan walks the primary key backwards from ``before`` and
        stops at ``limit`` matches, so a page of recent posts is cheap and an old range costs one pass.
        """
        where, params = [], []
        for test, value in (("m.channel = ?", channel), ("m.created_at >= ?", since), ("m.created_at < ?", until),
                            ("m.id < ?", before)):
            if value is not None:
                where.append(test)
                params.append(value)
        clause = f" where {' and '.join(where)}" if where else ""
        rows = self.query("select m.id, m.channel, m.platform_id, m.version, m.created_at, m.stored_at, m.url,"
                          f" {self.db.dialect.json_text('m.message_json', 'text')} as text from messages m"
                          f"{clause} order by m.id desc limit ?", params + [limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        by_id = {row["id"]: row for row in rows}
        for row in rows:
            row["deliveries"] = []
        if by_id:
            marks = ", ".join("?" for _ in by_id)
            for d in self.query(f"select message_id, sink, state from deliveries where message_id in ({marks})"
                                " order by sink", list(by_id)):
                by_id[d["message_id"]]["deliveries"].append({"sink": d["sink"], "state": d["state"]})
        return rows, (rows[-1]["id"] if more else None)
