"""The Facebook channel through the engine (``Connector.poll``) into a real store: configured in
``connector.yaml`` with the token from the environment, its cursor saved with each page, an edit
stored as a second version of the same post, a hostile item quarantined without failing the poll."""
from __future__ import annotations

import yaml

from connector.config import load_config
from connector.engine import Connector

from .conftest import FIXTURES, ZGW_SECRET
from .graph_support import COMMENTED_POST, PAGE, clock, double, recorded_posts, server  # noqa: F401

CHANNEL = "gemeente-facebook"


def connector_for(tmp_path, monkeypatch, server_url: str, zgw_srv) -> Connector:
    monkeypatch.setenv("FB_PAGE_TOKEN", "graph-test-token")
    monkeypatch.setenv("E2E_ZGW_SECRET", ZGW_SECRET)
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "channels": [{"name": CHANNEL, "kind": "facebook", "options": {
            "page_id": PAGE, "token": "${FB_PAGE_TOKEN}", "base_url": server_url, "page_size": 2}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw_srv.zaken_url, "documenten_url": zgw_srv.documenten_url,
            "catalogi_url": zgw_srv.catalogi_url, "client_id": "connector", "secret": "${E2E_ZGW_SECRET}",
            "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return Connector(load_config(path))


def stored(connector) -> list[tuple[str, str]]:
    rows = connector.store.query("select platform_id, version from messages where channel = ?", [CHANNEL])
    return sorted((r["platform_id"], r["version"]) for r in rows)


def test_facebook_channel_polls_into_the_store(tmp_path, monkeypatch, server, double, clock, zgw_server):
    _, zgw_srv = zgw_server
    connector = connector_for(tmp_path, monkeypatch, server.url, zgw_srv)
    connector.sources[CHANNEL].clock = clock  # the re-check window follows the double's clock
    try:
        result = connector.poll(CHANNEL)
        assert result.error is None, result.error
        posts = {p["id"] for p in recorded_posts()}
        first = stored(connector)
        assert {i for i, _ in first} >= posts and len(first) == len(posts) + 10  # and the 10 recorded comments
        state = connector.store.channel_state(CHANNEL)
        assert state["walk"] is None and COMMENTED_POST in state["recent"]

        quiet = connector.poll(CHANNEL)
        assert quiet.error is None and quiet.new == 0

        clock.advance(hours=1)
        double.edit_message(COMMENTED_POST, "Edited through the engine")
        double.publish(PAGE, b'{"id":"19292868552_1","created_time":"9999-12-31T23:59:59+0000"}',
                       item_id="19292868552_1")
        edited = connector.poll(CHANNEL)
        assert edited.error is None and edited.new == 1 and edited.quarantined == 1
        versions = [v for i, v in stored(connector) if i == COMMENTED_POST]
        assert len(versions) == 2 and "" in versions
    finally:
        connector.close()
