"""A local Bluesky AppView/PDS replaying recorded answers, for tests and the demo.

It answers the XRPC methods the connector uses (the feed and its paging are
:mod:`.bluesky_replay`'s; this module adds HTTP, faults, the rate limit and auth):

* ``GET /xrpc/com.atproto.identity.resolveHandle?handle=``
* ``GET /xrpc/app.bsky.actor.getProfile?actor=``
* ``GET /xrpc/app.bsky.feed.getAuthorFeed?actor=&limit=&cursor=&filter=``
* ``GET /xrpc/app.bsky.feed.getPosts?uris=&uris=`` (at most 25; the post views verbatim, see
  ``set_view_text``; a URI it does not know is left out, as the AppView does)
* ``GET /xrpc/app.bsky.feed.getPostThread?uri=&depth=``
* ``POST /xrpc/com.atproto.server.createSession`` (with ``credentials`` set)

Errors have XRPC's form ``{"error": "<Name>", "message": "..."}``: an unknown actor is 400
``InvalidRequest`` "Profile not found" (resolveHandle: "Unable to resolve handle"); with
``credentials`` set every read needs ``Authorization: Bearer <accessJwt>`` (else 401
``AuthRequired``), and ``expire_tokens()`` makes the issued tokens answer 400 ``ExpiredToken``.
Every answer carries ``RateLimit-Limit/-Remaining/-Reset`` (Unix seconds) and ``RateLimit-Policy``
(``3000;w=300`` as the recorded bsky.social answers); when the budget is used up the answer is
429 ``RateLimitExceeded``. Faults: ``fail_next()`` (a status, optionally with a body and headers)
and ``truncate_next()`` (a 200 cut off). ``requests`` logs every request.

Run standalone: ``python -m connector_doubles.bluesky --port 8082``.
"""
from __future__ import annotations

import argparse
import json
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, Response, g, request

from .bluesky_replay import DEFAULT_DATA_DIR, Replay
from .faults import NumberedFaults
from .serving import Running, wait_forever

__all__ = ["DEFAULT_DATA_DIR", "BlueskyDouble", "main", "serve"]


class BlueskyDouble(NumberedFaults, Replay):
    """State of the replay server; ``create_app()`` exposes it over HTTP."""

    def __init__(self, data_dir: str | Path | None = None, rate_limit: int = 3000, rate_period: int = 300,
                 credentials: tuple[str, str] | None = None):
        super().__init__(data_dir)
        self.rate_limit, self.rate_period = rate_limit, rate_period
        self.credentials = credentials  # (identifier, app password) required for reads when set
        self.tokens: set[str] = set()
        self.expired: set[str] = set()
        self.faults: dict[int, tuple] = {}
        self.truncations: dict[int, float] = {}
        self.requests: list[dict] = []
        self._received = 0
        self._used = 0
        self._window_end = self._next_window_end()

    # -- faults -----------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        with self._lock:
            self.expired |= self.tokens

    # -- rate limit -------------------------------------------------------------------------

    @property
    def reset_at(self) -> datetime:
        """When the current window ends (``RateLimit-Reset``, whole seconds)."""
        return self._window_end

    def reset_rate_limit(self) -> None:
        with self._lock:
            self._used, self._window_end = 0, self._next_window_end()

    def _next_window_end(self) -> datetime:
        now = time.time()
        return datetime.fromtimestamp(int(now // self.rate_period + 1) * self.rate_period, timezone.utc)

    def _rate_headers(self) -> dict:
        return {"RateLimit-Limit": str(self.rate_limit),
                "RateLimit-Remaining": str(max(self.rate_limit - self._used, 0)),
                "RateLimit-Reset": str(int(self._window_end.timestamp())),
                "RateLimit-Policy": f"{self.rate_limit};w={self.rate_period}"}

    def _take_budget(self) -> bool:
        if datetime.now(timezone.utc) >= self._window_end:
            self._used, self._window_end = 0, self._next_window_end()
        if self._used >= self.rate_limit:
            return False
        self._used += 1
        return True

    # -- HTTP -------------------------------------------------------------------------------

    def create_app(self) -> Flask:
        app = Flask(__name__)
        double = self

        def answer(body=None, status=200, headers=None, raw: str | None = None) -> Response:
            text = raw if raw is not None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            response = Response(text.encode("utf-8", "surrogateescape"), status=status,
                                content_type="application/json; charset=utf-8")
            response.headers.update(headers or {})
            return response

        def error(name: str, message: str, status: int = 400) -> Response:
            return answer({"error": name, "message": message}, status)

        @app.before_request
        def gate():
            with double._lock:
                double._received += 1
                g.truncate_keep = double.truncations.pop(double._received, None)
                fault = double.faults.pop(double._received, None)
                if fault is not None:
                    status, body, extra = fault
                    headers = double._rate_headers() if status < 500 else {}
                    if status == 429:
                        headers["RateLimit-Remaining"] = "0"
                    headers.update(extra or {})
                    if body is None and status == 429:
                        body = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
                    return answer(body or {"error": "InternalServerError", "message": f"Injected fault {status}"},
                                  status, headers)
                if not double._take_budget():
                    return answer({"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}, 429,
                                  double._rate_headers())
                if double.credentials and request.path != "/xrpc/com.atproto.server.createSession":
                    token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
                    if token in double.expired:
                        return error("ExpiredToken", "Token has expired")
                    if token not in double.tokens:
                        return error("AuthRequired", "Authentication Required", 401)
            return None

        @app.after_request
        def log(response):
            with double._lock:
                logged = {"method": request.method, "path": request.path, "status": response.status_code,
                          "args": {k: (v if len(v) > 1 else v[0]) for k, v in request.args.lists()}}
                keep = g.get("truncate_keep")
                if keep is not None:
                    data = response.get_data()
                    response.set_data(data[:int(len(data) * keep)])
                    logged["truncated"] = True
                double.requests.append(logged)
                if "RateLimit-Limit" not in response.headers and response.status_code < 500:
                    response.headers.update(double._rate_headers())
            return response

        def known(actor: str) -> bool:
            return actor in (double.did, double.handle)

        @app.post("/xrpc/com.atproto.server.createSession")
        def create_session():
            body = request.get_json(silent=True) or {}
            if not double.credentials or (body.get("identifier"), body.get("password")) != double.credentials:
                return error("AuthenticationRequired", "Invalid identifier or password", 401)
            token = secrets.token_urlsafe(16)
            double.tokens.add(token)
            return answer({"accessJwt": token, "refreshJwt": secrets.token_urlsafe(16), "did": double.did,
                           "handle": double.handle, "active": True})

        @app.get("/xrpc/com.atproto.identity.resolveHandle")
        def resolve_handle():
            if request.args.get("handle") != double.handle:
                return error("InvalidRequest", "Unable to resolve handle")
            return answer({"did": double.did})

        @app.get("/xrpc/app.bsky.actor.getProfile")
        def get_profile():
            if not known(request.args.get("actor") or ""):
                return error("InvalidRequest", "Profile not found")
            return answer(double.profile)

        @app.get("/xrpc/app.bsky.feed.getAuthorFeed")
        def author_feed():
            if not known(request.args.get("actor") or ""):
                return error("InvalidRequest", "Profile not found")
            try:
                page, cursor = double.feed_page(request.args)
            except ValueError as exc:
                return error("InvalidRequest", str(exc))
            tail = f',"cursor":{json.dumps(cursor)}' if cursor else ""
            return answer(raw='{"feed":[' + ",".join(i.text for i in page) + "]" + tail + "}")

        @app.get("/xrpc/app.bsky.feed.getPosts")
        def get_posts():
            uris = request.args.getlist("uris")
            if len(uris) > 25:
                return error("InvalidRequest", "uris must not have more than 25 elements")
            views = [v for v in map(double.view_text, uris) if v is not None]
            return answer(raw='{"posts":[' + ",".join(views) + "]}")

        @app.get("/xrpc/app.bsky.feed.getPostThread")
        def post_thread():
            uri = request.args.get("uri") or ""
            text = double.thread(uri, int(request.args.get("depth") or 6))
            if text is None:
                return error("NotFound", f"Post not found: {uri}")
            return answer(raw=text)

        return app


def serve(double: BlueskyDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread (threaded werkzeug server); port 0 picks a free one."""
    return Running(double.create_app(), host, port, name="bluesky-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay a recorded Bluesky author feed over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--rate-limit", type=int, default=3000)
    args = parser.parse_args(argv)
    double = BlueskyDouble(args.data_dir, rate_limit=args.rate_limit)
    with Running(double.create_app(), args.host, args.port, name="bluesky-double", quiet=False) as server:
        print(f"Bluesky replay double on {server.url} (actor: {double.handle})", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
