"""The two databases the store runs on: SQLite (the embedded default) and PostgreSQL (many workers, issue 13).

The store's SQL keeps SQLite's ``?`` placeholders (and ``:name`` ones with a dict of parameters) and is
written in the subset both databases speak: ``insert ... on conflict (...) do nothing / do update set``
(never SQLite's ``insert or ignore`` / ``insert or replace``), ``coalesce``, ``substr``, ``length``,
``exists``, fixed-width ISO timestamps compared as text. The few fragments that differ come from the
backend's :class:`Dialect` (``store.db.dialect``): a JSON member as text, the seconds between two
timestamps, the day after a date, a case-insensitive ``like``, and the row locks a claim takes.

A backend offers the store the same small interface, whatever the database:

* ``execute(sql, params)``: a cursor with ``rowcount``, ``fetchone()``, ``fetchall()`` and iteration
  (rows as tuples); ``query(sql, params)``: the rows as dicts;
* ``insert(sql, params)``: the new row's ``id`` (``lastrowid`` on SQLite, ``returning id`` on
  PostgreSQL), or None when ``on conflict do nothing`` left the row out;
* ``write()``: a write transaction, a savepoint when nested. SQLite: ``BEGIN IMMEDIATE`` (the write lock
  from the first statement, see :meth:`SqliteBackend.write`); PostgreSQL: READ COMMITTED with row locks;
* ``table_names()``, ``columns(table)``, ``close()``, ``Error`` (the driver's exceptions), ``kind``
  (``sqlite`` or ``postgresql``).

:class:`SqliteBackend` IS sqlite-utils' ``Database`` (so migrations and tools written for it keep working
unchanged); :class:`PostgresBackend` wraps one psycopg 3 connection in autocommit mode (each read stands
alone; ``write()`` opens the transaction). The store serialises its own use of either with its lock, so
one connection per :class:`~connector.store.Store` suffices, as with SQLite. A PostgreSQL connection that
dropped (a server restart, an idle timeout) is replaced on the next call outside a transaction; a read it broke
is run once more on the new one, a write is never repeated (it may have committed): :class:`ConnectionLost`, a
:class:`StoreError` the worker treats as transient. :meth:`PostgresBackend.health` reports one it cannot remake.

Which one: :func:`open_backend` on the store URL (:func:`parse_url`): a path or ``sqlite:///path`` (as
SQLAlchemy reads it: three slashes before a relative path, four before an absolute one), or
``postgresql://user@host:port/db``. The password never sits in the URL the store keeps: libpq reads
``PGPASSWORD`` (or a ``${ENV}`` the configuration resolved); :func:`redact` hides one anyway in every
message and ``repr``.
"""
from __future__ import annotations

import contextlib
import re
import sqlite3
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from sqlite_utils import Database

POSTGRES_SCHEMES = ("postgresql", "postgres")


def parse_url(url) -> tuple[str, str]:
    """``(kind, target)`` of a store URL: ``("sqlite", path or ":memory:")`` or ``("postgresql", url)``."""
    text = str(url) if url else ":memory:"
    scheme = text.split(":", 1)[0].lower() if "://" in text else ""
    if scheme in POSTGRES_SCHEMES:
        return "postgresql", text
    if scheme == "sqlite":  # as SQLAlchemy reads it: sqlite:///relative.db, sqlite:////absolute.db
        return "sqlite", text[len("sqlite://"):].removeprefix("/") or ":memory:"
    return "sqlite", text


def redact(url: str) -> str:
    """``url`` without a password in it (``postgresql://user:***@host/db``); other text as it is."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


@dataclass(frozen=True)
class Dialect:
    """The SQL fragments that differ between the two databases; everything else is written once."""

    name: str

    def json_text(self, column: str, key: str) -> str:
        """The member ``key`` of the JSON text in ``column``, as text."""
        if self.name == "postgresql":
            return f"(({column})::jsonb ->> '{key}')"
        return f"json_extract({column}, '$.{key}')"

    def seconds_between(self, later: str, earlier: str) -> str:
        """Seconds from timestamp ``earlier`` to ``later`` (expressions or ``?``), a float (null if either is)."""
        if self.name == "postgresql":
            return (f"cast(extract(epoch from (cast({later} as timestamptz) - cast({earlier} as timestamptz)))"
                    " as double precision)")
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"

    def next_day(self, day: str) -> str:
        """The day after ``day`` (``YYYY-MM-DD``), as ``YYYY-MM-DD`` text."""
        if self.name == "postgresql":
            return f"to_char(cast({day} as date) + 1, 'YYYY-MM-DD')"
        return f"date({day}, '+1 day')"

    @property
    def ilike(self) -> str:
        """``like`` that ignores ASCII case (SQLite's ``like`` does; PostgreSQL's does not)."""
        return "ilike" if self.name == "postgresql" else "like"

    def lock_claimed(self, alias: str) -> str:
        """Appended to a claim's select: lock the rows of ``alias`` it returns and skip those another
        transaction holds (PostgreSQL). SQLite's ``BEGIN IMMEDIATE`` already lets one writer in at a time."""
        return f" for update of {alias} skip locked" if self.name == "postgresql" else ""


class SqliteBackend(Database):
    """sqlite-utils' ``Database`` on one connection, with the backend interface (see the module docstring)."""

    kind = "sqlite"
    dialect = Dialect("sqlite")
    Error = sqlite3.Error

    def columns(self, table: str) -> list[str]:
        return [column.name for column in self[table].columns]

    def insert(self, sql: str, params=()) -> int | None:
        cursor = self.execute(sql, params)
        return cursor.lastrowid if cursor.rowcount else None

    @contextlib.contextmanager
    def write(self):
        """A write transaction that holds SQLite's write lock from its first statement.

        A deferred ``BEGIN`` that reads first and writes later fails at once with "database is
        locked" when another process wrote in between (SQLite cannot upgrade a stale read
        snapshot). ``BEGIN IMMEDIATE`` takes the lock up front, waiting up to the busy timeout.
        Nested use becomes a savepoint.
        """
        if self.conn.in_transaction:
            with self.atomic():
                yield
            return
        self.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.execute("ROLLBACK")
            raise
        else:
            try:
                self.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.execute("ROLLBACK")
                raise


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def to_pyformat(sql: str, params) -> str:
    """The store's SQL (``?`` or ``:name`` placeholders) in psycopg's ``%s`` / ``%(name)s``; a literal
    ``%`` (``like 'delivery.%'``) doubled first. ``::`` casts are left alone."""
    sql = sql.replace("%", "%%")
    if isinstance(params, dict):
        return _NAMED.sub(r"%(\1)s", sql)
    return sql.replace("?", "%s")


def _no_nul(params):
    """``params`` with NUL characters in text replaced by U+FFFD: PostgreSQL's text cannot hold NUL (SQLite's
    can), and a hostile item's author or URL must not make a page unstorable. JSON columns never hold a raw
    NUL (JSON escapes it), bytes (``raw``) are stored as they are."""
    if params is None:
        return []
    if isinstance(params, dict):
        return {k: v.replace("\x00", "\ufffd") if isinstance(v, str) else v for k, v in params.items()}
    return [v.replace("\x00", "\ufffd") if isinstance(v, str) else v for v in params]


class StoreError(Exception):
    """The store cannot be used: missing (``create=False``), not a database, corrupted, not writable.

    The message names the file and says what to check; it never carries a traceback.
    """


class ConnectionLost(StoreError):
    """The connection to PostgreSQL dropped where the call cannot simply be repeated (a write that may
    have committed), or it cannot be made again. The store raises it as a
    :class:`~connector.store.StoreError` (transient: the worker tries again on its next beat)."""


class PostgresBackend:
    """One psycopg 3 connection in autocommit mode with the backend interface (see the module docstring)."""

    kind = "postgresql"
    dialect = Dialect("postgresql")

    def __init__(self, url: str, connect_timeout: int = 10):
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError:  # pragma: no cover - the distribution names it; a bare checkout may lack it
            raise RuntimeError("the store is on PostgreSQL but psycopg is not installed"
                               " (pip install 'psycopg[binary]>=3.1')") from None
        self.url = url
        self.Error = psycopg.Error
        self._lost = psycopg.OperationalError
        self._dict_row = dict_row
        self._connect_timeout = connect_timeout
        self.conn = self._connect()

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=self._connect_timeout,
                               application_name="midoffice-connector")

    def _ensure_connected(self) -> None:
        """Outside a transaction, a connection found broken (a server restart, an idle timeout, a terminated
        backend) is replaced by a new one; a failing reconnect is a :class:`ConnectionLost`."""
        if not (self.conn.broken or self.conn.closed):
            return
        with contextlib.suppress(Exception):
            self.conn.close()
        try:
            self.conn = self._connect()
        except self.Error as exc:
            raise ConnectionLost(f"{redact(self.url)}: cannot reconnect to PostgreSQL: {redact(str(exc))}") from None

    def _run(self, call, sql: str):
        """``call()`` (one statement), reconnecting once when the connection turns out to be gone.

        Outside a transaction a broken connection is replaced first. When a statement fails because the
        connection dropped: a read (``select``) outside a transaction is run once more on a new connection;
        a write, or anything inside :meth:`write`, is not (it may have committed, or the transaction is gone):
        a :class:`ConnectionLost` says so, and the next call reconnects."""
        outside = not self.in_transaction
        if outside:
            self._ensure_connected()
        try:
            return call()
        except self._lost as exc:
            if not self.conn.broken:
                raise  # a plain operational error (a lock timeout, a cancelled statement): not a lost connection
            if outside and sql.lstrip().lower().startswith("select"):  # not `with`: a CTE may write
                self._ensure_connected()
                return call()
            raise ConnectionLost(f"{redact(self.url)}: the connection to PostgreSQL was lost during a write"
                                 f" (it may or may not have been applied): {redact(str(exc))}") from None

    def __repr__(self) -> str:
        return f"PostgresBackend({redact(self.url)!r})"

    def execute(self, sql: str, params=None):
        return self._run(lambda: self.conn.execute(to_pyformat(sql, params), _no_nul(params)), sql)

    def query(self, sql: str, params=None) -> list[dict]:
        def run():
            with self.conn.cursor(row_factory=self._dict_row) as cursor:
                cursor.execute(to_pyformat(sql, params), _no_nul(params))
                return cursor.fetchall() if cursor.description else []
        return self._run(run, sql)

    def insert(self, sql: str, params=()) -> int | None:
        row = self.execute(sql + " returning id", params).fetchone()
        return row[0] if row else None

    @property
    def in_transaction(self) -> bool:
        # psycopg.pq.TransactionStatus ACTIVE, INTRANS, INERROR (not IDLE, nor UNKNOWN: a lost connection)
        return self.conn.info.transaction_status in (1, 2, 3)

    @contextlib.contextmanager
    def write(self):
        """A READ COMMITTED transaction (a savepoint when nested): committed when the block ends,
        rolled back when it raises. Concurrent writers meet at row locks, not at one database lock.
        A connection lost on the way (at the begin, inside, at the commit) is a :class:`ConnectionLost`."""
        if not self.in_transaction:
            self._ensure_connected()
        try:
            with self.conn.transaction():
                yield
        except self._lost as exc:
            if not self.conn.broken:
                raise
            raise ConnectionLost(f"{redact(self.url)}: the connection to PostgreSQL was lost in a write transaction"
                                 f" (it may or may not have committed): {redact(str(exc))}") from None

    def health(self) -> list[str]:
        """Whether the connection answers (reconnecting when it was found broken): empty when it does."""
        try:
            self.execute("select 1")
        except (ConnectionLost, self.Error) as exc:
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
        self.conn.close()


def open_backend(url, timeout: float) -> SqliteBackend | PostgresBackend:
    """The backend for a store URL (:func:`parse_url`); SQLite files are opened with ``timeout`` (busy wait)."""
    kind, target = parse_url(url)
    if kind == "postgresql":
        return PostgresBackend(target)
    if target == ":memory:":
        return SqliteBackend(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))
    return SqliteBackend(sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=timeout))
