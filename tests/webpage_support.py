"""What the web channel's tests share: the local web site on 127.0.0.1, options that trust only that
address, a WARC read back with warcio itself (not with the channel's reader), and small helpers.

Expected values come from the fixture files and the site's own answers, never from the source.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
import requests
from warcio.archiveiterator import ArchiveIterator

from connector.failures import Failed, Failure
from connector.sources.webpage import WebPageOptions, WebPageSource, capture_url
from connector_doubles.website import WebSite, serve

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "webpage"
SITE = FIXTURES / "site"
LOCAL = ["127.0.0.1/32"]  # the one non-public network these tests trust
ARTICLE = "/nieuws/speeltuin-stadspark.html"
PREZI = "/p/abc123def/omgevingsvisie-2040/"


def running_site():
    """(WebSite, its server) on 127.0.0.1: a test module's ``site = pytest.fixture(running_site, name="site")``."""
    web = WebSite(SITE)
    server = serve(web)
    yield web, server
    web.stop.set()
    server.shutdown()


def options(**given) -> dict:
    given.setdefault("trusted_networks", LOCAL)
    return WebPageOptions().load(given)


def save(url: str, channel: str = "web", **given):
    """``capture_url`` with the test options (127.0.0.1 trusted unless ``trusted_networks`` is given)."""
    return capture_url(url, channel, options=options(**given))


def refusal(url: str, **given) -> Failure:
    with pytest.raises(Failed) as caught:
        save(url, **given)
    return caught.value.failure


def source(urls, name: str = "web", **given) -> WebPageSource:
    given.setdefault("trusted_networks", LOCAL)
    return WebPageSource(name, {"urls": list(urls), **given})


def served(server, path: str) -> bytes:
    """The body the site serves at ``path`` (fetched directly, not through the channel)."""
    return requests.get(server.url + path, timeout=10).content


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Record:
    def __init__(self, record):
        headers = record.rec_headers
        self.type = record.rec_type
        self.uri = headers.get_header("WARC-Target-URI") or ""
        self.id = headers.get_header("WARC-Record-ID")
        self.date = headers.get_header("WARC-Date")
        self.concurrent = headers.get_header("WARC-Concurrent-To")
        self.refers = headers.get_header("WARC-Refers-To")
        self.content_type = headers.get_header("Content-Type")
        self.status = record.http_headers.get_statuscode() if record.http_headers and self.type == "response" else ""
        self.http = record.http_headers
        self.payload = record.content_stream().read()


def warc_records(data: bytes) -> list[Record]:
    """Every record of a WARC file, read with warcio (digests checked)."""
    return [Record(r) for r in ArchiveIterator(io.BytesIO(data), check_digests="raise")]


def responses(data: bytes) -> dict[str, Record]:
    return {r.uri: r for r in warc_records(data) if r.type == "response"}


def metadata(data: bytes) -> list[tuple[str, str]]:
    [record] = [r for r in warc_records(data) if r.type == "metadata"]
    lines = record.payload.decode("utf-8").splitlines()
    return [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]


def skipped(data: bytes) -> dict[str, str]:
    """Skipped resource URL -> why, from the metadata record."""
    result = {}
    for name, value in metadata(data):
        if name == "skipped":
            url, _, why = value.partition(" (")
            result[url] = why[:-1] if why.endswith(")") else why
    return result
