"""The recorded data behind the X double: users, their posts, media, and X's timeline semantics.

Split from :mod:`.x` (HTTP, auth, rate limits, faults). :class:`Replay` loads the pages named in
``fixtures/x/replay.json`` (recorded X API v2 pages, and pages derived from the API reference),
keeps every post as the exact JSON text it had there, and answers "which posts does this timeline
request get" as X does: newest first, ``since_id``/``until_id`` exclusive, ``max_results`` (5 to
100), ``exclude=replies,retweets``, an opaque ``pagination_token`` towards older posts. A
timeline shows each post's newest version only (the last id of its ``edit_history_tweet_ids``).

Tests change the data: :meth:`Replay.add` publishes a post, :meth:`Replay.edit` edits one (a new
post id whose edit history starts with the original's), :meth:`Replay.delete` removes a post and
all its versions, :meth:`Replay.protect` makes a post answer "not authorized" when referenced,
:meth:`Replay.set_text` serves given bytes for a post (malformed-item tests).
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "x"
EPOCH_MS = 1288834974657
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
NOT_AUTHORIZED = "https://api.twitter.com/2/problems/not-authorized-for-resource"
_WS = re.compile(r"[ \t\n\r]*")


@dataclass
class Post:
    id: str
    text: str  # the JSON text served, verbatim
    obj: dict  # parsed ({} when the text is deliberately broken)
    owner: str  # the user id whose timeline holds it

    @property
    def key(self) -> int:
        return int(self.id)

    @property
    def history(self) -> list[str]:
        return list(self.obj.get("edit_history_tweet_ids") or [self.id])


@dataclass
class User:
    id: str
    username: str
    obj: dict
    timeline: bool = False  # a user whose posts are served as a timeline


def _array_spans(text: str, key: str) -> list[str]:
    """The exact text of each item of the first array member called ``key`` in ``text``."""
    found = re.search(rf'"{re.escape(key)}"\s*:\s*\[', text)
    if not found:
        return []
    decoder, spans, i = json.JSONDecoder(), [], _WS.match(text, found.end()).end()
    while text[i] != "]":
        _, end = decoder.raw_decode(text, i)
        spans.append(text[i:end])
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return spans


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def not_found(value: str, parameter: str) -> dict:
    return {"value": value, "detail": f"Could not find tweet with {parameter}: [{value}].", "title": "Not Found Error",
            "resource_type": "tweet", "parameter": parameter, "resource_id": value, "type": NOT_FOUND}


def not_authorized(value: str, parameter: str) -> dict:
    return {"value": value, "detail": f"Sorry, you are not authorized to see the Tweet with {parameter}: [{value}].",
            "title": "Authorization Error", "resource_type": "tweet", "parameter": parameter, "resource_id": value,
            "type": NOT_AUTHORIZED}


class Replay:
    """The users and posts a double serves."""

    def __init__(self, data_dir: str | Path | None = None):
        self._lock = threading.RLock()
        self.users: dict[str, User] = {}
        self.posts: dict[str, Post] = {}
        self.media: dict[str, dict] = {}
        self.deleted: set[str] = set()
        self.protected: set[str] = set()
        folder = Path(data_dir or DEFAULT_DATA_DIR)
        for entry in json.loads((folder / "replay.json").read_text(encoding="utf-8"))["pages"]:
            self._load(folder / entry["file"], entry.get("user"))

    def _load(self, path: Path, owner: dict | None) -> None:
        text = path.read_text(encoding="utf-8")
        lines = [line for line in text.splitlines() if line.strip()] if path.suffix == ".jsonl" else [text]
        for page_text in lines:
            page = json.loads(page_text)
            includes = page.get("includes") or {}
            for user in includes.get("users") or []:
                self.users.setdefault(user["id"], User(user["id"], user["username"], user))
            if owner:
                self.users[owner["id"]] = User(owner["id"], owner["username"], owner, timeline=True)
            for media in includes.get("media") or []:
                self.media[media["media_key"]] = media
            for span in _array_spans(page_text, "tweets"):  # includes.tweets: referenced posts
                self._keep(span, timeline=False, owner=owner)
            for span in _array_spans(page_text, "data"):
                self._keep(span, timeline=True, owner=owner)

    def _keep(self, span: str, timeline: bool, owner: dict | None) -> None:
        obj = json.loads(span)
        author = obj.get("author_id") or (owner or {}).get("id") or ""
        if timeline and author in self.users:
            self.users[author].timeline = True
        if timeline or obj["id"] not in self.posts:
            self.posts[obj["id"]] = Post(obj["id"], span, obj, author)

    # -- reading ------------------------------------------------------------------------------

    def by_username(self, username: str) -> User | None:
        return next((u for u in self.users.values() if u.username.lower() == username.lower()), None)

    def find(self, post_id: str) -> Post | None:
        post = self.posts.get(post_id)
        if post is None or any(h in self.deleted for h in post.history):
            return None
        return post

    def timeline(self, user_id: str) -> list[Post]:
        """The user's posts as X's timeline shows them: newest versions only, newest first."""
        with self._lock:
            shown = [p for p in self.posts.values() if p.owner == user_id and self.find(p.id)
                     and p.history[-1] == p.id]
            return sorted(shown, key=lambda p: -p.key)

    def select(self, user_id: str, args) -> tuple[list[Post], bool]:
        """(the posts a timeline request with ``args`` gets, whether older ones remain)."""
        posts = self.timeline(user_id)
        exclude = set((args.get("exclude") or "").split(","))
        kinds = lambda p: {r.get("type") for r in p.obj.get("referenced_tweets") or []}  # noqa: E731
        if "replies" in exclude:
            posts = [p for p in posts if "replied_to" not in kinds(p)]
        if "retweets" in exclude:
            posts = [p for p in posts if "retweeted" not in kinds(p)]
        for name, keep in (("since_id", lambda p, v: p.key > v), ("until_id", lambda p, v: p.key < v),
                           ("pagination_token", lambda p, v: p.key < v)):
            value = args.get(name)
            if value:
                bound = self.token_bound(value) if name == "pagination_token" else int(value)
                posts = [p for p in posts if keep(p, bound)]
        size = int(args.get("max_results") or 10)
        return posts[:size], len(posts) > size

    @staticmethod
    def page_token(post: Post) -> str:
        # opaque to the client, as X's are ("7140dibdnow9c7btw3w3itbygz8uu5pbs45oy6erjc2ls")
        return "7140dibdnow9" + format(post.key, "x")

    @staticmethod
    def token_bound(token: str) -> int:
        if not token.startswith("7140dibdnow9"):
            raise ValueError(token)
        return int(token[len("7140dibdnow9"):], 16)

    def includes(self, posts: list[Post], parameter: str = "referenced_tweets.id") -> tuple[dict, list, list]:
        """X's ``includes`` of ``posts`` without its posts (users, media), the partial errors, and the
        referenced posts (earlier versions too) for ``includes.tweets``."""
        users, media, tweets, errors = {}, {}, {}, []
        for post in posts:
            obj = post.obj
            if obj.get("author_id") in self.users:
                users[obj["author_id"]] = self.users[obj["author_id"]].obj
            for key in (obj.get("attachments") or {}).get("media_keys") or []:
                if key in self.media:
                    media[key] = self.media[key]
            wanted = [r.get("id") for r in obj.get("referenced_tweets") or []] + post.history[:-1]
            for ref_id in wanted:
                found = self.find(ref_id)
                if ref_id in self.protected:
                    errors.append(not_authorized(ref_id, parameter))
                elif found is None:
                    if ref_id not in post.history:
                        errors.append(not_found(ref_id, parameter))
                elif ref_id not in tweets:
                    tweets[ref_id] = found
                    author = found.obj.get("author_id")
                    if author in self.users:
                        users[author] = self.users[author].obj
        found = {}
        for name, values in (("media", list(media.values())), ("users", list(users.values()))):
            if values:
                found[name] = values
        return found, errors, list(tweets.values())

    # -- changing -----------------------------------------------------------------------------

    def _new_id(self) -> str:
        highest = max((p.key for p in self.posts.values()), default=0)
        now = ((int(time.time() * 1000) - EPOCH_MS) << 22)
        return str(max(highest + 1, now))

    def add(self, obj: dict | str | bytes, username: str | None = None) -> str:
        """Publish a post as the user's newest; returns its id. A dict gets a fresh id, ``created_at``
        and edit history; text or bytes are served verbatim (their own id is the caller's business)."""
        with self._lock:
            user = self.by_username(username) if username else next(u for u in self.users.values() if u.timeline)
            new_id = self._new_id()
            if isinstance(obj, dict):
                obj = json.loads(json.dumps(obj))
                obj.update(id=new_id, created_at=_iso(datetime.now(timezone.utc)), edit_history_tweet_ids=[new_id])
                if "author_id" in obj:
                    obj["author_id"] = user.id
                if "conversation_id" in obj and not obj.get("referenced_tweets"):
                    obj["conversation_id"] = new_id
                text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            else:
                text = obj.decode("utf-8", "surrogateescape") if isinstance(obj, bytes) else obj
                obj = {}
            self.posts[new_id] = Post(new_id, text, obj, user.id)
            return new_id

    def set_text(self, post_id: str, text: str | bytes) -> None:
        with self._lock:
            post = self.posts[post_id]
            post.text = text.decode("utf-8", "surrogateescape") if isinstance(text, bytes) else text
            post.obj = {}

    def edit(self, post_id: str, text: str) -> str:
        """Edit a post: a new post id whose edit history starts with the original; returns the new id."""
        with self._lock:
            old = self.posts[post_id]
            new_id = self._new_id()
            history = old.history + [new_id]
            obj = dict(old.obj, id=new_id, text=text, created_at=_iso(datetime.now(timezone.utc)),
                       edit_history_tweet_ids=history)
            for version in history[:-1]:  # X shows every version the whole history
                earlier = self.posts[version]
                earlier.obj = dict(earlier.obj, edit_history_tweet_ids=history)
                earlier.text = json.dumps(earlier.obj, ensure_ascii=False, separators=(",", ":"))
            self.posts[new_id] = Post(new_id, json.dumps(obj, ensure_ascii=False, separators=(",", ":")), obj,
                                      old.owner)
            return new_id

    def delete(self, post_id: str) -> None:
        with self._lock:
            self.deleted.update(self.posts[post_id].history)

    def protect(self, post_id: str) -> None:
        with self._lock:
            self.protected.add(post_id)
