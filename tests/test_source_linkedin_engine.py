"""The LinkedIn channel through the engine (``Connector.poll``) into a real store: the cursor
survives the store's round trip, the exact bytes are kept, an edit is stored as a second version,
comments after their post, and a quiet poll asks LinkedIn little."""
from __future__ import annotations

import yaml

from connector.config import load_config
from connector.engine import Connector

from . import linkedin_support
from .conftest import FIXTURES, ZGW_SECRET
from .linkedin_support import COMMENTED, TOKEN, posts_oldest_first, recorded_comments

double, server = linkedin_support.double, linkedin_support.server  # the fixtures
CHANNEL = "gemeente-linkedin"


def _connector(tmp_path, monkeypatch, zgw_server, url: str) -> Connector:
    _, zgw = zgw_server
    monkeypatch.setenv("LI_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("LI_ZGW_SECRET", ZGW_SECRET)
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "channels": [{"name": CHANNEL, "kind": "linkedin", "options": {
            "organization": "urn:li:organization:2414183", "token": "${LI_TEST_TOKEN}", "base_url": url,
            "page_size": 3, "recheck_days": 3650}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw.zaken_url, "documenten_url": zgw.documenten_url, "catalogi_url": zgw.catalogi_url,
            "client_id": "connector", "secret": "${LI_ZGW_SECRET}", "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return Connector(load_config(path))


def _stored(connector) -> list[dict]:
    return connector.store.query("select platform_id, version, raw from messages where channel = ? order by id",
                                 [CHANNEL])


def test_linkedin_channel_through_the_engine(tmp_path, monkeypatch, zgw_server, server, double):
    connector = _connector(tmp_path, monkeypatch, zgw_server, server.url)
    try:
        result = connector.poll(CHANNEL)
        assert result.error is None, result.error
        rows = _stored(connector)
        ids = [r["platform_id"] for r in rows]
        assert ids[:7] == posts_oldest_first()
        assert sorted(ids[7:]) == sorted(c["$URN"] for c in recorded_comments())
        for row in rows[:7]:
            assert row["raw"] == double.posts[row["platform_id"]].text  # the bytes LinkedIn sent
        state = connector.store.channel_state(CHANNEL)
        assert state["watermark"]["ids"] == [posts_oldest_first()[-1]] and COMMENTED in state["comments"]

        double.edit_post(posts_oldest_first()[0], "Bijgewerkt bericht")
        double.requests.clear()
        again = connector.poll(CHANNEL)
        assert again.error is None and again.new == 1
        versions = [(r["platform_id"], r["version"]) for r in _stored(connector)]
        assert [v for p, v in versions if p == posts_oldest_first()[0]][0] == ""
        assert len([p for p, v in versions if p == posts_oldest_first()[0]]) == 2

        double.requests.clear()
        quiet = connector.poll(CHANNEL)
        assert quiet.error is None and quiet.new == 0
        listing = [r for r in double.requests if r["path"] == "/rest/posts"]
        assert len(listing) == 2  # the page above the watermark; the re-check back to the window's start
    finally:
        connector.close()
