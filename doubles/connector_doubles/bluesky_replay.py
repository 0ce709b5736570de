"""The recorded data behind the Bluesky double: one account's author feed, posts, threads.

Split from :mod:`.bluesky` (HTTP, faults, rate limit, auth). :class:`Replay` loads the recorded
getAuthorFeed page (``fixtures/bluesky/f_autfeed.json``, 50 items of chriskenny.bsky.social),
the recorded getPostThread answer and the profile, keeps every feed item as the exact JSON text
it had in the recording, and answers with the AppView's semantics: newest first by ``sortAt``
(a repost's ``indexedAt``, else the earlier of a post's ``createdAt`` and ``indexedAt``),
``limit`` (default 50, at most 100), ``cursor`` = the ``sortAt`` of a page's last item (items
strictly older come next; a page with items always carries one, an empty page none),
``filter=posts_no_replies``. Tests publish, edit (a new ``cid``: a changed record), delete,
repost, break or reply to posts here.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "bluesky"
DEFAULT_LIMIT, MAX_LIMIT = 50, 100
_WS = re.compile(r"[ \t\n\r]*")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def sort_at(obj: dict) -> datetime:
    reason = obj.get("reason") or {}
    if reason.get("indexedAt"):
        return _parse(reason["indexedAt"])
    post = obj["post"]
    return min(_parse(post["indexedAt"]), _parse(post["record"]["createdAt"]))


def array_spans(text: str, key: str) -> list[str]:
    """The exact text of each item of the first top-level array ``key`` in a JSON text."""
    start = text.index(f'"{key}"')
    i = _WS.match(text, text.index("[", start) + 1).end()
    decoder, spans = json.JSONDecoder(), []
    while text[i] != "]":
        _, end = decoder.raw_decode(text, i)
        spans.append(text[i:end])
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return spans


def _dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def fake_cid(seed: str) -> str:
    return "bafyrei" + hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()[:52]


@dataclass
class Item:
    key: datetime  # sortAt
    id: str        # post uri, or post uri + "#repost"
    text: str      # the feed item's JSON text, served verbatim
    obj: dict      # parsed ({} when the text is deliberately broken)


class Replay:
    """The account and its feed; ``feed_page()`` answers one getAuthorFeed request."""

    def __init__(self, data_dir: str | Path | None = None):
        folder = Path(data_dir or DEFAULT_DATA_DIR)
        self._lock = threading.RLock()
        self._serial = itertools.count(1)
        feed_text = (folder / "f_autfeed.json").read_text(encoding="utf-8")
        self.items: list[Item] = []
        for span in array_spans(feed_text, "feed"):
            obj = json.loads(span)
            self.items.append(Item(sort_at(obj), self._item_id(obj), span, obj))
        self.profile = json.loads((folder / "a_profile.json").read_text(encoding="utf-8"))["profiles"][0]
        self.did, self.handle = self.profile["did"], self.profile["handle"]
        self.thread_text = (folder / "f_postthread.json").read_text(encoding="utf-8")
        self.deleted: set[str] = set()
        # every post ever served (a withdrawn repost's post still exists): uri -> view
        self.posts: dict[str, dict] = {i.obj["post"]["uri"]: i.obj["post"] for i in self.items}
        self.replies: dict[str, list[dict]] = {}  # post uri -> reply post views (by others)
        self.view_texts: dict[str, str] = {}  # post uri -> the post view getPosts serves verbatim (set_view_text)

    @staticmethod
    def _item_id(obj: dict) -> str:
        uri = obj.get("post", {}).get("uri", "")
        return f"{uri}#repost" if obj.get("reason") else uri

    # -- reading ----------------------------------------------------------------------------

    def feed(self) -> list[Item]:
        """The feed as served now, newest first."""
        with self._lock:
            return sorted(self.items, key=lambda i: (i.key, i.id), reverse=True)

    def feed_page(self, args) -> tuple[list[Item], str | None]:
        with self._lock:
            try:
                limit = int(args.get("limit") or DEFAULT_LIMIT)
            except ValueError:
                limit = -1
            if not 1 <= limit <= MAX_LIMIT:
                raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
            items = self.feed()
            if args.get("filter") == "posts_no_replies":
                items = [i for i in items if not i.obj or i.obj.get("reason")
                         or not i.obj["post"]["record"].get("reply")]
            if args.get("cursor"):
                bound = _parse(args["cursor"])
                items = [i for i in items if i.key < bound]
            page = items[:limit]
            return page, (_iso(page[-1].key) if page else None)

    def post_view(self, uri: str) -> dict | None:
        """The current post view of ``uri`` (a feed item's post, a reply, the recorded thread's post)."""
        with self._lock:
            if uri in self.deleted:
                return None
            for item in self.items:
                if item.obj and item.obj["post"]["uri"] == uri:
                    return item.obj["post"]
            for views in self.replies.values():
                for view in views:
                    if view["uri"] == uri:
                        return view
            thread = json.loads(self.thread_text)["thread"]
            return thread["post"] if thread["post"]["uri"] == uri else self.posts.get(uri)

    def thread(self, uri: str, depth: int) -> str | None:
        """A getPostThread answer's text: the recorded one verbatim, else built from the current posts."""
        with self._lock:
            recorded = json.loads(self.thread_text)["thread"]["post"]["uri"]
            if uri == recorded and not self.replies.get(uri):
                return self.thread_text
            view = self.post_view(uri)
            if view is None:
                return None
            return _dump({"thread": self._node(view, depth)})

    def _node(self, view: dict, depth: int) -> dict:
        replies = [self._node(r, depth - 1) for r in self.replies.get(view["uri"], [])] if depth > 0 else []
        return {"$type": "app.bsky.feed.defs#threadViewPost", "post": view, "replies": replies}

    # -- changing ---------------------------------------------------------------------------

    def _find(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    def template(self, kind: str = "post") -> dict:
        """A recorded feed item of ``kind`` (post, reply, share, images) to publish copies of."""
        for item in self.items:
            post, reason = item.obj["post"], item.obj.get("reason")
            if kind == "share" and reason or kind == "reply" and not reason and post["record"].get("reply") \
                    or kind == "post" and not reason and not post["record"].get("reply") and not post.get("embed") \
                    or kind == "images" and not reason and (post.get("embed") or {}).get("$type", "").startswith(
                        "app.bsky.embed.images"):
                return json.loads(item.text)
        raise KeyError(kind)

    def add_post(self, obj: dict | str | bytes | None = None, text: str | None = None,
                 at: datetime | None = None) -> str:
        """Publish a feed item as the newest; returns its id (the post uri, ``#repost`` for a repost).

        A dict gets a fresh rkey, cid and times (``text`` replaces its record text, facets dropped;
        ``at`` dates it in the past: a backdated post, placed in the feed by that time);
        text or bytes are served verbatim (malformed-item tests) under a fresh uri put into them
        where they hold ``{uri}``.
        """
        with self._lock:
            now = _now() + timedelta(milliseconds=next(self._serial))
            newest = max((i.key for i in self.items), default=now)
            now = max(now, newest + timedelta(milliseconds=1))
            now = at or now
            rkey = f"3zz{next(self._serial):010d}"
            if isinstance(obj, (str, bytes)):
                raw = obj.decode("utf-8", "surrogateescape") if isinstance(obj, bytes) else obj
                uri = f"at://{self.did}/app.bsky.feed.post/{rkey}"
                self.items.append(Item(now, uri, raw.replace("{uri}", uri), {}))
                return uri
            obj = json.loads(json.dumps(obj if obj is not None else self.template("post")))
            post = obj["post"]
            author = post["uri"].split("/")[2]
            post["uri"] = f"at://{author}/app.bsky.feed.post/{rkey}"
            post["indexedAt"] = _iso(now)
            post["record"]["createdAt"] = _iso(now)
            if text is not None:
                post["record"]["text"] = text
                post["record"].pop("facets", None)
            post["cid"] = fake_cid(_dump(post["record"]))
            if obj.get("reason"):
                obj["reason"]["indexedAt"] = _iso(now)
            item = Item(now, self._item_id(obj), _dump(obj), obj)
            self.items.append(item)
            self.posts[post["uri"]] = post
            return item.id

    def edit_post(self, item_id: str, text: str) -> str:
        """A changed record: new text (facets dropped), new cid and indexedAt; returns the cid."""
        with self._lock:
            item = self._find(item_id)
            post = item.obj["post"]
            post["record"]["text"] = text
            post["record"].pop("facets", None)
            post["cid"] = fake_cid(_dump(post["record"]) + str(next(self._serial)))
            post["indexedAt"] = _iso(max(_now(), _parse(post["indexedAt"]) + timedelta(milliseconds=1)))
            item.text = _dump(item.obj)
            return post["cid"]

    def delete_post(self, uri: str) -> None:
        """The post is deleted: gone from the feed (with its reposts) and from getPosts."""
        with self._lock:
            self.deleted.add(uri)
            self.items = [i for i in self.items if not (i.obj and i.obj["post"]["uri"] == uri) and i.id != uri]

    def withdraw_repost(self, item_id: str) -> None:
        """A repost undone: gone from the feed, the post itself stays."""
        with self._lock:
            self.items = [i for i in self.items if i.id != item_id]

    def set_text(self, item_id: str, text: str | bytes) -> None:
        """Serve ``text`` verbatim for an item from now on (its place in the feed kept)."""
        with self._lock:
            item = self._find(item_id)
            item.text = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else text
            item.obj = {}

    def set_view_text(self, uri: str, text: str | bytes) -> None:
        """Serve ``text`` verbatim as the post view of ``uri`` in getPosts answers (malformed-post tests)."""
        with self._lock:
            self.view_texts[uri] = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else text

    def view_text(self, uri: str) -> str | None:
        """The text getPosts serves for ``uri`` (None when it returns nothing for it)."""
        with self._lock:
            if uri in self.view_texts and uri not in self.deleted:
                return self.view_texts[uri]
            view = self.post_view(uri)
            return None if view is None else _dump(view)

    def add_reply(self, parent_uri: str, text: str, did: str = "did:plc:replier0000000000000000",
                  handle: str = "replier.bsky.social") -> str:
        """A reply by another account to ``parent_uri`` (not in the author feed); returns its uri."""
        with self._lock:
            parent = self.post_view(parent_uri)
            now = _now()
            rkey = f"3zr{next(self._serial):010d}"
            root = (parent["record"].get("reply") or {}).get("root") or {"uri": parent["uri"], "cid": parent["cid"]}
            record = {"$type": "app.bsky.feed.post", "createdAt": _iso(now), "langs": ["en"], "text": text,
                      "reply": {"parent": {"uri": parent["uri"], "cid": parent["cid"]}, "root": root}}
            view = {"uri": f"at://{did}/app.bsky.feed.post/{rkey}", "cid": fake_cid(_dump(record)),
                    "author": {"did": did, "handle": handle, "displayName": "A Replier", "labels": []},
                    "record": record, "replyCount": 0, "repostCount": 0, "likeCount": 0, "quoteCount": 0,
                    "indexedAt": _iso(now), "labels": []}
            self.replies.setdefault(parent_uri, []).append(view)
            parent["replyCount"] = parent.get("replyCount", 0) + 1
            for item in self.items:
                if item.obj and item.obj["post"]["uri"] == parent_uri:
                    item.text = _dump(item.obj)
            return view["uri"]
