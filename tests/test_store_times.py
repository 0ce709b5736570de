"""Stored timestamps sort as text the way they sort in time (fixed width, always milliseconds).

The store compares timestamps as text in SQL (``next_attempt_at <= :now``, ``lease_until <= :now``,
``paused_until > :now``, ``order by created_at``). It used to write whole seconds without
milliseconds, and ``12:00:00Z`` sorts after ``12:00:00.500Z`` (``.`` < ``Z``): each test below
fails on that form. Times are fixed instants passed in, never the wall clock.
"""
from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlite_utils import Database

from connector import states
from connector.failures import RETRY, Failure
from connector.message import fixed_iso, iso
from connector.routing import Routing
from connector.store import TIMESTAMP_COLUMNS, DeliveryPlan, Store, migrations

from .conftest import make_message

T = datetime(2031, 1, 1, 12, 0, 0, tzinfo=timezone.utc)  # a whole second, after any real "now" in the store
HALF = timedelta(milliseconds=500)
ATTACH = Routing("attach", rule="r1", source="m.yaml:3", zaak_identificatie="ZAAK-1")
AROUND = [T - timedelta(seconds=1), T - timedelta(milliseconds=1), T, T + timedelta(milliseconds=1), T + HALF,
          T + timedelta(milliseconds=999), T + timedelta(seconds=1), T + timedelta(seconds=1, milliseconds=500)]


@pytest.fixture
def fresh_store(store_on_each_backend):
    """Here every store test runs on both backends (conftest's ``store_on_each_backend``)."""
    return store_on_each_backend



def test_fixed_iso_has_one_width_and_text_order_is_time_order_around_a_whole_second():
    texts = [fixed_iso(value) for value in AROUND]
    assert fixed_iso(T) == "2031-01-01T12:00:00.000Z"
    assert {len(text) for text in texts} == {24}
    assert sorted(texts) == texts  # AROUND is in time order
    shuffled = list(reversed(AROUND))
    assert sorted(shuffled, key=fixed_iso) == sorted(shuffled)
    # the display form keeps dropping zero milliseconds (edit versions in cursors depend on it) and
    # is exactly what could not be compared as text
    assert iso(T) == "2031-01-01T12:00:00Z" and sorted([iso(T), iso(T + HALF)]) != [iso(T), iso(T + HALF)]


def one_delivery(store: Store, message=None) -> int:
    """A pending delivery, claimed once (at ``T``) so that it can fail; returns its id."""
    store.save_page("ch", [(message or make_message("1"), [DeliveryPlan("zgw", ATTACH)])], {})
    (row,) = store.claim_due(now=T)
    return row.id


def retry_at(store: Store, delivery_id: int, due: datetime) -> None:
    store.mark_failed(delivery_id, Failure(RETRY, "timeout"), states.RETRY_WAIT, next_attempt_at=due)


def test_a_retry_due_half_a_second_after_the_second_is_not_claimed_on_the_second(fresh_store):
    delivery_id = one_delivery(fresh_store)
    retry_at(fresh_store, delivery_id, T + HALF)
    assert fresh_store.claim_due(now=T) == []  # was claimed: "12:00:00.500Z" <= "12:00:00Z"
    assert [row.id for row in fresh_store.claim_due(now=T + HALF)] == [delivery_id]


def test_a_retry_due_on_the_second_is_claimed_half_a_second_later(fresh_store):
    delivery_id = one_delivery(fresh_store)
    retry_at(fresh_store, delivery_id, T)
    # was not claimed: "12:00:00Z" <= "12:00:00.500Z" is false
    assert [row.id for row in fresh_store.claim_due(now=T + HALF)] == [delivery_id]


def test_an_expired_lease_is_taken_over_within_the_same_second(fresh_store):
    fresh_store.save_page("ch", [(make_message("1"), [DeliveryPlan("zgw", ATTACH)])], {})
    (row,) = fresh_store.claim_due(now=T - timedelta(seconds=60), lease_seconds=60)  # lease until T
    assert [r.id for r in fresh_store.claim_due(now=T + HALF)] == [row.id]  # was not: "...:00Z" <= "...:00.500Z"


def test_a_sink_paused_until_half_past_the_second_is_paused_on_the_second(fresh_store):
    fresh_store.save_page("ch", [(make_message("1"), [DeliveryPlan("zgw", ATTACH)])], {})
    fresh_store.pause_sink("zgw", T + HALF, "outage")
    assert fresh_store.claim_due(now=T) == []  # was claimed: "12:00:00.500Z" > "12:00:00Z" is false
    assert len(fresh_store.claim_due(now=T + HALF)) == 1


def test_messages_of_one_second_are_delivered_in_time_order(fresh_store):
    later = dataclasses.replace(make_message("later"), created_at=T + HALF)
    earlier = dataclasses.replace(make_message("earlier"), created_at=T)
    fresh_store.save_page("ch", [(m, [DeliveryPlan("zgw", ATTACH)]) for m in (later, earlier)], {})
    claimed = fresh_store.claim_due(now=T + timedelta(seconds=1))
    assert [row.message.id for row in claimed] == ["earlier", "later"]  # was: later first


def test_every_timestamp_column_of_the_schema_is_listed(fresh_store):
    found = {}
    for table in fresh_store.db.table_names():
        if not table.startswith("_"):
            found.update({(table, name): name for name in fresh_store.db.columns(table)})
    stamps = {key for key, name in found.items() if name == "at" or name.endswith(("_at", "_until"))}
    assert stamps == {(table, column) for table, columns in TIMESTAMP_COLUMNS.items() for column in columns}


def test_every_stored_timestamp_has_the_fixed_width(fresh_store):
    delivery_id = one_delivery(fresh_store)
    retry_at(fresh_store, delivery_id, T)
    fresh_store.pause_sink("zgw", T, "outage")
    fresh_store.record_poll("ch")
    fresh_store.worker_beat("w1", host="h", pid=1, started_at=T)
    fresh_store.take_channel("ch", "w1", 60, now=T)
    for table, columns in TIMESTAMP_COLUMNS.items():
        for column in columns:
            for row in fresh_store.query(f"select {column} as value from {table} where {column} is not null"):
                assert len(row["value"]) == 24 and row["value"].endswith("Z"), (table, column, row)


OLD = "2031-01-01T12:00:00Z"           # what the old writer made of T
OLD_HALF = "2031-01-01T12:00:00.500Z"  # ... and of T + HALF


def test_the_migration_rewrites_old_timestamps_to_the_fixed_width(tmp_path):
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m004_fixed_width_times")  # a store as the previous release left it
    db["messages"].insert({"id": 1, "channel": "ch", "platform_id": "1", "version": "", "message_json":
                           make_message("1").to_json(), "created_at": OLD, "fetched_at": OLD_HALF, "stored_at": OLD})
    db["deliveries"].insert({"id": 1, "message_id": 1, "sink": "zgw", "state": states.RETRY_WAIT, "attempts": 1,
                             "routing_json": json.dumps(ATTACH.to_dict()),
                             "next_attempt_at": OLD_HALF, "created_at": OLD, "updated_at": "not a date"})
    db["sinks"].insert({"name": "zgw", "kind": "zgw", "paused_until": OLD, "updated_at": OLD})
    db["events"].insert({"at": "2031-01-01T13:00:00+01:00", "kind": "old"})  # any offset: made UTC and fixed
    db.close()

    store = Store(path)
    try:
        assert store.query("select created_at, fetched_at, stored_at from messages") == [
            {"created_at": "2031-01-01T12:00:00.000Z", "fetched_at": OLD_HALF, "stored_at": "2031-01-01T12:00:00.000Z"}]
        assert store.query("select next_attempt_at, created_at, updated_at from deliveries") == [
            {"next_attempt_at": OLD_HALF, "created_at": "2031-01-01T12:00:00.000Z", "updated_at": "not a date"}]
        assert store.query("select at from events where kind = 'old'") == [{"at": "2031-01-01T12:00:00.000Z"}]
        # the old sink pause (until T) is over half a second later; the old due time is still ahead at T
        assert store.claim_due(now=T) == []
        assert [row.id for row in store.claim_due(now=T + HALF)] == [1]
    finally:
        store.close()


@pytest.mark.parametrize("text", [OLD, OLD_HALF, "2031-01-01T12:00:00.123456+00:00"])
def test_migrated_values_mean_the_same_instant(text):
    from connector.message import parse_iso
    from connector.store import _refixed

    assert parse_iso(_refixed(text)) == parse_iso(text).replace(microsecond=parse_iso(text).microsecond // 1000 * 1000)
