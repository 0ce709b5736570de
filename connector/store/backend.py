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
unchanged; the store serialises its use of the one connection with its lock).
:class:`~connector.store.pgbackend.PostgresBackend` (its own module) keeps a pool of psycopg 3 connections in
autocommit mode (each read stands alone; ``write()`` opens the transaction on a connection bound to the thread),
so the threads of one process do not wait for each other. A PostgreSQL connection that dropped (a server
restart, an idle timeout) is replaced before use; a read it broke is run once more on another one, a write is
never repeated (it may have committed): :class:`ConnectionLost`, a :class:`StoreError` the worker treats as
transient.

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

    def one_at_a_time(self) -> str | None:
        """A statement (one ``?``: a key) that, inside a write transaction, waits until no other transaction
        holds the same key and holds it until this one ends: for a read-then-insert of a row that may not exist
        yet (no row to lock). PostgreSQL: a transaction-level advisory lock; SQLite: None (``BEGIN IMMEDIATE``
        already lets one writer in at a time)."""
        return "select pg_advisory_xact_lock(hashtextextended(?, 0))" if self.name == "postgresql" else None


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


def open_backend(url, timeout: float, connections: int | None = None):
    """The backend for a store URL (:func:`parse_url`); SQLite files are opened with ``timeout`` (busy wait),
    PostgreSQL with a pool of at most ``connections`` (default :data:`~.pgbackend.DEFAULT_CONNECTIONS`)."""
    kind, target = parse_url(url)
    if kind == "postgresql":
        from .pgbackend import DEFAULT_CONNECTIONS

        return PostgresBackend(target, size=connections or DEFAULT_CONNECTIONS)
    if target == ":memory:":
        return SqliteBackend(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))
    return SqliteBackend(sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=timeout))


from .pgbackend import PostgresBackend  # noqa: E402,F401  (its own module; importable from here as before)
