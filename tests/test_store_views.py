"""Every part of the store on both backends: the SQL that differs between SQLite and PostgreSQL gives the
same answers (issue 13).

Each test runs on a new SQLite file and on a new empty PostgreSQL database (skipped, saying why, without
PostgreSQL). They go through the parts whose SQL uses a :class:`~connector.store.backend.Dialect`
fragment or an upsert: the web UI's search (case-insensitive ``like``, a JSON member, the day after a
date), the dashboard's latency, a poll's duration, worker beats and steps saved twice, deletions and
their notices, media rows, accounts, rule versions and a person's routing of a delivery.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connector import states
from connector.message import utcnow
from connector.routing import Routing
from connector.sources import Deletion
from connector.store import DeliveryPlan, Store

from . import pg_support
from .conftest import make_message

pg_url = pg_support.pg_url  # the fixture
ATTACH = Routing("attach", rule="r1", source="m.yaml:3", zaak_identificatie="ZAAK-1")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The store on each backend: a new SQLite file, or a new empty PostgreSQL database."""
    opened = Store(tmp_path / "connector.db" if request.param == "sqlite" else request.getfixturevalue("pg_url"))
    yield opened
    opened.close()


def _save(store, *messages, channel="ch"):
    return store.save_page(channel, [(m, [DeliveryPlan("zgw", ATTACH)]) for m in messages], {"page": 1}).new


def test_the_message_search_ignores_ascii_case_and_treats_percent_literally(store):
    _save(store, make_message("1", text="Nieuwe Brug open"), make_message("2", text="wegwerkzaamheden 50% klaar"),
          make_message("3", text="iets anders"))
    assert [r["text"] for r in store.message_list(text="nieuwe brug")[0]] == ["Nieuwe Brug open"]
    assert [r["text"] for r in store.message_list(text="50%")[0]] == ["wegwerkzaamheden 50% klaar"]
    assert store.message_list(text="0%k")[0] == []  # % is no wildcard
    assert [r["platform_id"] for r in store.message_list(text="3")[0]] == ["3"]  # a platform id
    assert len(store.message_list(account="@GEMEENTE")[0]) == 3


def test_the_publication_day_range_includes_the_last_day(store):
    _save(store, make_message("1", created_minute=0))  # 2026-01-01T12:00
    assert len(store.message_list(since="2026-01-01", until="2026-01-01")[0]) == 1
    assert store.message_list(until="2025-12-31")[0] == []
    assert store.message_list(since="2026-01-02")[0] == []


def test_the_finder_reads_the_text_from_the_stored_json(store):
    _save(store, make_message("1", text="eerste"), make_message("2", text="tweede"))
    rows, after = store.message_finder(channel="ch", limit=1)
    assert [r["text"] for r in rows] == ["tweede"] and after is not None
    assert rows[0]["deliveries"] == [{"sink": "zgw", "state": states.PENDING}]


def test_latency_is_minutes_from_publication_to_delivery(store):
    [message_id] = _save(store, make_message("1"))
    [row] = store.claim_due()
    store.mark_delivered(row.id, "http://zaak/1", "Z-1", [])
    store.db.execute("update events set at = ? where message_id = ? and kind = 'delivery.delivered'",
                     ["2026-01-01T12:30:00.000Z", message_id])  # published 12:00
    latency = store.latency()
    assert latency["count"] == 1 and latency["median"] == pytest.approx(30.0)
    assert isinstance(latency["max"], float)


def test_the_dashboard_counts_per_hour(store):
    _save(store, make_message("1"), make_message("2"))
    chart = store.hourly(3)
    assert chart["fetched"][-1] == 2 and sum(chart["delivered"]) == 0


def test_a_polls_duration_is_recorded_in_seconds(store):
    store.poll_started("ch")
    store.db.execute("update channels set poll_started_at = ? where name = 'ch'",
                     [(utcnow() - timedelta(seconds=90)).isoformat(timespec="milliseconds").replace("+00:00", "Z")])
    store.record_poll("ch")
    seconds = store.query("select last_poll_seconds from channels where name = 'ch'")[0]["last_poll_seconds"]
    assert 89 <= seconds < 150


def test_a_worker_beating_twice_has_one_row_with_the_newest_activity(store):
    started = datetime(2026, 1, 1, tzinfo=timezone.utc)
    store.worker_beat("w1", host="h", pid=1, started_at=started, activity={"n": 1})
    store.worker_beat("w1", host="h", pid=1, started_at=started, activity={"n": 2}, stopped=True)
    [row] = store.worker_rows()
    assert row["activity"] == {"n": 2} and row["stopped_at"]


def test_a_step_saved_again_replaces_its_result(store):
    _save(store, make_message("1"))
    [row] = store.claim_due()
    store.save_step(row.id, "zaak", {"url": "a"})
    store.save_step(row.id, "zaak", {"url": "b"})
    assert store.step_result(row.id, "zaak") == {"url": "b"}
    assert store.health() == []  # the probe's upsert, twice
    store._last_probe = None
    assert store.health() == []


def test_a_deletion_marks_every_version_and_notifies_each_sink_once(store):
    _save(store, make_message("1"), make_message("1", version="2"))
    gone = Deletion(id="1", reason="404 Not Found on re-check", at=datetime(2026, 2, 1, tzinfo=timezone.utc))
    assert store.save_page("ch", [], None, deletions=[gone]).deleted == 1
    assert store.save_page("ch", [], None, deletions=[gone]).deleted == 0
    assert [r["deleted_at"] for r in store.query("select deleted_at from messages")] == [
        "2026-02-01T00:00:00.000Z"] * 2
    [notice] = store.due_notices()
    assert notice["sink"] == "zgw" and notice["delivered"] is None and notice["on_its_way"] is True
    assert [d["notices"] for d in store.deletions()] == [{"zgw": "pending"}]


def test_a_mediums_row_is_replaced_not_duplicated(store):
    [message_id] = _save(store, make_message("1"))
    store.save_medium(message_id, 0, "retry", 1, error="timeout", next_attempt_at=utcnow())
    store.save_medium(message_id, 0, "fetched", 2, result={"sha256": "ab"})
    assert {p: (r["state"], r["attempts"]) for p, r in store.media_rows(message_id).items()} == {0: ("fetched", 2)}


def test_accounts_and_rule_versions(store):
    store.add_user("beheer", "admin", "een-lang-wachtwoord")
    assert store.verify_password("beheer", "een-lang-wachtwoord")["role"] == "admin"
    assert store.verify_password("beheer", "fout-wachtwoord-123") is None
    with pytest.raises(ValueError):
        store.add_user("beheer", "admin", "een-lang-wachtwoord")
    store.save_rule_version("a.yaml", "rules: []\n", "beheer", "eerste")
    store.save_rule_version("a.yaml", "rules: [x]\n", "beheer", "tweede")
    assert [(v["version"], v["size"]) for v in store.rule_versions("a.yaml")] == [(2, 11), (1, 10)]
    assert store.newest_rule_version("a.yaml")["content"] == "rules: [x]\n"


def test_a_person_routes_a_delivery_to_another_sink_and_claims_it(store):
    [message_id] = _save(store, make_message("1"))
    delivery_id = store.assign(message_id, "archief", Routing("attach", rule="manual", zaak_identificatie="Z-9"),
                               who="beheer")
    row = store.claim_delivery(delivery_id)
    assert row.id == delivery_id and row.routing.zaak_identificatie == "Z-9"


def test_the_message_page_shows_a_bounded_original_and_the_trace(store):
    [message_id] = _save(store, make_message("1", text="x" * 50))
    [row] = store.claim_due()
    store.save_step(row.id, "zaak", {"url": "http://zaak/1"})
    original = store.message_original(message_id, limit=5)
    assert original["body"] == b'{"id"' and original["size"] > 50
    assert store.message_detail(message_id)["raw_size"] == original["size"]
    [trace] = store.delivery_trace(message_id)
    assert [a["state"] for a in trace["attempts"]] == [states.PENDING, states.IN_PROGRESS]  # no delivery.step
    assert [s["name"] for s in trace["steps"]] == ["zaak"]


def test_an_edit_of_a_thread_finds_the_delivered_zaak(store):
    _save(store, make_message("1"))
    [row] = store.claim_due()
    store.mark_delivered(row.id, "http://zaak/1", "Z-1", [])
    assert store.thread_zaak("ch", "1", "zgw") == (states.DELIVERED, "http://zaak/1")
    assert store.other_versions(row.message_id, "zgw") == {"zaak_url": None, "newer_delivered": False}


def test_a_nul_character_in_an_items_text_fields_cannot_fail_a_save(store):
    """PostgreSQL's text cannot hold NUL; a hostile author handle with one is stored with U+FFFD there."""
    import dataclasses

    message = make_message("1")
    message = dataclasses.replace(message, author=dataclasses.replace(message.author, handle="a\x00b"))
    assert _save(store, message)
    [row] = store.query("select author_handle from messages")
    assert row["author_handle"] in ("a\x00b", "a\ufffdb")
    assert store.message_by_platform_id("ch", "1").author.handle == "a\x00b"  # the JSON keeps it exactly
