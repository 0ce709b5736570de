"""The engine's delivery decisions: verdicts, backoff, attempts, threads, shutdown.

The sink here is a scripted stand-in (registered only in this test module), because what is under
test is the engine's reaction to each verdict; the real ZGW sink is exercised end to end elsewhere.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import Config, SinkConfig
from connector.engine import Connector
from connector.failures import Failed, Failure
from connector.message import parse_iso, utcnow
from connector.sinks.base import SINKS, Delivered, Document, Sink

from .conftest import FIXTURES, make_message


class ScriptedSink(Sink):
    kind = "scripted-test"
    script: list = []

    def deliver(self, message, routing, steps):
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

    def factory(otherwise=True, **delivery):
        settings = {"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 300, "backoff_base": 10,
                    "backoff_max": 600, **delivery}
        config = Config(path=tmp_path / "c.yaml", store=tmp_path / "c.db",
                        mappings=write_rules(tmp_path / "mappings", otherwise), web={}, delivery=settings,
                        channels=[], sinks=[SinkConfig("s", "scripted-test", {})])
        connector = Connector(config)
        made.append(connector)
        ScriptedSink.script = []
        return connector

    yield factory
    for connector in made:
        connector.close()


def ingest(connector, *messages):
    connector.store.save_page("test", [(m, connector.plan(m)) for m in messages], {})


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
    assert result.failed == 1 and row["state"] == "failed" and row["attempts"] == 1
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
    assert row["state"] == "failed" and row["attempts"] == 3


def test_server_retry_at_is_honoured(build):
    connector = build()
    ingest(connector, make_message("1"))
    later = utcnow() + timedelta(minutes=30)
    ScriptedSink.script = [Failure("rate_limited", "HTTP 429", retry_at=later)]
    connector.deliver_due()
    assert parse_iso(delivery(connector, "1")["next_attempt_at"]) >= later.replace(microsecond=0)


def test_configuration_failure_does_not_burn_attempts(build):
    connector = build(max_attempts=2)
    ingest(connector, make_message("1"))
    ScriptedSink.script = [Failure("configuration", "HTTP 403 invalid-jwt-signature")] * 5
    for hour in range(5):
        connector.deliver_due(now=utcnow() + timedelta(hours=hour * 2))
    row = delivery(connector, "1")
    assert row["state"] == "retry_wait" and row["attempts"] == 0
    assert "invalid-jwt-signature" in row["last_error"]


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
    connector = build()
    ingest(connector, make_message("r", in_reply_to="not-ours"))
    connector.deliver_due()
    row = delivery(connector, "r")
    assert row["state"] == "delivered" and row["zaak_url"] == "http://zaken/r"


def test_reply_to_unknown_parent_without_otherwise_is_held_with_a_reason(build):
    connector = build(otherwise=False)
    ingest(connector, make_message("r", in_reply_to="not-ours"))
    connector.deliver_due()
    history = connector.store.message_history(delivery(connector, "r")["message_id"])
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
    assert result.delivered == result.failed == 0
    assert delivery(connector, "1")["state"] == "ignored"
