"""``connector store copy``: a store filled by a real engine run moves SQLite -> PostgreSQL -> SQLite intact.

The store is filled the way a running connector fills it (the ZGW double as case system, as in
``test_deletions``): messages with raw bytes, deliveries delivered and dead with their memoised steps, the
audit trail, a deletion on the platform told to the sink (a notice), a quarantined item, the channel's
cursor, media rows, a web UI account, a saved rule version and a worker's heartbeat. The copy is made in
batches of 2 rows, so every table is read over several keyset batches (also ``delivery_steps``' two-column key).
"""
from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime, timezone

import pytest

from connector import notices
from connector.cli import main
from connector.sources.base import Quarantined
from connector.store import Store, copy

from . import pg_support
from .conftest import make_message
from .test_deletions import GONE, connector_for

pg_url = pg_support.pg_url

#: every table the store has today; the copy takes them from the schema, this only checks none is left out
TABLES = {"messages", "deliveries", "delivery_steps", "events", "channels", "sinks", "media", "notices",
          "quarantine", "users", "rule_versions", "workers", "meta"}
RAW = b"\x00\xff binary, not UTF-8 \xfe"


@pytest.fixture
def filled(tmp_path, monkeypatch, zgw_server):
    """The SQLite file of a real engine run (see the module docstring)."""
    double, server = zgw_server
    double.reset()
    connector = connector_for(tmp_path, monkeypatch, server)
    store = connector.store
    try:
        store.save_page("test", [(m, connector.plan(m)) for m in (make_message("1", text="een bericht"),
                                                                   make_message("2", text="café ☕"))],
                        {"watermark": "2"})
        assert connector.drain().delivered == 2
        # a created_at the case system cannot hold: the sink fails it at once (dead, not retried)
        doomed = dataclasses.replace(make_message("3"), created_at=datetime(9999, 12, 31, 23, 59, tzinfo=timezone.utc))
        store.save_page("test", [(doomed, connector.plan(doomed))], {"watermark": "3"},
                        [Quarantined("missing id", RAW, page_url="http://x")], deletions=[GONE])
        assert connector.drain().dead == 1
        notices.deliver_notices(connector)  # drain may have told it already
        assert store.query("select state from notices") == [{"state": "done"}]
        store.save_page("test", [(m, connector.plan(m)) for m in [make_message("4")]], {"watermark": "4"})
        first = store.query("select id from messages order by id")[0]["id"]
        store.save_medium(first, 0, "fetched", 1, result={"sha256": "ab", "size": 3})
        store.save_medium(first, 1, "missing", 3, missing={"why": "404"}, error="HTTP 404")
        store.add_user("beheerder", "admin", "een lang wachtwoord")
        store.save_rule_version("regels.yaml", "rules: []\n", "beheerder", "eerste versie")
        store.worker_beat("w1", host="h", pid=1, started_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
        store.db.execute("update messages set raw = ? where id = ?", [RAW, first])
    finally:
        connector.close()
    return tmp_path / "c.db"


def run(capsys, *args) -> tuple[int, list[str], str]:
    """``connector store copy ARGS``: exit code, stdout lines, stderr (argparse and refusals exit through
    ``SystemExit``)."""
    try:
        code = main(["store", "copy", *args])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def table_lines(lines: list[str]) -> dict[str, tuple[int, str, str]]:
    """``table -> (rows, sha256, verdict)`` from the copy's output (the summary line left out)."""
    found = {}
    for line in lines[:-1]:
        table, rows, sha, verdict = line.split(None, 3)
        found[table] = (int(rows), sha, verdict)
    return found


def test_sqlite_to_postgresql_and_back_keeps_every_row_and_the_copy_works(filled, pg_url, tmp_path, capsys,
                                                                            monkeypatch):
    monkeypatch.setattr(copy, "BATCH_ROWS", 2)
    code, lines, _ = run(capsys, "--from", str(filled), "--to", pg_url)
    there = table_lines(lines)
    assert code == 0, lines
    assert set(there) == TABLES and all(verdict == "ok" for _, _, verdict in there.values())
    assert all(there[t][0] > 0 for t in TABLES - {"meta"}), there  # the engine run filled every table
    assert there["deliveries"][0] == 4 and there["delivery_steps"][0] > 2
    assert lines[-1].endswith("every table matches") and "***" not in lines[-1]

    back = tmp_path / "back.db"
    code, lines, _ = run(capsys, "--from", pg_url, "--to", f"sqlite:///{back}")
    assert code == 0, lines
    assert table_lines(lines) == there  # the same rows and digests, whichever database holds them
    with sqlite3.connect(filled) as original, sqlite3.connect(back) as copied:
        query = "select id, raw, message_json from messages order by id"
        assert original.execute(query).fetchall() == copied.execute(query).fetchall()

    for url in (pg_url, str(back)):
        store = Store(url)
        try:
            top = store.query("select max(id) as top from messages")[0]["top"]
            [due] = store.claim_due(sink="zaken")  # message 4's delivery, under its own id
            assert store.query("select platform_id from messages where id = ?", [due.message_id]) == [
                {"platform_id": "4"}]
            assert store.channel_state("test") == {"watermark": "4"}
            result = store.save_page("test", [(make_message("5"), [])], {"watermark": "5"})
            assert [m for m in result.new] and store.query("select max(id) as top from messages")[0]["top"] > top
            store.add_user("tweede", "helpdesk", "nog een lang wachtwoord")  # users' ids do not collide either
            store.save_rule_version("regels.yaml", "rules: [] # 2\n", "tweede", "tweede versie")
        finally:
            store.close()


def test_text_keys_are_read_in_byte_order_whatever_the_database_collates(filled, pg_url, capsys, monkeypatch):
    """A PostgreSQL database created with a language's collation sorts ``a`` before ``B``; SQLite sorts by
    bytes. Read in the database's own order, the digests of the same rows would differ."""
    monkeypatch.setattr(copy, "BATCH_ROWS", 2)
    with sqlite3.connect(filled) as db:
        db.executemany("insert into channels (name, kind) values (?, 'rss')", [("B",), ("a",), ("Z",), ("é",)])
    store = Store(pg_url)
    try:
        if not store.query("select 1 as found from pg_collation where collname = 'und-x-icu'"):
            pytest.skip("this PostgreSQL has no ICU collations")
        store.db.execute('alter table channels alter column name type text collate "und-x-icu"')
    finally:
        store.close()
    code, lines, _ = run(capsys, "--from", str(filled), "--to", pg_url)
    assert code == 0, lines
    assert table_lines(lines)["channels"][:1] == (5,)


def test_a_target_that_holds_messages_is_refused_and_told_how_to_start_over(filled, pg_url, capsys):
    assert run(capsys, "--from", str(filled), "--to", pg_url)[0] == 0
    code, lines, err = run(capsys, "--from", str(filled), "--to", pg_url)
    assert code == 2 and lines == []
    assert "already holds rows" in err and "messages (4 rows)" in err and "dropdb" in err


def test_a_corrupted_row_on_the_target_fails_the_verification(filled, tmp_path, capsys):
    target = tmp_path / "copy.db"
    assert run(capsys, "--from", str(filled), "--to", str(target))[0] == 0
    with sqlite3.connect(target) as db:
        db.execute("update deliveries set state = 'delivered' where state = 'dead'")
    code, lines, _ = run(capsys, "--from", str(filled), "--to", str(target), "--verify-only")
    assert code == 1
    verdicts = {table: verdict for table, (_, _, verdict) in table_lines(lines).items()}
    assert verdicts.pop("deliveries").startswith("DIFFERS") and set(verdicts.values()) == {"ok"}
    assert "1 differ (deliveries)" in lines[-1]


def test_a_corrupted_row_on_postgresql_fails_the_verification(filled, pg_url, capsys):
    assert run(capsys, "--from", str(filled), "--to", pg_url)[0] == 0
    store = Store(pg_url)
    store.db.execute("update quarantine set raw = ?", [RAW + b"!"])
    store.close()
    code, lines, _ = run(capsys, "--from", str(filled), "--to", pg_url, "--verify-only")
    assert code == 1 and table_lines(lines)["quarantine"][2].startswith("DIFFERS")


def test_a_table_the_copy_does_not_know_how_to_copy_stops_it_before_anything_is_written(filled, tmp_path, capsys):
    with sqlite3.connect(filled) as db:
        db.execute("create table scratch (note text)")  # no primary key, and the target has no such table
    target = tmp_path / "copy.db"
    code, _, err = run(capsys, "--from", str(filled), "--to", str(target))
    assert code == 2 and "scratch: not in the target" in err and "scratch: no primary key" not in err
    with sqlite3.connect(target) as db:
        assert db.execute("select count(*) from messages").fetchone() == (0,)
    with sqlite3.connect(target) as db:
        db.execute("create table scratch (note text)")
    code, _, err = run(capsys, "--from", str(filled), "--to", str(target))
    assert code == 2 and "scratch: no primary key" in err


def test_a_password_in_a_url_is_refused_and_never_printed(tmp_path, capsys):
    code, lines, err = run(capsys, "--from", str(tmp_path / "a.db"), "--to", "postgresql://u:geheim@h/db")
    assert code == 2 and "PGPASSWORD" in err and "geheim" not in err + "".join(lines)


@pytest.mark.parametrize("args", [["--from", "x.db"], ["--to", "x.db"], ["--from", "x.db", "--to", "x.db"]])
def test_bad_arguments_exit_2(args, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sqlite3.connect(tmp_path / "x.db").close()
    assert run(capsys, *args)[0] == 2


def test_a_missing_source_is_refused_not_created(tmp_path, capsys):
    code, _, err = run(capsys, "--from", str(tmp_path / "none.db"), "--to", str(tmp_path / "copy.db"))
    assert code == 2 and "no such database" in err and not (tmp_path / "none.db").exists()


def test_the_canonical_form_tells_types_and_null_apart():
    forms = {copy._value(v) for v in (None, "", b"", 0, 0.0, "0", b"0", "N")}
    assert len(forms) == 8
    with pytest.raises(TypeError):
        copy._value(object())

