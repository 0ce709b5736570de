"""A local Mastodon-compatible server replaying recorded statuses, for tests and the demo.

It answers the few endpoints the connector uses with Mastodon's own semantics:

* ``GET /api/v1/accounts/lookup?acct=user[@host]``
* ``GET /api/v1/accounts/:id/statuses`` with ``limit`` (default 20, max 40), ``max_id`` (older),
  ``since_id`` (the newest page, only newer than since_id), ``min_id`` (the page immediately
  newer than min_id), ``exclude_replies``, ``exclude_reblogs``, ``only_media``; ids compared
  numerically, newest first, a ``Link`` header with ``rel="next"`` (max_id) and ``rel="prev"``
  (min_id) as Mastodon sends it
* ``GET /api/v1/statuses/:id``

Faults for resilience tests: ``fail_next()`` (an error status, optionally with a body and headers
such as ``Retry-After``), ``truncate_next()`` (a 200 whose body is cut off, served with a matching
``Content-Length`` as a proxy that lost the end of the upstream answer would) and
``repeat_boundary`` (a misbehaving server whose ``min_id``/``max_id``/``since_id`` include the
boundary status, so consecutive pages repeat one status).

Every answer carries ``X-RateLimit-Limit/Remaining/Reset`` (reset as ISO 8601, like the recorded
fosstodon.org responses); when the budget is used up the answer is 429. With ``token`` set, a
request without ``Authorization: Bearer <token>`` gets 401.

Statuses given as bytes (``add_status``, ``set_text``) are served byte for byte, even bytes that
are not UTF-8. Statuses are served as the exact JSON text they had in the recording (the replay files under
``fixtures/mastodon/replay/`` are cut from real responses), so a client's "raw bytes" can be
checked against the fixture. Statuses added or edited here are serialised compactly, as
Mastodon 4 does.

Run standalone: ``python -m connector.doubles.mastodon --port 8081``.
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, g, request
from .serving import Running, wait_forever

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "mastodon" / "replay"
DEFAULT_LIMIT, MAX_LIMIT = 20, 40
# ActiveModel's false values: anything else given for a boolean parameter counts as true
_FALSE = {"", "0", "f", "false", "off", "no", "n"}
_WS = re.compile(r"[ \t\n\r]*")


@dataclass
class _Status:
    key: int  # the numeric id used for ordering
    id: str
    text: str  # the JSON text served, verbatim
    obj: dict  # parsed, for filtering ({} when the text is deliberately broken)


@dataclass
class _Account:
    id: str
    acct: str
    host: str
    text: str
    statuses: list  # of _Status


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso_ms(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _statuses_spans(text: str) -> list[str]:
    """The exact text of each status in a replay file's ``"statuses"`` array."""
    start = text.index('"statuses"')
    i = _WS.match(text, text.index("[", start) + 1).end()
    decoder, spans = json.JSONDecoder(), []
    while text[i] != "]":
        _, end = decoder.raw_decode(text, i)
        spans.append(text[i:end])
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return spans


def _from_bytes(data: bytes) -> str:
    # bytes that are not UTF-8 (hostile-input tests) survive as escapes and are served as sent
    return data.decode("utf-8", "surrogateescape")


def _number(value) -> int:
    # Rails' String#to_i: garbage counts as 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _truthy(value) -> bool:
    return value is not None and value.strip().lower() not in _FALSE


class MastodonDouble:
    """State of the replay server; ``create_app()`` exposes it over HTTP.

    ``faults`` maps a 1-based request number (counting every request received) to a status
    code, or to ``(status, body_dict)`` or ``(status, body_dict, headers)``; that request fails
    once with it. ``truncations`` maps a request number to the fraction of its body that is
    served. ``requests`` logs every request as ``{"method", "path", "args", "status"}`` (plus
    ``"truncated": True`` for a cut body).
    """

    def __init__(self, data_dir: str | Path | None = None, rate_limit: int = 300,
                 token: str | None = None, rate_period: int = 300):
        self.rate_limit = rate_limit
        self.rate_period = rate_period
        self.token = token
        self.faults: dict[int, int | tuple] = {}
        self.truncations: dict[int, float] = {}
        self.repeat_boundary = False
        self.requests: list[dict] = []
        self._lock = threading.RLock()
        self._received = 0
        self._used = 0
        self._window_end = self._next_window_end()
        self._accounts: dict[str, _Account] = {}
        for path in sorted(Path(data_dir or DEFAULT_DATA_DIR).glob("*.json")):
            self._load(path)

    # -- data -------------------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        account = data["account"]
        decoder = json.JSONDecoder()
        start = _WS.match(text, text.index(":", text.index('"account"')) + 1).end()
        _, end = decoder.raw_decode(text, start)
        entry = _Account(id=account["id"], acct=account["acct"], host=urlsplit(account.get("url") or "").netloc,
                         text=text[start:end], statuses=[])
        for span in _statuses_spans(text):
            obj = json.loads(span)
            entry.statuses.append(_Status(int(obj["id"]), obj["id"], span, obj))
        self._accounts[entry.id] = entry

    @property
    def accounts(self) -> list[str]:
        """The acct handles of the replayed accounts, the one with most statuses first."""
        ordered = sorted(self._accounts.values(), key=lambda a: (-len(a.statuses), a.acct))
        return [a.acct for a in ordered]

    def account(self, acct: str) -> dict:
        return json.loads(self._by_acct(acct).text)

    def statuses(self, acct: str) -> list[dict]:
        """The statuses of an account as currently served, newest first."""
        return [s.obj for s in sorted(self._by_acct(acct).statuses, key=lambda s: -s.key)]

    def _by_acct(self, acct: str) -> _Account:
        for entry in self._accounts.values():
            if entry.acct.lower() == acct.lower().lstrip("@"):
                return entry
        raise KeyError(acct)

    def _new_key(self) -> int:
        # a Mastodon snowflake for "now", but always above every id already served
        highest = max((s.key for a in self._accounts.values() for s in a.statuses), default=0)
        return max(highest + 1, int(time.time() * 1000) << 16)

    def add_status(self, obj: dict | str | bytes, account: str | None = None) -> str:
        """Publish a status as the new newest one; returns its id.

        A dict gets a fresh id and ``created_at`` (and its ``url``/``uri`` follow the new id).
        Text or bytes are served verbatim (for malformed-payload tests), ordered as newest.
        """
        with self._lock:
            key = self._new_key()
            if isinstance(obj, dict):
                entry = self._account_for(obj, account)
                obj = json.loads(json.dumps(obj))
                old_id = str(obj.get("id") or "")
                obj["id"] = str(key)
                obj["created_at"] = _iso_ms(_now())
                obj.setdefault("account", json.loads(entry.text))
                for name in ("url", "uri"):
                    if old_id and isinstance(obj.get(name), str):
                        obj[name] = obj[name].replace(old_id, str(key))
                text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            else:
                entry = self._by_acct(account) if account else self._by_acct(self.accounts[0])
                text = _from_bytes(obj) if isinstance(obj, bytes) else obj
                obj = {}
            entry.statuses.append(_Status(key, str(key), text, obj))
            return str(key)

    def _account_for(self, obj: dict, account: str | None) -> _Account:
        if account:
            return self._by_acct(account)
        owner = obj.get("account") if isinstance(obj.get("account"), dict) else {}
        return self._accounts.get(owner.get("id")) or self._by_acct(self.accounts[0])

    def edit_status(self, status_id: str, content: str) -> str:
        """Edit a status in place (new ``content``, ``edited_at`` = now); returns the edited_at."""
        with self._lock:
            status = self._find(status_id)
            if status is None:
                raise KeyError(status_id)
            edited = _iso_ms(_now())
            if status.obj.get("edited_at") and edited <= status.obj["edited_at"]:
                # two edits within one millisecond must still differ
                edited = _iso_ms(datetime.fromisoformat(status.obj["edited_at"].replace("Z", "+00:00"))
                                 + timedelta(milliseconds=1))
            status.obj = dict(status.obj, content=content, edited_at=edited)
            status.text = json.dumps(status.obj, ensure_ascii=False, separators=(",", ":"))
            return edited

    def set_text(self, status_id: str, text: str | bytes) -> None:
        """Serve ``text`` verbatim for an existing status from now on (for malformed-payload tests).

        Unlike ``add_status(text)``, the caller knows the id the status is served under, so the
        text can carry it, as a real server's broken status would.
        """
        with self._lock:
            status = self._find(status_id)
            if status is None:
                raise KeyError(status_id)
            status.text = _from_bytes(text) if isinstance(text, bytes) else text
            status.obj = {}

    def _find(self, status_id: str) -> _Status | None:
        for entry in self._accounts.values():
            for status in entry.statuses:
                if status.id == str(status_id):
                    return status
        return None

    def fail_next(self, status: int = 500, after: int = 0, body: dict | None = None,
                  headers: dict | None = None) -> int:
        """Make the (after+1)-th request from now fail once; returns its request number.

        ``headers`` are sent with the fault (e.g. ``{"Retry-After": "120"}``) and win over the
        rate-limit headers the double adds itself.
        """
        with self._lock:
            number = self._received + 1 + after
            self.faults[number] = (status, body, dict(headers or {}))
            return number

    def truncate_next(self, after: int = 0, keep: float = 0.5) -> int:
        """Serve the (after+1)-th request from now with only the first ``keep`` of its body's bytes.

        The status stays 200 and ``Content-Length`` matches the cut body: the client sees a
        complete HTTP exchange with an incomplete document. Returns the request number.
        """
        if not 0 <= keep < 1:
            raise ValueError("keep must be at least 0 and below 1")
        with self._lock:
            number = self._received + 1 + after
            self.truncations[number] = keep
            return number

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
        if _now() >= self._window_end:
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
            acct = (request.args.get("acct") or "").strip().lstrip("@")
            user, _, domain = acct.partition("@")
            for entry in double._accounts.values():
                local = {entry.host, request.host, request.host.split(":")[0]}
                if entry.acct.lower() == user.lower() and (not domain or domain.lower() in local):
                    return json_response(None, raw=entry.text)
            return json_response({"error": "Record not found"}, 404)

        @app.get("/api/v1/accounts/<account_id>/statuses")
        def account_statuses(account_id):
            entry = double._accounts.get(account_id)
            if entry is None:
                return json_response({"error": "Record not found"}, 404)
            with double._lock:
                page, limit = double._page(entry, request.args)
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
            found = double._find(status_id)
            if found is None:
                return json_response({"error": "Record not found"}, 404)
            return json_response(None, raw=found.text)

        return app

    def _page(self, entry: _Account, args) -> tuple[list[_Status], int]:
        raw_limit = args.get("limit")
        limit = DEFAULT_LIMIT if raw_limit is None else min(abs(_number(raw_limit)), MAX_LIMIT)
        items = sorted(entry.statuses, key=lambda s: -s.key)
        if _truthy(args.get("exclude_replies")):
            # Mastodon keeps self-replies (threads) when replies are excluded
            items = [s for s in items if not s.obj.get("in_reply_to_id")
                     or s.obj.get("in_reply_to_account_id") == entry.id]
        if _truthy(args.get("exclude_reblogs")):
            items = [s for s in items if not s.obj.get("reblog")]
        if _truthy(args.get("only_media")):
            items = [s for s in items if s.obj.get("media_attachments")]
        # repeat_boundary: a misbehaving server whose bounds are inclusive, so pages repeat one status
        edge = 0 if self.repeat_boundary else 1
        if args.get("max_id"):
            items = [s for s in items if s.key <= _number(args["max_id"]) - edge]
        if args.get("since_id"):
            items = [s for s in items if s.key >= _number(args["since_id"]) + edge]
        if args.get("min_id") is not None:
            items = [s for s in items if s.key >= _number(args["min_id"]) + edge]
            return (items[-limit:] if limit else []), limit
        return items[:limit], limit


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
