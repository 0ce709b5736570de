"""Channel state, polls and pauses, sink pauses, and worker heartbeats.

* A channel's row holds its cursor (written by :meth:`connector.store.Store.save_page`, read by
  :meth:`ChannelsMixin.channel_state`), its last poll and error, its consecutive failures and the
  back-off pause they caused, and when a running poll began (so status can show a stalled one).
* A sink's row holds its pause: no delivery to a paused sink is claimed until the pause is over,
  so an outage or a bad configuration does not make every waiting message spend its attempts.
* A worker beats into ``workers`` (which rules it runs, what it does); rows older than a day go.
* A channel's lease (``lease_holder``, ``lease_until``): the one worker polling it. :meth:`ChannelsMixin.take_channel`
  is one conditional update (free, run out, or already ours), so of two workers asking at once exactly one
  wins, on SQLite (``BEGIN IMMEDIATE``) and on PostgreSQL (the second update waits for the first's row lock,
  then finds the row taken); a killed worker's lease runs out and the next poll anywhere takes it over.

The mixin works on :class:`connector.store.base.StoreBase`'s connection, lock and events.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from ..failures import Failure
from ..message import fixed_iso, parse_iso, utcnow
from .base import _dumps, _now



def _poll_seconds(dialect) -> str:
    """The poll's duration (GET /metrics), from poll_started_at as it was before this update cleared it."""
    return f"last_poll_seconds = {dialect.seconds_between('?', 'poll_started_at')}"


class ChannelsMixin:
    """Channels, sinks' pauses and workers: the part of :class:`connector.store.Store` the scheduler uses."""

    # -- channels -------------------------------------------------------------------------

    def channel_state(self, channel: str) -> dict | None:
        with self._lock:
            rows = list(self.db.query("select state_json from channels where name = ?", [channel]))
        if not rows or not rows[0]["state_json"]:
            return None
        return json.loads(rows[0]["state_json"])

    def register(self, channels: dict[str, str], sinks: dict[str, str]) -> None:
        """Make sure every configured channel and sink has a status row (name -> kind)."""
        with self._write():
            for name, kind in channels.items():
                self._ensure_channel(name, kind)
                self.db.execute("update channels set kind = ? where name = ?", [kind, name])
            for name, kind in sinks.items():
                self.db.execute("insert into sinks (name, kind, updated_at) values (?, ?, ?)"
                                " on conflict (name) do nothing", [name, kind, _now()])
                self.db.execute("update sinks set kind = ? where name = ?", [kind, name])

    def record_poll(self, channel: str, failure: Failure | None = None, paused_until: datetime | None = None,
                    paused_reason: str | None = None) -> None:
        """A poll's outcome: success clears errors and pauses; a failure counts and may pause the channel.

        Either way the poll's duration (since :meth:`poll_started`) goes into ``last_poll_seconds``."""
        now = _now()
        with self._write():
            self._ensure_channel(channel)
            if failure is None:
                self.db.execute("update channels set last_poll_at = ?, last_success_at = ?, last_error = null,"
                                " paused_until = null, paused_reason = null, failures = 0, poll_started_at = null,"
                                f" {_poll_seconds(self.db.dialect)} where name = ?",
                                [now, now, now, channel])
            else:
                self.db.execute("update channels set last_poll_at = ?, last_error = ?, paused_until = ?,"
                                " paused_reason = ?, failures = coalesce(failures, 0) + 1, poll_started_at = null,"
                                f" {_poll_seconds(self.db.dialect)} where name = ?",
                                [now, failure.message, fixed_iso(paused_until), paused_reason, now, channel])
                self._event("channel.error", channel=channel,
                            detail={**failure.to_dict(), "paused_until": fixed_iso(paused_until)})

    def poll_started(self, channel: str) -> None:
        """A poll of ``channel`` began; :meth:`record_poll` ends it. Status shows a long one as stalled."""
        with self._write():
            self._ensure_channel(channel)
            self.db.execute("update channels set poll_started_at = ? where name = ?", [_now(), channel])

    def channel_failures(self, channel: str) -> int:
        """Consecutive failed polls of ``channel`` so far."""
        with self._lock:
            row = self.db.execute("select failures from channels where name = ?", [channel]).fetchone()
        return (row[0] or 0) if row else 0

    def channel_paused_until(self, channel: str) -> datetime | None:
        with self._lock:
            rows = list(self.db.query("select paused_until from channels where name = ?", [channel]))
        if rows and rows[0]["paused_until"]:
            return parse_iso(rows[0]["paused_until"])
        return None

    def take_channel(self, channel: str, worker: str, seconds: float, now: datetime | None = None,
                     dead: str | None = None) -> str | None:
        """Take (or renew) ``channel``'s lease for ``worker`` for ``seconds``; the holder afterwards: ``worker``
        when it won, another worker's id when that one holds an unexpired lease. ``dead``: a holder known to be
        gone (:func:`connector.leases.gone`), whose lease is taken even before it runs out -- only if it still
        holds it (another worker may have been quicker)."""
        now = now or utcnow()
        with self._write():
            self._ensure_channel(channel)
            taken = self.db.execute(
                "update channels set lease_holder = ?, lease_until = ? where name = ?"
                " and (lease_until is null or lease_until < ? or lease_holder = ? or lease_holder = ?)",
                [worker, fixed_iso(now + timedelta(seconds=seconds)), channel, fixed_iso(now), worker,
                 dead or worker]).rowcount
            if taken:
                return worker
            row = self.db.execute("select lease_holder from channels where name = ?", [channel]).fetchone()
        return row[0] if row else None

    def renew_channel(self, channel: str, worker: str, seconds: float, now: datetime | None = None) -> bool:
        """Extend ``worker``'s lease on ``channel``; False when it is no longer ``worker``'s (it ran out and
        another worker took it over: this one must stop polling without saving)."""
        now = now or utcnow()
        with self._write():
            return self.db.execute(
                "update channels set lease_until = ? where name = ? and lease_holder = ?",
                [fixed_iso(now + timedelta(seconds=seconds)), channel, worker]).rowcount > 0

    def release_channel(self, channel: str, worker: str) -> None:
        """Give ``channel``'s lease back (the poll ended, well or not); someone else's lease is left alone."""
        with self._write():
            self.db.execute("update channels set lease_holder = null, lease_until = null"
                            " where name = ? and lease_holder = ?", [channel, worker])

    # -- workers ----------------------------------------------------------------------------

    def worker_beat(self, worker_id: str, *, host: str, pid: int, started_at: datetime,
                    rules: dict | None = None, activity: dict | None = None, stopped: bool = False) -> None:
        """The worker is alive: when, which rules it runs (fingerprint, count, reload errors), what it does."""
        rules = rules or {}
        with self._write():
            self.db.execute(
                "insert into workers (id, host, pid, started_at, beat_at, stopped_at, rules_fingerprint,"
                " rules_count, rules_errors_json, activity_json) values (?,?,?,?,?,?,?,?,?,?)"
                " on conflict (id) do update set host = excluded.host, pid = excluded.pid,"
                " started_at = excluded.started_at, beat_at = excluded.beat_at, stopped_at = excluded.stopped_at,"
                " rules_fingerprint = excluded.rules_fingerprint, rules_count = excluded.rules_count,"
                " rules_errors_json = excluded.rules_errors_json, activity_json = excluded.activity_json",
                [worker_id, host, pid, fixed_iso(started_at), _now(), _now() if stopped else None,
                 rules.get("fingerprint"), rules.get("count"), _dumps(rules.get("errors") or []),
                 _dumps(activity or {})])
            # a long-gone worker's row tells nobody anything; keep a day of history
            self.db.execute("delete from workers where beat_at < ?", [fixed_iso(utcnow() - timedelta(days=1))])

    def worker_silent(self, worker_id: str, seconds: float) -> bool:
        """Whether ``worker_id`` beat before but recorded its stop or has not beaten for ``seconds``: dead, on
        whatever host (:mod:`connector.leases`). False for a worker without a row: nothing is known of it."""
        rows = self.query("select beat_at, stopped_at from workers where id = ?", [worker_id])
        if not rows:
            return False
        return bool(rows[0]["stopped_at"]) or (rows[0]["beat_at"] or "") < fixed_iso(
            utcnow() - timedelta(seconds=seconds))

    # -- sinks ----------------------------------------------------------------------------

    def pause_sink(self, sink: str, until: datetime, reason: str) -> None:
        """No delivery to ``sink`` is claimed before ``until``: an outage or bad configuration
        should not make every waiting message spend its attempts."""
        with self._write():
            self._ensure_sink(sink)
            self.db.execute("update sinks set paused_until = ?, paused_reason = ?, last_error = ?, updated_at = ?"
                            " where name = ?", [fixed_iso(until), reason, reason, _now(), sink])
            self._event("sink.paused", sink=sink, detail={"until": fixed_iso(until), "reason": reason})

    def sink_failed(self, sink: str) -> int:
        """One more transient failure in a row for ``sink`` (across workers); the streak so far."""
        with self._write():
            self._ensure_sink(sink)
            self.db.execute("update sinks set failure_streak = coalesce(failure_streak, 0) + 1 where name = ?", [sink])
            return self.db.execute("select failure_streak from sinks where name = ?", [sink]).fetchone()[0]

    def next_config_pause(self, sink: str, base: float, most: float) -> float:
        """How long a configuration error pauses ``sink`` now: ``base``, doubling while it lasts, at most ``most``."""
        with self._write():
            self._ensure_sink(sink)
            row = self.db.execute("select config_pause_seconds from sinks where name = ?", [sink]).fetchone()
            seconds = min(most, (row[0] * 2) if row and row[0] else base)
            self.db.execute("update sinks set config_pause_seconds = ? where name = ?", [seconds, sink])
            return seconds

    def sink_pause(self, sink: str) -> tuple[datetime | None, str | None]:
        with self._lock:
            row = self.db.execute("select paused_until, paused_reason from sinks where name = ?", [sink]).fetchone()
        if not row or not row[0]:
            return None, None
        return parse_iso(row[0]), row[1]
