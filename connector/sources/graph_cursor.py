"""The Graph sources' cursor: new items from a newest-first listing, and a re-check window for
edits, new comments and deletions.

**New items.** Graph lists a page's posts (an account's media) newest first, and offers no
oldest-first order. A poll walks ``?since=<watermark>`` newest to oldest, following
``paging.next``, and stops at the first page holding only items at or below the watermark. The watermark only
moves when a walk is complete, so the cursor holds two parts::

    since, since_ids   the newest creation time (unix seconds) of a completed walk, and the ids
                       created in that second (two posts in one second: the second is not skipped,
                       the first not repeated)
    walk               a walk under way: {top, top_ids: the newest item it met; until, until_ids:
                       the oldest item stored so far}

Each page is yielded with ``walk`` moved to its oldest item. A walk cut short (``max_pages``, a
failure, a crash) resumes at the next poll with ``until=<walk.until>``: Graph's time-based paging,
which does not depend on a cursor string that may have expired; the ids at the boundary second
are filtered out. Once a walk reaches the watermark (or the listing's end), ``since`` becomes its
``top``. So nothing is skipped, and a crash repeats at most the page in flight (which the store
deduplicates). ``since`` and ``until`` are sent one second wide, so it does not matter whether
the server takes them inclusive or not; a server that ignores them costs pages, not correctness:
the walk filters and stops by itself. Items are stored newest page first; within a page oldest first.

**Re-check window.** Items created within ``recheck_days`` are remembered in ``recent``
(``{id: {"t": created, "v": version, "h": content key, "c": {comment id: created}, "cf": floor}}``,
at most :data:`MAX_RECENT` items and :data:`MAX_COMMENTS` comments each, the newest kept; a
comment older than ``cf`` was seen and forgotten). After a complete walk every poll lists the
window again (``since=<now - recheck_days>``) and, per remembered item, oldest first:

* an **edit**: the platform's :meth:`edit_of` says whether what a reader sees changed (Facebook:
  the text, with ``updated_time`` as the version; a post's ``updated_time`` alone also moves on
  every new comment, so it is not an edit by itself);
* its **comments** (``comments`` option): all re-read, those not remembered are emitted;
* a remembered comment that is no longer listed, and a remembered item that is no longer listed,
  are asked for by id: only when Graph answers error #100/33 ("does not exist") is a
  :class:`~.base.Deletion` reported (a short or reordered listing is not a deletion), at most
  :data:`MAX_CONFIRM` checks per poll, the rest at the next one.

Each item's findings are one page (its state valid once they are stored); deletions of items come
last. Malformed items are quarantined once: their ids are kept in ``held`` (bounded).
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import ClassVar, Iterator
from urllib.parse import urljoin

from ..message import Message, Quarantined, iso
from .base import Deletion, Page, captured
from .graph_text import created_ts, item_id, next_page, ts_of
from .rest import PageRequest, Paginator, Record

MAX_RECENT = 200     # items remembered for the re-check (a page posting 25 a day for a week fits)
MAX_COMMENTS = 500   # comments remembered per item (older ones: only their floor, "cf")
MAX_HELD = 200       # ids of quarantined items, not quarantined again
MAX_CONFIRM = 25     # deletion checks (one GET each) per poll


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _next_url(response) -> str | None:
    return next_page(response.content)


class GraphPaginator(Paginator):
    """Graph's ``paging.next`` URL, read off the bytes (see :func:`.graph_text.next_page`)."""

    def next(self, response, records, request):
        link = _next_url(response)
        return PageRequest(urljoin(response.url, link)) if link else None


def _advance(walk: dict | None, seen: list[tuple[int, str]]) -> dict | None:
    """``walk`` after a page whose stored items were ``seen`` ((created, id) pairs)."""
    if not seen:
        return walk
    newest, oldest = max(t for t, _ in seen), min(t for t, _ in seen)
    walk = dict(walk) if walk else {"top": newest, "top_ids": [], "until": oldest, "until_ids": []}
    if oldest < walk["until"]:
        walk["until"], walk["until_ids"] = oldest, []
    for t, key in seen:
        if t == walk["top"] and key not in walk["top_ids"]:
            walk["top_ids"] = [*walk["top_ids"], key]
        if t == walk["until"] and key not in walk["until_ids"]:
            walk["until_ids"] = [*walk["until_ids"], key]
    return walk


def _finish(state: dict) -> dict:
    """``state`` once its walk is complete: the watermark moves to the walk's newest item."""
    walk, since = state.get("walk"), state.get("since")
    state = {**state, "walk": None}
    if walk is None:
        return state
    if since is None or walk["top"] > since:
        return {**state, "since": walk["top"], "since_ids": walk["top_ids"]}
    if walk["top"] == since:
        return {**state, "since_ids": list(dict.fromkeys([*state["since_ids"], *walk["top_ids"]]))}
    return state


def _newest(entries: dict, limit: int) -> dict:
    keep = sorted(entries.items(), key=lambda kv: (kv[1] if isinstance(kv[1], int) else kv[1]["t"], kv[0]))
    return dict(keep[-limit:])


class GraphCursor:
    """``poll()`` for a Graph listing (see the module docstring); mixed into :class:`.graph.GraphSource`.

    A platform states ``edge`` and ``created_field``, and implements ``listing_fields()``,
    ``comment_request(item_id)``, ``item_messages()``, ``comment_messages()`` and ``edit_of()``.
    """

    edge: ClassVar[str] = ""
    created_field: ClassVar[str] = "created_time"
    gone_reason: ClassVar[str] = "gone from the listing within the re-check window"
    comment_gone_reason: ClassVar[str] = "gone from the comments within the re-check window"

    # -- what a platform states -----------------------------------------------------------

    def listing_fields(self) -> str:
        raise NotImplementedError

    def comment_request(self, parent_id: str) -> PageRequest:
        raise NotImplementedError

    def item_messages(self, records: list[Record], page_url: str,
                      fetched_at: datetime) -> tuple[list[Message], list[Quarantined]]:
        raise NotImplementedError

    def comment_messages(self, records: list[Record], page_url: str, fetched_at: datetime,
                         parent_id: str) -> tuple[list[Message], list[Quarantined]]:
        raise NotImplementedError

    def edit_of(self, message: Message, value: dict, entry: dict) -> Message | None:
        """The new version when ``message`` (as listed now) differs from ``entry`` (as remembered)."""
        return None

    def content_key(self, message: Message) -> str:
        return ""

    # -- polling --------------------------------------------------------------------------

    def _window_start(self) -> int | None:
        days = self.options["recheck_days"]
        return ts_of(self.clock() - timedelta(days=days)) if days else None

    def poll(self, state: dict | None) -> Iterator[Page]:
        state = json.loads(json.dumps(state or {}))  # never touch the caller's dict
        if state.get("owner") != self.owner:  # a first poll, or the channel now follows another account
            start = self._window_start() if self.options["initial"] == "recent" else None
            state = {"owner": self.owner, "since": start, "since_ids": [], "walk": None, "recent": {}, "held": []}
        state, complete = yield from self._new_items(state)
        if complete and self.options["recheck_days"]:
            yield from self._recheck(state)

    def _listing(self, params: dict) -> PageRequest:
        return PageRequest(self.url(), {"fields": self.listing_fields(), "limit": self.options["page_size"], **params})

    def _new_items(self, state: dict):
        """Pages of items newer than the watermark (a generator returning ``(state, complete)``)."""
        since, since_ids, walk = state["since"], set(state["since_ids"]), state.get("walk")
        params = {"since": since - 1} if since is not None else {}
        if walk:
            params["until"] = walk["until"] + 1
        what = f"GET {self.edge} of {self.owner_label} {self.owner}"
        for response, records in self.walk(self._listing(params), self.paginator(), what):
            fetched_at = _utcnow()
            held, fresh, seen, old, dated = set(state["held"]), [], [], 0, 0
            for record in records:
                t, key = created_ts(record.value, self.created_field), item_id(record.value)
                dated += t is not None
                if t is not None and since is not None and (t < since or (t == since and key in since_ids)):
                    old += 1  # stored by an earlier walk
                    continue
                if walk and t is not None and (t > walk["until"] or (t == walk["until"] and key in walk["until_ids"])):
                    continue  # stored by this walk before it was cut short
                if t is not None:
                    seen.append((t, key))
                if key not in held:
                    fresh.append(record)
            messages, quarantined = self.item_messages(fresh, response.url, fetched_at)
            walk = _advance(walk, seen)
            before = state
            state = {**state, "walk": walk, "recent": self._remember(state["recent"], messages),
                     "held": self._hold(state["held"], quarantined)}
            # newest first: a page of nothing but stored items is the end (one out of order does not stop the walk)
            last = (dated > 0 and old == dated) or _next_url(response) is None
            if last:
                state = _finish(state)
            messages.sort(key=lambda m: (m.created_at, m.id))
            if messages or quarantined or state != before:
                yield Page(captured(messages, response), json.loads(json.dumps(state)), quarantined, url=response.url)
            if last:
                return state, True
        return state, False

    def _remember(self, recent: dict, messages: list[Message]) -> dict:
        start = self._window_start()
        if start is None:
            return recent
        added = {m.id: {"t": ts_of(m.created_at), "v": m.version, "h": self.content_key(m), "c": {}, "cf": 0}
                 for m in messages if ts_of(m.created_at) >= start and m.id not in recent}
        return _newest({**recent, **added}, MAX_RECENT) if added else recent

    @staticmethod
    def _hold(held: list, quarantined: list[Quarantined]) -> list:
        ids = [q.item_id for q in quarantined if q.item_id]
        return list(dict.fromkeys([*held, *ids]))[-MAX_HELD:] if ids else held

    # -- the re-check window --------------------------------------------------------------

    def _recheck(self, state: dict) -> Iterator[Page]:
        start = self._window_start()
        recent = {k: v for k, v in state["recent"].items() if v["t"] >= start}
        listed: dict[str, tuple[Record, object]] = {}
        oldest, complete = None, False
        what = f"GET {self.edge} of {self.owner_label} {self.owner} (re-check)"
        if recent:
            for response, records in self.walk(self._listing({"since": start - 1}), self.paginator(), what):
                for record in records:
                    key, t = item_id(record.value), created_ts(record.value, self.created_field)
                    if key in recent:
                        listed[key] = (record, response)
                    oldest = t if t is not None and (oldest is None or t < oldest) else oldest
                if _next_url(response) is None:
                    complete = True
        self._confirms = 0
        for key in sorted(listed, key=lambda k: (recent[k]["t"], k)):
            record, response = listed[key]
            entry, messages, quarantined, deletions, url = dict(recent[key]), [], [], [], response.url
            found, _ = self.item_messages([record], response.url, _utcnow())
            edited = self.edit_of(found[0], record.value, entry) if found else None
            if edited is not None:
                messages += captured([edited], response)
                entry["v"], entry["h"] = edited.version, self.content_key(edited)
            if self.options["comments"]:
                entry, new, held, deletions, url = self._comments(key, entry, url)
                messages, quarantined = messages + new, quarantined + held
            if entry != recent[key]:
                recent[key] = entry
                state = {**state, "recent": dict(recent)}
                yield Page(messages, state, quarantined, url=url, deletions=deletions)
        # not listed: gone, or (a listing cut short by max_pages) older than what was listed
        reached = [k for k in recent if complete or (oldest is not None and recent[k]["t"] >= oldest)]
        vanished = [k for k in reached if k not in listed]
        deletions = []
        for key in sorted(vanished, key=lambda k: recent[k]["t"]):
            if self._confirms >= MAX_CONFIRM:
                break
            self._confirms += 1
            gone, asked = self.gone(key)
            if gone:
                deletions.append(Deletion(key, self.gone_reason, self.clock(), asked))
                recent.pop(key)
        if deletions or recent != state["recent"]:
            yield Page([], {**state, "recent": recent}, deletions=deletions,
                       url=deletions[-1].url if deletions else "")

    def _comments(self, parent_id: str, entry: dict, url: str):
        """(entry, new comments, newly quarantined, confirmed deletions, last URL) of one item's comments."""
        known, floor = dict(entry["c"]), entry["cf"]
        listed, new, held, complete = {}, [], [], False
        what = f"GET comments of {parent_id}"
        for response, records in self.walk(self.comment_request(parent_id), GraphPaginator(), what):
            url = response.url
            messages, quarantined = self.comment_messages(records, response.url, _utcnow(), parent_id)
            fresh = []
            for message in messages:
                t = ts_of(message.created_at)
                listed[message.id] = t
                if message.id not in known and t > floor:
                    fresh.append(message)
            new += captured(fresh, response)
            for item in quarantined:
                if item.item_id not in known:
                    held.append(item)
                listed.setdefault(item.item_id, floor + 1)  # remembered: not quarantined again
            if _next_url(response) is None:
                complete = True
        deletions = []
        if complete:
            for key in sorted(k for k in known if k not in listed):
                if self._confirms >= MAX_CONFIRM:
                    listed[key] = known[key]  # checked at the next poll
                    continue
                self._confirms += 1
                gone, asked = self.gone(key)
                if gone:
                    deletions.append(Deletion(key, self.comment_gone_reason, self.clock(), asked))
                else:
                    listed[key] = known[key]
        else:
            listed = {**known, **listed}
        listed.pop("", None)
        kept = _newest(listed, MAX_COMMENTS)
        dropped = [t for k, t in listed.items() if k not in kept]
        entry = {**entry, "c": kept, "cf": max([floor, *dropped])}
        new.sort(key=lambda m: (m.created_at, m.id))
        return entry, new, held, deletions, url


def version_edit(message: Message, edited_at: datetime) -> Message:
    """``message`` as an edit made at ``edited_at``: the same id, the edit time as its version."""
    return replace(message, version=iso(edited_at), edited_at=edited_at)
