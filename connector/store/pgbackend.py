"""The store's PostgreSQL backend: a pool of psycopg 3 connections shared by the threads of one process.

One worker process runs deliveries on several threads (``sinks[].parallel``), polls on scheduler threads and
beats on another; ``connector serve`` answers pages on several threads. On SQLite they take turns on one
connection (the store's lock); on PostgreSQL they need not: the database meets concurrent writers at row locks
(claims take ``FOR UPDATE SKIP LOCKED``), as it does for several worker processes. So :class:`PostgresBackend`
keeps a ``psycopg_pool.ConnectionPool`` (the psycopg maintainers' pool) of at most ``size`` connections, all
in autocommit mode, named ``midoffice-connector`` on the server (``application_name``):

* **One statement, one loan.** Outside a transaction each ``execute`` / ``query`` / ``insert`` borrows a
  connection for that statement only and gives it back; its rows are read in full first (:class:`Rows`: the
  ``rowcount``, ``description``, ``fetchone()``, ``fetchall()`` and iteration the store uses of a cursor).
* **One transaction, one connection, one thread.** :meth:`PostgresBackend.write` borrows a connection for the
  whole transaction and binds it to the current thread (``threading.local``): every statement of that thread in
  the block, and a nested ``write()`` (a savepoint), runs on it, while other threads use other connections.
* **A bounded wait.** A thread that finds every connection lent out waits at most :attr:`PostgresBackend.wait`
  seconds, then gets a :class:`~connector.store.backend.StoreError` ("all N store connections busy for S s"),
  never a hang. When the pool could not even connect, the error says why instead (:class:`ConnectionLost`).
* **Reconnects.** The pool checks a connection when lending it (``ConnectionPool.check_connection``, one empty
  statement): a connection a server restart or idle timeout broke is thrown away and replaced before use, and the
  pool keeps reconnecting in the background. A connection that breaks *during* a statement: a ``select`` outside
  a transaction runs once more on another connection; a write, or anything inside ``write()``, is never repeated
  (it may have committed): :class:`ConnectionLost`, which the worker treats as transient.
  :meth:`PostgresBackend.health` reports a server it cannot reach.
"""
from __future__ import annotations

import contextlib
import threading

from .backend import ConnectionLost, Dialect, StoreError, _no_nul, redact, to_pyformat

DEFAULT_CONNECTIONS = 5  # Store(url) without a size: a small pool (the configuration derives its own)
DEFAULT_WAIT = 30.0      # seconds a thread waits for a free connection before a StoreError
# how long the pool retries (with a growing backoff) to make a connection before it gives up until the next call
# needs one: short, so that after a long outage the first calls find the delay between attempts short too
RECONNECT_FOR = 60.0
HEALTH_WAIT = 5.0  # seconds health() waits for a connection: /healthz answers soon, even when the server is gone
# seconds a transaction of ours may sit idle between two statements before the server ends its session: the store
# never makes a call to a platform or case system inside a transaction, so only a frozen process (a paused VM,
# SIGSTOP) gets there, and its row locks (a channel's lease row, say) must not stall every other worker
IDLE_IN_TRANSACTION = 60.0


class Rows:
    """What one statement returned, read in full before its connection went back to the pool.

    The part of a DB-API cursor the store uses: ``rowcount``, ``description``, ``fetchone()``, ``fetchall()``
    (what is left) and iteration."""

    def __init__(self, cursor):
        self.rowcount = cursor.rowcount
        self.description = cursor.description
        self._rows = cursor.fetchall() if cursor.description else []
        self._next = 0

    def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list:
        rest, self._next = self._rows[self._next:], len(self._rows)
        return rest

    def __iter__(self):
        return iter(self.fetchall())


def _is_read(sql: str) -> bool:
    return sql.lstrip().lower().startswith("select")  # not `with`: a CTE may write


class PostgresBackend:
    """A pool of psycopg 3 connections with the backend interface (see this module's docstring and
    :mod:`connector.store.backend`)."""

    kind = "postgresql"
    dialect = Dialect("postgresql")

    def __init__(self, url: str, size: int = DEFAULT_CONNECTIONS, wait: float = DEFAULT_WAIT,
                 connect_timeout: int = 10):
        try:
            import psycopg
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout
        except ImportError:  # pragma: no cover - the distribution names them; a bare checkout may lack them
            raise RuntimeError("the store is on PostgreSQL but psycopg or psycopg-pool is not installed"
                               " (pip install 'psycopg[binary]>=3.1' 'psycopg-pool>=3.2')") from None
        self.url = url
        self.size = max(1, int(size))
        self.wait = wait
        self.Error = psycopg.Error
        self._lost = psycopg.OperationalError
        self._timeout = PoolTimeout
        self._closed = PoolClosed
        self._dict_row = dict_row
        self._connect_timeout = connect_timeout
        self._local = threading.local()   # .conn: this thread's transaction connection
        self._counter = threading.Lock()
        self._lent = 0
        self._connect().close()  # a server that cannot be reached fails the open at once, with its own reason
        self.pool = ConnectionPool(url, min_size=1, max_size=self.size, open=False, name="midoffice-store",
                                   kwargs={"autocommit": True, "connect_timeout": connect_timeout,
                                           "application_name": "midoffice-connector",
                                           "options": "-c idle_in_transaction_session_timeout="
                                                      f"{int(IDLE_IN_TRANSACTION * 1000)}"},
                                   check=ConnectionPool.check_connection, timeout=wait,
                                   reconnect_timeout=RECONNECT_FOR)
        try:
            self.pool.open(wait=True, timeout=max(connect_timeout, 1))
        except PoolTimeout:
            self.pool.close()
            raise

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout,
                               application_name="midoffice-connector")

    def __repr__(self) -> str:
        return f"PostgresBackend({redact(self.url)!r}, size={self.size})"

    # -- lending connections ------------------------------------------------------------------

    def _checkout(self, wait: float | None = None):
        """A connection from the pool (checked first), waiting at most ``wait`` (:attr:`wait`) seconds."""
        wait = self.wait if wait is None else wait
        try:
            conn = self.pool.getconn(timeout=wait)
        except self._timeout:
            raise self._no_connection(wait) from None
        except self._closed:
            raise StoreError(f"{redact(self.url)}: the store was closed") from None
        with self._counter:
            self._lent += 1
        return conn

    def _checkin(self, conn) -> None:
        with self._counter:
            self._lent -= 1
        self.pool.putconn(conn)  # a broken one is thrown away (and replaced), a stray transaction rolled back

    def _no_connection(self, wait: float) -> StoreError:
        """Why no connection came within :attr:`wait`: all lent out, or the server cannot be reached."""
        with self._counter:
            lent = self._lent
        if lent >= self.size:
            return StoreError(f"{redact(self.url)}: all {self.size} store connections busy for {wait:g} s"
                              " (raise limits.store_connections, or find what holds them)")
        try:
            self._connect().close()
        except self.Error as exc:
            return ConnectionLost(f"{redact(self.url)}: cannot reconnect to PostgreSQL: {redact(str(exc))}")
        return ConnectionLost(f"{redact(self.url)}: no connection to PostgreSQL within {wait:g} s"
                              f" ({lent} of {self.size} in use; the pool is reconnecting)")

    @contextlib.contextmanager
    def _connection(self):
        """This thread's transaction connection, or one lent for the block and given back after it."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        conn = self._checkout()
        try:
            yield conn
        finally:
            self._checkin(conn)

    @property
    def in_transaction(self) -> bool:
        """Whether the current thread is inside :meth:`write` (other threads may be in their own)."""
        return getattr(self._local, "conn", None) is not None

    @property
    def conn(self):
        """The psycopg connection of this thread's :meth:`write` transaction, for what the interface lacks
        (``executemany`` in :mod:`connector.store.copy`). Outside ``write()`` no connection is this thread's."""
        held = getattr(self._local, "conn", None)
        if held is None:
            raise StoreError(f"{redact(self.url)}: a PostgreSQL connection is only at hand inside write()")
        return held

    # -- statements -----------------------------------------------------------------------------

    def _run(self, call, sql: str):
        """``call(conn)`` (one statement) on this thread's connection; see the module docstring for what a
        connection that breaks during it means (a read outside a transaction is run once more)."""
        inside = self.in_transaction
        for attempt in (1, 2):
            with self._connection() as conn:
                try:
                    return call(conn)
                except self._lost as exc:
                    if not conn.broken:
                        raise  # a plain operational error (a lock timeout, a cancelled statement)
                    if inside or not _is_read(sql):
                        raise ConnectionLost(f"{redact(self.url)}: the connection to PostgreSQL was lost during a"
                                             " write (it may or may not have been applied):"
                                             f" {redact(str(exc))}") from None
                    if attempt == 2:
                        raise ConnectionLost(f"{redact(self.url)}: the connection to PostgreSQL was lost twice"
                                             f" during a read: {redact(str(exc))}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def execute(self, sql: str, params=None) -> Rows:
        def run(conn):
            with conn.cursor() as cursor:
                cursor.execute(to_pyformat(sql, params), _no_nul(params))
                return Rows(cursor)
        return self._run(run, sql)

    def query(self, sql: str, params=None) -> list[dict]:
        def run(conn):
            with conn.cursor(row_factory=self._dict_row) as cursor:
                cursor.execute(to_pyformat(sql, params), _no_nul(params))
                return cursor.fetchall() if cursor.description else []
        return self._run(run, sql)

    def insert(self, sql: str, params=()) -> int | None:
        row = self.execute(sql + " returning id", params).fetchone()
        return row[0] if row else None

    @contextlib.contextmanager
    def write(self):
        """A READ COMMITTED transaction on a connection bound to this thread (a savepoint when nested):
        committed when the block ends, rolled back when it raises. Concurrent writers (threads or processes)
        meet at row locks, not at one lock. A connection lost on the way (at the begin, inside, at the commit)
        is a :class:`ConnectionLost`."""
        held = getattr(self._local, "conn", None)
        conn = held if held is not None else self._checkout()
        self._local.conn = conn
        try:
            with conn.transaction():
                yield
        except self.Error as exc:
            # the server ended the session (IDLE_IN_TRANSACTION: 25P03), or the connection broke: the same to callers
            if not (conn.broken or getattr(exc, "sqlstate", None) == "25P03"):
                raise
            raise ConnectionLost(f"{redact(self.url)}: the connection to PostgreSQL was lost in a write transaction"
                                 f" (it may or may not have committed): {redact(str(exc))}") from None
        finally:
            if held is None:
                self._local.conn = None
                self._checkin(conn)

    def health(self) -> list[str]:
        """Whether a connection answers within :data:`HEALTH_WAIT` seconds (the pool replaces broken ones):
        empty when it does."""
        try:
            conn = self._checkout(min(self.wait, HEALTH_WAIT))
            try:
                conn.execute("select 1")
            finally:
                self._checkin(conn)
        except (StoreError, self.Error) as exc:
            return [f"no connection to PostgreSQL at {redact(self.url)}: {redact(str(exc))}"]
        return []

    def table_names(self) -> list[str]:
        return [row[0] for row in self.execute(
            "select table_name from information_schema.tables where table_schema = current_schema()"
            " order by table_name").fetchall()]

    def columns(self, table: str) -> list[str]:
        return [row[0] for row in self.execute(
            "select column_name from information_schema.columns where table_schema = current_schema()"
            " and table_name = ? order by ordinal_position", [table]).fetchall()]

    def close(self) -> None:
        self.pool.close()
