"""A delivery run claims only what it can work on, renews its lease, and tries a delivery once.

The sink is a stand-in (registered only here) that, on every call, reads from the store how many
deliveries are in progress, and that can hold a call until the test lets it go: what is under
test is what the dispatcher claims and when, which the store shows.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from connector.config import Config, SinkConfig
from connector.engine import Connector
from connector.failures import Failed, Failure
from connector.message import parse_iso, utcnow
from connector.sinks.base import SINKS, Delivered, Document, Sink

from .conftest import ingest, make_message
from .test_engine import write_rules


class GatedSink(Sink):
    kind = "gated-test"
    store = None
    gate: threading.Event | None = None
    entered = threading.Event()
    in_progress: list[int] = []
    fail: Failure | None = None

    def deliver(self, message, routing, steps):
        count = self.store.query("select count(*) as n from deliveries where state = 'in_progress'")[0]["n"]
        GatedSink.in_progress.append(count)
        GatedSink.entered.set()
        if self.gate is not None:
            assert self.gate.wait(60), "the test never opened the gate"
        if self.fail is not None:
            raise Failed(self.fail)
        return Delivered(zaak_url=f"http://zaken/{message.id}", zaak_identificatie=f"Z-{message.id}",
                         documents=[Document("rendition", f"http://doc/{message.id}")])


if "gated-test" not in SINKS:
    SINKS.register(GatedSink)


@pytest.fixture
def build(tmp_path):
    made = []

    def factory(parallel=1, **delivery):
        settings = {"interval": 1, "batch_size": 50, "max_attempts": 5, "lease": 30, "backoff_base": 10,
                    "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 100, **delivery}
        config = Config(path=tmp_path / "c.yaml", store=tmp_path / "c.db",
                        mappings=write_rules(tmp_path / "mappings"), web={}, delivery=settings,
                        channels=[], sinks=[SinkConfig("s", "gated-test", {}, parallel=parallel)])
        connector = Connector(config)
        made.append(connector)
        GatedSink.store, GatedSink.gate, GatedSink.fail = connector.store, None, None
        GatedSink.in_progress = []
        GatedSink.entered = threading.Event()
        return connector

    yield factory
    for connector in made:
        connector.close()


@pytest.mark.parametrize("parallel", [1, 3])
def test_a_run_never_holds_more_deliveries_than_the_sink_has_slots(build, parallel):
    connector = build(parallel=parallel)
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(12)))
    result = connector.deliver_due()
    assert result.delivered == 12
    assert len(GatedSink.in_progress) == 12
    # every call saw at most `parallel` deliveries claimed (a batch claim would show 12 at once)
    assert max(GatedSink.in_progress) <= parallel
    if parallel > 1:
        assert max(GatedSink.in_progress) > 1  # and the slots were used


def test_a_killed_run_leaves_no_more_than_its_slots_behind(build):
    """What a SIGKILL mid-run leaves: the deliveries in hand, no more; the rest are still pending."""
    connector = build(parallel=2)
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(10)))
    GatedSink.gate = threading.Event()
    runner = threading.Thread(target=connector.deliver_due)
    runner.start()
    try:
        assert GatedSink.entered.wait(30)
        counts = {r["state"]: r["n"] for r in connector.store.query(
            "select state, count(*) as n from deliveries group by state")}
        assert counts.get("in_progress", 0) <= 2 and counts.get("pending", 0) >= 8
    finally:
        GatedSink.gate.set()
        runner.join(60)
    assert not runner.is_alive()


def test_the_lease_is_renewed_while_a_slow_call_runs(build):
    """Another worker cannot take over a delivery whose call outlasts the lease: it is renewed."""
    connector = build(lease=3)
    ingest(connector, make_message("1"))
    GatedSink.gate = threading.Event()
    runner = threading.Thread(target=connector.deliver_due)
    runner.start()
    try:
        assert GatedSink.entered.wait(30)
        first = connector.store.query("select lease_until from deliveries")[0]["lease_until"]
        while utcnow() < parse_iso(first) + timedelta(seconds=1):  # the first lease has run out
            time.sleep(0.1)
        assert connector.store.claim_due() == []  # another worker finds it leased, not due
        later = connector.store.query("select lease_until from deliveries")[0]["lease_until"]
        assert parse_iso(later) > parse_iso(first)
    finally:
        GatedSink.gate.set()
        runner.join(60)
    assert connector.store.query("select state from deliveries")[0]["state"] == "delivered"


def test_a_finished_delivery_is_no_longer_renewed(build):
    connector = build()
    ingest(connector, make_message("1"))
    connector.deliver_due()
    delivery_id = connector.store.query("select id from deliveries")[0]["id"]
    assert connector.store.renew_leases([delivery_id], 30) == 0


def test_a_failed_delivery_is_tried_once_per_run_even_when_its_retry_is_due(build):
    connector = build()
    ingest(connector, make_message("1"))
    GatedSink.fail = Failure("retry", "HTTP 503")
    # with `now` a day ahead, the retry (due in seconds) is already due: still one attempt per run
    connector.deliver_due(now=utcnow() + timedelta(days=1))
    assert connector.store.query("select attempts from deliveries")[0]["attempts"] == 1
    assert len(GatedSink.in_progress) == 1


def test_a_run_stops_at_its_limit(build):
    connector = build(parallel=3)
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(10)))
    assert connector.deliver_due(limit=4).delivered == 4
    pending = connector.store.query("select count(*) as n from deliveries where state = 'pending'")[0]["n"]
    assert pending == 6
