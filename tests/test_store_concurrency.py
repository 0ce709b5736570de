"""Several processes on one store file: no "database is locked" crash, no stranded work; clear errors.

The worker, the web app and CLI commands each open their own :class:`Store` on the same file.
These tests start real processes at the same moment (a barrier), so SQLite's locking is what
is exercised, not a mock of it.
"""
from __future__ import annotations

import multiprocessing
import os
import sqlite3
import traceback

import pytest
from sqlite_utils import Database

from connector import states
from connector.message import Author, Message, utcnow
from connector.routing import CREATE, Routing
from connector.store import DeliveryPlan, Store, StoreError, migrations

CONTEXT = multiprocessing.get_context("spawn")  # no inherited SQLite handles or locks


def _open_at_once(path, barrier, results):
    try:
        barrier.wait(timeout=60)
        store = Store(path)
        store.register({"c": "rss"}, {"s": "zgw"})
        results.put("ok")
        store.close()
    except Exception:
        results.put(traceback.format_exc())


def test_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path):
    """`connector serve` started beside a fresh `connector worker` died in the migrations."""
    path = str(tmp_path / "fresh.db")
    n = 6
    barrier, results = CONTEXT.Barrier(n), CONTEXT.Queue()
    workers = [CONTEXT.Process(target=_open_at_once, args=(path, barrier, results)) for _ in range(n)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert outcomes == ["ok"] * n, "\n".join(o for o in outcomes if o != "ok")
    store = Store(path)
    names = [r["name"] for r in store.query("select name from _sqlite_migrations")]
    assert names == [m.name for m in migrations.pending(Database(memory=True))]  # each once, in order


def _message(i: int) -> Message:
    return Message(channel="c", id=str(i), kind="post", author=Author(id="1", handle="a@x"),
                   created_at=utcnow(), text=f"bericht {i}")


def _claim_and_deliver(path, barrier, results):
    """Claim small batches and mark them delivered, as a second worker on the same file would."""
    try:
        store = Store(path)
        barrier.wait(timeout=60)
        done = 0
        while True:
            rows = store.claim_due(limit=3, lease_seconds=300)
            if not rows:
                break
            for row in rows:
                store.save_step(row.id, "zaak", {"url": f"http://zaak/{row.id}"})
                store.mark_delivered(row.id, f"http://zaak/{row.id}", "Z", [])
                done += 1
        results.put(("ok", done))
    except Exception:
        results.put(("error", traceback.format_exc()))


def test_two_workers_on_one_store_never_fail_with_locked_or_strand_deliveries(tmp_path):
    """Two workers left deliveries in progress for the whole lease after `database is locked`."""
    path = str(tmp_path / "shared.db")
    store = Store(path)
    plans = [(_message(i), [DeliveryPlan("s", Routing(CREATE, zaaktype="Z", rule="r"))]) for i in range(300)]
    store.save_page("c", plans, {})
    n = 3
    barrier, results = CONTEXT.Barrier(n), CONTEXT.Queue()
    workers = [CONTEXT.Process(target=_claim_and_deliver, args=(path, barrier, results)) for _ in range(n)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    errors = [detail for status, detail in outcomes if status != "ok"]
    assert not errors, errors[0]
    assert sum(done for _, done in outcomes) == 300
    counts = store.delivery_counts()
    assert counts[states.DELIVERED] == 300 and counts[states.IN_PROGRESS] == 0


def test_a_missing_store_is_not_created_for_read_only_use(tmp_path):
    path = tmp_path / "typo" / "connector.db"
    with pytest.raises(StoreError, match="no such database") as caught:
        Store(path, create=False)
    assert str(path) in str(caught.value)
    assert not path.exists() and not path.parent.exists()


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000])
def test_a_corrupted_store_is_a_clear_error_naming_the_file(tmp_path, content):
    path = tmp_path / "connector.db"
    path.write_bytes(content)
    with pytest.raises(StoreError) as caught:
        Store(path)
    assert str(path) in str(caught.value)
    assert "Traceback" not in str(caught.value)


def test_health_reports_a_deleted_or_replaced_database_file(tmp_path):
    path = tmp_path / "connector.db"
    store = Store(path)
    assert store.health() == []
    os.rename(path, tmp_path / "moved.db")
    assert any("gone" in p for p in store.health())
    Store(path).close()  # someone created a new, empty one in its place
    assert any("replaced" in p for p in store.health())


def test_health_reports_a_store_that_cannot_be_written(tmp_path):
    path = tmp_path / "connector.db"
    store = Store(path)
    other = sqlite3.connect(str(path), timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock for longer than the wait
    try:
        import connector.store as module

        store.db.execute("PRAGMA busy_timeout = 50")
        problems = store.health()
    finally:
        other.rollback()
        other.close()
    assert problems and "not writable" in problems[0] and module.BUSY_TIMEOUT_SECONDS


def test_health_checked_in_a_loop_writes_at_most_once_per_probe_interval(tmp_path):
    """/healthz is open to anyone: hammering it must not turn into a write transaction per hit."""
    store = Store(tmp_path / "connector.db")
    writes = []
    store.db.conn.set_trace_callback(lambda sql: writes.append(sql) if "health_probe" in sql else None)
    for _ in range(50):
        assert store.health() == []
    assert len(writes) == 1
    store._last_probe = (store._last_probe[0] - store.HEALTH_PROBE_EVERY, [])  # the interval has passed
    assert store.health() == [] and len(writes) == 2
    store.close()
