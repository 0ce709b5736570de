"""Channel trouble pauses that channel only: 429 until the platform's reset, other failures back off."""
from __future__ import annotations

from datetime import timedelta

import pytest

from connector.config import ChannelConfig, Config, SinkConfig
from connector_doubles import feeds, mastodon
from connector.engine import Connector
from connector.message import parse_iso, utcnow

from .conftest import FIXTURES
from .test_engine import ScriptedSink, write_rules  # noqa: F401  (registers the scripted sink kind)


@pytest.fixture
def world(tmp_path):
    masto = mastodon.MastodonDouble(data_dir=str(FIXTURES / "mastodon" / "replay"))
    feed = feeds.FeedDouble({"/feed.xml": str(FIXTURES / "rss" / "RSSWithComments.xml")})
    with mastodon.serve(masto) as masto_server, feeds.serve(feed) as feed_server:
        config = Config(
            path=tmp_path / "c.yaml", store=tmp_path / "c.db", mappings=write_rules(tmp_path / "mappings"), web={},
            delivery={"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 300, "backoff_base": 10,
                      "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 3},
            channels=[ChannelConfig("masto", "mastodon", {"base_url": masto_server.url, "account": "schochastics",
                                                          "page_size": 5}, poll_interval=60),
                      ChannelConfig("feed", "rss", {"url": feed_server.url + "/feed.xml"}, poll_interval=60)],
            sinks=[SinkConfig("s", "scripted-test", {})])
        connector = Connector(config)
        yield connector, masto, feed
        connector.close()


def channel(connector, name):
    return next(c for c in connector.store.channel_rows() if c["name"] == name)


def test_server_errors_back_off_exponentially_and_recover(world):
    connector, masto, _ = world
    masto.fail_next(500, after=3)  # account lookup, two pages, then the third page fails
    now = utcnow()
    first = connector.poll("masto", now=now)
    assert first.error.verdict == "retry" and first.pages == 2
    row = channel(connector, "masto")
    assert row["paused_reason"] == "backoff after 1 failed poll(s)" and row["failures"] == 1
    assert connector.poll("masto", now=now + timedelta(seconds=60)).skipped  # 60 s x 2^1 = 120 s pause
    masto.fail_next(500)
    second = connector.poll("masto", now=now + timedelta(seconds=121))
    assert second.error and channel(connector, "masto")["failures"] == 2
    assert channel(connector, "masto")["paused_reason"] == "backoff after 2 failed poll(s)"
    later = connector.poll("masto", now=now + timedelta(seconds=121 + 241))
    assert later.error is None and channel(connector, "masto")["failures"] == 0
    stored = connector.store.query("select count(*) as n from messages where channel = 'masto'")[0]["n"]
    assert stored == len(masto.statuses("schochastics"))  # nothing skipped, nothing twice


def test_rate_limit_pauses_until_reset_while_other_channels_carry_on(world):
    connector, masto, feed = world
    masto.fail_next(429)
    result = connector.poll("masto")
    assert result.error.verdict == "rate_limited"
    row = channel(connector, "masto")
    assert row["paused_reason"] == "rate_limited"
    assert parse_iso(row["paused_until"]) == masto.reset_at
    assert connector.poll("masto").skipped
    assert connector.poll("feed").new > 0  # the other channel is not affected
