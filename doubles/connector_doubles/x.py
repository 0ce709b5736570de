"""A local X (Twitter) API v2 server replaying recorded posts, for tests and the demo.

It answers the endpoints the connector uses with X's own semantics (the posts and their paging are
:mod:`.x_replay`'s; this module adds HTTP, auth, rate limits and faults):

* ``GET /2/users/by/username/:username`` (an unknown user: 200 with X's ``errors[]``)
* ``GET /2/users/:id/tweets``: newest first, ``since_id``, ``until_id``, ``max_results`` (5 to
  100, else 400 as X answers), ``pagination_token`` / ``meta.next_token``, ``exclude``, and
  ``includes`` (users, media, referenced posts and earlier versions) when ``expansions`` asks;
  a referenced post that is gone or protected becomes a partial error in ``errors[]``
* ``GET /2/tweets?ids=``: found posts in ``data``, gone ones as ``Not Found Error`` s
* ``GET /2/tweets/:id``: one post as the object ``data`` (with ``includes`` as above); a gone one
  answers 200 with a ``Not Found Error``, a protected one with an ``Authorization Error`` (as X does)

Every answer carries ``x-rate-limit-limit/remaining/reset`` (reset in epoch seconds, as in the
recorded api.twitter.com answer), counted per endpoint in 15-minute windows; a spent window
answers 429 ``{"title": "Too Many Requests", ...}``. ``usage_capped`` makes every call answer X's
monthly ``UsageCapExceeded`` 429. A request without ``Authorization: Bearer <token>`` gets 401
``{"title": "Unauthorized", ...}``. ``fail_next()`` makes one request fail with a given status,
body and headers; ``requests`` logs every request.

Run standalone: ``python -m connector_doubles.x --port 8082``.
"""
from __future__ import annotations

import argparse
import json
import time

from flask import Flask, Response, request

from .faults import NumberedFaults
from .serving import Running, wait_forever
from .x_replay import DEFAULT_DATA_DIR, Replay, not_authorized, not_found

__all__ = ["DEFAULT_DATA_DIR", "XDouble", "main", "serve"]

WINDOW = 900  # X's rate-limit windows are 15 minutes
LIMITS = {"users": 900, "timeline": 1500, "tweets": 900}  # per window, app auth (X's published numbers)
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
TOO_MANY = {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429}
USAGE_CAP = {"title": "UsageCapExceeded", "detail": "Usage cap exceeded: Monthly product cap",
             "type": "https://api.twitter.com/2/problems/usage-capped", "period": "Monthly", "scope": "Product"}


class XDouble(NumberedFaults, Replay):
    """State of the replay server; ``create_app()`` exposes it over HTTP.

    ``limits`` are the calls per window of each endpoint (``users``, ``timeline``, ``tweets``);
    ``faults`` maps a 1-based request number to ``(status, body, headers)``.
    """

    def __init__(self, data_dir=None, token: str = "test-bearer-token", limits: dict | None = None):
        super().__init__(data_dir)
        self.token = token
        self.limits = {**LIMITS, **(limits or {})}
        self.usage_capped = False
        self.usage_cap_reset: int | None = None  # epoch seconds sent with the cap, or none
        self.faults: dict[int, tuple] = {}
        self.requests: list[dict] = []
        self._received = 0
        self._used: dict[str, int] = {}
        self._window_end = self._next_window_end()

    @property
    def reset_at(self) -> int:
        """When the current windows end, epoch seconds (what ``x-rate-limit-reset`` says)."""
        return self._window_end

    def reset_rate_limit(self) -> None:
        with self._lock:
            self._used.clear()
            self._window_end = self._next_window_end()

    def _next_window_end(self) -> int:
        return int(time.time() // WINDOW + 1) * WINDOW

    def _rate_headers(self, endpoint: str) -> dict:
        return {"x-rate-limit-limit": str(self.limits[endpoint]),
                "x-rate-limit-remaining": str(max(self.limits[endpoint] - self._used.get(endpoint, 0), 0)),
                "x-rate-limit-reset": str(self._window_end)}

    def _take(self, endpoint: str) -> bool:
        if time.time() >= self._window_end:
            self._used.clear()
            self._window_end = self._next_window_end()
        if self._used.get(endpoint, 0) >= self.limits[endpoint]:
            return False
        self._used[endpoint] = self._used.get(endpoint, 0) + 1
        return True

    # -- HTTP -------------------------------------------------------------------------------

    def _gate(self, endpoint: str) -> Response | None:
        """Faults, the usage cap, the token and the rate limit, in that order; None to serve."""
        with self._lock:
            self._received += 1
            fault = self.faults.pop(self._received, None)
            if fault is not None:
                status, body, extra = fault
                headers = self._rate_headers(endpoint) if status < 500 else {}
                headers.update(extra)
                return _json(body or {"title": f"Injected fault {status}"}, status, headers)
            if self.usage_capped:
                headers = {"x-rate-limit-reset": str(self.usage_cap_reset)} if self.usage_cap_reset else {}
                return _json(USAGE_CAP, 429, headers)
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return _json(UNAUTHORIZED, 401)
            if not self._take(endpoint):
                return _json(TOO_MANY, 429, self._rate_headers(endpoint))
        return None

    def create_app(self) -> Flask:
        app = Flask(__name__)
        double = self

        @app.after_request
        def log(response):
            with double._lock:
                double.requests.append({"method": request.method, "path": request.path,
                                        "args": request.args.to_dict(), "status": response.status_code})
            return response

        @app.get("/2/users/by/username/<username>")
        def user_by_username(username):
            refused = double._gate("users")
            if refused is not None:
                return refused
            user = double.by_username(username)
            if user is None:
                return _json({"errors": [{"value": username, "detail": f"Could not find user with username: "
                              f"[{username}].", "title": "Not Found Error", "resource_type": "user",
                              "parameter": "username", "resource_id": username,
                              "type": "https://api.twitter.com/2/problems/resource-not-found"}]},
                             200, double._rate_headers("users"))
            data = {k: user.obj[k] for k in ("id", "name", "username") if k in user.obj}
            return _json({"data": data}, 200, double._rate_headers("users"))

        @app.get("/2/users/<user_id>/tweets")
        def timeline(user_id):
            refused = double._gate("timeline")
            if refused is not None:
                return refused
            headers = double._rate_headers("timeline")
            size = request.args.get("max_results", "10")
            if not size.isdigit() or not 5 <= int(size) <= 100:
                return _json({"errors": [{"parameters": {"max_results": [size]}, "message": "The `max_results`"
                              " query parameter value [" + size + "] is not between 5 and 100"}],
                              "title": "Invalid Request", "detail": "One or more parameters to your request was"
                              " invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"}, 400, headers)
            if user_id not in double.users:
                return _json({"errors": [{"value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                              "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                              "resource_id": user_id, "type": "https://api.twitter.com/2/problems/resource-not-found"}]},
                             200, headers)
            try:
                posts, more = double.select(user_id, request.args)
            except ValueError:
                return _json({"errors": [{"parameters": {"pagination_token": [request.args["pagination_token"]]},
                              "message": "The `pagination_token` query parameter value is not valid"}],
                              "title": "Invalid Request", "type": "https://api.twitter.com/2/problems/invalid-request"},
                             400, headers)
            meta = {"result_count": len(posts)}
            if posts:
                meta.update(newest_id=posts[0].id, oldest_id=posts[-1].id)
            if more:
                meta["next_token"] = double.page_token(posts[-1])
            return _page(double, posts, meta, headers)

        @app.get("/2/tweets")
        def lookup():
            refused = double._gate("tweets")
            if refused is not None:
                return refused
            ids = [i for i in (request.args.get("ids") or "").split(",") if i]
            posts = [p for p in map(double.find, ids) if p is not None]
            errors = [not_found(i, "ids") for i in ids if double.find(i) is None]
            return _page(double, posts, None, double._rate_headers("tweets"), errors)

        @app.get("/2/tweets/<post_id>")
        def one_post(post_id):
            refused = double._gate("tweets")
            if refused is not None:
                return refused
            headers = double._rate_headers("tweets")
            if post_id in double.protected:
                return _json({"errors": [not_authorized(post_id, "id")]}, 200, headers)
            post = double.find(post_id)
            if post is None:
                return _json({"errors": [not_found(post_id, "id")]}, 200, headers)
            return _page(double, [post], None, headers, single=True)

        return app


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    response = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"), status=status,
                        content_type="application/json; charset=utf-8")
    response.headers.update(headers or {})
    return response


def _page(double: XDouble, posts, meta: dict | None, headers: dict, errors: list | None = None,
          single: bool = False) -> Response:
    """A page with the posts' exact texts (``single``: one post as the object ``data``); includes only
    when ``expansions`` asks for them."""
    parts = []
    if single:
        parts.append('"data":' + posts[0].text)
    elif posts:
        parts.append('"data":[' + ",".join(p.text for p in posts) + "]")
    if request.args.get("expansions"):
        includes, partial, referenced = double.includes(posts)
        errors = (errors or []) + partial
        inner = [f'"{name}":' + json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                 for name, value in includes.items()]
        if referenced:
            inner.append('"tweets":[' + ",".join(p.text for p in referenced) + "]")
        if inner:
            parts.append('"includes":{' + ",".join(inner) + "}")
    if errors:
        parts.append('"errors":' + json.dumps(errors, ensure_ascii=False, separators=(",", ":")))
    if meta is not None:
        parts.append('"meta":' + json.dumps(meta, separators=(",", ":")))
    body = ("{" + ",".join(parts) + "}").encode("utf-8", "surrogateescape")
    response = Response(body, status=200, content_type="application/json; charset=utf-8")
    response.headers.update(headers)
    return response


def serve(double: XDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread (threaded werkzeug server); port 0 picks a free one."""
    return Running(double.create_app(), host, port, name="x-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay recorded X API v2 posts over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--token", default="test-bearer-token")
    args = parser.parse_args(argv)
    double = XDouble(args.data_dir, token=args.token)
    with Running(double.create_app(), args.host, args.port, name="x-double", quiet=False) as server:
        users = ", ".join(f"@{u.username}" for u in double.users.values() if u.timeline)
        print(f"X replay double on {server.url} (timelines: {users})", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
