"""``GET /status`` completed (issue 12): uptime, next poll, messages today, sink reachability, the oldest
undelivered message and the dead count, every earlier field kept; each query bounded by an index.

The tests on ``web`` run on a SQLite and a PostgreSQL store (``store_url``, issue 13)."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from connector import states
from connector.failures import Failure
from connector.message import fixed_iso, parse_iso, utcnow

from .status_support import AUTH, CHANNEL, deliver, fail, store_post
from .web_support import make_app

#: the fields /status had before issue 12: clients read them, so they stay
EARLIER = {"version", "time", "healthy", "worker", "channels", "sinks", "deliveries", "deleted_on_platform",
           "mappings"}
EARLIER_CHANNEL = {"name", "kind", "enabled", "poll_interval_seconds", "last_poll_at", "last_success_at",
                   "last_error", "consecutive_failures", "polling_since", "stalled", "paused_until", "paused_reason",
                   "rate_limited_until", "messages", "quarantined", "deleted_on_platform"}
EARLIER_SINK = {"name", "kind", "parallel", "last_error", "last_ok_at", "paused", "paused_until", "paused_reason"}


@pytest.fixture
def web(tmp_path, store_url):
    app, store, _ = make_app(tmp_path, store_url=store_url)
    yield app.test_client(), store
    store.close()


def status(client) -> dict:
    response = client.get("/status", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def channel_of(body, name=CHANNEL) -> dict:
    return next(c for c in body["channels"] if c["name"] == name)


def test_every_earlier_field_is_kept_beside_the_new_ones(web):
    client, _ = web
    body = status(client)
    assert EARLIER | {"uptime_seconds", "oldest_undelivered", "dead"} <= set(body)
    assert EARLIER_CHANNEL | {"next_poll_at", "messages_today"} <= set(channel_of(body))
    assert EARLIER_SINK | {"reachable"} <= set(body["sinks"][0])
    assert set(body["deliveries"]) == set(states.STATES)


def test_uptime_of_this_web_process_and_of_the_live_worker(web):
    client, store = web
    body = status(client)
    assert body["uptime_seconds"] >= 0 and body["worker"] is None
    store.worker_beat("host:1:abc", host="host", pid=1, started_at=utcnow() - timedelta(hours=2))
    worker = status(client)["worker"]
    assert worker["alive"] is True and 7200 <= worker["uptime_seconds"] < 7300
    store.worker_beat("host:1:abc", host="host", pid=1, started_at=utcnow() - timedelta(hours=2), stopped=True)
    assert status(client)["worker"]["uptime_seconds"] is None, "a stopped worker has no uptime"


def test_next_poll_is_the_last_poll_plus_the_interval_or_the_end_of_a_pause(web):
    client, store = web
    assert channel_of(status(client))["next_poll_at"] is None, "never polled: polled when the worker starts"
    store.record_poll(CHANNEL)
    channel = channel_of(status(client))
    assert parse_iso(channel["next_poll_at"]) - parse_iso(channel["last_poll_at"]) == timedelta(minutes=5)
    until = utcnow().replace(microsecond=0) + timedelta(hours=1)
    store.record_poll(CHANNEL, Failure("rate_limited", "429 too many requests", status=429), paused_until=until,
                      paused_reason="rate_limited")
    channel = channel_of(status(client))
    assert parse_iso(channel["next_poll_at"]) == until and channel["rate_limited_until"] == channel["next_poll_at"]


def test_messages_today_counts_what_was_stored_since_midnight_in_amsterdam(web):
    client, store = web
    amsterdam = ZoneInfo("Europe/Amsterdam")
    midnight = datetime.combine(utcnow().astimezone(amsterdam).date(), time(0), tzinfo=amsterdam)
    ids = [store_post(store, str(n)) for n in range(4)]
    for mid, moment in zip(ids, (midnight - timedelta(minutes=1), midnight - timedelta(days=3),
                                 midnight + timedelta(minutes=1), utcnow())):
        store.db.execute("update messages set stored_at = ? where id = ?", [fixed_iso(moment), mid])
    channel = channel_of(status(client))
    assert channel["messages"] == 4 and channel["messages_today"] == 2
    assert channel_of(status(client), "nieuws")["messages_today"] == 0


def test_a_sink_is_reachable_after_a_success_and_not_after_a_failure_and_unknown_before_either(web):
    client, store = web
    assert status(client)["sinks"][0]["reachable"] is None
    deliver(store, store_post(store, "1"))
    assert status(client)["sinks"][0]["reachable"] is True
    fail(store, store_post(store, "2"))
    sink = status(client)["sinks"][0]
    assert sink["reachable"] is False and "503" in sink["last_error"]
    deliver(store, store_post(store, "3"))
    assert status(client)["sinks"][0]["reachable"] is True


def test_the_oldest_undelivered_message_and_the_dead_count(web):
    client, store = web
    body = status(client)
    assert body["oldest_undelivered"] is None and body["dead"] == 0
    first, second, third, fourth = (store_post(store, str(n)) for n in range(1, 5))
    deliver(store, first)
    fail(store, second, states.DEAD, status=400)
    fail(store, fourth)  # retry_wait: undelivered, but newer than the third
    store.db.execute("update messages set stored_at = ? where id = ?",
                     [fixed_iso(utcnow() - timedelta(hours=3)), third])
    body = status(client)
    oldest = body["oldest_undelivered"]
    assert (oldest["message_id"], oldest["channel"], oldest["id"], oldest["state"]) == (third, CHANNEL, "3", "pending")
    assert 3 * 3600 <= oldest["age_seconds"] < 3 * 3600 + 60
    assert body["dead"] == 1 == body["deliveries"]["dead"]
    deliver(store, third)
    assert status(client)["oldest_undelivered"]["id"] == "4"


def test_the_new_queries_read_an_index_not_the_whole_table(fresh_store):
    """With 100,000 messages stored a scan costs hundreds of ms: each query must go through an index.

    SQLite only: ``explain query plan`` is SQLite's (PostgreSQL's planner picks a scan on a small table anyway)."""
    store = fresh_store
    plans = {
        "select count(*) as n from messages where channel = ? and stored_at >= ?": ["x", "2026"],
        "select min(id) as id from deliveries where state = ?": ["pending"],
        "select id from messages where channel = ? and platform_id = ? order by id desc limit ?": ["x", "1", 50],
    }
    for sql, params in plans.items():
        plan = " ".join(row["detail"] for row in store.query(f"explain query plan {sql}", params))
        assert "USING" in plan and "INDEX" in plan, (sql, plan)


def test_the_helpdesk_endpoints_follow_the_token_rule_of_status(tmp_path):
    app, store, _ = make_app(tmp_path)
    client = app.test_client()
    store_post(store, "1")
    for path in ("/status", "/status/messages", f"/status/messages/{CHANNEL}/1"):
        refused = client.get(path)
        assert refused.status_code == 401 and "token" in refused.json["error"], path
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert client.get(path, headers={"Authorization": "Bearer not-the-token"}).status_code == 401
        assert client.get(path, headers=AUTH).status_code == 200, path
    store.close()
    opened, store, _ = make_app(tmp_path / "open", public_status=True)
    store_post(store, "1")
    assert opened.test_client().get(f"/status/messages/{CHANNEL}/1").status_code == 200
    store.close()
