"""The store: transactional outbox, dedupe, claims and leases, memoised steps, migrations.

The tests on ``fresh_store`` run on both backends: a SQLite file and a PostgreSQL database (issue 13).
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlite_utils import Database

from connector import states
from connector.failures import Failure
from connector.message import utcnow
from connector.routing import Routing
from connector.sources.base import Quarantined
from connector.store import DeliveryPlan, Store, migrations

from .conftest import make_message, message_events

ATTACH = Routing("attach", rule="r1", source="m.yaml:3", zaak_identificatie="ZAAK-1")


@pytest.fixture
def fresh_store(store_on_each_backend):
    """Here every store test runs on both backends (conftest's ``store_on_each_backend``)."""
    return store_on_each_backend



def plans(*messages, state=states.PENDING):
    return [(m, [DeliveryPlan("zgw", ATTACH, state)]) for m in messages]


def test_save_page_stores_messages_deliveries_and_cursor(fresh_store):
    result = fresh_store.save_page("ch", plans(make_message("1"), make_message("2")), {"watermark": "2"})
    assert len(result.new) == 2 and result.duplicates == 0
    assert fresh_store.channel_state("ch") == {"watermark": "2"}
    assert fresh_store.delivery_counts()["pending"] == 2
    stored = fresh_store.query("select raw, raw_sha256, page_url from messages order by id")
    assert stored[0]["raw"] == make_message("1").raw.body
    assert stored[0]["raw_sha256"] == make_message("1").raw.sha256


def test_same_message_twice_is_stored_once(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {"watermark": "1"})
    again = fresh_store.save_page("ch", plans(make_message("1"), make_message("2")), {"watermark": "2"})
    assert again.duplicates == 1 and len(again.new) == 1
    assert fresh_store.query("select count(*) as n from deliveries")[0]["n"] == 2


def test_an_edit_is_a_new_version(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    result = fresh_store.save_page("ch", plans(make_message("1", version="2026-01-02T00:00:00Z")), {})
    assert len(result.new) == 1


def test_crash_inside_save_page_leaves_cursor_and_messages_untouched(fresh_store, monkeypatch):
    fresh_store.save_page("ch", plans(make_message("1")), {"watermark": "1"})
    original = fresh_store._event
    calls = []

    def explode(kind, **kw):
        calls.append(kind)
        if len(calls) == 3:  # after the second message was inserted
            raise RuntimeError("power cut")
        return original(kind, **kw)

    monkeypatch.setattr(fresh_store, "_event", explode)
    with pytest.raises(RuntimeError):
        fresh_store.save_page("ch", plans(make_message("2"), make_message("3")), {"watermark": "3"})
    monkeypatch.undo()
    assert fresh_store.channel_state("ch") == {"watermark": "1"}
    assert [r["platform_id"] for r in fresh_store.query("select platform_id from messages")] == ["1"]


def test_quarantined_items_are_kept_with_their_bytes(fresh_store):
    fresh_store.save_page("ch", [], {"w": 1}, [Quarantined("missing id", b'{"content": 1}', page_url="http://x")])
    row = fresh_store.query("select reason, raw from quarantine")[0]
    assert row == {"reason": "missing id", "raw": b'{"content": 1}'}
    assert fresh_store.channel_rows()[0]["quarantined"] == 1


def test_claim_due_orders_by_message_time_and_marks_in_progress(fresh_store):
    fresh_store.save_page("ch", plans(make_message("b", created_minute=5), make_message("a", created_minute=1)), {})
    rows = fresh_store.claim_due(limit=10)
    assert [r.message.id for r in rows] == ["a", "b"]
    assert fresh_store.delivery_counts()["in_progress"] == 2
    assert fresh_store.claim_due(limit=10) == []  # leased, not claimed twice


def test_expired_lease_is_reclaimed(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    first = fresh_store.claim_due(lease_seconds=60)
    assert len(first) == 1
    later = utcnow() + timedelta(seconds=61)
    again = fresh_store.claim_due(now=later)
    assert [r.id for r in again] == [first[0].id]


def test_retry_wait_is_due_only_after_next_attempt(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    row = fresh_store.claim_due()[0]
    fresh_store.mark_failed(row.id, Failure("retry", "HTTP 503"), states.RETRY_WAIT, utcnow() + timedelta(minutes=5))
    assert fresh_store.claim_due() == []
    assert len(fresh_store.claim_due(now=utcnow() + timedelta(minutes=6))) == 1


def test_illegal_transition_raises(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    delivery_id = fresh_store.query("select id from deliveries")[0]["id"]
    with pytest.raises(states.IllegalTransition):
        fresh_store.mark_delivered(delivery_id, "http://z", "Z-1", [])  # pending -> delivered skips in_progress


def test_delivered_only_again_after_requeue(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    row = fresh_store.claim_due()[0]
    fresh_store.mark_delivered(row.id, "http://z/1", "Z-1", [{"role": "rendition"}])
    assert fresh_store.claim_due(now=utcnow() + timedelta(days=1)) == []
    fresh_store.requeue(row.id)
    assert [r.id for r in fresh_store.claim_due()] == [row.id]


def test_steps_are_memoised_per_delivery(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1"), make_message("2")), {})
    first, second = fresh_store.claim_due()
    calls = []
    steps = fresh_store.steps(first.id)
    assert steps.run("zaak", lambda: calls.append(1) or {"url": "u"}) == {"url": "u"}
    assert steps.run("zaak", lambda: calls.append(2) or {"url": "other"}) == {"url": "u"}
    assert calls == [1]
    assert fresh_store.steps(second.id).get("zaak") is None


def test_thread_zaak_prefers_the_delivered_version(fresh_store):
    fresh_store.save_page("ch", plans(make_message("p")), {})
    assert fresh_store.thread_zaak("ch", "p", "zgw") == ("pending", None)
    row = fresh_store.claim_due()[0]
    fresh_store.mark_delivered(row.id, "http://z/9", "Z-9", [])
    assert fresh_store.thread_zaak("ch", "p", "zgw") == ("delivered", "http://z/9")
    assert fresh_store.thread_zaak("ch", "unknown", "zgw") == (None, None)


def test_every_transition_is_in_the_audit_trail_with_attempt_and_error(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    row = fresh_store.claim_due()[0]
    fresh_store.mark_failed(row.id, Failure("retry", "HTTP 500"), states.RETRY_WAIT)
    fresh_store.claim_due(now=utcnow() + timedelta(hours=1))
    fresh_store.mark_delivered(row.id, "http://z/1", "Z-1", [])
    events = message_events(fresh_store, row.message_id)
    assert [e["kind"] for e in events] == ["message.stored", "delivery.pending", "delivery.in_progress",
                                           "delivery.retry_wait", "delivery.in_progress", "delivery.delivered"]
    details = [json.loads(e["detail_json"]) for e in events[1:]]
    assert [(d["from"], d["attempt"]) for d in details] == [
        (None, 0), ("pending", 0), ("in_progress", 1), ("retry_wait", 1), ("in_progress", 2)]
    assert details[2]["error"] == "HTTP 500" and details[2]["verdict"] == "retry"
    assert all(e["at"] for e in events)


def test_reclaiming_an_expired_lease_is_recorded(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    row = fresh_store.claim_due(lease_seconds=1)[0]
    fresh_store.claim_due(now=utcnow() + timedelta(seconds=5))
    last = message_events(fresh_store, row.message_id)[-1]
    assert last["kind"] == "delivery.in_progress" and json.loads(last["detail_json"])["reclaimed"] is True


def test_paused_sink_deliveries_are_not_claimed(fresh_store):
    fresh_store.register({}, {"zgw": "zgw"})
    fresh_store.save_page("ch", plans(make_message("1")), {})
    fresh_store.pause_sink("zgw", utcnow() + timedelta(minutes=5), "configuration: HTTP 403")
    assert fresh_store.claim_due() == []
    assert fresh_store.sink_rows()[0]["paused_reason"] == "configuration: HTTP 403"
    assert len(fresh_store.claim_due(now=utcnow() + timedelta(minutes=6))) == 1


def test_reopen_applies_no_migration_twice_and_uses_wal(tmp_path):
    Store(tmp_path / "c.db").close()
    store = Store(tmp_path / "c.db")
    assert store.query("pragma journal_mode")[0]["journal_mode"] == "wal"
    names = [r["name"] for r in store.query("select name from _sqlite_migrations")]
    assert names == [m.name for m in migrations.pending(Database(memory=True))]  # each once, in order
    assert store.query("pragma synchronous")[0]["synchronous"] == 1  # NORMAL


def test_unique_constraint_is_in_the_schema(fresh_store):
    with pytest.raises(fresh_store.db.Error, match="(?i)unique"):
        for _ in range(2):
            fresh_store.db.execute("insert into messages (channel, platform_id, version, message_json)"
                                   " values ('c', '1', '', '{}')")


@pytest.mark.parametrize("current,new,ok", [
    (states.PENDING, states.IN_PROGRESS, True),
    (states.IN_PROGRESS, states.DELIVERED, True),
    (states.DELIVERED, states.IN_PROGRESS, False),
    (states.DEAD, states.DELIVERED, False),
    (states.DEAD, states.PENDING, True),
    (states.IN_PROGRESS, states.IN_PROGRESS, True),
    (states.HELD, states.PENDING, True),
])
def test_transition_table(current, new, ok):
    if ok:
        states.check(current, new)
    else:
        with pytest.raises(states.IllegalTransition):
            states.check(current, new)


def test_requeue_refuses_a_delivery_a_worker_holds(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    row = fresh_store.claim_due(lease_seconds=60)[0]
    with pytest.raises(states.IllegalTransition, match="being delivered right now"):
        fresh_store.requeue(row.id)


def test_a_lone_surrogate_in_event_details_cannot_fail_a_save(fresh_store):
    from connector.store import _dumps

    text = _dumps({"reason": "bad \ud800 text"})
    text.encode("utf-8")
    assert json.loads(text)["reason"] == "bad \ud800 text"


def test_what_an_original_covers_is_kept_and_read_back(fresh_store):
    import dataclasses
    item, whole = make_message("1"), make_message("2", created_minute=1)
    whole = dataclasses.replace(whole, raw=dataclasses.replace(whole.raw, body=b'[{"id": "2"}]', scope="response"))
    fresh_store.save_page("ch", plans(item, whole), {})
    assert [r["raw_scope"] for r in fresh_store.query("select raw_scope from messages order by id")] == [
        "item", "response"]
    claimed = {row.message.id: row.message.raw for row in fresh_store.claim_due()}
    assert claimed == {"1": item.raw, "2": whole.raw}  # Raw compares body, media type, url, time and scope
    assert claimed["2"].scope == "response" and claimed["1"].scope == "item"


def test_the_migration_says_every_original_stored_before_is_the_items_own(tmp_path):
    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m006_raw_scope")  # a store as the previous release left it
    db["messages"].insert({"id": 1, "channel": "ch", "platform_id": "1", "version": "", "message_json":
                           make_message("1").to_json(), "raw": b"<item/>", "raw_media_type": "application/rss+xml",
                           "created_at": "2026-01-01T12:00:00.000Z"})
    db["deliveries"].insert({"id": 1, "message_id": 1, "sink": "zgw", "state": states.PENDING, "attempts": 0,
                             "routing_json": json.dumps(ATTACH.to_dict()),
                             "next_attempt_at": "2000-01-01T00:00:00.000Z"})
    db.close()

    store = Store(path)
    try:
        assert store.query("select raw_scope from messages") == [{"raw_scope": "item"}]
        [row] = store.claim_due()
        assert row.message.raw.body == b"<item/>" and row.message.raw.scope == "item"
    finally:
        store.close()


def test_an_original_covers_the_item_or_the_whole_response_and_nothing_else():
    from connector.message import Raw
    assert Raw(b"x", "text/xml").scope == "item" and hash(Raw(b"x", "text/xml", scope="response"))
    with pytest.raises(ValueError, match="scope"):
        Raw(b"x", "text/xml", scope="page")


def test_an_edit_waits_for_the_earlier_version_to_reach_the_same_sink(fresh_store):
    """An edit is the next version of the documents the earlier version made: never delivered before it."""
    other = Routing("attach", rule="r1", zaak_identificatie="ZAAK-1")
    first, edit = make_message("1"), make_message("1", version="2026-01-02T00:00:00Z")
    fresh_store.save_page("ch", [(first, [DeliveryPlan("zgw", ATTACH), DeliveryPlan("archief", other)])], {})
    fresh_store.save_page("ch", [(edit, [DeliveryPlan("zgw", ATTACH), DeliveryPlan("archief", other)])], {})
    [zgw] = fresh_store.claim_due(limit=1, sink="zgw")
    assert zgw.message.version == ""
    assert fresh_store.claim_due(limit=10, sink="zgw") == []   # another worker: the first version is in hand
    fresh_store.mark_failed(zgw.id, Failure("retry", "HTTP 503"), states.RETRY_WAIT, utcnow() + timedelta(minutes=1))
    assert fresh_store.claim_due(limit=10, sink="zgw") == []   # its retry is not due yet: the edit waits too
    # both archive versions in one batch, the earlier first (the dispatcher delivers them in that order)
    assert [r.message.version for r in fresh_store.claim_due(limit=10, sink="archief")] == ["", "2026-01-02T00:00:00Z"]
    retried = fresh_store.claim_due(limit=1, sink="zgw", now=utcnow() + timedelta(minutes=2))
    assert [r.message.version for r in retried] == [""]
    fresh_store.mark_failed(retried[0].id, Failure("permanent", "HTTP 400"), states.DEAD)
    # a dead earlier version no longer holds the edit back (an admin sees it; nothing waits forever)
    assert [(r.sink, r.message.version) for r in fresh_store.claim_due(limit=10)] == [("zgw", "2026-01-02T00:00:00Z")]


def test_an_edit_may_be_claimed_by_whoever_holds_its_earlier_version(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    fresh_store.save_page("ch", plans(make_message("1", version="2026-01-02T00:00:00Z")), {})
    first = fresh_store.claim_due(limit=1)
    assert [r.message.version for r in first] == [""]
    assert fresh_store.claim_due(limit=10) == []   # another worker: the first version is in someone's hands
    assert [r.message.version for r in fresh_store.claim_due(limit=10, held=[first[0].id])] == ["2026-01-02T00:00:00Z"]


def test_an_edit_whose_earlier_version_failed_in_this_run_waits_for_that_retry(fresh_store):
    fresh_store.save_page("ch", plans(make_message("1")), {})
    fresh_store.save_page("ch", plans(make_message("1", version="2026-01-02T00:00:00Z")), {})
    [first] = fresh_store.claim_due(limit=1)
    fresh_store.mark_failed(first.id, Failure("retry", "HTTP 503"), states.RETRY_WAIT, utcnow())
    # due again at once, but this run tried it already (skip): the edit must not overtake it
    assert fresh_store.claim_due(limit=10, skip=[first.id]) == []
