"""A small local web site for the web channel's tests and demos (Flask).

Pages (``{{BASE}}`` in the fixture files becomes the site's own URL, ``{{BASE_Q}}`` the same
percent-encoded, so the files work on any port):

* ``/nieuws/speeltuin-stadspark.html``: an article with a canonical link, ``og:image``, oEmbed
  discovery, an image with ``srcset``, a stylesheet, scripts and an icon;
* ``/p/abc123def/omgevingsvisie-2040/``: a Prezi-like page (all script) with oEmbed (``rich``);
* ``/oembed?url=...``: the oEmbed answers of both;
* ``/changing``: a page whose text :meth:`WebSite.edit` changes (a new version);
* ``/gone`` (404 once :meth:`WebSite.remove` d, else a page), any unknown path 404;
* ``/redirect/N``: a chain of N redirects ending at the article; ``/loop``: redirects for ever;
* ``/to?url=...``: a redirect anywhere (to ``http://127.0.0.2/`` or ``169.254.169.254``, say);
* ``/with-bad-resources.html``: a page whose resources are missing, huge, dripping, on a private
  address or not http;
* ``/big.png``: an endless image (``Content-Length`` not sent); ``/drip.png`` one byte at a time;
* ``/huge.html``: a page larger than any bound; ``/drip.html`` a page that drips;
  ``/chunked.html?size=N``: N bytes in chunks of one byte; ``pages[path] = body``: a page of the test's own;
* ``/hostile.html``: scripts, ``javascript:`` links, ``onerror`` handlers; ``/nested.html?depth=N``:
  N nested ``<blockquote>`` (100,000 by default);
* ``/files/jaarverslag-2024.pdf`` and ``/img/*.png``: a PDF and images as pages of their own.

:meth:`WebSite.fail_next` queues an error answer (503 with ``Retry-After``, say) for the next
requests, ``broken[path] = status`` breaks one path for as long as it is set; ``requests`` logs ``(path, query, User-Agent)`` of every request.

Run standalone: ``python -m connector_doubles.website --port 8085``.
"""
from __future__ import annotations

import argparse
import threading
from pathlib import Path
from urllib.parse import quote

from flask import Flask, Response, redirect, request

from .paths import repo_root
from .serving import Running, wait_forever

SITE = repo_root() / "fixtures" / "webpage" / "site"
PAGES = {"/nieuws/speeltuin-stadspark.html": "article.html", "/p/abc123def/omgevingsvisie-2040/": "prezi.html",
         "/hostile.html": "hostile.html"}
OEMBED = {"/nieuws/speeltuin-stadspark": "oembed-article.json",
          "/p/abc123def/omgevingsvisie-2040/": "oembed-prezi.json"}
FILES = {"/css/site.css": ("site.css", "text/css"), "/js/site.js": ("site.js", "text/javascript"),
         "/js/viewer.js": ("viewer.js", "text/javascript"), "/favicon.ico": ("image.png", "image/png"),
         "/files/jaarverslag-2024.pdf": ("report.pdf", "application/pdf")}
BAD_RESOURCES = """<!DOCTYPE html><html><head><title>Bad resources</title>
<link rel="stylesheet" href="/css/site.css"></head><body><main><p>Resources that must not stop a capture.</p>
<img src="/img/missing.png"><img src="/big.png">
<img src="http://169.254.169.254/latest/meta-data/iam.png"><img src="{internal}/img/secret.png">
<img src="ftp://{host}/img/file.png"><img src="data:image/png;base64,iVBORw0KGgo=">
<script src="javascript:alert(1)"></script><img src="/drip.png"><img src="/img/last.png"></main></body></html>"""


class WebSite:
    """The site's state (see the module docstring); ``app`` serves it."""

    def __init__(self, folder: Path = SITE):
        self.folder = Path(folder)
        self.requests: list[tuple[str, str, str]] = []
        self.changing = "Eerste versie van de pagina."
        self.removed = False
        self.internal = "http://127.0.0.2:9"  # where /with-bad-resources.html points a private image
        self.stop = threading.Event()
        self._faults: list[tuple[int, dict]] = []
        self.pages: dict[str, bytes] = {}  # path -> an HTML body of the test's own
        self.broken: dict[str, int] = {}  # path -> the error status it answers with, for as long as it is here
        self._lock = threading.Lock()
        self.app = self._build_app()

    # -- what the tests change ------------------------------------------------------------------

    def edit(self, text: str) -> None:
        """``/changing`` shows ``text`` from now on."""
        self.changing = text

    def remove(self, gone: bool = True) -> None:
        """``/gone`` answers 404 from now on (or again a page)."""
        self.removed = gone

    def fail_next(self, status: int = 503, times: int = 1, retry_after: int | None = 1) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._faults.extend((status, headers) for _ in range(times))

    def paths(self) -> list[str]:
        return [path for path, _, _ in self.requests]

    # -- serving -----------------------------------------------------------------------------------

    def _file(self, name: str) -> bytes:
        base = request.host_url.rstrip("/")
        data = (self.folder / name).read_bytes()
        return data.replace(b"{{BASE_Q}}", quote(base, safe="").encode()).replace(b"{{BASE}}", base.encode())

    def _build_app(self) -> Flask:
        app = Flask(__name__)

        @app.before_request
        def log_and_fault():
            self.requests.append((request.path, request.query_string.decode("latin-1"),
                                  request.headers.get("User-Agent", "")))
            with self._lock:
                fault = self._faults.pop(0) if self._faults else None
            if fault:
                return Response(b"injected fault", status=fault[0], headers=fault[1], mimetype="text/plain")
            if request.path in self.broken:
                return Response(b"broken on purpose", status=self.broken[request.path], mimetype="text/plain")
            return None

        @app.route("/<path:path>")
        @app.route("/", defaults={"path": ""})
        def anything(path):
            return self._answer("/" + path)

        return app

    def _answer(self, path: str) -> Response:
        if path in self.pages:
            return Response(self.pages[path], content_type="text/html")
        if path == "/chunked.html":  # the page in chunks of one byte each (framing several times the body)
            size = int(request.args.get("size", "1000"))
            return Response((b"x" for _ in range(size)), content_type="text/html")
        if path in PAGES:
            return Response(self._file(PAGES[path]), mimetype="text/html", content_type="text/html; charset=utf-8")
        if path in FILES:
            name, media_type = FILES[path]
            return Response(self._file(name), content_type=media_type)
        if path.startswith("/img/") and path.endswith(".png") and path not in ("/img/missing.png", "/img/secret.png"):
            return Response((self.folder / "image.png").read_bytes(), content_type="image/png")
        if path == "/oembed":
            wanted = request.args.get("url", "")
            base = request.host_url.rstrip("/")
            name = OEMBED.get(wanted[len(base):]) if wanted.startswith(base) else None
            if name is None:
                return Response(b'{"error": "no such page"}', status=404, content_type="application/json")
            return Response(self._file(name), content_type="application/json")
        if path == "/changing":
            body = (f"<!DOCTYPE html><html lang=\"nl\"><head><title>Wisselende pagina</title></head><body><main>"
                    f"<p>{self.changing}</p></main></body></html>")
            return Response(body, content_type="text/html; charset=utf-8")
        if path == "/gone" and not self.removed:
            return Response("<html><head><title>Still here</title></head><body><p>Here.</p></body></html>",
                            content_type="text/html; charset=utf-8")
        if path.startswith("/redirect/"):
            left = int(path.rsplit("/", 1)[1] or 0)
            target = f"/redirect/{left - 1}" if left > 1 else "/nieuws/speeltuin-stadspark.html"
            return redirect(target, code=301 if left % 2 else 302)
        if path == "/loop":
            return redirect("/loop?again=" + str(len(self.requests)), code=302)
        if path == "/to":
            return redirect(request.args.get("url", "/"), code=302)
        if path == "/with-bad-resources.html":
            host = request.host
            return Response(BAD_RESOURCES.format(internal=self.internal, host=host), content_type="text/html")
        if path == "/big.png":
            return Response(self._endless(b"\x89PNG\r\n\x1a\n", 64 * 1024), content_type="image/png")
        if path == "/huge.html":
            return Response(self._endless(b"<html><body>", 64 * 1024, b"<p>more</p>"), content_type="text/html")
        if path in ("/drip.png", "/drip.html"):
            kind = "image/png" if path.endswith(".png") else "text/html"
            return Response(self._drip(), content_type=kind, headers={"Content-Length": "100000"})
        if path == "/nested.html":
            depth = min(int(request.args.get("depth", "100000")), 1_000_000)
            body = "<html><head><title>Nested</title></head><body><main>" + "<blockquote>" * depth + "deep" \
                   + "</blockquote>" * depth + "</main></body></html>"
            return Response(body, content_type="text/html")
        return Response(b"<html><body><h1>Not found</h1></body></html>", status=404, content_type="text/html")

    def _endless(self, head: bytes, size: int, fill: bytes = b"p"):
        yield head
        chunk = (fill * (size // len(fill) + 1))[:size]
        for _ in range(100_000):  # 6 GB at most: far beyond any bound, never for ever
            if self.stop.is_set():
                return
            yield chunk

    def _drip(self):
        for _ in range(100_000):
            if self.stop.wait(0.05):
                return
            yield b"<"


def serve(site: WebSite, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``site`` in a daemon thread; port 0 picks a free port."""
    return Running(site.app, host, port, name="website")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connector_doubles.website", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    args = parser.parse_args(argv)
    site = WebSite()
    with Running(site.app, args.host, args.port, name="website", quiet=False) as server:
        for path in (*PAGES, "/changing", "/redirect/3"):
            print(f"{server.url}{path}", flush=True)
        wait_forever()
        site.stop.set()


if __name__ == "__main__":
    main()
