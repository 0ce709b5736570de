"""The engine's delivery decisions: verdicts, backoff, attempts, threads, shutdown.

The sink here is a scripted stand-in (registered only in this test module), because what is under
test is the engine's reaction to each verdict; the real ZGW sink is exercised end to end elsewhere.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import Config, SinkConfig
from connector.engine import Connector
from connector.failures import Failed, Failure
from connector.message import parse_iso, utcnow
from connector.sinks.base import SINKS, Delivered, Document, Sink

from .conftest import FIXTURES, ingest, make_message, message_events


class ScriptedSink(Sink):
    kind = "scripted-test"
    script: list = []
    delay = 0.0
    lock = threading.Lock()
    active: dict = {}
    overlaps: list = []
    peak = 0
    order: list = []

    def deliver(self, message, routing, steps):
        zaak = routing.zaak_url or routing.zaak_identificatie or f"http://zaken/{message.id}"
        with self.lock:
            if self.active.get(zaak):
                self.overlaps.append(zaak)
            self.active[zaak] = self.active.get(zaak, 0) + 1
            ScriptedSink.peak = max(ScriptedSink.peak, sum(self.active.values()))
            self.order.append(message.id)
        try:
            time.sleep(self.delay)
            return self._outcome(message, routing)
        finally:
            with self.lock:
                self.active[zaak] -= 1

    def _outcome(self, message, routing):
        with self.lock:
            outcome = self.script.pop(0) if self.script else "ok"
        if isinstance(outcome, Failure):
            raise Failed(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        zaak = routing.zaak_url or f"http://zaken/{message.id}"
        return Delivered(zaak_url=zaak, zaak_identificatie=f"Z-{message.id}",
                         documents=[Document("rendition", f"http://doc/{message.id}")])


if "scripted-test" not in SINKS:
    SINKS.register(ScriptedSink)


def write_rules(folder: Path, otherwise: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    text = (FIXTURES / "e2e" / "mappings" / "rules.yaml").read_text()
    if not otherwise:
        text = text.replace("""      follow_thread:
        otherwise:
          create:
            zaaktype: SOCIAL-VRAAG
            omschrijving: "Reply {id} without a known parent"
""", "      follow_thread:\n")
    (folder / "rules.yaml").write_text(text)
    return folder


@pytest.fixture
def build(tmp_path):
    made = []

    def factory(otherwise=True, parallel=1, **delivery):
        settings = {"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 300, "backoff_base": 10,
                    "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 3, **delivery}
        config = Config(path=tmp_path / "c.yaml", store=tmp_path / "c.db",
                        mappings=write_rules(tmp_path / "mappings", otherwise), web={}, delivery=settings,
                        channels=[], sinks=[SinkConfig("s", "scripted-test", {}, parallel=parallel)])
        connector = Connector(config)
        made.append(connector)
        ScriptedSink.script, ScriptedSink.delay, ScriptedSink.peak = [], 0.0, 0
        ScriptedSink.active, ScriptedSink.overlaps, ScriptedSink.order = {}, [], []
        return connector

    yield factory
    for connector in made:
        connector.close()


def delivery(connector, platform_id):
    return connector.store.query(
        "select d.* from deliveries d join messages m on m.id = d.message_id where m.platform_id = ?",
        [platform_id])[0]


def test_permanent_failure_fails_at_once_with_the_message_verbatim(build):
    connector = build()
    ingest(connector, make_message("1"))
    ScriptedSink.script = [Failure("permanent", "POST /zaken: HTTP 400 Invalid input. [omschrijving: max_length]")]
    result = connector.deliver_due()
    row = delivery(connector, "1")
    assert result.dead == 1 and row["state"] == "dead" and row["attempts"] == 1
    assert row["last_error"] == "POST /zaken: HTTP 400 Invalid input. [omschrijving: max_length]"


def test_transient_failures_back_off_then_fail_after_max_attempts(build):
    connector = build(max_attempts=3)
    ingest(connector, make_message("1"))
    ScriptedSink.script = [Failure("retry", "HTTP 503")] * 3
    now = utcnow()
    connector.deliver_due()
    row = delivery(connector, "1")
    assert row["state"] == "retry_wait" and row["attempts"] == 1
    wait = parse_iso(row["next_attempt_at"]) - now
    assert timedelta(seconds=4) <= wait <= timedelta(seconds=11)  # base 10 s, jitter in the upper half
    connector.deliver_due(now=utcnow() + timedelta(hours=1))
    assert delivery(connector, "1")["attempts"] == 2
    connector.deliver_due(now=utcnow() + timedelta(hours=2))
    row = delivery(connector, "1")
    assert row["state"] == "dead" and row["attempts"] == 3


def test_server_retry_at_is_honoured(build):
    connector = build()
    ingest(connector, make_message("1"))
    later = utcnow() + timedelta(minutes=30)
    ScriptedSink.script = [Failure("rate_limited", "HTTP 429", retry_at=later)]
    connector.deliver_due()
    assert parse_iso(delivery(connector, "1")["next_attempt_at"]) >= later.replace(microsecond=0)


def test_configuration_failure_pauses_the_sink_and_burns_no_attempts(build):
    connector = build(max_attempts=2)
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(5)))
    ScriptedSink.script = [Failure("configuration", "HTTP 403 invalid-jwt-signature")]
    result = connector.deliver_due()
    # one tried and put back; the four others were never claimed (claims fit the sink's one slot)
    assert result.released == 1 and result.dead == 0
    paused, reason = connector.store.sink_pause("s")
    assert paused > utcnow() and "invalid-jwt-signature" in reason
    rows = [delivery(connector, str(n)) for n in range(5)]
    assert {r["state"] for r in rows} == {"pending"} and {r["attempts"] for r in rows} == {0}
    assert connector.deliver_due().delivered == 0  # nothing is claimed while paused
    # the pause doubles while the problem persists, and lifts with the first success
    ScriptedSink.script = [Failure("configuration", "HTTP 403 invalid-jwt-signature")]
    connector.deliver_due(now=paused + timedelta(seconds=1))
    second, _ = connector.store.sink_pause("s")
    assert second - utcnow() > timedelta(seconds=50)  # 60 s now, was 30 s
    assert connector.deliver_due(now=second + timedelta(seconds=1)).delivered == 5
    assert connector.store.sink_pause("s") == (None, None)


def test_consecutive_transient_failures_trip_the_breaker(build):
    connector = build(breaker_threshold=3, batch_size=10)
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(6)))
    ScriptedSink.script = [Failure("retry", "HTTP 503")] * 3
    result = connector.deliver_due()
    assert result.retrying == 3 and result.released == 0  # the last three were never claimed
    paused, reason = connector.store.sink_pause("s")
    assert paused is not None and reason.startswith("3 failures in a row")
    assert sorted(delivery(connector, str(n))["attempts"] for n in range(6)) == [0, 0, 0, 1, 1, 1]


def test_rate_limit_pauses_the_sink_until_reset(build):
    connector = build()
    ingest(connector, make_message("1"), make_message("2", created_minute=1))
    reset = utcnow() + timedelta(minutes=10)
    ScriptedSink.script = [Failure("rate_limited", "HTTP 429", retry_at=reset)]
    result = connector.deliver_due()
    assert result.retrying == 1 and result.released == 0
    second = delivery(connector, "2")  # never claimed once the sink paused
    assert second["state"] == "pending" and second["attempts"] == 0
    assert connector.store.sink_pause("s")[0] == reset.replace(microsecond=reset.microsecond // 1000 * 1000)


def test_a_crashing_sink_keeps_the_message_for_a_retry(build):
    connector = build()
    ingest(connector, make_message("1"))
    ScriptedSink.script = [KeyError("bug")]
    connector.deliver_due()
    row = delivery(connector, "1")
    assert row["state"] == "retry_wait" and "internal error in sink: KeyError" in row["last_error"]


def test_reply_waits_for_its_parent_then_follows_its_zaak(build):
    connector = build()
    ingest(connector, make_message("p", created_minute=1), make_message("r", in_reply_to="p", created_minute=2))
    ScriptedSink.script = [Failure("retry", "HTTP 503")]  # the parent's first attempt fails
    result = connector.deliver_due()
    assert result.retrying == 1 and result.waiting == 1
    assert delivery(connector, "r")["state"] == "waiting"
    later = utcnow() + timedelta(hours=1)
    connector.deliver_due(now=later)
    assert delivery(connector, "p")["state"] == "delivered"
    connector.deliver_due(now=later)
    assert delivery(connector, "r")["zaak_url"] == delivery(connector, "p")["zaak_url"]


def test_reply_to_unknown_parent_uses_the_otherwise_action(build):
    connector = build(parent_grace=0)  # no wait for a parent that may still come (tests/test_threads.py)
    ingest(connector, make_message("r", in_reply_to="not-ours"))
    connector.deliver_due()
    row = delivery(connector, "r")
    assert row["state"] == "delivered" and row["zaak_url"] == "http://zaken/r"


def test_reply_to_unknown_parent_without_otherwise_is_held_with_a_reason(build):
    connector = build(otherwise=False, parent_grace=0)
    ingest(connector, make_message("r", in_reply_to="not-ours"))
    connector.deliver_due()
    history = message_events(connector.store, delivery(connector, "r")["message_id"])
    assert delivery(connector, "r")["state"] == "held"
    assert any("not-ours" in event["detail_json"] for event in history)


def test_stopping_releases_unstarted_claims(build):
    connector = build()
    ingest(connector, make_message("1"), make_message("2"))
    connector.stopping.set()
    result = connector.deliver_due()
    assert result.delivered == 0
    assert connector.store.delivery_counts()["pending"] == 2


def test_held_and_ignored_messages_are_never_sent(build, tmp_path):
    connector = build()
    rules = tmp_path / "mappings" / "rules.yaml"
    rules.write_text(rules.read_text().replace("unmatched:\n  create:\n    zaaktype: SOCIAL-MELDING\n"
                                               "    omschrijving: \"Message {id}\"", "unmatched:\n  ignore: not ours"))
    connector.rules.refresh()
    ingest(connector, make_message("1"))
    ScriptedSink.script = [Failure("permanent", "must not be called")]
    result = connector.deliver_due()
    assert result.delivered == result.dead == 0
    assert delivery(connector, "1")["state"] == "ignored"


def test_parallel_deliveries_into_an_existing_zaak_run_at_once_and_a_new_zaak_is_made_once(build):
    """Only what must wait is serialised: documents into an existing zaak go in parallel, while the
    versions of a message that creates its zaak run one after another (the zaak is made once)."""
    connector = build(parallel=4)
    messages = []
    for n in range(16):  # half attach to zaak 42, half create their own zaak, each in two versions
        if n % 2 == 0:
            messages.append(make_message(f"m{n}", text="over ZAAK-2026-0000000042", created_minute=n))
        else:
            messages += [make_message(f"m{n}", text=f"nieuw {n}", created_minute=n),
                         make_message(f"m{n}", text=f"nieuw {n} (bewerkt)", created_minute=n,
                                      version="2026-01-01T13:00:00Z")]
    ingest(connector, *messages)
    ScriptedSink.delay = 0.05
    result = connector.deliver_due()
    assert result.delivered == 24
    assert "ZAAK-2026-0000000042" in ScriptedSink.overlaps  # deliveries into one existing zaak at once
    assert not [zaak for zaak in ScriptedSink.overlaps if zaak.startswith("http://zaken/m")]  # new zaken: never
    assert ScriptedSink.peak > 1


def test_parallel_delivery_keeps_replies_after_their_parent(build):
    connector = build(parallel=4)
    thread = [make_message("root", created_minute=0)]
    for n in range(1, 6):
        thread.append(make_message(f"r{n}", in_reply_to=thread[-1].id, created_minute=n))
    ingest(connector, *thread, *(make_message(f"x{n}", created_minute=n) for n in range(8)))
    ScriptedSink.delay = 0.01
    result = connector.deliver_due()
    assert result.delivered == 14 and result.waiting == 0
    order = [m for m in ScriptedSink.order if m == "root" or m.startswith("r")]
    assert order == ["root", "r1", "r2", "r3", "r4", "r5"]
    zaken = {delivery(connector, m.id)["zaak_url"] for m in thread}
    assert zaken == {"http://zaken/root"}


def test_a_message_the_sink_cannot_represent_is_dead_at_once_not_retried(build):
    """A created_at of 9999-12-31 failed in the sink with OverflowError and was retried as transient."""
    connector = build()
    ingest(connector, make_message("1"))
    ScriptedSink.script = [OverflowError("date value out of range")]
    result = connector.deliver_due()
    row = delivery(connector, "1")
    assert result.dead == 1 and row["state"] == "dead" and "OverflowError" in row["last_error"]


def test_crashing_messages_do_not_pause_the_sink_for_the_others(build):
    connector = build(breaker_threshold=2)
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(4)))
    ScriptedSink.script = [KeyError("bug")] * 3
    result = connector.deliver_due()
    assert result.retrying == 3 and result.delivered == 1
    assert connector.store.sink_pause("s") == (None, None)


def test_two_workers_share_one_circuit_breaker(build):
    """The streak lived in one process's memory: two workers (or a restart) each counted from zero."""
    first, second = build(breaker_threshold=3), build(breaker_threshold=3)
    ingest(first, *(make_message(str(n), created_minute=n) for n in range(3)))
    ScriptedSink.script = [Failure("retry", "HTTP 503")] * 3
    first.deliver_due(limit=1)
    first.deliver_due(limit=1)
    assert first.store.sink_pause("s") == (None, None)
    second.deliver_due(limit=1)  # the third failure in a row, seen by another worker
    until, reason = second.store.sink_pause("s")
    assert until is not None and reason.startswith("3 failures in a row")


def test_a_configuration_pause_doubles_across_workers_and_a_success_ends_it(build):
    first, second = build(pause_base=30, pause_max=600), build(pause_base=30, pause_max=600)
    ingest(first, make_message("1"), make_message("2", created_minute=1))
    ScriptedSink.script = [Failure("configuration", "HTTP 403")] * 2
    first.deliver_due(limit=1)
    assert first.store.query("select config_pause_seconds from sinks")[0]["config_pause_seconds"] == 30
    later = utcnow() + timedelta(minutes=1)
    second.deliver_due(limit=1, now=later)
    assert second.store.query("select config_pause_seconds from sinks")[0]["config_pause_seconds"] == 60
    second.deliver_due(now=utcnow() + timedelta(hours=1))  # the script is used up: both deliver
    row = second.store.query("select failure_streak, config_pause_seconds from sinks")[0]
    assert row == {"failure_streak": 0, "config_pause_seconds": None}
