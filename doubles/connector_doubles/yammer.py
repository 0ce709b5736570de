"""A local Yammer (Viva Engage) REST v1 server replaying a group's messages, for tests and the demo.

It answers the endpoints the connector uses, with Yammer's semantics as its v1 reference
describes them (https://learn.microsoft.com/rest/api/yammer/):

* ``GET /api/v1/messages/in_group/:group_id.json``: at most ``page_size`` (Yammer: 20) messages,
  newest first; ``newer_than`` (the newest ones above an id), ``older_than`` (the ones just below
  an id), ``limit``; the answer is ``{"messages", "references", "meta"}`` with the users, topics,
  group and threads the page's messages name, and ``meta.older_available``
* ``GET /api/v1/messages/:id.json``: one message; 404 once deleted
* ``GET /api/v1/groups/:id.json`` and ``GET /api/v1/users/current.json`` (for ``check()``)

Messages are served as the exact text the replay file holds (``fixtures/yammer/replay/``: the
recorded ``message.json`` verbatim, the others derived from the reference); messages added or
edited here are serialised compactly. A test can ``add_message``, ``edit_message`` (new body,
same id and place), ``delete_message`` (gone from the group, 404 on its own URL), ``set_text``
(serve bytes verbatim), ``fail_next`` (an error status with a body and headers).

Rate limit: ``rate_limit`` message calls (Yammer: 10) per ``rate_period`` seconds (30), then 429
(with ``Retry-After`` only when ``retry_after`` is set: Yammer documents none). Auth: a request
without ``Authorization: Bearer <token>`` gets 401 with Yammer's error body. ``requests`` logs
every request as ``{"method", "path", "args", "status"}``.

Run standalone: ``python -m connector_doubles.yammer --port 8083``.
"""
from __future__ import annotations

import argparse
import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask, Response, request

from .faults import NumberedFaults
from .serving import Running, wait_forever

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "yammer" / "replay"
TOKEN_NOT_FOUND = {"response": {"message": "Token not found.", "code": 16, "stat": "fail"}}
RATE_LIMITED = {"response": {"message": "Rate limited due to excessive requests.", "code": 33, "stat": "fail"}}
NOT_FOUND = {"response": {"message": "Record not found", "code": 17, "stat": "fail"}}
_TOKEN = re.compile(r"\[\[(user|tag):(\d+)\]\]")
_WS = re.compile(r"[ \t\n\r]*")


@dataclass
class Msg:
    key: int
    text: str  # served verbatim
    obj: dict  # parsed ({} when the text is deliberately broken)


def _spans(text: str, member: str) -> list[str]:
    """The exact text of each item of the top-level array ``member`` of a replay file."""
    start = text.index(f'"{member}"')
    i = _WS.match(text, text.index("[", start) + 1).end()
    decoder, spans = json.JSONDecoder(), []
    while text[i] != "]":
        _, end = decoder.raw_decode(text, i)
        spans.append(text[i:end])
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return spans


def yammer_date(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y/%m/%d %H:%M:%S +0000")


def _compact(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _number(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class YammerDouble(NumberedFaults):
    """The groups and messages the double serves; ``create_app()`` exposes them over HTTP."""

    def __init__(self, data_dir: str | Path | None = None, token: str = "yammer-test-token", page_size: int = 20,
                 rate_limit: int = 10, rate_period: float = 30.0):
        data_dir = Path(data_dir or DEFAULT_DATA_DIR)
        self.token, self.page_size = token, page_size
        self.rate_limit, self.rate_period, self.retry_after = rate_limit, rate_period, None
        # the reference leaves open which messages newer_than gives when there are more than a page:
        # the newest ones (default) or, with this set, the ones just above the id
        self.newer_than_from_below = False
        self.groups: dict[str, list[Msg]] = {}
        self.references: dict[str, list[dict]] = {}
        self.current_user_id = ""
        user_file = data_dir.parent / "user.json"
        self.current_user = user_file.read_text(encoding="utf-8") if user_file.exists() else "{}"
        self.deleted: set[str] = set()
        self.faults: dict[int, tuple] = {}
        self.requests: list[dict] = []
        self._lock = threading.RLock()
        self._received = 0
        self._calls: list[float] = []
        for path in sorted(data_dir.glob("group_*.json")):
            text = path.read_text(encoding="utf-8")
            data = json.loads(text)
            group = str(data["group_id"])
            self.current_user_id = str(data.get("current_user_id") or "")
            self.references[group] = data["references"]
            self.groups[group] = [Msg(int(json.loads(t)["id"]), t, json.loads(t)) for t in _spans(text, "messages")]

    # -- what tests change ----------------------------------------------------------------------

    def messages(self, group: str = "7") -> list[dict]:
        """The messages of a group as now served, newest first."""
        with self._lock:
            return [m.obj for m in sorted(self.groups[group], key=lambda m: -m.key)]

    def ids(self, group: str = "7") -> list[str]:
        with self._lock:
            return [str(m.key) for m in sorted(self.groups[group], key=lambda m: m.key)]

    def add_message(self, obj: dict | str | bytes, group: str = "7") -> str:
        """Post a message as the new newest one of ``group``; returns its id.

        A dict gets a fresh id and ``created_at`` (its ``web_url``/``url`` follow the id; a root
        message starts its own thread). Text or bytes are served verbatim (malformed-input tests).
        """
        with self._lock:
            key = max((m.key for msgs in self.groups.values() for m in msgs), default=0) + 1
            if isinstance(obj, dict):
                obj = json.loads(json.dumps(obj))
                old = str(obj.get("id") or "")
                if obj.get("thread_id") == obj.get("id") or not obj.get("replied_to_id"):
                    obj["thread_id"] = key
                obj["id"] = key
                obj["created_at"] = yammer_date(datetime.now(timezone.utc))
                for name in ("web_url", "url"):
                    if old and isinstance(obj.get(name), str):
                        obj[name] = re.sub(rf"/{old}$", f"/{key}", obj[name])
                self.groups[group].append(Msg(key, _compact(obj), obj))
            else:
                text = obj.decode("utf-8", "surrogateescape") if isinstance(obj, bytes) else obj
                self.groups[group].append(Msg(key, text, {}))
            return str(key)

    def find(self, message_id: str) -> tuple[str, Msg] | tuple[None, None]:
        with self._lock:
            for group, msgs in self.groups.items():
                for msg in msgs:
                    if str(msg.key) == str(message_id):
                        return group, msg
            return None, None

    def edit_message(self, message_id: str, plain: str, rich: str | None = None) -> None:
        """Edit a message in place: a new body (and excerpt); id, date and place stay, as on Yammer."""
        with self._lock:
            _, msg = self.find(message_id)
            if msg is None:
                raise KeyError(message_id)
            body = {"plain": plain, "rich": rich if rich is not None else plain, "parsed": plain}
            msg.obj = {**msg.obj, "body": body, "content_excerpt": plain[:200]}
            msg.text = _compact(msg.obj)

    def set_text(self, message_id: str, text: str | bytes) -> None:
        """Serve ``text`` verbatim for an existing message from now on."""
        with self._lock:
            _, msg = self.find(message_id)
            if msg is None:
                raise KeyError(message_id)
            msg.text = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else text
            msg.obj = {}

    def delete_message(self, message_id: str) -> None:
        """Delete a message: gone from its group's pages, 404 on ``GET /messages/:id.json``."""
        with self._lock:
            group, msg = self.find(message_id)
            if msg is None:
                raise KeyError(message_id)
            self.groups[group].remove(msg)
            self.deleted.add(str(message_id))

    def reset_rate_limit(self) -> None:
        with self._lock:
            self._calls.clear()

    # -- Yammer's semantics ---------------------------------------------------------------------

    def page(self, group: str, args) -> tuple[list[Msg], bool]:
        """The messages an in_group request gets (newest first) and ``older_available``."""
        with self._lock:
            items = sorted(self.groups[group], key=lambda m: -m.key)
            limit = min(_number(args.get("limit")) or self.page_size, self.page_size)
            newer, older = _number(args.get("newer_than")), _number(args.get("older_than"))
            if newer is not None:
                items = [m for m in items if m.key > newer]
            if older is not None:
                items = [m for m in items if m.key < older]
            page = items[-limit:] if newer is not None and self.newer_than_from_below else items[:limit]
            return page, bool(page) and items[-1] is not page[-1]

    def page_references(self, group: str, page: list[Msg]) -> list[dict]:
        """The references the page's messages name: senders, mentioned and notified users, topics,
        the group and the threads, in the replay file's order."""
        wanted = set()
        for msg in page:
            obj = msg.obj
            wanted |= {(obj.get("sender_type") or "user", str(obj.get("sender_id"))),
                       ("group", str(obj.get("group_id"))), ("thread", str(obj.get("thread_id")))}
            wanted |= {("user", str(u)) for u in obj.get("notified_user_ids") or []}
            parsed = (obj.get("body") or {}).get("parsed") or ""
            wanted |= {(kind, ref) for kind, ref in _TOKEN.findall(parsed)}
        return [r for r in self.references.get(group, []) if (r["type"], str(r["id"])) in wanted]

    def _over_budget(self) -> bool:
        now = time.monotonic()
        self._calls = [t for t in self._calls if t > now - self.rate_period]
        if len(self._calls) >= self.rate_limit:
            return True
        self._calls.append(now)
        return False

    # -- HTTP -------------------------------------------------------------------------------

    def create_app(self) -> Flask:
        app = Flask(__name__)
        double = self

        def reply(body, status: int = 200, headers: dict | None = None, raw: str | None = None) -> Response:
            text = raw if raw is not None else _compact(body)
            response = Response(text.encode("utf-8", "surrogateescape"), status=status,
                                content_type="application/json; charset=utf-8")
            response.headers.update(headers or {})
            return response

        @app.before_request
        def gate():
            with double._lock:
                double._received += 1
                fault = double.faults.pop(double._received, None)
                if fault is not None:
                    status, body, headers = fault
                    return reply(body or {"response": {"message": f"Injected fault {status}", "stat": "fail"}},
                                 status, headers)
                if request.headers.get("Authorization") != f"Bearer {double.token}":
                    return reply(TOKEN_NOT_FOUND, 401)
                if request.path.startswith("/api/v1/messages/") and double._over_budget():
                    headers = {"Retry-After": str(double.retry_after)} if double.retry_after is not None else {}
                    return reply(RATE_LIMITED, 429, headers)
            return None

        @app.after_request
        def log(response):
            with double._lock:
                double.requests.append({"method": request.method, "path": request.path,
                                        "args": request.args.to_dict(), "status": response.status_code})
            return response

        @app.get("/api/v1/messages/in_group/<group>.json")
        def in_group(group):
            if group not in double.groups:
                return reply(NOT_FOUND, 404)
            page, older = double.page(group, request.args)
            meta = {"older_available": older, "requested_poll_interval": 60,
                    "current_user_id": _number(double.current_user_id)}
            raw = ('{"messages":[' + ",".join(m.text for m in page) + '],"references":'
                   + _compact(double.page_references(group, page)) + ',"meta":' + _compact(meta) + "}")
            return reply(None, raw=raw)

        @app.get("/api/v1/messages/<message_id>.json")
        def message(message_id):
            _, msg = double.find(message_id)
            if msg is None:
                return reply(NOT_FOUND, 404)
            return reply(None, raw=msg.text)

        @app.get("/api/v1/groups/<group>.json")
        def group_info(group):
            found = [r for r in double.references.get(group, []) if r["type"] == "group" and str(r["id"]) == group]
            return reply(found[0]) if found else reply(NOT_FOUND, 404)

        @app.get("/api/v1/users/current.json")
        def current_user():
            return reply(None, raw=double.current_user)

        return app


def serve(double: YammerDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread; port 0 picks a free one. The API root is ``url + "/api/v1"``."""
    return Running(double.create_app(), host, port, name="yammer-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay a Yammer group's messages over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    parser.add_argument("--token", default="yammer-test-token")
    args = parser.parse_args(argv)
    double = YammerDouble(args.data_dir, token=args.token)
    with Running(double.create_app(), args.host, args.port, name="yammer-double", quiet=False) as server:
        print(f"Yammer replay double on {server.url}/api/v1 (groups: {', '.join(double.groups)})", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
