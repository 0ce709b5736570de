"""The capture log (issue 8): every exchange with a platform in WARC files that pass ``warcio check``,
and the record a stored message's provenance names holds that message's original bytes."""
from __future__ import annotations


import pytest
import yaml

from connector import redact
from connector.capture import CaptureLog
from connector.config import load_config
from connector.engine import Connector
from connector.http import ResponseTooLarge, Session
from connector.record import record_of
from connector_doubles import feeds, mastodon

from .conftest import FIXTURES
from .capture_support import BODY, FEED_KEY, TOKEN, record_at, records, warcio_check
from .capture_support import local  # noqa: F401 (a fixture)


@pytest.fixture
def world(tmp_path, monkeypatch):
    masto = mastodon.MastodonDouble(data_dir=str(FIXTURES / "mastodon" / "replay"), token=TOKEN)
    masto_srv = mastodon.serve(masto)
    feed = feeds.FeedDouble({"/feed.xml": str(FIXTURES / "rss" / "RSSWithComments.xml")})
    feed_srv = feeds.serve(feed)
    monkeypatch.setenv("MASTO_TOKEN", TOKEN)
    monkeypatch.setenv("FEED_KEY", FEED_KEY)
    monkeypatch.setenv("ZGW_SECRET", "zgw-secret-0123456789abcdef")
    config = {
        "store": str(tmp_path / "var" / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "capture": {"operator": "Gemeente Voorbeeld"},
        "channels": [
            {"name": "masto", "kind": "mastodon", "options": {"base_url": masto_srv.url, "account": "schochastics",
                                                               "page_size": 7, "token": "${MASTO_TOKEN}"}},
            {"name": "feed", "kind": "rss", "options": {"url": feed_srv.url + "/feed.xml?api_key=${FEED_KEY}"}},
        ],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": "http://127.0.0.1:9/zaken/api/v1", "documenten_url": "http://127.0.0.1:9/documenten/api/v1",
            "catalogi_url": "http://127.0.0.1:9/catalogi/api/v1", "client_id": "connector",
            "secret": "${ZGW_SECRET}", "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    connector = Connector(load_config(path))
    yield connector, tmp_path / "var" / "warc"
    connector.close()
    masto_srv.shutdown()
    feed_srv.shutdown()
    redact.forget_secrets()


def test_polling_the_doubles_writes_warc_files_that_pass_warcio_check_and_name_each_message(world):
    connector, folder = world
    results = [connector.poll("masto"), connector.poll("feed")]
    assert all(r.error is None and r.new > 0 for r in results), results
    connector.capture.close()
    files = sorted(folder.glob("*.warc"))
    assert files and not list(folder.glob("*.open"))
    for path in files:
        checked = warcio_check(path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        kinds = [kind for kind, _, _, _ in records(path)]
        assert kinds[0] == "warcinfo" and kinds.count("warcinfo") == 1
        assert kinds[1:] == ["request", "response", "metadata"] * ((len(kinds) - 1) // 3)
    rows = connector.store.query("select channel, raw, raw_media_type, warc_file, warc_record, warc_offset"
                                 " from messages")
    assert {r["channel"] for r in rows} == {"masto", "feed"}
    for row in rows:
        record_id, kind, payload = record_at(folder, row["warc_file"], row["warc_offset"])
        assert (record_id, kind) == (row["warc_record"], "response")
        assert row["raw"] in payload  # the message's original bytes, in the record its provenance names
    # what a sink archives says the same, read back from the store
    claimed = connector.store.claim_due(limit=1000)
    assert claimed
    for row in claimed:
        provenance = record_of(row.message).provenance
        record_id, _, payload = record_at(folder, provenance.warc_file, provenance.warc_offset)
        assert record_id == provenance.warc_record and row.message.raw.body in payload


def test_no_token_or_secret_url_parameter_reaches_a_warc_file(world):
    connector, folder = world
    connector.poll("masto")
    connector.poll("feed")
    connector.capture.close()
    data = b"".join(path.read_bytes() for path in folder.iterdir())
    assert b"Authorization: ***" in data and b"api_key=***" in data  # the exchanges are there, masked
    for secret in (TOKEN, FEED_KEY):
        assert secret.encode() not in data and secret[:12].encode() not in data


def test_warcinfo_names_the_software_format_and_operator(world):
    connector, folder = world
    connector.poll("feed")
    connector.capture.close()
    [path] = folder.glob("*.warc")
    _, _, info = record_at(folder, path.name, 0)
    assert b"software: midoffice-connector/" in info and b"format: WARC File Format 1.1" in info
    assert b"operator: Gemeente Voorbeeld" in info
    metadata = [h for kind, _, _, h in records(path) if kind == "metadata"]
    response_ids = [rid for kind, rid, _, _ in records(path) if kind == "response"]
    assert [m["WARC-Concurrent-To"] for m in metadata] == response_ids


def test_a_corrupted_file_fails_the_check(world, tmp_path):
    connector, folder = world
    connector.poll("feed")
    connector.capture.close()
    [path] = folder.glob("*.warc")
    broken = tmp_path / "broken.warc"
    data = bytearray(path.read_bytes())
    at = data.index(b"<rss")  # one byte of the feed's body in the response record
    data[at + 1] ^= 0x20
    broken.write_bytes(bytes(data))
    assert warcio_check(path).returncode == 0
    checked = warcio_check(broken)
    assert checked.returncode != 0 and "digest failed" in checked.stdout



def test_a_gzipped_chunked_answer_is_kept_as_received_and_reads_back_decoded(local, tmp_path):
    log = CaptureLog(tmp_path)
    response = Session(capture=log, capture_label="c").get(local + "/gzip")
    assert response.content == BODY
    ref = response.capture_ref
    log.close()
    raw = (tmp_path / ref.file).read_bytes()
    assert b"Content-Encoding: gzip" in raw and b"Transfer-Encoding: chunked" in raw
    assert BODY not in raw  # the compressed bytes are what is kept...
    assert record_at(tmp_path, ref.file, ref.offset)[2] == BODY  # ...and a WARC reader decodes them
    assert warcio_check(tmp_path / ref.file).returncode == 0


def test_a_streamed_answer_gets_its_reference_once_read_and_a_cut_off_one_says_so(local, tmp_path):
    log = CaptureLog(tmp_path)
    session = Session(capture=log, capture_label="c", max_body=65536)
    streamed = session.get(local + "/plain", stream=True)
    assert streamed.capture_ref is None  # nothing is written before the body is read
    assert b"".join(streamed.iter_content(4)) == BODY and streamed.capture_ref is not None
    with pytest.raises(ResponseTooLarge):
        session.get(local + "/big")
    log.close()
    [path] = log.folder.glob("*.warc")
    truncated = [h for kind, _, _, h in records(path) if kind == "response" and "WARC-Truncated" in h]
    assert [h["WARC-Truncated"] for h in truncated] == ["length"]
    assert warcio_check(path).returncode == 0


def test_a_session_without_capture_writes_nothing_and_says_so(local):
    assert Session().get(local + "/plain").capture_ref is None


