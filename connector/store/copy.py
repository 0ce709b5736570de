"""``connector store copy``: move a whole store to another database (SQLite -> PostgreSQL and back), verified.

An installation that outgrows one SQLite file moves to PostgreSQL (issue 13) without losing a message,
cursor, delivery step or audit event. :func:`copy_store` does it in four steps:

1. **Open both.** The source is opened with ``create=False`` (a wrong path is an error, not a new empty
   database) and migrated to the newest schema; the target is opened (created, for a SQLite file) and
   migrated by its own migrations. A target that already holds rows is refused (:class:`CopyRefused`,
   saying how to start over): the copy keeps ids, and ids already taken would collide.
2. **Plan from the schema, not from a list.** Every table the source has is copied except the
   migrations' own bookkeeping (:data:`BOOKKEEPING`); a table is copied in the order its foreign keys
   need (``messages`` before ``deliveries`` before ``delivery_steps``), read by its primary key. A table
   the copy does not know how to copy (no primary key to read it in order by, missing on the other side,
   other columns there) stops the copy before anything is written: a new table added by a later
   migration is copied without a change here, a table the copy would silently skip cannot exist.
3. **Copy in batches** of :data:`BATCH_ROWS` rows, read by keyset on the primary key (``where (key) >
   (last) order by key limit N``): memory stays bounded by one batch whatever the size of the store (a
   1 GB store of raw originals is never read at once). Every column is copied as it is, ids included,
   all in ONE write transaction on the target: a copy that fails leaves the target as empty as it was.
   On PostgreSQL each identity sequence is then set past the highest id copied, so the next row the
   connector inserts gets a new id.
4. **Verify**: per table the row count and a SHA-256 over the rows in primary-key order (:func:`digest`),
   read back from both databases after the commit. The serialisation is canonical, so both backends give
   the same digest for the same data: columns in name order, each value tagged by type and length
   (``N`` NULL, ``I`` integer, ``F`` float, ``S`` text as UTF-8, ``B`` bytes as hex), text keys ordered
   by their bytes (``collate "C"`` on PostgreSQL, SQLite's default ``BINARY``).

One line per table (``table  rows  sha256  ok``) and a summary are printed; :func:`copy_store` returns 0
when every table matches, 1 otherwise. A URL is only ever printed redacted; a password written into a
URL is refused (:func:`check_url`): it comes from ``PGPASSWORD`` (or libpq's ``~/.pgpass``).

What does not survive a copy: PostgreSQL's text cannot hold NUL, so a text value with a NUL in it
arrives with U+FFFD in its place; the verification then reports that table as differing, as it should.
Stop every worker and web process on the source first: rows written during the copy are not copied.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Callable, Iterator
from urllib.parse import urlsplit

from .backend import _no_nul, parse_url, redact, to_pyformat

#: tables of the migrations' own bookkeeping: each side keeps its own (the target is migrated by itself)
BOOKKEEPING = {"_sqlite_migrations", "_migrations"}
#: rows per batch, read from the source and written to the target at once (a raw original may be a whole
#: response of several hundred kB: 100 of them stay well within memory)
BATCH_ROWS = 100


class CopyRefused(Exception):
    """The copy cannot start (bad URL, non-empty target, a table it does not know how to copy); nothing written."""

    def __init__(self, *lines: str):
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class Table:
    """What the copy knows of one table: its columns, primary key and the tables its foreign keys point to."""

    name: str
    columns: list[str]
    key: list[str]
    references: set[str] = field(default_factory=set)
    text_key: set[str] = field(default_factory=set)  # PostgreSQL: key columns of type text (ordered by "C")


@dataclass
class Check:
    """One table's verification: rows and digest on both sides."""

    table: str
    rows: int
    sha256: str
    target_rows: int
    target_sha256: str

    @property
    def ok(self) -> bool:
        return (self.rows, self.sha256) == (self.target_rows, self.target_sha256)

    def line(self) -> str:
        verdict = "ok" if self.ok else f"DIFFERS (target: {self.target_rows} rows, sha256 {self.target_sha256})"
        return f"{self.table:<16} {self.rows:>9}  {self.sha256}  {verdict}"


def check_url(url: str) -> None:
    """Refuse a URL with a password in it: it would be in the shell's history and in ``ps``."""
    if parse_url(url)[0] == "postgresql":
        try:
            password = urlsplit(url).password
        except ValueError:
            raise CopyRefused(f"{redact(url)}: not a valid PostgreSQL URL") from None
        if password is not None:
            raise CopyRefused(f"{redact(url)}: no password in the URL; set PGPASSWORD (or use ~/.pgpass) instead")


# -- the schema, as each backend tells it ---------------------------------------------------------------------

def _tables(db) -> list[str]:
    return [name for name in db.table_names() if name not in BOOKKEEPING and not name.startswith("sqlite_")]


def describe(db, name: str) -> Table:
    """``name``'s columns, primary key (in key order) and referenced tables, read from the database ``db``."""
    if db.kind == "sqlite":
        info = db.execute(f"pragma table_info([{name}])").fetchall()  # cid, name, type, notnull, default, pk
        key = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        references = {row[2] for row in db.execute(f"pragma foreign_key_list([{name}])").fetchall()}
        return Table(name, [row[1] for row in info], key, references)
    key = [row[0] for row in db.execute(
        "select k.column_name from information_schema.table_constraints c"
        " join information_schema.key_column_usage k on k.constraint_name = c.constraint_name"
        " and k.table_schema = c.table_schema and k.table_name = c.table_name"
        " where c.table_schema = current_schema() and c.table_name = ? and c.constraint_type = 'PRIMARY KEY'"
        " order by k.ordinal_position", [name]).fetchall()]
    references = {row[0] for row in db.execute(
        "select u.table_name from information_schema.table_constraints c"
        " join information_schema.constraint_column_usage u on u.constraint_name = c.constraint_name"
        " and u.constraint_schema = c.constraint_schema"
        " where c.table_schema = current_schema() and c.table_name = ? and c.constraint_type = 'FOREIGN KEY'",
        [name]).fetchall()}
    types = dict(db.execute("select column_name, data_type from information_schema.columns"
                            " where table_schema = current_schema() and table_name = ?", [name]).fetchall())
    text_key = {column for column in key if types.get(column) in ("text", "character varying")}
    return Table(name, db.columns(name), key, references, text_key)


def plan(source, target) -> list[Table]:
    """The tables to copy, in foreign-key order; :class:`CopyRefused` for any the copy does not know how to copy."""
    names, other = _tables(source), set(_tables(target))
    problems = [f"table {name}: not in the target" for name in names if name not in other]
    problems += [f"table {name}: in the target, not in the source" for name in sorted(other - set(names))]
    tables = {}
    for name in (n for n in names if n in other):
        table = describe(source, name)
        if not table.key:
            problems.append(f"table {name}: no primary key to copy and verify it in order by")
        if set(table.columns) != set(target.columns(name)):
            problems.append(f"table {name}: other columns in the target ({', '.join(target.columns(name))})")
        tables[name] = table
    if problems:
        raise CopyRefused("don't know how to copy this store:", *problems)
    ordered: list[Table] = []
    while len(ordered) < len(tables):
        done = {table.name for table in ordered}
        ready = [t for t in tables.values() if t.name not in done and t.references - {t.name} <= done]
        if not ready:
            raise CopyRefused("don't know how to copy this store:",
                              f"foreign keys in a cycle among {', '.join(sorted(set(tables) - done))}")
        ordered += ready
    return ordered


# -- reading in key order, writing in batches ---------------------------------------------------------------

def _key_expr(db, table: Table, column: str) -> str:
    return f'{column} collate "C"' if db.kind == "postgresql" and column in table.text_key else column


def batches(db, table: Table, columns: list[str], size: int | None = None) -> Iterator[list[tuple]]:
    """The rows of ``table`` (``columns`` in that order) in primary-key order, ``size`` (default
    :data:`BATCH_ROWS`) at a time, by keyset: each batch starts after the last key of the one before."""
    size = size or BATCH_ROWS
    order = ", ".join(_key_expr(db, table, column) for column in table.key)
    select = f"select {', '.join(table.key + columns)} from {table.name}"
    last = None
    while True:
        if last is None:
            rows = db.execute(f"{select} order by {order} limit {size}").fetchall()
        else:
            marks = ", ".join("?" for _ in table.key)
            rows = db.execute(f"{select} where ({order}) > ({marks}) order by {order} limit {size}",
                              list(last)).fetchall()
        if not rows:
            return
        width = len(table.key)
        yield [tuple(row[width:]) for row in rows]
        if len(rows) < size:
            return
        last = rows[-1][:width]


def _insert_many(db, sql: str, rows: list[tuple]) -> None:
    if db.kind == "postgresql":
        with db.conn.cursor() as cursor:
            cursor.executemany(to_pyformat(sql, ()), [_no_nul(row) for row in rows])
    else:
        db.conn.executemany(sql, rows)


def copy_table(source, target, table: Table) -> int:
    """Copy every row of ``table`` (ids kept); the number of rows. Runs inside the caller's write transaction."""
    sql = (f"insert into {table.name} ({', '.join(table.columns)})"
           f" values ({', '.join('?' for _ in table.columns)})")
    count = 0
    for rows in batches(source, table, table.columns):
        _insert_many(target, sql, rows)
        count += len(rows)
    return count


def reset_identities(db, tables: list[Table]) -> None:
    """PostgreSQL: each identity sequence past the highest id now in its table (SQLite needs nothing: a
    rowid key takes the highest one plus one)."""
    if db.kind != "postgresql":
        return
    for table in tables:
        for (column,) in db.execute("select column_name from information_schema.columns where table_schema ="
                                    " current_schema() and table_name = ? and is_identity = 'YES'",
                                    [table.name]).fetchall():
            db.execute(f"select setval(pg_get_serial_sequence(?, ?), (select coalesce(max({column}), 0)"
                       f" from {table.name}) + 1, false)", [table.name, column])


# -- verification ---------------------------------------------------------------------------------------

def _value(value) -> bytes:
    if value is None:
        return b"N"
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value).hex().encode()
        return b"B%d:" % len(text) + text
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return b"I%d;" % value
    if isinstance(value, float):
        return b"F" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        return b"S%d:" % len(data) + data
    raise TypeError(f"no canonical form for a {type(value).__name__} value")


def digest(db, table: Table) -> tuple[int, str]:
    """Rows and SHA-256 of ``table`` in primary-key order, columns in name order (see the module docstring)."""
    columns = sorted(table.columns)
    sha = hashlib.sha256(("\x1f".join(columns) + "\x1e").encode())
    count = 0
    for rows in batches(db, table, columns):
        for row in rows:
            sha.update(b"R" + b"".join(_value(value) for value in row))
        count += len(rows)
    return count, sha.hexdigest()


def verify(source, target, tables: list[Table]) -> list[Check]:
    """Count and digest every table on both sides."""
    checks = []
    for table in tables:
        checks.append(Check(table.name, *digest(source, table), *digest(target, describe(target, table.name))))
    return checks


# -- the command --------------------------------------------------------------------------------------------

def _non_empty(db, tables: list[Table]) -> list[str]:
    return [f"{t.name} ({n} rows)" for t in tables
            if (n := db.execute(f"select count(*) from {t.name}").fetchone()[0])]


def copy_store(source_url: str, target_url: str, out: Callable[[str], None] = print,
               verify_only: bool = False) -> int:
    """Copy the store at ``source_url`` into the empty one at ``target_url`` and verify it (``verify_only``:
    compare the two, copy nothing). Returns 0 when every table matches, 1 otherwise; raises
    :class:`CopyRefused` (nothing written) or :class:`~connector.store.StoreError` when it cannot start."""
    from . import Store

    for url in (source_url, target_url):
        check_url(url)
    if parse_url(source_url) == parse_url(target_url):
        raise CopyRefused(f"--from and --to are the same store ({redact(source_url)})")
    source = Store(source_url, create=False)
    try:
        target = Store(target_url)
        try:
            return _run(source, target, out, verify_only)
        finally:
            target.close()
    finally:
        source.close()


def _run(source, target, out, verify_only: bool) -> int:
    tables = plan(source.db, target.db)
    if not verify_only:
        taken = _non_empty(target.db, tables)
        if taken:
            raise CopyRefused(f"{target.path}: the target already holds rows: {', '.join(taken)}",
                              "the copy keeps ids and needs an empty store; to start over, drop and create the"
                              " database again (dropdb/createdb) or remove the SQLite file, then copy again")
        with source._lock, target._lock, target.db.write():
            for table in tables:
                copy_table(source.db, target.db, table)
            reset_identities(target.db, tables)
    checks = verify(source.db, target.db, tables)
    for check in checks:
        out(check.line())
    bad = [check.table for check in checks if not check.ok]
    rows = sum(check.rows for check in checks)
    what = "compared" if verify_only else "copied"
    if bad:
        out(f"{what} {len(checks)} tables, {rows} rows from {source.path} to {target.path}:"
            f" {len(bad)} differ ({', '.join(bad)})")
        return 1
    out(f"{what} {len(checks)} tables, {rows} rows from {source.path} to {target.path}: every table matches")
    return 0
