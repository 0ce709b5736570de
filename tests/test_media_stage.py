"""Media in the pipeline: fetched once before delivery, archived beside the message, retried, or recorded missing.

A local media server (127.0.0.1, trusted only through ``media.trusted_networks``) serves a PNG, a 404 and a
503 that a test can switch; a Mastodon channel on that host gives the policy; the real archive sink receives.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from connector.config import ChannelConfig, Config, SinkConfig
from connector.engine import Connector
from connector.message import Attachment, utcnow
from connector.record import record_of
from connector_doubles.serving import Running

from .conftest import make_message
from .pdf_support import flat, flat_text

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 64
ARCHIVE = {"archiefvormer": {"naam": "Gemeente Voorbeeld"}}


class MediaServer:
    def __init__(self):
        self.requests: list[str] = []
        self.flaky_ok = False

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        self.requests.append(path)
        if path == "/media/a.png" or (path == "/media/flaky.png" and self.flaky_ok):
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(PNG)))])
            return [PNG]
        if path == "/media/flaky.png":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"busy"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"gone"]


@pytest.fixture
def media_server():
    app = MediaServer()
    with Running(app, name="media") as server:
        yield app, server


@pytest.fixture
def build(tmp_path, media_server):
    app, server = media_server
    made = []

    def factory(sinks=("archief",), trusted=("127.0.0.1/32",)):
        mappings = tmp_path / "mappings"
        mappings.mkdir(exist_ok=True)
        (mappings / "rules.yaml").write_text("unmatched:\n  create: {zaaktype: SOCIAL-MELDING}\n")
        config = Config(
            path=tmp_path / "c.yaml", store=tmp_path / "c.db", mappings=mappings, web={},
            delivery={"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 30, "backoff_base": 10,
                      "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 3},
            channels=[ChannelConfig("masto", "mastodon", {"base_url": server.url, "account": "gemeente"}, 60)],
            sinks=[SinkConfig(name, "archive", {"folder": str(tmp_path / name), **ARCHIVE}, receives="all")
                   for name in sinks],
            media={"folder": None, "max_attempts": 4, "trusted_networks": list(trusted)})
        connector = Connector(config)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()


def with_media(server, message_id: str, *paths: str, host: str | None = None):
    base = host or server.url
    return make_message(message_id, channel="masto", attachments=tuple(
        Attachment(url=f"{base}{path}", media_type="image/png", description=f"alt {path}") for path in paths))


def store_message(connector, *messages):
    connector.store.save_page("masto", [(m, connector.plan(m)) for m in messages], {})


def package_of(connector, platform_id: str, sink: str = "archief") -> Path:
    [row] = connector.store.query("select d.zaak_url from deliveries d join messages m on m.id = d.message_id"
                                  " where m.platform_id = ? and d.sink = ?", [platform_id, sink])
    return Path(row["zaak_url"].removeprefix("file://"))


def test_a_medium_is_fetched_once_and_archived_with_its_checksum_and_alt_text(build, media_server):
    app, server = media_server
    connector = build(sinks=("archief", "kopie"))  # two sinks: the medium is fetched once for both
    store_message(connector, with_media(server, "1", "/media/a.png"))
    assert connector.drain().delivered == 2
    assert app.requests.count("/media/a.png") == 1
    copies = [next(p for p in package_of(connector, "1", sink).iterdir() if p.name.endswith("-1.png"))
              for sink in ("archief", "kopie")]
    assert [medium.read_bytes() for medium in copies] == [PNG, PNG]
    package, medium = package_of(connector, "1"), copies[0]
    sidecar = etree.parse(str(medium.with_name(medium.name + ".bestand.MDTO.xml")))
    assert hashlib.sha256(PNG).hexdigest() in etree.tostring(sidecar).decode()
    text = flat_text(next(p for p in package.iterdir() if p.name.endswith(".pdf")).read_bytes())
    assert flat("gearchiveerd als bijlage 1") in text and flat("alt /media/a.png") in text


def test_a_medium_that_is_gone_is_recorded_missing_and_the_message_still_delivered(build, media_server):
    app, server = media_server
    connector = build()
    store_message(connector, with_media(server, "2", "/media/a.png", "/media/gone.png"))
    assert connector.drain().delivered == 1
    package = package_of(connector, "2")
    text = flat_text(next(p for p in package.iterdir() if p.name.endswith(".pdf")).read_bytes())
    assert flat("Status ontbreekt:") in text and "404" in text
    metadata = next(p for p in package.iterdir() if p.name == f"{package.name}.MDTO.xml").read_text()
    assert "bijlage ontbreekt" in metadata and "alt /media/gone.png" in metadata  # the metadata says so too
    assert len([p for p in package.iterdir() if p.suffix == ".png"]) == 1
    [row] = connector.store.query("select state, missing_json from media where position = 1")
    assert row["state"] == "missing" and json.loads(row["missing_json"])["description"] == "alt /media/gone.png"


def test_a_foreign_host_is_refused_without_any_request(build, media_server):
    app, server = media_server
    with Running(MediaServer(), name="foreign") as foreign:
        connector = build()
        # the same machine under another name: not the channel's host nor one of its media hosts
        message = with_media(server, "3", "/media/a.png", host=foreign.url.replace("127.0.0.1", "localhost"))
        store_message(connector, message)
        assert connector.drain().delivered == 1
    [row] = connector.store.query("select state, missing_json from media")
    assert row["state"] == "missing" and "media_hosts" in json.loads(row["missing_json"])["reason"]


def test_a_private_address_is_refused_unless_trusted(build, media_server):
    app, server = media_server
    connector = build(trusted=())
    store_message(connector, with_media(server, "4", "/media/a.png"))
    assert connector.drain().delivered == 1
    assert app.requests == []  # refused before connecting: 127.0.0.1 is not a public address
    [row] = connector.store.query("select state from media")
    assert row["state"] == "missing"


def test_a_failing_medium_makes_the_delivery_wait_then_arrives(build, media_server):
    app, server = media_server
    connector = build()
    store_message(connector, with_media(server, "5", "/media/flaky.png"))
    first = connector.drain()
    assert first.delivered == 0 and first.waiting == 1
    [delivery] = connector.store.query("select state, attempts from deliveries")
    assert delivery["state"] == "waiting" and delivery["attempts"] == 0  # no attempt spent on waiting
    app.flaky_ok = True
    later = utcnow() + timedelta(minutes=2)  # past the first retry (1 minute)
    assert connector.deliver_due(now=later).delivered == 1
    package = package_of(connector, "5")
    assert [p.read_bytes() for p in package.iterdir() if p.suffix == ".png"] == [PNG]
    assert app.requests.count("/media/flaky.png") == 2


def test_the_record_lists_fetched_media_as_files_and_missing_ones_in_its_provenance(build, media_server):
    app, server = media_server
    connector = build()
    message = with_media(server, "6", "/media/a.png", "/media/gone.png")
    store_message(connector, message)
    [row] = connector.store.query("select id from messages")
    prepared = connector.media.prepare(row["id"], message)
    record = record_of(dataclasses.replace(message, media=prepared.items))
    assert [f.role for f in record.files] == ["rendition", "original", "medium-1"]
    medium = record.file("medium-1")
    assert medium.sha256 == hashlib.sha256(PNG).hexdigest() and medium.size == len(PNG)
    assert "alt /media/a.png" in medium.description
    [missing] = record.provenance.missing_media
    assert missing["description"] == "alt /media/gone.png" and missing["verdict"] == "permanent"
