"""``GET /metrics``: the store's truth in Prometheus' format, whoever asks and however often.

The numbers are checked, on a SQLite and a PostgreSQL store, against what the engine (with the scripted sink
of ``test_engine``) and the store did, parsed with ``prometheus_client.parser`` as Prometheus would read them.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connector.config import ChannelConfig, Config, SinkConfig
from connector.engine import Connector
from connector.failures import Failure
from connector.message import fixed_iso, parse_iso, utcnow
from connector.web import create_app

from .conftest import ingest, make_message
from .test_engine import ScriptedSink, write_rules
from .test_web_health import TOKEN, beat
from . import pg_support, test_web_health

make_app = test_web_health.make_app  # the fixture: an app on fixtures/config/valid.yaml, status token TOKEN
pg_url = pg_support.pg_url  # the fixture: a fresh empty PostgreSQL database per test (skips without PostgreSQL)

CHANNEL = "nieuws"


@pytest.fixture(params=["sqlite", "postgresql"])
def connector(request, tmp_path):
    """A connector on a fresh store, SQLite or PostgreSQL (issue 13: the collector's SQL runs on both): one rss
    channel (never polled here) and the scripted sink ``s``."""
    store = tmp_path / "c.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    settings = {"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 300, "backoff_base": 10,
                "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 100}
    config = Config(path=tmp_path / "c.yaml", store=store, mappings=write_rules(tmp_path / "mappings"),
                    web={"public_status": True}, delivery=settings,
                    channels=[ChannelConfig(CHANNEL, "rss", {"url": "https://www.example.nl/nieuws.rss"}, 900.0)],
                    sinks=[SinkConfig("s", "scripted-test", {})])
    made = Connector(config)
    ScriptedSink.script, ScriptedSink.delay = [], 0.0
    yield made
    made.close()


def scrape(client, **kwargs) -> dict:
    """``{(sample name, labels as a sorted tuple): value}`` of one scrape."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# -- who may read it ----------------------------------------------------------------------------

def test_metrics_need_the_status_token_and_no_login(make_app):
    client, _, _ = make_app()  # web: status_token only; no secret_key, so the UI's pages answer 503
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "token" in refused.json["error"]
    assert "connector_" not in refused.get_data(as_text=True)
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
    samples = scrape(client, headers={"Authorization": f"Bearer {TOKEN}"})
    assert ("connector_info", (("version", client.application.config["VERSION"]),)) in samples
    assert scrape(client, query_string={"token": TOKEN})
    assert client.get("/").status_code == 503  # the UI stays closed: /metrics is not one of its pages


def test_metrics_are_closed_without_a_token_and_open_only_when_said_so(make_app):
    closed, _, _ = make_app(web={})
    assert closed.get("/metrics").status_code == 401
    assert "status_token" in closed.get("/metrics").json["error"]
    opened, _, _ = make_app(web={"public_status": True})
    assert value(scrape(opened), "connector_worker_up") == 0  # no worker has beaten in this store


# -- the numbers ---------------------------------------------------------------------------------

def test_counters_follow_what_the_engine_did(connector):
    client = create_app(connector.config, store=connector.store).test_client()
    before = scrape(client)
    assert value(before, "connector_messages_fetched_total", channel=CHANNEL) == 0
    assert value(before, "connector_documents_delivered_total", sink="s") == 0
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(6)))
    other = make_message("n1", channel=CHANNEL)
    connector.store.save_page(CHANNEL, [(other, connector.plan(other))], {})
    ScriptedSink.script = ["ok", Failure("permanent", "HTTP 400"), Failure("retry", "HTTP 503"), "ok"]
    first = connector.deliver_due(limit=4)
    ScriptedSink.script = [Failure("configuration", "HTTP 403 invalid-jwt-signature")]
    second = connector.deliver_due(limit=1)
    paused, _ = connector.store.sink_pause("s")
    reset = utcnow() + timedelta(hours=1)
    ScriptedSink.script = [Failure("rate_limited", "HTTP 429", retry_at=reset)]
    third = connector.deliver_due(limit=1, now=paused + timedelta(seconds=1))
    samples = scrape(client)
    assert value(samples, "connector_messages_fetched_total", channel="test") == 6
    assert value(samples, "connector_messages_fetched_total", channel=CHANNEL) == 1
    assert value(samples, "connector_documents_delivered_total", sink="s") == first.delivered + third.delivered == 2
    assert value(samples, "connector_deliveries_failed_total", sink="s", verdict="permanent") == first.dead == 1
    assert value(samples, "connector_deliveries_failed_total", sink="s", verdict="retry") == 1
    assert value(samples, "connector_deliveries_failed_total", sink="s", verdict="configuration") == second.released
    assert value(samples, "connector_deliveries_failed_total", sink="s", verdict="rate_limited") == 1
    assert value(samples, "connector_sink_pauses_total", sink="s", reason="configuration") == 1
    assert value(samples, "connector_sink_pauses_total", sink="s", reason="rate_limited") == 1
    assert value(samples, "connector_sink_paused", sink="s", reason="rate_limited") == 1
    assert value(samples, "connector_sink_paused", sink="s", reason="configuration") == 0
    counts = connector.store.delivery_counts()
    for state, n in counts.items():
        assert value(samples, "connector_deliveries", sink="s", state=state) == n
    assert counts["delivered"] == 2 and counts["dead"] == 1


def test_counters_read_only_what_is_new_and_agree_with_a_fresh_reader(connector):
    app = create_app(connector.config, store=connector.store)
    client = app.test_client()
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(3)))
    connector.deliver_due()
    first = scrape(client)
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(3, 7)))
    connector.deliver_due()
    again = scrape(client)  # this reader's tallies plus the rows added since
    assert value(again, "connector_messages_fetched_total", channel="test") == \
        value(first, "connector_messages_fetched_total", channel="test") + 4 == 7
    assert value(again, "connector_documents_delivered_total", sink="s") == \
        value(first, "connector_documents_delivered_total", sink="s") + 4 == 7
    fresh = scrape(create_app(connector.config, store=connector.store).test_client())  # counts from the start
    counters = {key: n for key, n in again.items() if key[0].endswith("_total")}
    assert counters and counters == {key: n for key, n in fresh.items() if key[0].endswith("_total")}


def test_a_requeued_delivery_delivered_again_counts_again(connector):
    client = create_app(connector.config, store=connector.store).test_client()
    ingest(connector, make_message("1"))
    connector.deliver_due()
    delivery_id = connector.store.query("select id from deliveries")[0]["id"]
    assert value(scrape(client), "connector_documents_delivered_total", sink="s") == 1
    connector.store.requeue(delivery_id)
    samples = scrape(client)
    assert value(samples, "connector_documents_delivered_total", sink="s") == 1  # a counter never goes down
    assert value(samples, "connector_deliveries", sink="s", state="delivered") == 0  # the gauge does
    connector.deliver_due()
    assert value(scrape(client), "connector_documents_delivered_total", sink="s") == 2


def test_backlog_age_and_latency(connector):
    client = create_app(connector.config, store=connector.store).test_client()
    assert value(scrape(client), "connector_oldest_undelivered_seconds") == 0
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(4)))
    stored = utcnow() - timedelta(minutes=10)
    connector.store.db.execute("update deliveries set created_at = ?", [fixed_iso(stored)])
    samples = scrape(client)
    assert 600 <= value(samples, "connector_oldest_undelivered_seconds") < 600 + 60
    connector.deliver_due()
    # delivered at known moments after each publication (2026-01-01 12:0n), none on a bound: 30 s to 2.5 days
    delays = [30, 120, 7000, 216000]
    rows = connector.store.query("select e.id, m.created_at from events e join messages m on m.id = e.message_id"
                                 " where e.kind = 'delivery.delivered' order by m.created_at")
    for row, delay in zip(rows, delays):
        at = fixed_iso(parse_iso(row["created_at"]) + timedelta(seconds=delay))
        connector.store.db.execute("update events set at = ? where id = ?", [at, row["id"]])
    samples = scrape(client)
    assert value(samples, "connector_oldest_undelivered_seconds") == 0
    for bound in ("60.0", "300.0", "7200.0", "86400.0", "259200.0", "+Inf"):
        expected = sum(1 for delay in delays if bound == "+Inf" or delay <= float(bound))
        assert value(samples, "connector_delivery_latency_seconds_bucket", le=bound) == expected
    assert value(samples, "connector_delivery_latency_seconds_count") == len(delays)
    assert value(samples, "connector_delivery_latency_seconds_sum") == pytest.approx(sum(delays), abs=0.5)


def test_channels_pauses_rate_limits_and_poll_durations(connector):
    client = create_app(connector.config, store=connector.store).test_client()
    samples = scrape(client)
    assert value(samples, "connector_rate_limit_pauses_total", channel=CHANNEL) == 0
    assert ("connector_poll_duration_seconds", (("channel", CHANNEL),)) not in samples  # never polled
    store = connector.store
    store.poll_started(CHANNEL)
    store.db.execute("update channels set poll_started_at = ? where name = ?",
                     [fixed_iso(utcnow() - timedelta(seconds=2.5)), CHANNEL])
    reset = utcnow() + timedelta(minutes=15)
    store.record_poll(CHANNEL, Failure("rate_limited", "HTTP 429", retry_at=reset), paused_until=reset,
                      paused_reason="rate_limited")
    samples = scrape(client)
    assert value(samples, "connector_rate_limit_pauses_total", channel=CHANNEL) == 1
    assert value(samples, "connector_poll_failures_total", channel=CHANNEL, verdict="rate_limited") == 1
    assert value(samples, "connector_channel_paused", channel=CHANNEL, reason="rate_limited") == 1
    assert value(samples, "connector_channel_paused", channel=CHANNEL, reason="backoff") == 0
    assert 2.4 <= value(samples, "connector_poll_duration_seconds", channel=CHANNEL) < 3.5
    store.poll_started(CHANNEL)
    store.record_poll(CHANNEL)  # a quick successful poll ends the pause
    samples = scrape(client)
    assert value(samples, "connector_channel_paused", channel=CHANNEL, reason="rate_limited") == 0
    assert value(samples, "connector_poll_duration_seconds", channel=CHANNEL) < 1.0
    assert abs(value(samples, "connector_last_successful_poll_timestamp_seconds", channel=CHANNEL)
               - utcnow().timestamp()) < 60
    assert value(samples, "connector_rate_limit_pauses_total", channel=CHANNEL) == 1


def test_worker_up_follows_the_heartbeat(make_app):
    client, store, _ = make_app(limits={"worker_stale_after": 60})
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert value(scrape(client, headers=headers), "connector_worker_up") == 0
    beat(store)
    samples = scrape(client, headers=headers)
    assert value(samples, "connector_worker_up") == 1
    assert 0 <= value(samples, "connector_worker_heartbeat_age_seconds") < 30
    beat(store, at=utcnow() - timedelta(minutes=5))
    samples = scrape(client, headers=headers)
    assert value(samples, "connector_worker_up") == 0
    assert value(samples, "connector_worker_heartbeat_age_seconds") >= 300
