"""The X channel through the engine (``Connector.poll``) into a real store, configured as an operator
would (the token as ``${ENV}``): what is stored, what is quarantined, what a usage cap does."""
from __future__ import annotations

import pytest
import yaml

from connector.config import load_config
from connector.engine import Connector

from . import x_support
from .conftest import FIXTURES as ALL_FIXTURES, ZGW_SECRET
from .x_support import DEV, TOKEN, dev_ids_oldest_first, page

double, server = x_support.double, x_support.server  # pytest fixtures
CHANNEL = "x-gemeente"


@pytest.fixture
def connector(tmp_path, zgw_server, server, monkeypatch):
    _, zgw = zgw_server
    monkeypatch.setenv("X_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("X_TEST_ZGW_SECRET", ZGW_SECRET)
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(ALL_FIXTURES / "e2e" / "mappings"),
        "channels": [{"name": CHANNEL, "kind": "x", "options": {
            "token": "${X_TEST_TOKEN}", "user": DEV, "base_url": server.url, "page_size": 5}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw.zaken_url, "documenten_url": zgw.documenten_url, "catalogi_url": zgw.catalogi_url,
            "client_id": "connector", "secret": "${X_TEST_ZGW_SECRET}", "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    made = Connector(load_config(path))
    yield made
    made.close()


def stored(connector) -> dict[tuple[str, str], bytes]:
    rows = connector.store.query("select platform_id, version, raw from messages where channel = ?", [CHANNEL])
    return {(r["platform_id"], r["version"]): r["raw"] for r in rows}


def test_poll_stores_every_post_once_with_its_bytes_then_only_what_is_new(connector, double):
    result = connector.poll(CHANNEL)
    assert result.error is None and result.new == len(dev_ids_oldest_first())
    messages = stored(connector)
    assert sorted(i for i, _ in messages) == sorted(dev_ids_oldest_first())
    for (post_id, _), raw in messages.items():
        assert raw == double.posts[post_id].text.encode()
    # the derived page's reply to a post X does not give: the post stored, the partial error kept beside it
    held = connector.store.query("select item_id, reason from quarantine where channel = ?", [CHANNEL])
    assert [h["item_id"] for h in held] == [page("derived/conversation.json")["data"][0]["id"]]
    assert result.quarantined == 1

    edit_id = double.edit(page("timeline_tweets.json")["data"][0]["id"], "corrected text")
    again = connector.poll(CHANNEL)
    assert again.error is None and again.new == 1
    assert (page("timeline_tweets.json")["data"][0]["id"], edit_id) in stored(connector)
    quiet = connector.poll(CHANNEL)
    assert quiet.error is None and quiet.new == 0 and quiet.quarantined == 0


def test_usage_cap_is_reported_as_rate_limited_with_xs_words(connector, double):
    double.usage_capped = True
    result = connector.poll(CHANNEL)
    assert result.error.verdict == "rate_limited"
    assert result.error.message.startswith("X monthly usage cap of the project exceeded; resumes ")
