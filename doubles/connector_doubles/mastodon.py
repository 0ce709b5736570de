"""A local Mastodon-compatible server replaying recorded statuses, for tests and the demo.

It answers the few endpoints the connector uses with Mastodon's own semantics (the statuses and
their paging are :mod:`.mastodon_replay`'s; this module adds HTTP, faults and the rate limit):

* ``GET /api/v1/accounts/lookup?acct=user[@host]``
* ``GET /api/v1/accounts/:id/statuses`` with Mastodon's paging parameters, newest first, a
  ``Link`` header with ``rel="next"`` (max_id) and ``rel="prev"`` (min_id) as Mastodon sends it
* ``GET /api/v1/statuses/:id``

Faults for resilience tests: ``fail_next()`` (an error status, optionally with a body and headers
such as ``Retry-After``), ``truncate_next()`` (a 200 whose body is cut off, served with a matching
``Content-Length`` as a proxy that lost the end of the upstream answer would) and
``repeat_boundary`` (a misbehaving server whose ``min_id``/``max_id``/``since_id`` include the
boundary status, so consecutive pages repeat one status).

Every answer carries ``X-RateLimit-Limit/Remaining/Reset`` (reset as ISO 8601, like the recorded
fosstodon.org responses); when the budget is used up the answer is 429. With ``token`` set, a
request without ``Authorization: Bearer <token>`` gets 401. Statuses are served as the exact text
the replay holds (bytes that are not UTF-8 included).

Run standalone: ``python -m connector_doubles.mastodon --port 8081``.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, g, request

from .mastodon_replay import DEFAULT_DATA_DIR, Replay
from .faults import NumberedFaults
from .serving import Running, wait_forever

__all__ = ["DEFAULT_DATA_DIR", "MastodonDouble", "main", "serve"]


class MastodonDouble(NumberedFaults, Replay):
    """State of the replay server; ``create_app()`` exposes it over HTTP.

    ``faults`` maps a 1-based request number (counting every request received) to a status
    code, or to ``(status, body_dict)`` or ``(status, body_dict, headers)``; that request fails
    once with it. ``truncations`` maps a request number to the fraction of its body that is
    served. ``requests`` logs every request as ``{"method", "path", "args", "status"}`` (plus
    ``"truncated": True`` for a cut body).
    """

    def __init__(self, data_dir: str | Path | None = None, rate_limit: int = 300,
                 token: str | None = None, rate_period: int = 300):
        super().__init__(data_dir)
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.token = token
        self.faults: dict[int, int | tuple] = {}
        self.truncations: dict[int, float] = {}
        self.requests: list[dict] = []
        self._received = 0
        self._used = 0
        self._window_end = self._next_window_end()

    # -- faults -----------------------------------------------------------------------------

    @property
    def reset_at(self) -> datetime:
        """When the current rate-limit window ends (what ``X-RateLimit-Reset`` says)."""
        return self._window_end

    def reset_rate_limit(self) -> None:
        with self._lock:
            self._used = 0
            self._window_end = self._next_window_end()

    # -- rate limit -------------------------------------------------------------------------

    def _next_window_end(self) -> datetime:
        # rack-attack style fixed windows aligned to the period
        now = time.time()
        return datetime.fromtimestamp((now // self.rate_period + 1) * self.rate_period, timezone.utc)

    def _rate_headers(self) -> dict:
        return {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(self.rate_limit - self._used, 0)),
            "X-RateLimit-Reset": self._window_end.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }

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

        def json_response(body, status=200, headers=None, raw: str | None = None) -> Response:
            text = raw if raw is not None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            response = Response(text.encode("utf-8", "surrogateescape"), status=status,
                                content_type="application/json; charset=utf-8")
            response.headers.update(headers or {})
            return response

        @app.before_request
        def gate():
            with double._lock:
                double._received += 1
                g.truncate_keep = double.truncations.pop(double._received, None)
                fault = double.faults.pop(double._received, None)
                if fault is not None:
                    status, body, extra = (tuple(fault) + (None, None))[:3] if isinstance(fault, tuple) \
                        else (fault, None, None)
                    # a 5xx comes from a crashed backend, without rate-limit headers
                    headers = double._rate_headers() if status < 500 else {}
                    if status == 429:
                        headers["X-RateLimit-Remaining"] = "0"
                    headers.update(extra or {})
                    return json_response(body or {"error": f"Injected fault {status}"}, status, headers)
                if not double._take_budget():
                    return json_response({"error": "Too many requests"}, 429, double._rate_headers())
                if double.token and request.headers.get("Authorization") != f"Bearer {double.token}":
                    return json_response({"error": "The access token is invalid"}, 401, double._rate_headers())
            return None

        @app.after_request
        def log(response):
            with double._lock:
                logged = {"method": request.method, "path": request.path,
                          "args": request.args.to_dict(), "status": response.status_code}
                keep = g.get("truncate_keep")
                if keep is not None:
                    data = response.get_data()
                    response.set_data(data[:int(len(data) * keep)])  # sets Content-Length to match
                    logged["truncated"] = True
                double.requests.append(logged)
                if "X-RateLimit-Limit" not in response.headers and response.status_code < 500:
                    response.headers.update(double._rate_headers())
            return response

        @app.get("/api/v1/accounts/lookup")
        def lookup():
            entry = double.lookup(request.args.get("acct") or "", {request.host, request.host.split(":")[0]})
            if entry is None:
                return json_response({"error": "Record not found"}, 404)
            return json_response(None, raw=entry.text)

        @app.get("/api/v1/accounts/<account_id>/statuses")
        def account_statuses(account_id):
            entry = double.account_by_id(account_id)
            if entry is None:
                return json_response({"error": "Record not found"}, 404)
            page, limit = double.page(entry, request.args)
            headers = {}
            links = []
            base = request.host_url.rstrip("/") + request.path
            kept = {k: v for k, v in request.args.items() if k not in ("max_id", "min_id", "since_id")}
            if page and len(page) == limit:
                links.append(f'<{base}?{urlencode(sorted({**kept, "max_id": page[-1].id}.items()))}>; rel="next"')
            if page:
                links.append(f'<{base}?{urlencode(sorted({**kept, "min_id": page[0].id}.items()))}>; rel="prev"')
            if links:
                headers["Link"] = ", ".join(links)
            return json_response(None, headers=headers, raw="[" + ",".join(s.text for s in page) + "]")

        @app.get("/api/v1/statuses/<status_id>")
        def status(status_id):
            found = double.find(status_id)
            if found is None:
                return json_response({"error": "Record not found"}, 404)
            return json_response(None, raw=found.text)

        return app


def serve(double: MastodonDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread (threaded werkzeug server); port 0 picks a free one."""
    return Running(double.create_app(), host, port, name="mastodon-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay recorded Mastodon statuses over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--rate-limit", type=int, default=300)
    parser.add_argument("--token", default=None)
    args = parser.parse_args(argv)
    double = MastodonDouble(args.data_dir, rate_limit=args.rate_limit, token=args.token)
    with Running(double.create_app(), args.host, args.port, name="mastodon-double", quiet=False) as server:
        print(f"Mastodon replay double on {server.url} (accounts: {', '.join(double.accounts)})", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
