"""Bluesky (AT Protocol): one account's posts, replies and reposts, edits and deletions.

``app.bsky.feed.getAuthorFeed`` lists an account's feed newest first and pages only backwards
(``cursor``); there is no "newer than" parameter. The cursor therefore works with a watermark
(``state["watermark"]``: the feed position, see :func:`.bluesky_post.sort_time`, of the newest
item stored) and a *descent* (``state["descent"]``), kept in the state so that a long catch-up
spreads over polls:

1. walk back from the top of the feed (``cursors[0] = ""``), noting each page's ``cursor``, until
   a page reaches below the watermark or the feed ends (a first ``initial: all`` poll reads the
   whole history, ``initial: latest`` only the newest page);
2. then emit the pages oldest first, each re-read by its cursor unless this poll has it already;
   each page's state has the watermark moved to its newest item and its cursor popped. A page
   re-read in a later poll that holds items at or below the watermark skips them (a deletion
   moved it down); one that no longer reaches the page emitted below it (a backdated post pushed
   its oldest item out) first has the gap read by its new next cursor.

A crash repeats at most the page being stored, and no item is skipped: every page between the
watermark and the descent's top is emitted before the watermark passes it. The top page of a
descent begun in an earlier poll is not re-read (posts may have come since): a new descent from
the top, down to the moved watermark, takes its place. At most ``max_pages`` requests per poll;
a catch-up longer than one poll reads its pages twice (down, then up again by their cursors).
``state["recent"]`` (the newest stored items: id -> ``[cid, position, post uri, replies seen]``)
skips items at the watermark already stored and is what edits and deletions are checked against.

Cursor state: ``{"actor", "did", "watermark": ISO time or null, "descent": null or {"cursors":
[cursor, ...] (newest page first, "" = the top), "done": walked down?, "below": cursor of the
page emitted last}, "recent": {...}, "replies": [ids of replies by others emitted]}``. Another
``actor`` starts afresh (the DID is resolved once per actor).

Edits and deletions: each poll (after the first) re-reads the newest ``recheck`` items (reusing
the top page when it was just read). A known item with another ``cid`` is a new version
(``version`` = the new cid, ``edited_at`` = its ``indexedAt``); a known item missing from that
window is confirmed with ``app.bsky.feed.getPosts``: a post it no longer returns is a
:class:`~.base.Deletion`, and so is a repost of it, or a repost gone while its post still exists
(the repost was withdrawn). Replies by others (``include_thread_replies``) are read with
``app.bsky.feed.getPostThread`` for own posts in that window whose ``replyCount`` grew
(:mod:`.bluesky_recheck`).

Normalising posts lives in :mod:`.bluesky_post`; rate-limit headers, XRPC error bodies and the
exact bytes of nested records in :mod:`.bluesky_xrpc`.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import marshmallow
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import RETRY, Failed, Failure, classify_exception
from ..media import MediaOptions, MediaPolicy
from ..message import Message, Quarantined
from .base import SOURCES, Page, ParseError, captured
from .bluesky_item import ItemMixin
from .bluesky_post import DID, HANDLE, post_to_message, records_to_messages, sort_time
from .bluesky_recheck import RecheckMixin, entry_of, record_key, thread_records
from .bluesky_xrpc import XrpcBudget, array_items, classify, json_or_none as _json, top_level_string, whole_object
from .jsonitems import item_value, split_member
from .rest import CallBudget, PageRequest, Record, RestSource, json_path

PUBLIC_APPVIEW = "https://public.api.bsky.app"
BLUESKY_MEDIA_HOSTS = ("cdn.bsky.app", "video.bsky.app", "video.cdn.bsky.app")
MAX_LIMIT = 100  # getAuthorFeed's maximum


def _actor(value: str) -> None:
    value = value.removeprefix("@")
    if not (DID.fullmatch(value) or HANDLE.fullmatch(value)):
        raise marshmallow.ValidationError("expected a handle like 'gemeente.bsky.social' or a DID like 'did:plc:...'")


class BlueskyOptions(MediaOptions):
    class Meta:
        unknown = marshmallow.RAISE

    media_hosts = fields.List(fields.Str(validate=MediaOptions._declared_fields["media_hosts"].inner.validate),
                              load_default=lambda: list(BLUESKY_MEDIA_HOSTS), metadata={
        "description": "hosts besides the channel's own that serve its media; default Bluesky's image CDN"
                       " and video hosts (`cdn.bsky.app`, `video.bsky.app`, `video.cdn.bsky.app`)"})
    actor = fields.Str(required=True, validate=_actor, metadata={
        "description": "the account: handle (`gemeente.bsky.social`) or DID; resolved once, the DID kept"
                       " in the cursor"})
    base_url = fields.Url(load_default=PUBLIC_APPVIEW, schemes={"http", "https"}, require_tld=False, metadata={
        "description": "the AppView read without credentials (public posts need none)"})
    pds_url = fields.Url(load_default="https://bsky.social", schemes={"http", "https"}, require_tld=False,
                         metadata={"description": "the account server for `identifier`/`app_password`; with"
                                                  " credentials all reads go through it"})
    identifier = fields.Str(load_default=None, allow_none=True, metadata={
        "description": "optional login (handle or DID) for `com.atproto.server.createSession`"})
    app_password = fields.Str(load_default=None, allow_none=True, metadata={
        "description": "app password for `identifier` (`${ENV}` only)"})
    include_replies = fields.Bool(load_default=True, metadata={"description": "also archive the account's replies"})
    include_reposts = fields.Bool(load_default=True, metadata={"description": "also archive reposts (kind `share`)"})
    include_thread_replies = fields.Bool(load_default=False, metadata={
        "description": "also archive replies by others to the account's recent posts (getPostThread)"})
    thread_depth = fields.Int(load_default=6, validate=validate.Range(1, 1000), metadata={
        "description": "how deep getPostThread reads replies to replies"})
    recheck = fields.Int(load_default=50, validate=validate.Range(0, 500), metadata={
        "description": "each poll re-reads the newest N items: a changed record (new cid) becomes a new"
                       " version, a vanished one a deletion"})
    page_size = fields.Int(load_default=MAX_LIMIT, validate=validate.Range(1, MAX_LIMIT), metadata={
        "description": "items per request (getAuthorFeed's maximum is 100)"})
    max_pages = fields.Int(load_default=20, validate=validate.Range(1, 1000), metadata={
        "description": "requests per poll at most; a longer catch-up goes on at the next poll"})
    initial = fields.Str(load_default="all", validate=validate.OneOf(["all", "latest"]), metadata={
        "description": "first poll: `all` history, or `latest` (the newest page only)"})

    @marshmallow.validates_schema
    def _pair(self, data, **kwargs):
        if bool(data.get("identifier")) != bool(data.get("app_password")):
            raise marshmallow.ValidationError("give both identifier and app_password, or neither")

    @marshmallow.post_load
    def tidy(self, data, **kwargs):
        data["base_url"] = data["base_url"].rstrip("/")
        data["pds_url"] = data["pds_url"].rstrip("/")
        data["actor"] = data["actor"].lstrip("@")
        return data


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@SOURCES.register
class BlueskySource(ItemMixin, RecheckMixin, RestSource):
    """Posts of one Bluesky account (posts, replies, reposts), edits as new versions, deletions."""

    kind = "bluesky"
    options_schema = BlueskyOptions
    records_path = "feed"
    # our own pace, as the recorded answers' RateLimit-Policy "3000;w=300" (the server's headers still rule)
    budget_calls, budget_period = 3000, 300.0

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: CallBudget | None = None):
        super().__init__(name, options, session, budget or XrpcBudget(self.budget_calls, self.budget_period))
        self.max_pages = self.options["max_pages"]
        self.host_url = self.options["pds_url"] if self.options["identifier"] else self.options["base_url"]
        self.xrpc = f"{self.host_url}/xrpc"
        self._jwt: str | None = None

    def __repr__(self) -> str:  # never the app password nor the session token
        return f"<BlueskySource {self.name!r} {self.host_url} {self.options['actor']}>"

    # -- HTTP ---------------------------------------------------------------------------------

    def headers(self) -> dict:
        headers = super().headers()
        if self._jwt:
            headers["Authorization"] = f"Bearer {self._jwt}"
        return headers

    def classify_response(self, response, what):
        return classify(response, what, self.options["actor"])

    def url(self, state):
        return f"{self.xrpc}/app.bsky.feed.getAuthorFeed"

    def params(self, state):
        params = {"actor": state["did"], "limit": str(self.options["page_size"])}
        if not self.options["include_replies"]:
            params["filter"] = "posts_no_replies"
        return params

    def request(self, page: PageRequest, what: str) -> requests.Response:
        """One GET; with credentials, a session first, and once more after ``ExpiredToken``."""
        if self.options["identifier"] and not self._jwt:
            self._login()
        try:
            return super().request(page, what)
        except Failed as failed:
            detail = failed.failure.detail if isinstance(failed.failure.detail, dict) else {}
            if not (self.options["identifier"] and detail.get("error") == "ExpiredToken"):
                raise
        self._jwt = None
        self._login()
        return super().request(page, what)

    def _login(self) -> None:
        what = f"POST com.atproto.server.createSession as {self.options['identifier']}"
        url = f"{self.options['pds_url']}/xrpc/com.atproto.server.createSession"
        self.budget.spend(what, url)
        try:
            response = self.session.post(url, json={"identifier": self.options["identifier"],
                                                    "password": self.options["app_password"]},
                                         headers={"Accept": "application/json"}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise Failed(classify_exception(exc, what)) from exc
        failure = self.classify_response(response, what)
        if failure is not None:
            raise Failed(failure)
        self.budget.observe(response)
        token = json_path(_json(response), "accessJwt")
        if not isinstance(token, str) or not token:
            raise Failed(Failure(RETRY, f"{what}: no accessJwt in the answer", url=url))
        self._jwt = token

    def _resolve(self) -> str:
        actor = self.options["actor"]
        if DID.fullmatch(actor):
            return actor
        what = f"GET com.atproto.identity.resolveHandle {actor}"
        response = self.request(PageRequest(f"{self.xrpc}/com.atproto.identity.resolveHandle",
                                            {"handle": actor}), what)
        did = json_path(_json(response), "did")
        if not isinstance(did, str) or not DID.fullmatch(did):
            raise Failed(Failure(RETRY, f"{what}: no DID in the answer", url=response.url))
        return did

    def media_policy(self, **settings) -> MediaPolicy:
        """Media from the channel's own host and ``media_hosts`` (by default Bluesky's CDN and video hosts)."""
        return MediaPolicy.for_channel(self.host_url, self.options, **settings)

    def check(self) -> list[Check]:
        actor = self.options["actor"]
        checks = [Check("settings", True, f"{self.host_url}, actor {actor}")]
        if self.options["identifier"]:
            try:
                self._login()
                checks += [Check("connection", True), Check("credentials", True, "session created")]
            except Failed as failed:
                connected = failed.failure.status is not None
                checks += [Check("connection", True)] if connected else []
                return checks + [Check("credentials" if connected else "connection", False, failed.failure.message)]
        request = PageRequest(f"{self.xrpc}/app.bsky.actor.getProfile", {"actor": actor})
        try:
            response = self.session.get(request.url, params=request.params, headers=self.headers(),
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            return checks + [Check("connection", False, classify_exception(exc).message)]
        if not self.options["identifier"]:
            checks.append(Check("connection", True, f"HTTP {response.status_code}"))
        failure = self.classify_response(response, "account lookup")
        if failure is not None and "credentials" in failure.message:
            return checks + [Check("credentials", False, failure.message)]
        found = json_path(_json(response), "did") if failure is None else None
        return checks + [Check("account", failure is None, failure.message if failure else f"{actor} ({found}) found")]

    # -- polling ------------------------------------------------------------------------------

    def _feed_page(self, state: dict, cursor: str, limit: int | None = None):
        """(response, records, next cursor) of the feed page at ``cursor`` ("" = the top)."""
        params = dict(self.params(state))
        if limit:
            params["limit"] = str(limit)
        if cursor:
            params["cursor"] = cursor
        what = f"GET app.bsky.feed.getAuthorFeed {self.options['actor']}"
        response = self.request(PageRequest(self.url(state), params), what)
        records = self.records(response, what)
        return response, records, top_level_string(response.content, "cursor") or ""

    def poll(self, state: dict | None):
        state = json.loads(json.dumps(state or {}))  # never touch the caller's dict
        actor = self.options["actor"]
        if state.get("actor") != actor or not state.get("did"):
            # a first poll, or the channel now follows another account: start afresh
            state = {"actor": actor, "did": self._resolve(), "watermark": None, "descent": None, "recent": {}}
        first_poll = state.get("watermark") is None and not state.get("descent")
        self._calls, self._fetched = 0, {}
        state = yield from self._catch_up(state, first_poll)
        if first_poll or state.get("descent") or self._calls >= self.max_pages:
            return  # nothing to compare with yet, or the catch-up goes on next time
        if self.options["recheck"] or self.options["include_thread_replies"]:
            yield from self._recheck(state)

    def _catch_up(self, state: dict, first_poll: bool):
        """Descend to the watermark, then emit oldest page first (see the module docstring)."""
        latest_only = first_poll and self.options["initial"] == "latest"
        while True:
            descent = state.get("descent") or {"cursors": [""], "done": False}
            mark = _time(state.get("watermark"))
            while not descent["done"]:
                if self._calls >= self.max_pages:
                    state = {**state, "descent": descent}
                    yield Page([], dict(state))  # the descent so far, for the next poll
                    return state
                cursor = descent["cursors"][-1]
                self._calls += 1
                try:
                    got = self._fetched[cursor] = self._feed_page(state, cursor)
                except Failed:
                    if len(descent["cursors"]) > 1:  # keep the way down walked so far
                        yield Page([], {**state, "descent": descent})
                    raise
                times = [t for t in (_sort_time(r.value) for r in got[1]) if t]
                if latest_only or not got[2] or not got[1] or got[2] in descent["cursors"] \
                        or (mark and times and min(times) < mark):  # (a repeated cursor would loop)
                    descent["done"] = True
                else:
                    descent["cursors"].append(got[2])
            while descent["cursors"]:
                cursor = descent["cursors"][-1]
                if cursor not in self._fetched:
                    if cursor == "":  # an earlier poll's top: newer posts may have come since
                        break
                    if self._calls >= self.max_pages:
                        state = {**state, "descent": descent}
                        yield Page([], dict(state))
                        return state
                    self._calls += 1
                    try:
                        self._fetched[cursor] = self._feed_page(state, cursor)
                    except Failed:
                        if state.get("descent") != descent:  # this poll's way down, not saved yet
                            yield Page([], {**state, "descent": descent})
                        raise
                response, records, following = self._fetched[cursor]
                if self._gap_below(state, descent, records, following):
                    descent["cursors"].append(following)  # read what lies between first
                    continue
                descent["cursors"].pop()
                descent["below"] = cursor
                page, state = self._emit(state, response, records, descent)
                yield page
            if not descent["cursors"]:
                return state
            state = {**state, "descent": None}  # a fresh descent from the top, down to the moved watermark

    @staticmethod
    def _gap_below(state: dict, descent: dict, records: list[Record], following: str) -> bool:
        """True when a page re-read by its cursor no longer reaches the page emitted below it.

        Its next cursor should be that page's cursor (``descent["below"]``). A post that came into
        its range since (a backdated one) pushes its oldest item out: then the page ends above the
        watermark with another next cursor, and the items in between are read first. (A deletion
        makes the page reach further down instead, to or below the watermark: nothing to read.)
        """
        mark, below = _time(state.get("watermark")), descent.get("below")
        times = [t for t in (_sort_time(r.value) for r in records) if t]
        return bool(mark and below and following and following != below and following not in descent["cursors"]
                    and times and min(times) > mark)

    def _wanted(self, value) -> bool:
        if not isinstance(value, dict):
            return True  # unreadable: quarantined
        if isinstance(value.get("reason"), dict):
            return self.options["include_reposts"]
        record = (value.get("post") or {}).get("record") if isinstance(value.get("post"), dict) else None
        return self.options["include_replies"] or not (isinstance(record, dict) and record.get("reply"))

    def _emit(self, state: dict, response, records: list[Record], descent: dict):
        """One page's new items as a Page whose state has the watermark at its newest item."""
        fetched_at = datetime.now(timezone.utc)
        mark = _time(state.get("watermark"))
        recent = state.get("recent") or {}
        new = []
        for record in records:
            key, when = record_key(record), _sort_time(record.value)
            if (mark and when and when < mark) or key in recent:
                continue  # stored already
            if self._wanted(record.value):
                new.append(record)
        messages, quarantined = records_to_messages(new, self.name, response.url, fetched_at)
        messages = captured(messages, response)
        times = [t for t in (_sort_time(r.value) for r in records) if t] + ([mark] if mark else [])
        watermark = max(times) if times else None
        seen = {record_key(r): entry_of(r, watermark) for r in new} if watermark else {}
        state = {**state, "watermark": watermark.isoformat() if watermark else None,
                 "descent": descent if descent["cursors"] else None,
                 "recent": self._remember({**recent, **seen})}
        messages.sort(key=lambda m: (m.created_at, m.id))
        return Page(messages, json.loads(json.dumps(state)), quarantined, url=response.url), state

    def _remember(self, recent: dict) -> dict:
        """The newest entries only (at least 20; all at the watermark, which are the newest)."""
        limit = max(self.options["recheck"], 20)
        newest = sorted(recent.items(), key=lambda kv: (datetime.fromisoformat(kv[1][1]), kv[0]), reverse=True)
        return dict(newest[:limit])

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved getAuthorFeed page (``feed``), getPostThread answer (``thread``) or getPosts
        answer (``posts``) -> (messages in payload order, quarantined)."""
        body = whole_object(data)
        value = item_value(body)
        if not isinstance(value, dict):
            raise ParseError("the answer is not readable JSON")
        if "feed" in value:
            records = [Record(v, raw) for raw, v in split_member(body, "feed")]
            return records_to_messages(records, channel, "", None)
        if "thread" in value:
            return records_to_messages(thread_records(body), channel, "", None, normalise=post_to_message)
        if "posts" in value:
            records = [Record(item_value(raw), raw) for raw in array_items(body, "posts")]
            return records_to_messages(records, channel, "", None, normalise=post_to_message)
        raise ParseError("expected a getAuthorFeed (feed), getPostThread (thread) or getPosts (posts) answer")


def _sort_time(value):
    return sort_time(value) if isinstance(value, dict) else None
