"""Reading saved WARC files back into messages: the channel's own captures and any WARC with an HTML page."""
from __future__ import annotations

import gzip
import io
import json

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from connector.sources.base import ParseError
from connector.sources.webpage import WebPageSource

from tests.conftest import run_cli

from .webpage_support import ARTICLE, FIXTURES, PREZI, save
from .webpage_support import running_site

site = pytest.fixture(running_site, name="site")

RECORDING = FIXTURES / "gemeente.warc"  # written with warcio by fixtures/webpage/make_warc.py


def expected(name: str) -> list[dict]:
    lines = (FIXTURES / "expected" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_parse_of_the_fixture_warc_gives_the_expected_messages():
    messages, quarantined = WebPageSource.parse_payload(RECORDING.read_bytes(), channel="gemeente-web")
    assert quarantined == []
    assert [m.to_dict() for m in messages] == expected("gemeente.warc")
    assert all(m.raw.body == RECORDING.read_bytes() and m.raw.media_type == "application/warc" for m in messages)


def test_connector_messages_parse_prints_them(capsys):
    code, out, err = run_cli(capsys, "messages", "parse", "web", str(RECORDING), "--channel", "gemeente-web")
    assert code == 0 and "gemeente.warc" not in err  # (other channels' plugins may log while loading)
    assert [json.loads(line) for line in out.splitlines()] == expected("gemeente.warc")


@pytest.mark.parametrize("path", [ARTICLE, PREZI, "/changing", "/files/jaarverslag-2024.pdf", "/redirect/2"])
def test_a_capture_parses_back_into_the_same_message(site, path):
    _, server = site
    captured = save(server.url + path, channel="saved")
    [parsed], quarantined = WebPageSource.parse_payload(captured.raw.body, channel="saved")
    assert quarantined == [] and parsed.to_dict() == captured.to_dict()
    assert parsed.raw.body == captured.raw.body and parsed.raw.page_url == server.url + path


def test_a_gzipped_warc_is_read_too():
    records = io.BytesIO()
    writer = WARCWriter(records, gzip=True, warc_version="1.1")
    for record in ArchiveIterator(io.BytesIO(RECORDING.read_bytes())):
        writer.write_record(record)
    data = records.getvalue()
    assert data[:2] == b"\x1f\x8b"
    messages, _ = WebPageSource.parse_payload(data, channel="gemeente-web")
    assert [m.to_dict() for m in messages] == expected("gemeente.warc")


@pytest.mark.parametrize("data,words", [
    (b"<html><body>not a WARC</body></html>", "not a WARC file"),
    (b"", "not a WARC file"),
    (b'{"id": "1"}', "not a WARC file"),
    (gzip.compress(b"just some text", mtime=0), "not a readable WARC file"),
])
def test_what_is_no_warc_is_a_parse_error(data, words):
    with pytest.raises(ParseError) as caught:
        WebPageSource.parse_payload(data)
    assert words in str(caught.value)


def test_a_warc_without_an_html_page_is_a_parse_error():
    info_only = io.BytesIO()
    writer = WARCWriter(info_only, gzip=False, warc_version="1.1")
    writer.write_record(writer.create_warcinfo_record("empty.warc", {"software": "test"}))
    with pytest.raises(ParseError) as caught:
        WebPageSource.parse_payload(info_only.getvalue())
    assert "no HTML page" in str(caught.value)


@pytest.mark.parametrize("share", [0.2, 0.35, 0.5])
def test_a_cut_off_warc_is_a_parse_error(share):
    data = RECORDING.read_bytes()
    with pytest.raises(ParseError) as caught:
        WebPageSource.parse_payload(data[:int(len(data) * share)])
    assert "cut off" in str(caught.value) or "not a readable WARC" in str(caught.value)
