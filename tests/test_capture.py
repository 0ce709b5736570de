"""The capture log (issue 8): every exchange with a platform in WARC files that pass ``warcio check``,
and the record a stored message's provenance names holds that message's original bytes."""
from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from sqlite_utils import Database
from warcio.archiveiterator import ArchiveIterator

from connector import redact
from connector.capture import CaptureLog, Exchange
from connector.config import ConfigError, load_config
from connector.engine import Connector
from connector.http import ResponseTooLarge, Session
from connector.record import record_of
from connector.store import Store, migrations
from connector_doubles import feeds, mastodon

from .conftest import FIXTURES, ROOT, make_message

TOKEN = "masto-token-0123456789-secret"
FEED_KEY = "feed-key-9876543210-secret"


def warcio_check(path: Path) -> subprocess.CompletedProcess:
    """The ``warcio check`` command line on one file (exit 0: every record and digest is sound)."""
    script = Path(sys.executable).parent / "warcio"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from warcio.cli import main; main()"]
    return subprocess.run(command + ["check", "-v", str(path)], capture_output=True, text=True, timeout=120)


def records(path: Path) -> list[tuple[str, str, int, dict]]:
    """(type, record id, offset, headers) of every record in a file."""
    found = []
    with open(path, "rb") as handle:
        iterator = ArchiveIterator(handle)
        for record in iterator:
            record.content_stream().read()
            found.append((record.rec_type, record.rec_headers.get_header("WARC-Record-ID"),
                          iterator.get_record_offset(), dict(record.rec_headers.headers)))
    return found


def record_at(folder: Path, file: str, offset: int):
    """The record at ``offset`` of ``file``: (its id, its type, its payload decoded as a WARC reader does)."""
    with open(folder / file, "rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        return record.rec_headers.get_header("WARC-Record-ID"), record.rec_type, record.content_stream().read()


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


# -- the wire: bytes as received -------------------------------------------------------------------

BODY = b'[{"id":"1","content":"caf\xc3\xa9"}]'


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/gzip"):
            packed = gzip.compress(BODY)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(packed), 7):
                self.wfile.write(b"%x\r\n" % len(packed[i:i + 7]) + packed[i:i + 7] + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/big"):
            self.send_response(200)
            self.send_header("Content-Length", str(200_000))
            self.end_headers()
            self.wfile.write(b"x" * 200_000)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)


@pytest.fixture
def local():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


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


# -- files: rotation, crashes, threads -------------------------------------------------------------

def test_rotation_at_a_small_size_gives_several_complete_files(local, tmp_path):
    log = CaptureLog(tmp_path, max_file_bytes=8 * 1024)
    session = Session(capture=log, capture_label="c")
    refs = [session.get(local + f"/plain?n={n}").capture_ref for n in range(30)]
    log.close()
    files = sorted(log.folder.glob("*.warc"))
    assert len(files) >= 3 and not list(tmp_path.glob("*.open"))
    assert [p.name for p in files] == sorted({ref.file for ref in refs})
    for path in files:
        assert path.stat().st_size <= 8 * 1024
        assert warcio_check(path).returncode == 0
        assert records(path)[0][0] == "warcinfo"
    for n, ref in enumerate(refs):
        record_id, kind, payload = record_at(tmp_path, ref.file, ref.offset)
        assert (record_id, kind, payload) == (ref.record_id, "response", BODY)


CRASH = textwrap.dedent("""
    import os, sys
    from connector.capture import CaptureLog, Exchange

    def exchange(n):
        return Exchange(f"http://x/{n}", f"GET /{n} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode(),
                        response_head=b"HTTP/1.1 200 OK\\r\\nContent-Length: 5\\r\\n\\r\\n", response_body=b"hello")

    log = CaptureLog(sys.argv[1])
    log.write(exchange(1))
    real = log._file

    class Dying:  # the process dies in the middle of writing the second exchange
        def write(self, data):
            real.write(data[:len(data) // 2])
            real.flush()
            os._exit(3)

        def __getattr__(self, name):
            return getattr(real, name)

    log._file = Dying()
    log.write(exchange(2))
""")


def test_a_crash_mid_write_leaves_no_complete_looking_file_and_a_restart_recovers_it(tmp_path):
    died = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path)], cwd=ROOT, timeout=120)
    assert died.returncode == 3
    assert not list(tmp_path.glob("*.warc")) and len(list(tmp_path.glob("*.warc.open"))) == 1
    log = CaptureLog(tmp_path)  # a restart
    [recovered] = log.recovered
    assert recovered.exists() and not list(tmp_path.glob("*.open"))
    assert warcio_check(recovered).returncode == 0
    kinds = [kind for kind, _, _, _ in records(recovered)]
    # the first exchange whole, of the second what was complete (its request), then what recovery did
    assert kinds[:4] == ["warcinfo", "request", "response", "metadata"] and kinds[4:-1] in ([], ["request"])
    assert kinds[-1] == "metadata"
    _, _, note = record_at(tmp_path, recovered.name, records(recovered)[-1][2])
    assert b"recovery: " in note and b"stopped before closing it" in note and b".partial" in note
    partial = recovered.with_name(recovered.name + ".partial")
    assert partial.exists() and partial.read_bytes().startswith(b"WARC/1.1")
    log.close()


def test_a_live_writers_open_file_is_left_alone(local, tmp_path):
    first = CaptureLog(tmp_path)
    Session(capture=first).get(local + "/plain")
    second = CaptureLog(tmp_path)  # another process's log starting beside it (flock works per open file)
    assert second.recovered == [] and len(list(tmp_path.glob("*.warc.open"))) == 1
    first.close()
    second.close()
    [path] = first.folder.glob("*.warc")
    assert warcio_check(path).returncode == 0


def test_concurrent_sources_share_one_log_safely(local, tmp_path):
    log = CaptureLog(tmp_path, max_file_bytes=64 * 1024)
    refs, errors = [], []

    def poll(channel):
        session = Session(capture=log, capture_label=channel)
        try:
            for n in range(25):
                refs.append((channel, session.get(f"{local}/plain?c={channel}&n={n}").capture_ref))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(f"ch{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    log.close()
    assert not errors and len(refs) == 150
    assert len({ref.record_id for _, ref in refs}) == 150
    for path in log.folder.glob("*.warc"):
        assert warcio_check(path).returncode == 0
    for channel, ref in refs:
        record_id, kind, payload = record_at(tmp_path, ref.file, ref.offset)
        assert (record_id, kind, payload) == (ref.record_id, "response", BODY)
        with open(tmp_path / ref.file, "rb") as handle:  # its metadata names the channel that made the call
            found = [r.content_stream().read() for r in ArchiveIterator(handle) if r.rec_type == "metadata"
                     and r.rec_headers.get_header("WARC-Concurrent-To") == ref.record_id]
            assert len(found) == 1 and f"channel: {channel}".encode() in found[0]


def test_writes_after_close_are_refused(tmp_path):
    log = CaptureLog(tmp_path)
    log.close()
    with pytest.raises(ValueError):
        log.write(Exchange("http://x/", b"GET / HTTP/1.1\r\n\r\n"))


# -- store and configuration -----------------------------------------------------------------------

def test_the_reference_is_stored_and_read_back_and_older_stores_get_empty_ones(tmp_path):
    import dataclasses

    from connector import states
    from connector.routing import Routing
    from connector.store import DeliveryPlan

    path = tmp_path / "old.db"
    db = Database(path)
    migrations.apply(db, stop_before="m007_warc_capture")  # a store as the previous release left it
    db.close()
    store = Store(path)
    try:
        old = make_message("1")
        new = make_message("2", created_minute=1)
        new = dataclasses.replace(new, raw=dataclasses.replace(new.raw, warc_file="connector-1.warc",
                                                                warc_record="<urn:uuid:x>", warc_offset=1234))
        plan = [DeliveryPlan("zgw", Routing("attach", rule="r", source="m", zaak_identificatie="Z"), states.PENDING)]
        store.save_page("ch", [(old, plan), (new, plan)], {})
        claimed = {row.message.id: row.message.raw for row in store.claim_due()}
        assert claimed["2"] == new.raw and claimed["1"] == old.raw
        assert (claimed["1"].warc_file, claimed["1"].warc_offset) == ("", None)
        provenance = record_of(dataclasses.replace(new, raw=claimed["2"])).provenance
        assert (provenance.warc_file, provenance.warc_record, provenance.warc_offset) == (
            "connector-1.warc", "<urn:uuid:x>", 1234)
    finally:
        store.close()


def _config(tmp_path, **capture):
    text = {"store": "data/c.db", "sinks": [{"name": "s", "kind": "zgw", "options": {
        "zaken_url": "http://h/z", "documenten_url": "http://h/d", "catalogi_url": "http://h/c",
        "client_id": "c", "secret": "${S}", "bronorganisatie": "002220647"}}]}
    if capture:
        text["capture"] = capture
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(text))
    return load_config(path, environ={"S": "secret-value-0123456789"})


def test_capture_configuration_defaults_and_validation(tmp_path):
    config = _config(tmp_path)
    assert config.capture_folder == tmp_path / "data" / "warc"  # beside the store
    assert config.capture["max_file_bytes"] == 1024 ** 3 and config.capture["enabled"] is True
    assert _config(tmp_path, folder="archive/warc").capture_folder == tmp_path / "archive" / "warc"
    assert _config(tmp_path, enabled=False).capture_folder is None
    with pytest.raises(ConfigError) as refused:
        _config(tmp_path, max_file_bytes=10, colour="blue")
    text = str(refused.value)
    assert "capture.max_file_bytes" in text and "capture.colour" in text
    redact.forget_secrets()


def test_the_readme_documents_the_capture_section():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Capture log (WARC)" in readme
    section = readme.split("## Capture log (WARC)", 1)[1].split("\n## ", 1)[0]
    for word in ("max_file_bytes", "folder", "enabled", "warcio check", ".open"):
        assert word in section, word


def test_the_record_and_file_names_are_what_shutil_can_copy(tmp_path):
    """A closed file is an ordinary file: an archive can copy it and it still checks."""
    log = CaptureLog(tmp_path / "a")
    log.write(Exchange("http://x/", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                       response_head=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", response_body=b"ok"))
    log.close()
    [path] = log.folder.glob("*.warc")
    copy = shutil.copy(path, tmp_path / path.name)
    assert warcio_check(Path(copy)).returncode == 0
    assert json.dumps(path.name).count("-") >= 3  # prefix-time-pid-serial


def test_a_feed_sent_without_content_length_is_captured_whole_and_named(tmp_path):
    from connector.sources.rss import FeedSource

    double = feeds.FeedDouble({"/feed.xml": str(FIXTURES / "rss" / "RSSWithComments.xml")})
    double.streaming = True  # read until the server closes: the end of the body is the end of the connection
    running = feeds.serve(double)
    try:
        log = CaptureLog(tmp_path)
        source = FeedSource("news", {"url": running.url + "/feed.xml"},
                            session=Session(capture=log, capture_label="news"))
        [page] = list(source.poll(None))
        log.close()
    finally:
        running.shutdown()
    assert page.messages
    for message in page.messages:
        record_id, kind, payload = record_at(tmp_path, message.raw.warc_file, message.raw.warc_offset)
        assert (record_id, kind) == (message.raw.warc_record, "response") and message.raw.body in payload
    [path] = tmp_path.glob("*.warc")
    assert not any("WARC-Truncated" in h for _, _, _, h in records(path))
    assert warcio_check(path).returncode == 0


def test_a_capture_log_that_cannot_write_costs_the_call_nothing_and_says_so(local, tmp_path, caplog):
    log = CaptureLog(tmp_path)
    log.close()  # every write now fails, as on a full disk
    response = Session(capture=log, capture_label="c").get(local + "/plain")
    assert response.content == BODY and response.capture_ref is None
    assert "could not be written" in caplog.text


def test_the_capture_log_is_core_and_imports_no_source_sink_double_web_or_cli():
    from .test_registry import _core_offenders  # the layering check the core modules pass

    assert _core_offenders("capture.py") == []
