"""The recorded data behind the Graph double: Facebook pages and Instagram accounts, their posts
(media) and comments, with Graph's listing semantics.

Split from :mod:`.graph` (HTTP, auth, usage headers, faults). Items are kept as the exact JSON
text of the recordings (``fixtures/facebook/``, ``fixtures/instagram/``, named by each folder's
``replay.json``), so a client's raw bytes can be checked against them. Items added or changed by
a test are serialised compactly, as Graph does.

Listings are newest first (``created_time``/``timestamp``, then id), filtered by ``since`` and
``until`` (unix seconds, both inclusive) and paged by opaque ``after`` cursors. Facebook comments
with ``filter=stream`` are every comment and reply, chronological; Instagram comments are the
top-level ones, each with its ``replies`` inside (the stored text carries them).
"""
from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[2] / "fixtures"
_WS = re.compile(r"[ \t\n\r]*")


def graph_time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _unix(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()


def array_spans(text: str, key: str = "data") -> list[str]:
    """The exact text of each item of the top-level array ``key`` of a JSON object text."""
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


def cursor(item_id: str) -> str:
    return base64.urlsafe_b64encode(f"graph:{item_id}".encode()).decode().rstrip("=")


def uncursor(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().removeprefix("graph:")
    except (ValueError, UnicodeDecodeError):
        return ""


@dataclass
class Item:
    id: str
    text: str          # the JSON served, verbatim
    created: float     # unix seconds, for order and since/until
    owner: str         # the page or account (posts/media) or the post/media (comments)
    kind: str          # "post", "media", "comment"
    parent: str = ""   # the comment a reply answers
    obj: dict = field(default_factory=dict)


def _comment_key(obj: dict, post_id: str) -> str:
    """A recorded Facebook comment's Graph id; read without ``id``, it is in its permalink."""
    if obj.get("id"):
        return obj["id"]
    query = parse_qs(urlsplit(obj.get("permalink_url") or "").query)
    number = (query.get("reply_comment_id") or query.get("comment_id") or [""])[0]
    return f"{post_id.split('_')[-1]}_{number}"


class GraphReplay:
    """Pages, accounts and their items; ``listing()`` and ``comments()`` pick a request's items."""

    def __init__(self, root: str | Path | None = None):
        self._lock = threading.RLock()
        self.owners: dict[str, dict] = {}   # id -> {"kind": "page"|"instagram", "obj": {...}}
        self.items: dict[str, Item] = {}
        self._serial = 0
        root = Path(root or ROOT)
        for platform in ("facebook", "instagram"):
            manifest = root / platform / "replay.json"
            if manifest.exists():
                self._load(root / platform, json.loads(manifest.read_text(encoding="utf-8")), platform)

    def _load(self, folder: Path, manifest: dict, platform: str) -> None:
        for owner in manifest["owners"]:
            self.owners[owner["obj"]["id"]] = {"kind": platform, "obj": owner["obj"]}
            for name in owner["items"]:
                for span in array_spans((folder / name).read_text(encoding="utf-8")):
                    self._put(span, owner["obj"]["id"], "post" if platform == "facebook" else "media")
            for parent, name in owner.get("comments", {}).items():
                for span in array_spans((folder / name).read_text(encoding="utf-8")):
                    top = self._put(span, parent, "comment")
                    for reply in (top.obj.get("replies") or {}).get("data", []):  # Instagram: nested
                        self._put(_compact(reply), parent, "comment", parent=top.id)

    def _put(self, text: str, owner: str, kind: str, parent: str = "") -> Item:
        obj = json.loads(text)
        key = _comment_key(obj, owner) if kind == "comment" else obj["id"]
        when = obj.get("created_time") or obj.get("timestamp")
        item = Item(key, text, _unix(when), owner, kind, parent or self._reply_parent(obj, owner), obj)
        self.items[key] = item
        return item

    @staticmethod
    def _reply_parent(obj: dict, owner: str) -> str:
        if isinstance(obj.get("parent"), dict):
            return obj["parent"].get("id", "")
        query = parse_qs(urlsplit(obj.get("permalink_url") or "").query)
        if query.get("reply_comment_id") and query.get("comment_id"):
            return f"{owner.split('_')[-1]}_{query['comment_id'][0]}"
        return ""

    def platform(self, item_id: str) -> str:
        item = self.items.get(item_id)
        while item is not None and item.kind == "comment":
            item = self.items.get(item.owner)
        owner = self.owners.get(item.owner if item else item_id)
        return owner["kind"] if owner else ""

    # -- listings ---------------------------------------------------------------------------

    def listing(self, owner: str, args) -> tuple[list[Item], bool]:
        """(the page of posts/media a request gets, newest first; whether more follow)."""
        with self._lock:
            found = [i for i in self.items.values() if i.owner == owner and i.kind in ("post", "media")]
            found.sort(key=lambda i: (-i.created, _desc(i.id)))
            return self._page(found, args)

    def comments(self, parent: str, args) -> tuple[list[Item], bool]:
        """Facebook: top-level comments, or all with ``filter=stream``; Instagram: top-level ones."""
        with self._lock:
            stream = args.get("filter") == "stream" and self.platform(parent) == "facebook"
            found = [i for i in self.items.values() if i.kind == "comment" and i.owner == parent
                     and (stream or not i.parent)]
            found.sort(key=lambda i: (i.created, i.id))
            if args.get("order") == "reverse_chronological":
                found.reverse()
            return self._page(found, args)

    @staticmethod
    def _page(found: list[Item], args) -> tuple[list[Item], bool]:
        for bound, keep in (("since", lambda i, v: i.created >= v), ("until", lambda i, v: i.created <= v)):
            if args.get(bound):
                try:
                    value = float(args[bound])
                except ValueError:
                    continue
                found = [i for i in found if keep(i, value)]
        if args.get("after"):
            mark = uncursor(args["after"])
            ids = [i.id for i in found]
            found = found[ids.index(mark) + 1:] if mark in ids else []
        try:
            limit = max(1, min(int(args.get("limit") or 25), 100))
        except ValueError:
            limit = 25
        return found[:limit], len(found) > limit

    # -- changes a test makes ----------------------------------------------------------------

    def _new_id(self, owner: str, kind: str) -> str:
        self._serial += 1
        number = str(int(datetime.now(timezone.utc).timestamp() * 1000) * 1000 + self._serial)
        return f"{owner}_{number}" if kind == "post" else number

    def add(self, owner: str, obj: dict | str | bytes, when: datetime, parent: str = "",
            item_id: str | None = None) -> str:
        """Publish a post/medium (``owner`` a page or account) or a comment (``owner`` a post or
        medium; ``parent`` the comment a reply answers) at ``when``; returns its id.

        A dict gets its id, time and permalink; text or bytes are served verbatim under
        ``item_id`` (for malformed-item tests).
        """
        with self._lock:
            kind = "comment" if owner in self.items else ("post" if self.platform(owner) == "facebook" else "media")
            key = item_id or self._new_id(owner, kind)
            if not isinstance(obj, dict):
                text = obj.decode("utf-8", "surrogateescape") if isinstance(obj, bytes) else obj
                self.items[key] = Item(key, text, when.timestamp(), owner, kind, parent)
                return key
            obj = json.loads(json.dumps(obj))
            obj["id"] = key
            stamp = "created_time" if self.platform(owner) == "facebook" else "timestamp"
            obj[stamp] = graph_time(when)
            if parent and self.platform(owner) == "facebook":
                obj["parent"] = {"id": parent}
            if kind == "post":
                obj["permalink_url"] = f"https://www.facebook.com/{owner}/posts/{key.split('_')[-1]}/"
                obj.setdefault("updated_time", obj[stamp])
            if parent and self.platform(owner) == "instagram":
                self._nest_reply(parent, obj)
            elif kind == "comment" and self.platform(owner) == "instagram":
                obj.setdefault("media", {"id": owner})
            item = Item(key, _compact(obj), when.timestamp(), owner, kind, parent, obj)
            self.items[key] = item
            if kind == "comment" and self.platform(owner) == "facebook" and owner in self.items:
                self.touch(owner, when)  # a new comment moves the post's updated_time, as on Facebook
            return key

    def _nest_reply(self, parent: str, reply: dict) -> None:
        top = self.items[parent]
        obj = json.loads(top.text)
        obj.setdefault("replies", {"data": []})["data"].append(reply)
        top.text, top.obj = _compact(obj), obj

    def edit(self, item_id: str, changes: dict, when: datetime) -> None:
        """Change an item's fields; a Facebook post's ``updated_time`` becomes ``when``."""
        with self._lock:
            item = self.items[item_id]
            obj = {**json.loads(item.text), **changes}
            if "updated_time" in obj:
                obj["updated_time"] = graph_time(when)
            item.text, item.obj = _compact(obj), obj

    def touch(self, item_id: str, when: datetime) -> None:
        self.edit(item_id, {}, when)

    def delete(self, item_id: str) -> None:
        """Remove an item and what hangs under it (a post's comments, a comment's replies)."""
        with self._lock:
            item = self.items.pop(item_id)
            for other in list(self.items.values()):
                if other.owner == item_id or other.parent == item_id:
                    self.items.pop(other.id, None)
            if item.kind == "comment" and item.parent and item.parent in self.items:
                top = self.items[item.parent]
                obj = json.loads(top.text)
                if isinstance(obj.get("replies"), dict):
                    obj["replies"]["data"] = [r for r in obj["replies"]["data"] if r.get("id") != item_id]
                    top.text, top.obj = _compact(obj), obj


def _desc(value: str) -> tuple:
    return tuple(-ord(c) for c in value)


def _compact(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
