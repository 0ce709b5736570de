"""A ``web`` channel through the engine: polled into a real store, its og:image staged as a medium,
delivered to the ZGW double with the WARC file as the original."""
from __future__ import annotations

import pytest

import yaml

from connector.config import load_config
from connector.engine import Connector

from .conftest import FIXTURES, ZGW_SECRET
from .webpage_support import ARTICLE, PREZI, served, sha256, warc_records
from .webpage_support import running_site

site = pytest.fixture(running_site, name="site")


def connector_for(tmp_path, zgw_srv, monkeypatch, urls) -> Connector:
    monkeypatch.setenv("WEB_ZGW_SECRET", ZGW_SECRET)
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "media": {"trusted_networks": ["127.0.0.1/32"]},
        "channels": [{"name": "web", "kind": "web", "options": {"urls": urls, "trusted_networks": ["127.0.0.1/32"]}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw_srv.zaken_url, "documenten_url": zgw_srv.documenten_url,
            "catalogi_url": zgw_srv.catalogi_url, "client_id": "connector", "secret": "${WEB_ZGW_SECRET}",
            "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return Connector(load_config(path))


def test_a_web_channel_is_polled_stored_and_delivered(site, tmp_path, zgw_server, monkeypatch):
    web, server = site
    zgw_double, zgw_srv = zgw_server
    zgw_double.reset()
    connector = connector_for(tmp_path, zgw_srv, monkeypatch, [server.url + ARTICLE, server.url + PREZI])
    try:
        result = connector.poll("web")
        assert result.error is None and result.new == 2 and result.quarantined == 0
        rows = connector.store.query("select platform_id, version, raw, raw_media_type from messages"
                                     " where channel = 'web' order by id")
        assert [r["platform_id"] for r in rows] == [server.url + "/nieuws/speeltuin-stadspark", server.url + PREZI]
        article = rows[0]
        assert article["raw_media_type"] == "application/warc"
        assert article["version"] == sha256(served(server, ARTICLE))[:16]
        assert any(r.type == "response" and r.uri == server.url + ARTICLE for r in warc_records(article["raw"]))
        again = connector.poll("web")  # within the recapture interval: nothing fetched, nothing new
        assert again.error is None and again.new == 0
        delivered = connector.deliver_due()
        assert delivered.delivered == 2 and delivered.errors == [], delivered.errors
        contents = [zgw_double.document_content(d["url"]) for d in zgw_double.documents]
        assert article["raw"] in contents  # the WARC file is the original in the case system
        assert web.paths().count("/img/speeltuin.png") == 2  # once in the WARC, once as the record's medium
    finally:
        connector.close()
