"""The store's foundation: opening the database, write transactions, health, and the audit trail.

:class:`StoreBase` owns the backend (``self.db``, :mod:`connector.store.backend`: SQLite or
PostgreSQL) and the lock every other part of :class:`connector.store.Store` goes through (on SQLite an
``RLock`` around its one connection; on PostgreSQL a lock that does nothing: each thread borrows its own
connection from the backend's pool, and the database's row locks order concurrent writers, as they already
do between worker processes):

* opening (and creating, unless ``create=False``) the file, WAL mode, the busy timeout, and
  applying the pending migrations of :mod:`connector.store.schema` under the write lock; on
  PostgreSQL connecting and applying them through :mod:`connector.store.pgschema`;
* :meth:`StoreBase._write`, the backend's write transaction (SQLite: ``BEGIN IMMEDIATE``;
  PostgreSQL: READ COMMITTED; a savepoint when nested) that every write uses, so several processes
  can share one store;
* :meth:`StoreBase.health` (is the file still the one opened, can it be written) and ``close``;
* the audit trail (``events``): :meth:`StoreBase._event` inside a write, :meth:`StoreBase.event`
  on its own;
* the helpers the other parts share: :meth:`StoreBase.query` (read-only), the status rows of a
  channel or sink made on first use, :func:`_now` and :func:`_dumps`.

Any failure to open or migrate the store raises :class:`StoreError` naming the file (:func:`_explain`) or
the URL (its password masked).
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..message import fixed_iso, utcnow
from . import pgschema
from .backend import StoreError, open_backend, parse_url, redact  # noqa: F401 (StoreError: here as ever)
from .schema import migrations

BUSY_TIMEOUT_SECONDS = 30


def _now() -> str:
    return fixed_iso(utcnow())


def _dumps(value) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate SQLite cannot store: escaped, it is plain ASCII
        text = json.dumps(value, ensure_ascii=True, sort_keys=True, default=str)
    return text


class StoreBase:
    """Connection, lock, write transactions, health and events; :class:`connector.store.Store` adds the rest."""

    def __init__(self, path: str | Path | None = None, create: bool = True, connections: int | None = None):
        """Open (and migrate) the store at ``path``; ``None`` or ``":memory:"`` for a throw-away one.

        ``path`` is a file path, ``sqlite:///path`` or ``postgresql://user@host:port/db``
        (:func:`connector.store.backend.parse_url`). ``create=False`` is for read-only commands: a wrong
        file path raises :class:`StoreError` instead of silently creating an empty database. ``connections``: the
        most PostgreSQL connections this store opens at once (``limits.store_connections``; ignored on SQLite).
        """
        kind, target = parse_url(path)
        self.kind = kind
        self.path = target if kind == "sqlite" else redact(target)  # what messages name: never a password
        if kind == "sqlite" and self.path != ":memory:" and not create and not Path(target).is_file():
            raise StoreError(f"{path}: no such database (check 'store' in the configuration)")
        try:
            if kind == "sqlite" and self.path != ":memory:":
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            self.db = open_backend(path, BUSY_TIMEOUT_SECONDS, connections)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from None
        except Exception as exc:  # psycopg's OperationalError, a missing driver: say which store, no password
            raise StoreError(f"{self.path}: cannot open the database: {redact(str(exc))}") from None
        # SQLite: one connection, its use serialised. PostgreSQL: a pool (connector.store.pgbackend), each thread on
        # its own connection and the database's row locks between them, as between worker processes: no lock.
        self._lock = threading.RLock() if kind == "sqlite" else contextlib.nullcontext()
        self._probe_lock = threading.Lock()
        if kind == "postgresql":
            self._open_postgres()
        else:
            self._open_sqlite()
        self.identity = self.file_identity()

    def _open_sqlite(self) -> None:
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
            self.db.conn.close()
            raise StoreError(_explain(self.path, exc)) from None

    def _open_postgres(self) -> None:
        try:
            with self._lock:
                pgschema.apply(self.db, migrations)  # under an advisory lock: one process migrates
        except self.db.Error as exc:
            self.db.close()
            raise StoreError(f"{self.path}: database error: {redact(str(exc))}") from None

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
        """A write transaction (the backend's :meth:`~connector.store.backend.SqliteBackend.write`: on SQLite
        ``BEGIN IMMEDIATE``, holding the write lock from its first statement; on PostgreSQL READ COMMITTED on a
        connection bound to this thread), under the store's lock. Nested use becomes a savepoint."""
        with self._lock, self.db.write():
            yield

    def file_identity(self) -> tuple | None:
        """(device, inode) of the database file, to notice it being deleted or replaced."""
        if self.kind != "sqlite" or self.path == ":memory:":
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
        if self.kind == "sqlite" and self.path != ":memory:":
            current = self.file_identity()
            if current is None:
                problems.append(f"database file {self.path} is gone (deleted or moved)")
            elif current != self.identity:
                problems.append(f"database file {self.path} was replaced by another file; restart the connector")
        if self.kind == "postgresql":
            with self._lock:   # a dropped connection is replaced here, or reported when that fails
                problems += self.db.health()
            if problems:   # no connection: a write probe would only wait for one as long again
                return problems
        problems += self._write_probe()
        return problems

    HEALTH_PROBE_EVERY = 5.0  # seconds: /healthz hit in a loop costs at most one write per this

    def _write_probe(self) -> list[str]:
        """Whether a write lock can be taken, tried at most every :attr:`HEALTH_PROBE_EVERY` seconds
        (``/healthz`` is open to anyone; each probe is a write transaction the worker waits for)."""
        now = time.monotonic()
        with self._probe_lock:
            last = getattr(self, "_last_probe", None)
            if last is not None and now - last[0] < self.HEALTH_PROBE_EVERY:
                return list(last[1])
            try:
                with self._write():
                    self.db.execute("insert into meta (key, value) values ('health_probe', ?)"
                                    " on conflict (key) do update set value = excluded.value", [_now()])
                result = []
            except (self.db.Error, StoreError) as exc:
                result = [f"database {self.path} is not writable: {redact(str(exc))}"]
            self._last_probe = (time.monotonic(), result)
            return list(result)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # -- shared helpers -------------------------------------------------------------------

    def query(self, sql: str, params=None) -> list[dict]:
        """Read-only helper for status pages and tests (portable SQL, ``?`` placeholders)."""
        with self._lock:
            return list(self.db.query(sql, params or []))

    def _one_at_a_time(self, key: str) -> None:
        """Inside :meth:`_write`: wait for, then hold until the transaction ends, the key ``key`` (see
        :meth:`~connector.store.backend.Dialect.one_at_a_time`), so that two threads or processes reading, then
        inserting, the same not yet existing row take turns instead of failing on a unique index."""
        sql = self.db.dialect.one_at_a_time()
        if sql:
            self.db.execute(sql, [key])

    def _ensure_channel(self, channel: str, kind: str = "") -> None:
        self.db.execute("insert into channels (name, kind, updated_at) values (?, ?, ?)"
                        " on conflict (name) do nothing", [channel, kind, _now()])

    def _ensure_sink(self, sink: str) -> None:
        self.db.execute("insert into sinks (name, kind, updated_at) values (?, '', ?) on conflict (name) do nothing",
                        [sink, _now()])

    # -- audit ----------------------------------------------------------------------------

    def _event(self, kind: str, channel: str | None = None, sink: str | None = None,
               message_id: int | None = None, delivery_id: int | None = None, detail=None) -> None:
        self.db.execute("insert into events (at, kind, channel, sink, message_id, delivery_id, detail_json)"
                        " values (?,?,?,?,?,?,?)",
                        [_now(), kind, channel, sink, message_id, delivery_id, _dumps(detail or {})])

    def event(self, kind: str, **fields) -> None:
        with self._write():
            self._event(kind, **fields)


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
