"""A local feed server for tests and demos: serves files with real conditional GET.

``FeedDouble`` holds feed bodies by URL path; each body gets a strong ``ETag`` (hash of its bytes)
and a ``Last-Modified``; ``If-None-Match`` / ``If-Modified-Since`` get a 304 as a real server would.
``replace()`` swaps a feed's content, ``requests`` logs what clients sent, and ``fail_next()``
queues faults (a 500, a 429 with ``Retry-After``) for the next requests.

Run standalone: ``python -m connector_doubles.feeds --port 8081 fixtures/rss/*.xml`` serves each
file at ``/<file name>``.
"""
from __future__ import annotations

import argparse
import email.utils
import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from flask import Flask, Response, request
from .serving import Running, wait_forever


class LoggedRequest(NamedTuple):
    method: str
    path: str
    if_none_match: str | None
    if_modified_since: str | None
    status: int  # what the double answered


@dataclass
class Fault:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""


@dataclass
class _Feed:
    body: bytes
    etag: str
    modified: float  # epoch seconds, whole
    media_type: str


class FeedDouble:
    """Feeds by path (``"/news.xml"``) with ETag/Last-Modified; see the module docstring."""

    def __init__(self, files: dict[str, str | Path | bytes] | None = None):
        self.feeds: dict[str, _Feed] = {}
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self.streaming = False  # True: send bodies without Content-Length
        self._lock = threading.Lock()
        for path, source in (files or {}).items():
            self.replace(path, source)
        self.app = self._build_app()

    def replace(self, path: str, source: str | Path | bytes, media_type: str | None = None) -> None:
        """Serve new content at ``path`` (a file name or the bytes themselves): new ETag, later Last-Modified."""
        body = source if isinstance(source, bytes) else Path(source).read_bytes()
        path = "/" + path.lstrip("/")
        with self._lock:
            previous = self.feeds.get(path)
            modified = float(int(time.time()))
            if previous and modified <= previous.modified:
                # HTTP dates have whole seconds: a replace within the same second must still look newer
                modified = previous.modified + 1
            self.feeds[path] = _Feed(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', modified,
                                     media_type or _guess_type(body))

    def fail_next(self, status: int, retry_after: str | int | None = None, body: bytes = b"",
                  times: int = 1) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self.faults.extend(Fault(status, dict(headers), body) for _ in range(times))

    def _build_app(self) -> Flask:
        app = Flask(__name__)

        @app.route("/", defaults={"path": ""}, methods=["GET", "HEAD"])
        @app.route("/<path:path>", methods=["GET", "HEAD"])
        def serve_feed(path):
            path = "/" + path
            response = self._answer(path)
            with self._lock:
                self.requests.append(LoggedRequest(request.method, path, request.headers.get("If-None-Match"),
                                                   request.headers.get("If-Modified-Since"), response.status_code))
            return response

        return app

    def _answer(self, path: str) -> Response:
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
            feed = self.feeds.get(path)
        if fault:
            return Response(fault.body, status=fault.status, headers=fault.headers)
        if feed is None:
            return Response(b"not found", status=404, mimetype="text/plain")
        headers = {"ETag": feed.etag, "Last-Modified": email.utils.formatdate(feed.modified, usegmt=True)}
        if _not_modified(feed, request.headers):
            return Response(status=304, headers=headers)
        if self.streaming:
            # a generator body has no Content-Length: the client only learns the size by reading
            chunks = (feed.body[i:i + 8192] for i in range(0, len(feed.body), 8192))
            return Response(chunks, status=200, headers=headers, content_type=feed.media_type)
        return Response(feed.body, status=200, headers=headers, content_type=feed.media_type)


def _not_modified(feed: _Feed, headers) -> bool:
    # RFC 9110 13.2.2: If-None-Match wins; If-Modified-Since counts only without it
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or feed.etag in tags or f"W/{feed.etag}" in tags
    since = headers.get("If-Modified-Since")
    if since:
        try:
            return feed.modified <= email.utils.parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def _guess_type(body: bytes) -> str:
    # no charset parameter: for */*+xml it would override the document's own XML declaration
    head = body[:4096]
    if re.search(rb"<(rss|rdf:RDF)[\s>]", head):
        return "application/rss+xml"
    if re.search(rb"<feed[\s>]", head):
        return "application/atom+xml"
    if re.search(rb"<html[\s>]", head, re.IGNORECASE):
        return "text/html"
    return "application/octet-stream"


def serve(double: FeedDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread; port 0 picks a free port."""
    return Running(double.app, host, port, name="feed-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connector_doubles.feeds", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args(argv)
    double = FeedDouble({Path(f).name: f for f in args.files})
    with Running(double.app, args.host, args.port, name="feed-double", quiet=False) as server:
        for path in double.feeds:
            print(f"{server.url}{path}", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
