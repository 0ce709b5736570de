"""The YouTube channel through the engine (``Connector.poll``) into a real store: the cursor the
store keeps is the one the source resumes from, and nothing is stored twice."""
from __future__ import annotations

import yaml

from connector.config import load_config
from connector.engine import Connector

from . import youtube_support
from .conftest import FIXTURES, ZGW_SECRET
from .youtube_support import CHANNEL, KEY, recorded_video_ids

double, server = youtube_support.double, youtube_support.server  # the fixtures


def connector_for(tmp_path, monkeypatch, zgw_server, url: str, **options) -> Connector:
    _, zgw = zgw_server
    monkeypatch.setenv("YT_KEY", KEY)
    monkeypatch.setenv("YT_ZGW_SECRET", ZGW_SECRET)
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "channels": [{"name": "yt", "kind": "youtube", "options": {
            "channel_id": CHANNEL, "api_key": "${YT_KEY}", "base_url": url + "/youtube/v3",
            "feed_url": url + "/feeds/videos.xml", **options}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw.zaken_url, "documenten_url": zgw.documenten_url, "catalogi_url": zgw.catalogi_url,
            "client_id": "connector", "secret": "${YT_ZGW_SECRET}", "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return Connector(load_config(path))


def stored(connector) -> list[tuple[str, str]]:
    rows = connector.store.query("select platform_id, version from messages where channel = 'yt'")
    return sorted((r["platform_id"], r["version"]) for r in rows)


def test_polls_through_the_engine_resume_from_the_stored_cursor(tmp_path, monkeypatch, zgw_server, server, double):
    connector = connector_for(tmp_path, monkeypatch, zgw_server, server.url)
    try:
        first = connector.poll("yt")
        assert first.error is None and first.quarantined == 0
        ids = {i for i, _ in stored(connector)}
        assert set(recorded_video_ids()) <= ids and len(ids) == first.new
        state = connector.store.channel_state("yt")
        assert state["watermark"] and state["quota"]["used"] == len(double.requests)
        new = double.add_video(title="Via de engine")
        comment = double.add_comment(new, "Een vraag over ZAAK-2026-0000000001")
        second = connector.poll("yt")
        assert second.error is None and second.new == 2 and second.duplicates == 0
        assert {new, comment} <= {i for i, _ in stored(connector)}
        quiet = connector.poll("yt")
        assert quiet.error is None and quiet.new == 0
    finally:
        connector.close()


def test_switching_the_mode_stores_no_video_twice(tmp_path, monkeypatch, zgw_server, server):
    connector = connector_for(tmp_path, monkeypatch, zgw_server, server.url, mode="feed")
    try:
        assert connector.poll("yt").error is None
        before = stored(connector)
    finally:
        connector.close()
    connector = connector_for(tmp_path, monkeypatch, zgw_server, server.url, comments=False, recheck_days=0)
    try:
        again = connector.poll("yt")
        assert again.error is None and again.new == 0 and stored(connector) == before
    finally:
        connector.close()
