"""The Bluesky source's second look at the newest items: edits, deletions and replies by others.

Split from :mod:`.bluesky` (the cursor and the catch-up). After the catch-up, each poll reads the
newest ``recheck`` feed items (the top pages this poll read already are reused) and compares them
with ``state["recent"]``: ``{id: [cid, feed position (ISO), post uri, replies seen]}``.

* a known item with another ``cid`` is a changed record: a new version (``version`` = the cid,
  ``edited_at`` = the post's ``indexedAt``);
* a known item within the window's time range that the window no longer holds is asked for with
  ``app.bsky.feed.getPosts`` (25 URIs per call): a post it does not return is a
  :class:`~.base.Deletion`, and so is a repost of such a post; a repost missing while its post is
  still there was withdrawn: a deletion too. A post still returned (hidden by a filter, say) is
  left alone;
* with ``include_thread_replies``, an own post whose ``replyCount`` grew is read with
  ``app.bsky.feed.getPostThread?uri=&depth=`` and the replies by other accounts become messages
  (``reply``; their ``in_reply_to``/``thread_id`` from their own records). ``#notFoundPost`` and
  ``#blockedPost`` nodes are skipped; ``state["replies"]`` (bounded) keeps the ids already emitted.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timezone

from ..failures import RETRY, Failed, Failure
from ..message import parse_iso
from .base import Deletion, Page, captured
from .bluesky_post import item_key, post_to_message, records_to_messages, sort_time
from .bluesky_xrpc import json_or_none as _json, member, thread_nodes, whole_object
from .jsonitems import Unreadable
from .rest import PageRequest, Record

GET_POSTS_MAX = 25
MAX_REPLIES_KEPT = 1000


def record_key(record: Record) -> str:
    """The message id of a feed record; an unreadable one is known by its bytes' hash."""
    return item_key(record.value) or "sha256:" + hashlib.sha256(record.raw).hexdigest()


def post_of(value) -> dict:
    post = value.get("post") if isinstance(value, dict) else None
    return post if isinstance(post, dict) else {}


def entry_of(record: Record, fallback: datetime) -> list:
    """What ``state["recent"]`` keeps of a stored feed item."""
    post = post_of(record.value)
    cid = post.get("cid") if isinstance(post.get("cid"), str) else ""
    uri = post.get("uri") if isinstance(post.get("uri"), str) else ""
    when = (sort_time(record.value) if isinstance(record.value, dict) else None) or fallback
    return [cid, when.isoformat(), uri, 0]


def thread_records(body: bytes) -> list[Record]:
    """A getPostThread answer's posts (parents, the post, replies) as records of their exact bytes."""
    thread = member(whole_object(body), "thread")
    if thread is None:
        return []
    records = []
    for raw, value, _ in thread_nodes(thread):
        if isinstance(value, Unreadable):
            records.append(Record(value, raw))
        elif isinstance(value, dict) and isinstance(value.get("post"), dict):
            post = member(raw, "post")
            records.append(Record(value["post"], post))
    return records


class RecheckMixin:
    """``_recheck`` for :class:`.bluesky.BlueskySource` (uses its ``_feed_page``, ``request``, ``_fetched``)."""

    def _window(self, state: dict, want: int):
        """The newest ``want`` feed items as (response, record), and whether that is the whole feed."""
        found, cursor = [], ""
        while len(found) < want:
            if cursor not in self._fetched:
                if self._calls >= self.max_pages:
                    return None, False
                self._calls += 1
                self._fetched[cursor] = self._feed_page(state, cursor)
            response, records, cursor = self._fetched[cursor]
            found += [(response, record) for record in records]
            if not cursor or not records:
                return found, True
        return found[:want], False

    def _recheck(self, state: dict):
        want = self.options["recheck"] or self.options["page_size"]  # (only thread replies: one page)
        window, complete = self._window(state, want)
        if window is None:
            return
        now = datetime.now(timezone.utc)
        recent = {key: list(entry) for key, entry in (state.get("recent") or {}).items()}
        edited, in_window = [], {}
        for response, record in window:
            key = record_key(record)
            in_window[key] = record
            old, post = recent.get(key), post_of(record.value)
            cid = post.get("cid")
            if not old or not old[0] or not isinstance(cid, str) or not cid or cid == old[0]:
                continue
            messages, _ = records_to_messages([record], self.name, response.url, now)
            for message in captured(messages, response):
                indexed = _indexed_at(post) or now
                edited.append(replace(message, version=cid, edited_at=indexed))
            old[0] = cid
        deletions = self._vanished(recent, in_window, window, complete, now) if self.options["recheck"] else []
        for deletion in deletions:
            recent.pop(deletion.id, None)
        replies, state = self._thread_replies(state, recent, window)
        before, state = state.get("recent") or {}, {**state, "recent": recent}
        if edited or deletions or replies or recent != before:
            edited.sort(key=lambda m: (m.edited_at, m.id))
            yield Page(edited + replies, json.loads(json.dumps(state)), url=window[0][0].url if window else "",
                       deletions=deletions)

    def _vanished(self, recent: dict, in_window: dict, window: list, complete: bool, now: datetime) -> list[Deletion]:
        times = [t for t in (sort_time(r.value) for _, r in window if isinstance(r.value, dict)) if t]
        oldest = None if complete or not times else min(times)
        missing = [key for key, entry in recent.items()
                   if key not in in_window and entry[2] and (oldest is None or parse_iso(entry[1]) >= oldest)]
        if not missing:
            return []
        uris = sorted({recent[key][2] for key in missing})
        returned, url = set(), ""
        for start in range(0, len(uris), GET_POSTS_MAX):
            if self._calls >= self.max_pages:
                return []  # confirm next poll
            self._calls += 1
            request = PageRequest(f"{self.xrpc}/app.bsky.feed.getPosts", {"uris": uris[start:start + GET_POSTS_MAX]})
            response = self.request(request, f"GET app.bsky.feed.getPosts ({len(request.params['uris'])} posts)")
            url = response.url
            posts = _json(response).get("posts") if isinstance(_json(response), dict) else None
            returned |= {p.get("uri") for p in posts or [] if isinstance(p, dict)}
        deletions = []
        for key in missing:
            post_uri, share = recent[key][2], key != recent[key][2]
            if post_uri not in returned:
                reason = ("gone from the author feed; app.bsky.feed.getPosts no longer returns the "
                          + ("reposted post" if share else "post"))
            elif share:
                reason = "repost withdrawn: gone from the author feed while the post itself still exists"
            else:
                continue
            deletions.append(Deletion(id=key, reason=reason, at=now, url=url))
        return deletions

    def _thread_replies(self, state: dict, recent: dict, window: list):
        """Replies by others to own posts in the window whose reply count grew."""
        if not self.options["include_thread_replies"]:
            return [], state
        seen = list(state.get("replies") or [])
        known, found = set(seen), []
        for _, record in window:
            key, post = record_key(record), post_of(record.value)
            entry, count = recent.get(key), post.get("replyCount")
            if entry is None or key != entry[2] or type(count) is not int or count <= entry[3]:
                continue  # unknown, a repost, or nothing new
            if self._calls >= self.max_pages:
                break
            self._calls += 1
            request = PageRequest(f"{self.xrpc}/app.bsky.feed.getPostThread",
                                  {"uri": key, "depth": str(self.options["thread_depth"]), "parentHeight": "0"})
            what = f"GET app.bsky.feed.getPostThread {key}"
            response = self.request(request, what)
            try:
                records = thread_records(response.content)
            except ValueError as exc:  # ParseError: an answer unreadable as a whole
                raise Failed(Failure(RETRY, f"{what}: unreadable response ({exc})", url=response.url)) from exc
            records = [r for r in records
                       if isinstance(r.value, dict) and record_key(r) not in known and record_key(r) != key
                       and (r.value.get("author") or {}).get("did") != state["did"]]
            messages, _ = records_to_messages(records, self.name, response.url, datetime.now(timezone.utc),
                                              normalise=post_to_message)
            messages = [m for m in captured(messages, response) if m.kind == "reply"]
            found += messages
            known |= {m.id for m in messages}
            seen += [m.id for m in messages]
            entry[3] = count
        return found, {**state, "replies": seen[-MAX_REPLIES_KEPT:]}


def _indexed_at(post: dict) -> datetime | None:
    try:
        return parse_iso(post["indexedAt"])
    except (KeyError, TypeError, ValueError):
        return None
