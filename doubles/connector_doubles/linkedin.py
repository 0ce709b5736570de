"""A local LinkedIn Community Management API (versioned REST) replaying derived posts and recorded comments.

Endpoints, with LinkedIn's semantics as far as the connector uses them:

* ``GET /rest/posts?q=author&author=<org urn>&sortBy=LAST_MODIFIED&start=&count=``: the
  organization's published posts, newest ``lastModifiedAt`` first, offset paging
  (``paging.start/count/total``, ``elements``; at most 100 a page);
* ``GET /rest/posts/<urn>``: one post, 404 once deleted;
* ``GET /rest/images/<urn>``, ``/rest/videos/<urn>``: ``downloadUrl`` on this server's ``/media/``;
* ``GET /rest/socialActions/<urn>/comments?start=&count=``: a post's comments (a comment's replies
  under the comment's URN, counted in its ``commentsSummary``);
* ``GET /rest/organizations/<id>``: the organization (``localizedName``);
* ``GET /rest/organizationAcls?q=roleAssignee``: the token's member's approved roles.

Data: the posts page ``fixtures/linkedin/posts_page.json`` (derived from LinkedIn's Posts API
reference) and the real recorded comments page ``comments_page.json``, served under the video
post :data:`COMMENTED`. Each item is served as its exact text; ``set_text`` serves any bytes.

Like LinkedIn: every request needs ``Authorization: Bearer <token>`` (else 401 with LinkedIn's
``serviceErrorCode`` 65600 body), a ``LinkedIn-Version`` header (missing: 400 ``VERSION_MISSING``;
one in ``retired``: 426 ``NONEXISTENT_VERSION``) and ``X-Restli-Protocol-Version: 2.0.0``; another
organization's posts are 403 ``ACCESS_DENIED``. LinkedIn sends no rate-limit headers: after
``daily_limit`` calls the answer is 429 until :meth:`reset_day`. ``fail_next()`` injects a fault;
``edit_post``, ``add_post``, ``delete_post``, ``add_comment`` change the data; ``requests`` logs
``{"method", "path", "args", "status"}``.

Run standalone: ``python -m connector_doubles.linkedin --port 8085``.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, request

from .faults import NumberedFaults
from .serving import Running, wait_forever

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "linkedin"
ORGANIZATION = "urn:li:organization:2414183"
COMMENTED = "urn:li:ugcPost:7261000000000000006"
TOKEN = "linkedin-test-token"
MAX_COUNT = 100


@dataclass
class Item:
    urn: str
    modified: int
    text: bytes  # served verbatim


def _compact(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class LinkedInDouble(NumberedFaults):
    """State of the replay server; ``create_app()`` serves it."""

    def __init__(self, data_dir: str | Path | None = None, token: str = TOKEN, organization: str = ORGANIZATION,
                 daily_limit: int | None = None):
        folder = Path(data_dir or DEFAULT_DATA_DIR)
        self.token, self.organization, self.daily_limit = token, organization, daily_limit
        self.name = "Devtestco"  # the organization's localizedName (LinkedIn's documentation test page)
        self.retired = {"202301", "202302", "202303"}
        self._lock = threading.RLock()
        self.posts: dict[str, Item] = {}
        for element in json.loads((folder / "posts_page.json").read_text("utf-8"))["elements"]:
            self.posts[element["id"]] = Item(element["id"], element["lastModifiedAt"], _compact(element))
        recorded = json.loads((folder / "comments_page.json").read_text("utf-8"))["elements"]
        self.comments: dict[str, list[bytes]] = {COMMENTED: [_compact(c) for c in recorded]}
        self.deleted: set[str] = set()
        self.faults: dict[int, tuple] = {}
        self.requests: list[dict] = []
        self._received = 0
        self._used = 0
        self._serial = 0

    # -- data -------------------------------------------------------------------------------

    def value(self, urn: str) -> dict:
        return json.loads(self.posts[urn].text)

    def listing(self) -> list[Item]:
        """The organization's posts as LinkedIn lists them: newest modification first."""
        return sorted(self.posts.values(), key=lambda i: (i.modified, i.urn), reverse=True)

    def _stamp(self) -> int:
        newest = max((i.modified for i in self.posts.values()), default=0)
        return max(int(time.time() * 1000), newest + 1000)

    def add_post(self, template: dict | None = None, commentary: str = "Nieuw bericht") -> str:
        """Publish a post now (a copy of ``template`` with a new URN); returns its URN."""
        with self._lock:
            self._serial += 1
            now = self._stamp()
            post = dict(template) if template else {  # a text post, as the derived page's are
                key: value for key, value in self.value(self.listing()[-1].urn).items()
                if key not in ("content", "reshareContext")}
            urn = f"urn:li:share:{7270000000000000000 + self._serial}"
            post.update(id=urn, createdAt=now, publishedAt=now, lastModifiedAt=now, commentary=commentary,
                        lifecycleStateInfo={"isEditedByAuthor": False})
            self.posts[urn] = Item(urn, now, _compact(post))
            return urn

    def edit_post(self, urn: str, commentary: str) -> int:
        """The author edits a post: new commentary, ``lastModifiedAt`` now; returns that time (ms)."""
        with self._lock:
            post = self.value(urn)
            now = self._stamp()
            post.update(commentary=commentary, lastModifiedAt=now, lifecycleStateInfo={"isEditedByAuthor": True})
            self.posts[urn] = Item(urn, now, _compact(post))
            return now

    def set_text(self, urn: str, text: bytes, modified: int | None = None) -> None:
        """Serve ``text`` (any bytes) for a post, placed in the listing at ``modified`` (default: now)."""
        with self._lock:
            self.posts[urn] = Item(urn, modified if modified is not None else self._stamp(), text)

    def delete_post(self, urn: str) -> None:
        with self._lock:
            del self.posts[urn]
            self.deleted.add(urn)

    def add_comment(self, post: str, text: str, parent: str | None = None, edited: bool = False) -> str:
        """A new comment under ``post`` (a reply to comment ``parent``); returns the comment URN."""
        with self._lock:
            self._serial += 1
            now = self._stamp()
            number = str(6990000000000000000 + self._serial)
            urn = f"urn:li:comment:({post},{number})"
            comment = {"actor": "urn:li:person:DT2dEpUrPf", "commentUrn": urn, "$URN": urn, "id": number,
                       "created": {"actor": "urn:li:person:DT2dEpUrPf", "time": now},
                       "lastModified": {"actor": "urn:li:person:DT2dEpUrPf", "time": now + (5000 if edited else 0)},
                       "message": {"attributes": [], "text": text}, "object": post}
            if parent:  # LinkedIn lists a reply under its parent comment, whose summary counts it
                comment["parentComment"] = parent
                self.comments.setdefault(parent, []).insert(0, _compact(comment))
                siblings = self.comments[post]
                for n, text in enumerate(siblings):
                    value = json.loads(text)
                    if value.get("commentUrn", value.get("$URN")) == parent:
                        summary = value.setdefault("commentsSummary", {"selectedComments": [],
                                                                       "aggregatedTotalComments": 0})
                        summary["selectedComments"].insert(0, urn)
                        summary["aggregatedTotalComments"] += 1
                        siblings[n] = _compact(value)
            else:
                self.comments.setdefault(post, []).insert(0, _compact(comment))
            return urn

    # -- faults and limits --------------------------------------------------------------------

    def reset_day(self) -> None:
        """Midnight UTC at LinkedIn: the daily limits start again."""
        with self._lock:
            self._used = 0

    # -- HTTP ---------------------------------------------------------------------------------

    def create_app(self) -> Flask:
        app = Flask(__name__)
        double = self

        def answer(body, status=200, headers=None) -> Response:
            data = body if isinstance(body, bytes) else _compact(body)
            response = Response(data, status=status, content_type="application/json")
            response.headers.update(headers or {})
            return response

        def error(status: int, message: str, code: str | None = None, service: int | None = None) -> Response:
            body = {"status": status, "message": message}
            if code:
                body["code"] = code
            if service is not None:
                body["serviceErrorCode"] = service
            return answer(body, status)

        @app.before_request
        def gate():
            with double._lock:
                double._received += 1
                fault = double.faults.pop(double._received, None)
                if fault is not None:
                    status, body, headers = fault
                    return answer(body or {"status": status, "message": f"Injected fault {status}"}, status, headers)
                if request.path.startswith("/media/"):
                    return None
                if request.headers.get("Authorization") != f"Bearer {double.token}":
                    return error(401, "Invalid access token", service=65600)
                version = request.headers.get("LinkedIn-Version")
                if not version:
                    return error(400, "A version must be present. Please specify a version by adding the "
                                      "LinkedIn-Version header.", "VERSION_MISSING")
                if version in double.retired:
                    return error(426, f"Requested version {version}01 is not active", "NONEXISTENT_VERSION")
                if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
                    return error(400, "Restli protocol version 2.0.0 is required", "BAD_REQUEST")
                if double.daily_limit is not None:
                    if double._used >= double.daily_limit:
                        return error(429, "Resource level throttle APPLICATION DAY limit for calls to this "
                                          "resource is reached.", "TOO_MANY_REQUESTS", 101)
                    double._used += 1
            return None

        @app.after_request
        def log(response):
            with double._lock:
                double.requests.append({"method": request.method, "path": request.path,
                                        "args": request.args.to_dict(), "status": response.status_code})
            return response

        def window() -> tuple[int, int]:
            start = max(int(request.args.get("start") or 0), 0)
            count = min(max(int(request.args.get("count") or 10), 1), MAX_COUNT)
            return start, count

        def page(items: list[bytes], start: int, count: int) -> Response:
            paging = {"start": start, "count": count, "links": [], "total": len(items)}
            chosen = items[start:start + count]
            return answer(b'{"paging":' + _compact(paging) + b',"elements":[' + b",".join(chosen) + b"]}")

        @app.get("/rest/posts")
        def posts():
            if request.args.get("q") != "author" or request.args.get("sortBy", "LAST_MODIFIED") != "LAST_MODIFIED":
                return error(400, "only the author finder sorted by LAST_MODIFIED is replayed", "BAD_REQUEST")
            if request.args.get("author") != double.organization:
                return error(403, "Not enough permissions to access: partnerApiPostsExternal.FINDER-author."
                                  "20241101", "ACCESS_DENIED", 100)
            start, count = window()
            with double._lock:
                items = [i.text for i in double.listing()]
            return page(items, start, count)

        @app.get("/rest/posts/<path:urn>")
        def post(urn):
            with double._lock:
                item = double.posts.get(urn)
            if item is None:
                return error(404, f"Not Found: {urn}", "NOT_FOUND")
            return answer(item.text)

        @app.get("/rest/<any(images, videos):family>/<path:urn>")
        def media_entity(family, urn):
            ext = "jpg" if family == "images" else "mp4"
            known = {u for i in double.posts.values() for u in _media_in(i.text)}
            if urn not in known:
                return error(404, f"Not Found: {urn}", "NOT_FOUND")
            name = urn.rsplit(":", 1)[1]
            return answer({"id": urn, "owner": double.organization, "status": "AVAILABLE",
                           "downloadUrl": f"{request.host_url}media/{name}.{ext}",
                           "downloadUrlExpiresAt": int(time.time() * 1000) + 3600_000})

        @app.get("/media/<name>")
        def media_file(name):
            kind = "image/jpeg" if name.endswith(".jpg") else "video/mp4"
            return Response(b"\xff\xd8\xff\xe0 linkedin double " + name.encode(), content_type=kind)

        @app.get("/rest/socialActions/<path:urn>/comments")
        def comments(urn):
            start, count = window()
            if urn in double.deleted:
                return error(404, f"Not Found: {urn}", "NOT_FOUND")
            with double._lock:
                items = list(double.comments.get(urn, []))
            return page(items, start, count)

        @app.get("/rest/organizations/<number>")
        def organization(number):
            if f"urn:li:organization:{number}" != double.organization:
                return error(403, "Not enough permissions to access: organizations.GET.20241101", "ACCESS_DENIED", 100)
            return answer({"id": int(number), "localizedName": double.name, "vanityName": double.name.lower(),
                           "$URN": double.organization})

        @app.get("/rest/organizationAcls")
        def acls():
            element = {"roleAssignee": "urn:li:person:DT2dEpUrPf", "state": "APPROVED", "role": "ADMINISTRATOR",
                       "organization": double.organization}
            return answer({"paging": {"count": 10, "start": 0, "links": []}, "elements": [element]})

        return app


def _media_in(text: bytes) -> list[str]:
    """The media URNs a served post names (any bytes: hostile posts are served too)."""
    try:
        content = json.loads(text).get("content")
    except (ValueError, AttributeError, RecursionError):
        return []
    content = content if isinstance(content, dict) else {}
    media = content.get("media") if isinstance(content.get("media"), dict) else {}
    multi = content.get("multiImage") if isinstance(content.get("multiImage"), dict) else {}
    images = multi.get("images") if isinstance(multi.get("images"), list) else []
    found = [media.get("id")] + [i.get("id") for i in images if isinstance(i, dict)]
    return [u for u in found if isinstance(u, str)]


def serve(double: LinkedInDouble, host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve ``double`` in a daemon thread; port 0 picks a free one."""
    return Running(double.create_app(), host, port, name="linkedin-double")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay LinkedIn organization posts and comments over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--token", default=TOKEN)
    parser.add_argument("--daily-limit", type=int, default=None)
    args = parser.parse_args(argv)
    double = LinkedInDouble(token=args.token, daily_limit=args.daily_limit)
    with Running(double.create_app(), args.host, args.port, name="linkedin-double", quiet=False) as server:
        print(f"LinkedIn replay double on {server.url} ({double.organization}, token {args.token})", flush=True)
        wait_forever()


if __name__ == "__main__":
    main()
