"""A reply follows its thread even when it arrives first: it waits for a parent not stored yet (up to
``delivery.parent_grace``), and finds a parent another channel of the same platform archived."""
from __future__ import annotations

from datetime import timedelta

import pytest

from connector.config import ChannelConfig, Config, SinkConfig
from connector.engine import Connector
from connector.message import fixed_iso, utcnow

from .conftest import make_message
from .test_engine import ScriptedSink, delivery, write_rules

SOCIAL = {"base_url": "https://social.example", "account": "gemeente"}
LATER = timedelta(minutes=10)  # past a waiting reply's next look


@pytest.fixture
def build(tmp_path):
    made = []

    def factory(parent_grace=3600, channels=()):
        settings = {"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 300, "backoff_base": 10,
                    "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 3,
                    "parent_grace": parent_grace}
        config = Config(path=tmp_path / "c.yaml", store=tmp_path / "c.db", mappings=write_rules(tmp_path / "mappings"),
                        web={}, delivery=settings, channels=list(channels), sinks=[SinkConfig("s", "scripted-test", {})])
        connector = Connector(config)
        made.append(connector)
        ScriptedSink.script, ScriptedSink.delay, ScriptedSink.peak = [], 0.0, 0
        ScriptedSink.active, ScriptedSink.overlaps, ScriptedSink.order = {}, [], []
        return connector

    yield factory
    for connector in made:
        connector.close()


def store(connector, channel, *messages):
    connector.store.save_page(channel, [(m, connector.plan(m)) for m in messages], {})


def test_a_reply_stored_before_its_parent_waits_and_then_follows_it(build):
    connector = build()
    store(connector, "test", make_message("r", in_reply_to="p"))
    assert connector.deliver_due().waiting == 1
    row = delivery(connector, "r")
    assert row["state"] == "waiting" and "not stored yet" in row["last_error"]
    store(connector, "test", make_message("p"))
    connector.deliver_due()
    assert delivery(connector, "p")["state"] == "delivered"
    assert connector.deliver_due(now=utcnow() + LATER).delivered == 1
    assert delivery(connector, "r")["zaak_url"] == delivery(connector, "p")["zaak_url"] == "http://zaken/p"


def test_after_the_grace_the_rules_otherwise_applies(build):
    connector = build(parent_grace=60)
    store(connector, "test", make_message("r", in_reply_to="never"))
    connector.deliver_due()
    assert delivery(connector, "r")["state"] == "waiting"
    connector.store.db.execute("update deliveries set created_at = ?", [fixed_iso(utcnow() - timedelta(minutes=2))])
    connector.store.db.conn.commit()
    assert connector.deliver_due(now=utcnow() + LATER).delivered == 1
    assert delivery(connector, "r")["zaak_url"] == "http://zaken/r"  # the otherwise: a zaak of its own


def test_a_parent_archived_by_another_channel_of_the_same_platform_is_followed(build):
    channels = [ChannelConfig("test", "mastodon", SOCIAL, 60),
                ChannelConfig("wethouder", "mastodon", {**SOCIAL, "account": "wethouder"}, 60),
                ChannelConfig("elders", "mastodon", {**SOCIAL, "base_url": "https://other.example"}, 60)]
    connector = build(parent_grace=0, channels=channels)
    assert connector.siblings == {"test": ["wethouder"], "wethouder": ["test"], "elders": []}
    store(connector, "wethouder", make_message("p", channel="wethouder"))
    store(connector, "elders", make_message("q", channel="elders"))
    connector.deliver_due()
    store(connector, "test", make_message("r", in_reply_to="p"), make_message("s", in_reply_to="q"))
    connector.deliver_due()
    assert delivery(connector, "r")["zaak_url"] == "http://zaken/p"  # the same platform: followed
    assert delivery(connector, "s")["zaak_url"] == "http://zaken/s"  # another server's id: not the same post
