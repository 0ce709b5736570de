"""The store: the one module that touches SQLite (through sqlite-utils).

Tables
------
``messages``        one row per message version, unique on ``(channel, platform_id, version)``;
                    the normalised message as JSON plus the platform's raw bytes, their SHA-256,
                    where and when they were fetched.
``channels``        per channel: cursor state, last poll, last error, rate-limit pause.
``deliveries``      one row per (message, sink): state (see :mod:`connector.states`), the routing
                    the rules chose, attempts, last error, the zaak and documents it produced.
``delivery_steps``  memoised step results of each delivery (see :class:`StoreSteps`).
``sinks``           per sink: last error, last success.
``quarantine``      items a source could not normalise, with raw bytes and reason.
``events``          the audit trail: every ingest, state change, error, with time and detail.

Guarantees
----------
* :meth:`Store.save_page` stores a page's new messages, the deliveries they need and the channel's
  new cursor in ONE transaction (transactional outbox): the cursor never moves past a message that
  is not stored, and a message is stored with its deliveries or not at all.
* Every delivery state change goes through :func:`connector.states.check`.
* WAL mode, a busy timeout, and schema migrations tracked by sqlite-utils ``Migrations``.
* Every timestamp column (:data:`TIMESTAMP_COLUMNS`) holds UTC ISO 8601 of one fixed width,
  always with milliseconds (``2026-01-01T12:00:00.000Z``, :func:`connector.message.fixed_iso`), so
  comparing and sorting them as text in SQL is comparing and sorting them in time.
* Several processes may share one file (worker, web app, CLI): every write transaction starts
  with ``BEGIN IMMEDIATE``, so it waits for the write lock (busy timeout) instead of failing with
  "database is locked" when a read would have to be upgraded; migrations run under that same
  lock, so two processes starting at once cannot both apply them.
* A file that is missing (when ``create=False``), not a database, or corrupted raises
  :class:`StoreError` naming the file, never a traceback.

A :class:`Store` serialises its own use with a lock, so one instance may be shared by the
scheduler's threads; separate processes (web app, CLI) open their own instance on the same file.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlite_utils import Database, Migrations

from . import states
from .failures import Failure
from .message import Message, Quarantined, Raw, fixed_iso, parse_iso, utcnow
from .redact import redact_url
from .routing import Routing

migrations = Migrations("connector")


@migrations()
def m001_initial(db: Database) -> None:
    db["messages"].create({
        "id": int, "channel": str, "platform_id": str, "version": str, "kind": str,
        "author_handle": str, "created_at": str, "url": str, "message_json": str,
        "raw": bytes, "raw_media_type": str, "raw_sha256": str, "page_url": str,
        "fetched_at": str, "stored_at": str,
    }, pk="id", not_null={"channel", "platform_id", "version", "message_json"})
    db["messages"].create_index(["channel", "platform_id", "version"], unique=True)
    db["messages"].create_index(["channel", "stored_at"])
    db["channels"].create({
        "name": str, "kind": str, "state_json": str, "last_poll_at": str, "last_success_at": str,
        "last_error": str, "paused_until": str, "updated_at": str,
    }, pk="name")
    db["deliveries"].create({
        "id": int, "message_id": int, "sink": str, "state": str, "routing_json": str, "rule": str,
        "attempts": int, "last_error": str, "failure_json": str, "next_attempt_at": str,
        "lease_until": str, "zaak_url": str, "zaak_identificatie": str, "documents_json": str,
        "created_at": str, "updated_at": str,
    }, pk="id", not_null={"message_id", "sink", "state"}, foreign_keys=[("message_id", "messages", "id")])
    db["deliveries"].create_index(["message_id", "sink"], unique=True)
    db["deliveries"].create_index(["state", "next_attempt_at"])
    db["delivery_steps"].create({
        "delivery_id": int, "name": str, "result_json": str, "saved_at": str,
    }, pk=("delivery_id", "name"), foreign_keys=[("delivery_id", "deliveries", "id")])
    db["sinks"].create({"name": str, "kind": str, "last_error": str, "last_ok_at": str,
                        "updated_at": str}, pk="name")
    db["quarantine"].create({
        "id": int, "channel": str, "at": str, "reason": str, "item_id": str, "page_url": str,
        "raw": bytes,
    }, pk="id")
    db["events"].create({
        "id": int, "at": str, "kind": str, "channel": str, "sink": str, "message_id": int,
        "delivery_id": int, "detail_json": str,
    }, pk="id")
    db["events"].create_index(["message_id"])
    db["events"].create_index(["delivery_id"])


@migrations()
def m002_pauses(db: Database) -> None:
    """Sinks pause on configuration errors and outages; channels back off after failed polls."""
    db["sinks"].add_column("paused_until", str)
    db["sinks"].add_column("paused_reason", str)
    db["channels"].add_column("failures", int)
    db["channels"].add_column("paused_reason", str)


@migrations()
def m003_liveness(db: Database) -> None:
    """Stalled polls show in status; the worker beats and says which rules it runs."""
    db["channels"].add_column("poll_started_at", str)
    db["workers"].create({
        "id": str, "host": str, "pid": int, "started_at": str, "beat_at": str, "stopped_at": str,
        "rules_fingerprint": str, "rules_count": int, "rules_errors_json": str, "activity_json": str,
    }, pk="id")
    db["meta"].create({"key": str, "value": str}, pk="key")


#: every column holding a timestamp; all written with :func:`connector.message.fixed_iso`
TIMESTAMP_COLUMNS = {
    "messages": ("created_at", "fetched_at", "stored_at"),
    "channels": ("last_poll_at", "last_success_at", "paused_until", "updated_at", "poll_started_at"),
    "deliveries": ("next_attempt_at", "lease_until", "created_at", "updated_at"),
    "delivery_steps": ("saved_at",),
    "sinks": ("last_ok_at", "updated_at", "paused_until"),
    "quarantine": ("at",),
    "events": ("at",),
    "workers": ("started_at", "beat_at", "stopped_at"),
}
_WHOLE_SECOND = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z"
_FIXED = _WHOLE_SECOND[:-1] + ".[0-9][0-9][0-9]Z"


def _refixed(value):
    """``value`` in the fixed-width form; text that is no timestamp stays as it is."""
    try:
        return fixed_iso(parse_iso(value))
    except (TypeError, ValueError):
        return value


@migrations()
def m004_fixed_width_times(db: Database) -> None:
    """Timestamps in one fixed width (always milliseconds), so text order is time order.

    Before, whole seconds were written without milliseconds, and ``12:00:00Z`` sorted after
    ``12:00:00.500Z``: a delivery due half a second later was claimed early, one due on the
    second waited a second longer, a sink paused until ``12:00:00.500Z`` was not paused at
    ``12:00:00Z``, and messages of the same second were delivered out of order.
    """
    db.conn.create_function("connector_fixed_iso", 1, _refixed, deterministic=True)
    for table, columns in TIMESTAMP_COLUMNS.items():
        for column in columns:
            # what the old writer made of whole seconds, in SQL alone; then anything else not fixed yet
            db.execute(f"update {table} set {column} = substr({column}, 1, 19) || '.000Z'"
                       f" where {column} glob ?", [_WHOLE_SECOND])
            db.execute(f"update {table} set {column} = connector_fixed_iso({column})"
                       f" where {column} is not null and {column} not glob ?", [_FIXED])


@dataclass(frozen=True)
class DeliveryPlan:
    """What ingest decided for one message and one sink: initial state and routing."""

    sink: str
    routing: Routing
    state: str = states.PENDING


@dataclass
class SaveResult:
    new: list[int]
    duplicates: int
    quarantined: int


@dataclass
class DeliveryRow:
    """A delivery as the pipeline works with it."""

    id: int
    message_id: int
    sink: str
    state: str
    routing: Routing
    attempts: int
    last_error: str | None
    zaak_url: str | None
    message: Message


BUSY_TIMEOUT_SECONDS = 30


class StoreError(Exception):
    """The store cannot be used: missing (``create=False``), not a database, corrupted, not writable.

    The message names the file and says what to check; it never carries a traceback.
    """


def _now() -> str:
    return fixed_iso(utcnow())


def _dumps(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate SQLite cannot store: escaped, it is plain ASCII
        text = json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)
    return text


class Store:
    """Durable state of the connector. See the module docstring for the guarantees."""

    def __init__(self, path: str | Path | None = None, create: bool = True):
        """Open (and migrate) the store at ``path``; ``None`` or ``":memory:"`` for a throw-away one.

        ``create=False`` is for read-only commands: a wrong path raises :class:`StoreError`
        instead of silently creating an empty database.
        """
        self.path = str(path) if path else ":memory:"
        if self.path != ":memory:" and not create and not Path(path).is_file():
            raise StoreError(f"{path}: no such database (check 'store' in the configuration)")
        try:
            if self.path == ":memory:":
                conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=BUSY_TIMEOUT_SECONDS)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        self.db = Database(conn)
        self._lock = threading.RLock()
        try:
            with self._lock:
                self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
                self.db.execute("PRAGMA foreign_keys = ON")
                if self.path != ":memory:":
                    self._enable_wal()
                    # In WAL mode NORMAL survives a process crash (SIGKILL) intact; only a power cut may
                    # lose the last commits, and every delivery step is idempotent, so a redo cannot duplicate.
                    self.db.execute("PRAGMA synchronous = NORMAL")
                with self._write():  # one process migrates; the others wait, then find nothing pending
                    migrations.apply(self.db)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StoreError(_explain(self.path, exc)) from None
        self.identity = self.file_identity()

    def _enable_wal(self) -> None:
        # switching to WAL needs a moment alone with the file; another process opening it at the
        # same instant makes SQLite answer "locked" at once, without using the busy timeout
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                mode = self.db.execute("PRAGMA journal_mode").fetchone()[0]
                if mode != "wal":
                    self.db.enable_wal()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextlib.contextmanager
    def _write(self):
        """A write transaction that holds SQLite's write lock from its first statement.

        A deferred ``BEGIN`` that reads first and writes later fails at once with "database is
        locked" when another process wrote in between (SQLite cannot upgrade a stale read
        snapshot). ``BEGIN IMMEDIATE`` takes the lock up front, waiting up to the busy timeout.
        Nested use becomes a savepoint.
        """
        with self._lock:
            if self.db.conn.in_transaction:
                with self.db.atomic():
                    yield
                return
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                if self.db.conn.in_transaction:
                    self.db.execute("ROLLBACK")
                raise
            else:
                try:
                    self.db.execute("COMMIT")
                except BaseException:
                    if self.db.conn.in_transaction:
                        self.db.execute("ROLLBACK")
                    raise

    def file_identity(self) -> tuple | None:
        """(device, inode) of the database file, to notice it being deleted or replaced."""
        if self.path == ":memory:":
            return None
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    def health(self) -> list[str]:
        """Problems that make this store unusable right now (empty when healthy).

        Checks that the file is still the one opened (not deleted or replaced, which would leave
        this process writing into an unlinked file), and that a write lock can be taken.
        """
        problems = []
        if self.path != ":memory:":
            current = self.file_identity()
            if current is None:
                problems.append(f"database file {self.path} is gone (deleted or moved)")
            elif current != self.identity:
                problems.append(f"database file {self.path} was replaced by another file; restart the connector")
        try:
            with self._write():
                self.db.execute("insert or replace into meta (key, value) values ('health_probe', ?)", [_now()])
        except sqlite3.Error as exc:
            problems.append(f"database {self.path} is not writable: {exc}")
        return problems

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # -- channels -------------------------------------------------------------------------

    def channel_state(self, channel: str) -> dict | None:
        with self._lock:
            rows = list(self.db.query("select state_json from channels where name = ?", [channel]))
        if not rows or not rows[0]["state_json"]:
            return None
        return json.loads(rows[0]["state_json"])

    def _ensure_channel(self, channel: str, kind: str = "") -> None:
        self.db.execute("insert or ignore into channels (name, kind, updated_at) values (?, ?, ?)",
                        [channel, kind, _now()])

    def _ensure_sink(self, sink: str) -> None:
        self.db.execute("insert or ignore into sinks (name, kind, updated_at) values (?, '', ?)", [sink, _now()])

    def register(self, channels: dict[str, str], sinks: dict[str, str]) -> None:
        """Make sure every configured channel and sink has a status row (name -> kind)."""
        with self._write():
            for name, kind in channels.items():
                self._ensure_channel(name, kind)
                self.db.execute("update channels set kind = ? where name = ?", [kind, name])
            for name, kind in sinks.items():
                self.db.execute("insert or ignore into sinks (name, kind, updated_at) values (?, ?, ?)",
                                [name, kind, _now()])
                self.db.execute("update sinks set kind = ? where name = ?", [kind, name])

    def save_page(self, channel: str, plans: list[tuple[Message, list[DeliveryPlan]]], state: dict,
                  quarantined: list[Quarantined] = ()) -> SaveResult:
        """Store new messages with their deliveries, quarantined items and the new cursor, atomically.

        Messages already stored (same channel, platform id and version) are skipped, with their
        deliveries: re-reading a page after a crash cannot duplicate anything.
        """
        now = _now()
        new: list[int] = []
        duplicates = 0
        with self._write():
            self._ensure_channel(channel)
            for message, message_plans in plans:
                raw = message.raw or Raw(body=b"", media_type="")
                cursor = self.db.execute(
                    "insert or ignore into messages (channel, platform_id, version, kind, author_handle,"
                    " created_at, url, message_json, raw, raw_media_type, raw_sha256, page_url, fetched_at,"
                    " stored_at) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [channel, message.id, message.version, message.kind, message.author.handle,
                     fixed_iso(message.created_at), message.url, message.to_json(), raw.body, raw.media_type,
                     raw.sha256, redact_url(raw.page_url), fixed_iso(raw.fetched_at), now])
                if cursor.rowcount == 0:
                    duplicates += 1
                    continue
                message_id = cursor.lastrowid
                new.append(message_id)
                self._event("message.stored", channel=channel, message_id=message_id,
                            detail={"platform_id": message.id, "version": message.version,
                                    "sha256": raw.sha256, "page_url": redact_url(raw.page_url)})
                for plan in message_plans:
                    delivery_id = self.db.execute(
                        "insert into deliveries (message_id, sink, state, routing_json, rule, attempts,"
                        " next_attempt_at, created_at, updated_at) values (?,?,?,?,?,0,?,?,?)",
                        [message_id, plan.sink, plan.state, _dumps(plan.routing.to_dict()), plan.routing.rule,
                         now, now, now]).lastrowid
                    self._event(f"delivery.{plan.state}", sink=plan.sink, message_id=message_id,
                                delivery_id=delivery_id,
                                detail={"from": None, "attempt": 0, "rule": plan.routing.rule,
                                        "source": plan.routing.source, "action": plan.routing.action,
                                        "reason": plan.routing.reason})
            for item in quarantined:
                qid = self.db.execute(
                    "insert into quarantine (channel, at, reason, item_id, page_url, raw) values (?,?,?,?,?,?)",
                    [channel, now, item.reason, item.item_id, redact_url(item.page_url), item.raw]).lastrowid
                self._event("message.quarantined", channel=channel,
                            detail={"quarantine_id": qid, "reason": item.reason, "item_id": item.item_id})
            self.db.execute("update channels set state_json = ?, updated_at = ? where name = ?",
                            [_dumps(state), now, channel])
        return SaveResult(new=new, duplicates=duplicates, quarantined=len(quarantined))

    def record_poll(self, channel: str, failure: Failure | None = None, paused_until: datetime | None = None,
                    paused_reason: str | None = None) -> None:
        """A poll's outcome: success clears errors and pauses; a failure counts and may pause the channel."""
        now = _now()
        with self._write():
            self._ensure_channel(channel)
            if failure is None:
                self.db.execute("update channels set last_poll_at = ?, last_success_at = ?, last_error = null,"
                                " paused_until = null, paused_reason = null, failures = 0, poll_started_at = null"
                                " where name = ?",
                                [now, now, channel])
            else:
                self.db.execute("update channels set last_poll_at = ?, last_error = ?, paused_until = ?,"
                                " paused_reason = ?, failures = coalesce(failures, 0) + 1, poll_started_at = null"
                                " where name = ?",
                                [now, failure.message, fixed_iso(paused_until), paused_reason, channel])
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

    # -- workers ----------------------------------------------------------------------------

    def worker_beat(self, worker_id: str, *, host: str, pid: int, started_at: datetime,
                    rules: dict | None = None, activity: dict | None = None, stopped: bool = False) -> None:
        """The worker is alive: when, which rules it runs (fingerprint, count, reload errors), what it does."""
        rules = rules or {}
        with self._write():
            self.db.execute(
                "insert or replace into workers (id, host, pid, started_at, beat_at, stopped_at, rules_fingerprint,"
                " rules_count, rules_errors_json, activity_json) values (?,?,?,?,?,?,?,?,?,?)",
                [worker_id, host, pid, fixed_iso(started_at), _now(), _now() if stopped else None,
                 rules.get("fingerprint"), rules.get("count"), _dumps(rules.get("errors") or []),
                 _dumps(activity or {})])
            # a long-gone worker's row tells nobody anything; keep a day of history
            self.db.execute("delete from workers where beat_at < ?", [fixed_iso(utcnow() - timedelta(days=1))])

    def worker_rows(self) -> list[dict]:
        """Workers that beat in the last day, the most recent first."""
        rows = self.query("select * from workers order by beat_at desc")
        for row in rows:
            row["rules_errors"] = json.loads(row.pop("rules_errors_json") or "[]")
            row["activity"] = json.loads(row.pop("activity_json") or "{}")
        return rows

    # -- sinks ----------------------------------------------------------------------------

    def pause_sink(self, sink: str, until: datetime, reason: str) -> None:
        """No delivery to ``sink`` is claimed before ``until``: an outage or bad configuration
        should not make every waiting message spend its attempts."""
        with self._write():
            self._ensure_sink(sink)
            self.db.execute("update sinks set paused_until = ?, paused_reason = ?, last_error = ?, updated_at = ?"
                            " where name = ?", [fixed_iso(until), reason, reason, _now(), sink])
            self._event("sink.paused", sink=sink, detail={"until": fixed_iso(until), "reason": reason})

    def sink_pause(self, sink: str) -> tuple[datetime | None, str | None]:
        with self._lock:
            row = self.db.execute("select paused_until, paused_reason from sinks where name = ?", [sink]).fetchone()
        if not row or not row[0]:
            return None, None
        return parse_iso(row[0]), row[1]

    # -- deliveries -----------------------------------------------------------------------

    def claim_due(self, limit: int = 50, lease_seconds: int = 300, now: datetime | None = None) -> list[DeliveryRow]:
        """Claim up to ``limit`` due deliveries (oldest message first) and mark them in_progress.

        A delivery left in_progress past its lease (a crashed worker) is due again. Deliveries of a
        paused sink are not claimed.
        """
        now = now or utcnow()
        lease = fixed_iso(now + timedelta(seconds=lease_seconds))
        with self._write():
            rows = list(self.db.query(
                "select d.*, m.message_json, m.raw, m.raw_media_type, m.page_url, m.fetched_at"
                " from deliveries d join messages m on m.id = d.message_id"
                f" where ((d.state in ({', '.join(repr(state) for state in states.DUE)})"
                "         and d.next_attempt_at <= :now)"
                "    or (d.state = 'in_progress' and d.lease_until <= :now))"
                "   and d.sink not in (select name from sinks where paused_until > :now)"
                " order by m.created_at, m.id limit :limit", {"now": fixed_iso(now), "limit": limit}))
            claimed = []
            for row in rows:
                reclaimed = row["state"] == states.IN_PROGRESS
                self._transition(row["id"], states.IN_PROGRESS, lease_until=lease,
                                 detail={"reclaimed": True} if reclaimed else None)
                claimed.append(self._delivery_row(row, states.IN_PROGRESS))
        return claimed

    @staticmethod
    def _delivery_row(row: dict, state: str) -> DeliveryRow:
        raw = Raw(body=row["raw"] or b"", media_type=row["raw_media_type"] or "", page_url=row["page_url"] or "",
                  fetched_at=parse_iso(row["fetched_at"]) if row["fetched_at"] else None)
        message = Message.from_dict(json.loads(row["message_json"]), raw=raw)
        return DeliveryRow(id=row["id"], message_id=row["message_id"], sink=row["sink"], state=state,
                           routing=Routing.from_dict(json.loads(row["routing_json"])), attempts=row["attempts"],
                           last_error=row["last_error"], zaak_url=row["zaak_url"], message=message)

    def _transition(self, delivery_id: int, new_state: str, error: str | None = None, detail: dict | None = None,
                    **columns) -> dict:
        """Change a delivery's state (checked against the transition table) and record the event.

        Every event carries the previous state, the attempt count and the error, if any.
        """
        row = self.db.execute("select state, message_id, sink, attempts from deliveries where id = ?",
                              [delivery_id]).fetchone()
        if row is None:
            raise KeyError(f"no delivery {delivery_id}")
        previous, message_id, sink, attempts = row
        states.check(previous, new_state)
        columns.update(state=new_state, updated_at=_now())
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.db.execute(f"update deliveries set {assignments} where id = ?", [*columns.values(), delivery_id])
        self._event(f"delivery.{new_state}", sink=sink, message_id=message_id, delivery_id=delivery_id,
                    detail={"from": previous, "attempt": columns.get("attempts", attempts or 0), "error": error,
                            **(detail or {})})
        return {"from": previous, "message_id": message_id, "sink": sink}

    def mark_delivered(self, delivery_id: int, zaak_url: str, zaak_identificatie: str, documents: list[dict]) -> None:
        with self._write():
            info = self._transition(delivery_id, states.DELIVERED, zaak_url=zaak_url,
                                    zaak_identificatie=zaak_identificatie, documents_json=_dumps(documents),
                                    last_error=None, failure_json=None, lease_until=None,
                                    attempts=self._attempts(delivery_id) + 1,
                                    detail={"zaak": zaak_url, "zaak_identificatie": zaak_identificatie,
                                            "documents": documents})
            self._ensure_sink(info["sink"])
            self.db.execute("update sinks set last_ok_at = ?, last_error = null, paused_until = null,"
                            " paused_reason = null where name = ?", [_now(), info["sink"]])

    def _attempts(self, delivery_id: int) -> int:
        return self.db.execute("select attempts from deliveries where id = ?", [delivery_id]).fetchone()[0] or 0

    def mark_failed(self, delivery_id: int, failure: Failure, new_state: str,
                    next_attempt_at: datetime | None = None, count_attempt: bool = True) -> int:
        """Record a failed attempt: ``retry_wait`` (with ``next_attempt_at``), ``pending`` or ``dead``.

        Returns the attempt count.
        """
        with self._write():
            attempts = self._attempts(delivery_id) + (1 if count_attempt else 0)
            info = self._transition(delivery_id, new_state, error=failure.message, attempts=attempts,
                                    last_error=failure.message, failure_json=_dumps(failure.to_dict()),
                                    lease_until=None, next_attempt_at=fixed_iso(next_attempt_at or utcnow()),
                                    detail={"verdict": failure.verdict, "status": failure.status,
                                            "problem": failure.detail})
            self._ensure_sink(info["sink"])
            self.db.execute("update sinks set last_error = ?, updated_at = ? where name = ?",
                            [failure.message, _now(), info["sink"]])
        return attempts

    def mark_waiting(self, delivery_id: int, reason: str, next_attempt_at: datetime) -> None:
        with self._write():
            self._transition(delivery_id, states.WAITING, error=reason, last_error=reason, lease_until=None,
                             next_attempt_at=fixed_iso(next_attempt_at))

    def reroute(self, delivery_id: int, routing: Routing, new_state: str) -> None:
        """Replace a delivery's routing (a follow_thread fallen back) and set its state."""
        with self._write():
            self._transition(delivery_id, new_state, routing_json=_dumps(routing.to_dict()), rule=routing.rule,
                             lease_until=None, detail={"rule": routing.rule, "action": routing.action,
                                                       "reason": routing.reason})

    def release(self, delivery_id: int, reason: str = "released unstarted") -> None:
        """Give back a claimed delivery untouched (shutdown, or its sink paused meanwhile)."""
        with self._write():
            self._transition(delivery_id, states.PENDING, lease_until=None, detail={"reason": reason})

    def requeue(self, delivery_id: int, who: str = "admin") -> None:
        """Deliver again: also a delivered, dead, held or ignored one; never one a worker holds now."""
        with self._write():
            row = self.db.execute("select state, lease_until from deliveries where id = ?", [delivery_id]).fetchone()
            if row and row[0] == states.IN_PROGRESS and row[1] and parse_iso(row[1]) > utcnow():
                raise states.IllegalTransition(f"delivery {delivery_id} is being delivered right now"
                                               f" (lease until {row[1]}); try again later")
            self._transition(delivery_id, states.PENDING, next_attempt_at=_now(), lease_until=None,
                             detail={"requeued_by": who})

    def thread_zaak(self, channel: str, platform_id: str, sink: str) -> tuple[str | None, str | None]:
        """The zaak of the message ``platform_id`` in ``channel`` for ``sink``: ``(state, zaak_url)``.

        Looks at every version of that message; a delivered one wins. ``(None, None)`` when the
        message is unknown.
        """
        with self._lock:
            rows = list(self.db.query(
                "select d.state, d.zaak_url, d.routing_json from deliveries d join messages m on m.id = d.message_id"
                " where m.channel = ? and m.platform_id = ? and d.sink = ?"
                " order by (d.state = 'delivered') desc, m.id", [channel, platform_id, sink]))
        if not rows:
            return None, None
        return rows[0]["state"], rows[0]["zaak_url"]

    # -- steps ----------------------------------------------------------------------------

    def step_result(self, delivery_id: int, name: str) -> dict | None:
        with self._lock:
            row = self.db.execute("select result_json from delivery_steps where delivery_id = ? and name = ?",
                                  [delivery_id, name]).fetchone()
        return json.loads(row[0]) if row else None

    def save_step(self, delivery_id: int, name: str, result: dict) -> None:
        with self._write():
            self.db.execute("insert or replace into delivery_steps (delivery_id, name, result_json, saved_at)"
                            " values (?,?,?,?)", [delivery_id, name, _dumps(result), _now()])
            self._event("delivery.step", delivery_id=delivery_id, detail={"step": name, "result": result})

    def steps(self, delivery_id: int) -> "StoreSteps":
        return StoreSteps(self, delivery_id)

    # -- audit and status -----------------------------------------------------------------

    def _event(self, kind: str, channel: str | None = None, sink: str | None = None,
               message_id: int | None = None, delivery_id: int | None = None, detail=None) -> None:
        self.db.execute("insert into events (at, kind, channel, sink, message_id, delivery_id, detail_json)"
                        " values (?,?,?,?,?,?,?)",
                        [_now(), kind, channel, sink, message_id, delivery_id, _dumps(detail or {})])

    def event(self, kind: str, **fields) -> None:
        with self._write():
            self._event(kind, **fields)

    def query(self, sql: str, params=None) -> list[dict]:
        """Read-only helper for status pages and tests."""
        with self._lock:
            return list(self.db.query(sql, params or []))

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
            " (select count(*) from quarantine q where q.channel = c.name) as quarantined"
            " from channels c order by c.name")

    def sink_rows(self) -> list[dict]:
        return self.query("select name, kind, last_error, last_ok_at, paused_until, paused_reason from sinks"
                          " order by name")

    def deliveries(self, state: str | None = None, limit: int = 100) -> list[dict]:
        where, params = ("where d.state = ?", [state]) if state else ("", [])
        return self.query(
            "select d.id, d.state, d.sink, d.rule, d.attempts, d.last_error, d.zaak_identificatie, d.zaak_url,"
            f" d.updated_at, m.channel, m.platform_id, m.version from deliveries d join messages m on m.id = d.message_id"
            f" {where} order by d.id limit ?", params + [limit])

    def message_history(self, message_id: int) -> list[dict]:
        return self.query("select at, kind, sink, delivery_id, detail_json from events where message_id = ?"
                          " or delivery_id in (select id from deliveries where message_id = ?) order by id",
                          [message_id, message_id])


def _explain(path: str, exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (f"{path}: not a usable connector database ({text}); restore it from a backup, or point"
                f" 'store' in the configuration at the right file")
    if "locked" in text:
        return f"{path}: the database stayed locked by another process for {BUSY_TIMEOUT_SECONDS} s ({text})"
    if "readonly" in text or "unable to open" in text:
        return f"{path}: cannot write the database ({text}); check the file's and folder's permissions"
    return f"{path}: database error: {text}"


class StoreSteps:
    """:class:`connector.sinks.base.Steps` backed by ``delivery_steps``: saved the moment they succeed."""

    def __init__(self, store: Store, delivery_id: int):
        self.store = store
        self.delivery_id = delivery_id

    def get(self, name: str) -> dict | None:
        return self.store.step_result(self.delivery_id, name)

    def save(self, name: str, result: dict) -> None:
        self.store.save_step(self.delivery_id, name, result)

    def run(self, name, action):
        saved = self.get(name)
        if saved is not None:
            return saved
        result = action()
        self.save(name, result)
        return result
