"""A local Graph API server replaying recorded Facebook Page and Instagram data, for tests.

It answers what the Facebook and Instagram sources ask (the data and listing semantics are
:mod:`.graph_replay`'s; this module adds HTTP, auth, usage headers and faults):

* ``GET /{version}/{page-id}/posts`` (and ``/feed``), ``GET /{version}/{ig-user-id}/media``:
  newest first, ``limit``, ``since``/``until``, ``after`` cursors, ``paging.next`` as Graph builds it
* ``GET /{version}/{object-id}/comments`` (Facebook ``filter=stream``: comments and replies, flat)
* ``GET /{version}/{object-id}``: the object, or Graph's error #100/33 when it does not exist

``fields`` is not applied: items are served as recorded (or as a test published them).

**Auth**: the token as ``Authorization: Bearer`` or ``access_token``; a wrong or missing one gets
HTTP 400 with an ``OAuthException`` #190 body (and ``WWW-Authenticate``), as Graph answers;
``expire_token()`` makes the right one expired (#190/463). An unknown page or account gets the
recorded #100 body (``fixtures/facebook/error_data.json``).

**Usage**: every answer carries ``X-App-Usage`` (or, with ``usage_header="buc"``,
``X-Business-Use-Case-Usage`` with ``estimated_time_to_regain_access``) computed from the calls
made in this window against ``call_limit``; once it is spent, calls are refused with Graph's
rate-limit error (#4, or #80001 for pages / #80002 for Instagram with ``buc``) until
``reset_usage()``.

**Faults**: ``fail_next(status, body, headers, after)`` and ``truncate_next(after, keep)`` as the
Mastodon double has them. ``requests`` logs every request (method, path, args, status, auth).

Run standalone: ``python -m connector_doubles.graph --port 8082``.
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, g, request

from .graph_replay import ROOT, GraphReplay, cursor
from .faults import NumberedFaults
from .serving import Running, wait_forever

__all__ = ["GraphDouble", "main", "serve"]

TOKEN = "graph-test-token"


def _trace() -> str:
    return "AdoubleTrace" + str(int(datetime.now(timezone.utc).timestamp() * 1000))[-8:]


def gone_body(object_id: str) -> dict:
    return {"error": {"message": f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
                                 "loaded due to missing permissions, or does not support this operation. Please read "
                                 "the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                      "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": _trace()}}


class GraphDouble(NumberedFaults, GraphReplay):
    """State of the Graph replay server; ``create_app()`` exposes it over HTTP (see the module docstring)."""

    def __init__(self, root: str | Path | None = None, token: str = TOKEN, call_limit: int = 200,
                 usage_header: str = "app", regain_minutes: int = 7, clock=None):
        super().__init__(root)
        self.root = Path(root or ROOT)
        self.token, self.call_limit, self.usage_header = token, call_limit, usage_header
        self.regain_minutes = regain_minutes
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.expired = False
        self.faults: dict[int, tuple] = {}
        self.truncations: dict[int, float] = {}
        self.requests: list[dict] = []
        self._received = 0
        self._used = 0

    # -- what a test changes ----------------------------------------------------------------

    def expire_token(self) -> None:
        self.expired = True

    def reset_usage(self) -> None:
        with self._lock:
            self._used = 0

    def publish(self, owner: str, obj, parent: str = "", item_id: str | None = None,
                when: datetime | None = None) -> str:
        """Add a post, medium, comment or reply now (the double's clock); returns its id."""
        return self.add(owner, obj, when or self.clock(), parent, item_id)

    def edit_message(self, item_id: str, text: str) -> None:
        """Edit a Facebook post's ``message`` (its ``updated_time`` moves to now)."""
        self.edit(item_id, {"message": text}, self.clock())

    # -- usage ------------------------------------------------------------------------------

    def _percent(self) -> int:
        return min(100, self._used * 100 // max(self.call_limit, 1))

    def usage_headers(self) -> dict:
        percent = self._percent()
        if self.usage_header == "buc":
            regain = self.regain_minutes if percent >= 100 else 0
            entry = {"type": "pages", "call_count": percent, "total_cputime": percent // 2,
                     "total_time": percent // 2, "estimated_time_to_regain_access": regain}
            return {"X-Business-Use-Case-Usage": json.dumps({"19292868552": [entry]})}
        return {"X-App-Usage": json.dumps({"call_count": percent, "total_time": percent // 2,
                                           "total_cputime": percent // 2})}

    def _limit_error(self, path: str) -> dict:
        if self.usage_header == "buc":
            code = 80002 if self.platform(path.strip("/").split("/")[1]) == "instagram" else 80001
            text = "There have been too many calls to this account. Wait a bit and try again."
        else:
            code, text = 4, "(#4) Application request limit reached"
        return {"error": {"message": text, "type": "OAuthException", "code": code, "is_transient": True,
                          "fbtrace_id": _trace()}}

    # -- HTTP -------------------------------------------------------------------------------

    def create_app(self) -> Flask:
        app = Flask(__name__)
        double = self

        def answer(body=None, status=200, headers=None, raw: str | None = None) -> Response:
            text = raw if raw is not None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            response = Response(text.encode("utf-8", "surrogateescape"), status=status,
                                content_type="application/json; charset=UTF-8")
            response.headers.update(headers or {})
            return response

        def oauth(message: str, subcode: int | None = None) -> Response:
            error = {"message": message, "type": "OAuthException", "code": 190, "fbtrace_id": _trace()}
            if subcode:
                error["error_subcode"] = subcode
            return answer({"error": error}, 400, {"WWW-Authenticate": f'OAuth "Facebook Platform" "invalid_token" '
                                                                       f'"{message}"'})

        @app.before_request
        def gate():
            with double._lock:
                double._received += 1
                g.truncate_keep = double.truncations.pop(double._received, None)
                fault = double.faults.pop(double._received, None)
                if fault is not None:
                    status, body, extra = fault
                    if isinstance(body, str):  # served as is (a broken or hostile body)
                        return answer(raw=body, status=status, headers=extra)
                    return answer(body or {"error": {"message": "An unknown error has occurred.", "type":
                                                     "OAuthException", "code": 1, "fbtrace_id": _trace()}},
                                  status, extra)
                given = request.headers.get("Authorization", "").removeprefix("Bearer ") or \
                    request.args.get("access_token", "")
                if given != double.token:
                    return oauth("Invalid OAuth access token - Cannot parse access token")
                if double.expired:
                    return oauth("Error validating access token: Session has expired on Thursday, 01-Jan-26 "
                                 "00:00:00 PST. The current time is Thursday, 01-Jan-26 01:00:00 PST.", 463)
                if double._used >= double.call_limit:
                    return answer(double._limit_error(request.path), 403, double.usage_headers())
                double._used += 1
            return None

        @app.after_request
        def log(response):
            with double._lock:
                logged = {"method": request.method, "path": request.path, "args": request.args.to_dict(),
                          "status": response.status_code, "auth": request.headers.get("Authorization", "")}
                keep = g.get("truncate_keep")
                if keep is not None:
                    data = response.get_data()
                    response.set_data(data[:int(len(data) * keep)])
                    logged["truncated"] = True
                double.requests.append(logged)
                if response.status_code < 500:
                    for name, value in double.usage_headers().items():
                        response.headers.setdefault(name, value)
            return response

        def page(items, more: bool, extra: str = "") -> Response:
            paging = {}
            if items:
                paging["cursors"] = {"before": cursor(items[0].id), "after": cursor(items[-1].id)}
                if more:
                    args = {k: v for k, v in request.args.items() if k not in ("after", "access_token")}
                    paging["next"] = f"{request.base_url}?{urlencode({**args, 'after': cursor(items[-1].id)})}"
            body = '{"data":[' + ",".join(i.text for i in items) + "]"
            return answer(raw=body + (',"paging":' + json.dumps(paging) if paging else "") + extra + "}")

        @app.get("/<version>/<owner>/<edge>")
        def listing(version, owner, edge):
            if edge == "comments":
                if owner not in double.items:
                    return answer(gone_body(owner), 400)
                return page(*double.comments(owner, request.args))
            kind = double.owners.get(owner, {}).get("kind")
            if (kind, edge) not in (("facebook", "posts"), ("facebook", "feed"), ("instagram", "media")):
                return answer(raw=(double.root / "facebook" / "error_data.json").read_text(encoding="utf-8"),
                              status=400)
            return page(*double.listing(owner, request.args))

        @app.get("/<version>/<object_id>")
        def single(version, object_id):
            if object_id in double.owners:
                return answer(double.owners[object_id]["obj"])
            item = double.items.get(object_id)
            if item is None:
                return answer(gone_body(object_id), 400)
            if request.args.get("fields") == "id":
                return answer({"id": item.id})
            return answer(raw=item.text)

        return app


def serve(double: GraphDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread; port 0 picks a free one."""
    return Running(double.create_app(), host, port, name="graph-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay recorded Facebook Page and Instagram Graph API data.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--token", default=TOKEN)
    args = parser.parse_args(argv)
    double = GraphDouble(token=args.token)
    with Running(double.create_app(), args.host, args.port, name="graph-double", quiet=False) as server:
        print(f"Graph replay double on {server.url} (pages and accounts: {', '.join(double.owners)})", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
