"""The capture log's files: rotation, crashes, concurrent writers; the stored reference; configuration."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml
from sqlite_utils import Database
from warcio.archiveiterator import ArchiveIterator

from connector import redact
from connector.capture import CaptureLog, Exchange
from connector.config import ConfigError, load_config
from connector.http import Session
from connector.record import record_of
from connector.store import Store, migrations
from connector_doubles import feeds

from .conftest import FIXTURES, ROOT, make_message
from .capture_support import BODY, record_at, records, warcio_check
from .capture_support import local  # noqa: F401 (a fixture)


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
