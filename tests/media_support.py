"""What the media tests share: a media server on 127.0.0.1, fixtures, a local policy and small helpers."""
from __future__ import annotations

import gzip
import os
import threading
from urllib.parse import parse_qs

import pytest

from connector.failures import Failed, Failure
from connector.media import (MediaPolicy, fetch)
from connector_doubles.serving import Running


LOCAL = ("127.0.0.1/32",)  # the one non-public network these tests trust
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400   # ~100 KiB, not all zeros
LIMIT = 300_000


class MediaServer:
    """A WSGI app serving media and misbehaviour; ``requests`` lists (path, headers) of every request."""

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.stop = threading.Event()

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.requests.append((path, {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                                     if k.startswith("HTTP_")}))
        if path == "/cat.png":
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(PNG)))])
            return [PNG]
        if path == "/chunked.png":  # no Content-Length: werkzeug sends it chunked
            size = int(query.get("size", len(PNG)))
            start_response("200 OK", [("Content-Type", "image/png")])
            return _chunks(size)
        if path == "/declares-big.png":
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", "10000000")])
            return _chunks(10_000_000)
        if path == "/bomb.png":
            body = gzip.compress(b"\0" * (20 * 1024 * 1024))
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Encoding", "gzip"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if path == "/gzipped.png":
            body = gzip.compress(PNG)
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Encoding", "gzip"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if path == "/octet":
            body = PNG if query.get("what") == "png" else b"<html><body>not a picture</body></html>" * 3
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return [body]
        if path == "/page.html":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [b"<html>a login page</html>"]
        if path == "/clip.mp4":
            start_response("200 OK", [("Content-Type", "video/mp4")])
            return [b"\0\0\0\x18ftypmp42" + b"v" * 1000]
        if path == "/drip.png":
            start_response("200 OK", [("Content-Type", "image/png")])
            return self._drip()
        if path == "/redirect":
            start_response(query.get("status", "302 Found"), [("Location", query["to"])])
            return [b""]
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = [("Content-Type", "text/plain")]
            if "retry_after" in query:
                headers.append(("Retry-After", query["retry_after"]))
            start_response(f"{code} Whatever", headers)
            return [b"nope " * 10_000]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such medium"]

    def _drip(self):
        yield b"\x89PNG\r\n\x1a\n"
        for _ in range(4000):
            if self.stop.wait(0.02):
                return
            yield b"\0"


def _chunks(size: int, chunk: int = 16 * 1024):
    yield b"\x89PNG\r\n\x1a\n"
    left = size - 8
    while left > 0:
        yield b"p" * min(chunk, left)
        left -= chunk


@pytest.fixture
def media():
    """(app, server) on 127.0.0.1."""
    app = MediaServer()
    with Running(app, name="media") as server:
        yield app, server
        app.stop.set()


@pytest.fixture
def other():
    """A second server on 127.0.0.1 (reached as "localhost", a host no policy here allows)."""
    app = MediaServer()
    with Running(app, name="other") as server:
        yield app, server
        app.stop.set()


def local_policy(server, **settings) -> MediaPolicy:
    settings.setdefault("trusted_networks", LOCAL)
    settings.setdefault("max_bytes", LIMIT)
    return MediaPolicy.for_channel(server.url + "/api", **settings)


def fetch_failure(attachment, policy, folder) -> Failure:
    with pytest.raises(Failed) as caught:
        fetch(attachment, policy, folder)
    return caught.value.failure


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


