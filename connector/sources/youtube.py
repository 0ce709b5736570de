"""YouTube (Data API v3, or the quota-free channel feed): one channel's videos and their comments.

``mode: api`` (the default) reads the channel's uploads playlist, the videos' details and their
comment threads (see :mod:`.youtube_api` for the walk, the cursor and the re-check);
``mode: feed`` reads the channel's Atom feed, the 15 newest videos without comments, and costs
no quota (see :mod:`.youtube_feed`). Both make the same message of a video (id, url, kind, text),
so switching modes never stores a video twice. Normalising lives in :mod:`.youtube_items`, the
daily quota and Google's error answers in :mod:`.youtube_quota`.

Credentials: ``api_key`` (sent as the ``X-Goog-Api-Key`` header, so it never stands in a URL
that is logged or archived as a message's page URL) or ``token`` (an OAuth 2.0 bearer token), one
of the two, from ``${ENV}``.

Cursor state: ``{"channel_id", "uploads", "watermark", "walk", "videos", "comments", "due",
"quota", "feed"}`` (the api mode's keys are described in :mod:`.youtube_api`; ``quota`` is the
units spent on the current Pacific day, ``feed`` the feed mode's ``etag``, ``last_modified`` and
``seen`` video ids with their publication dates).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import marshmallow
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import CONFIGURATION, RETRY, Failed, Failure, classify_exception
from ..media import MediaOptions, MediaPolicy
from ..message import Message, parse_iso, utcnow
from .base import SOURCES, Deletion, Page, ParseError, Quarantined, captured
from .jsonitems import split_member, split_payload
from .rest import CallBudget, PageRequest, Record, RestSource
from .youtube_api import ApiPolling
from .youtube_feed import parse_feed
from .youtube_item import ItemFetching
from .youtube_items import (comment_to_message, playlist_item_to_message, threads_to_messages, to_messages,
                            video_to_message)
from .youtube_quota import DAILY_QUOTA, Quota, classify, classify_channel

BASE_URL = "https://www.googleapis.com/youtube/v3"
FEED_URL = "https://www.youtube.com/feeds/videos.xml"
THUMBNAIL_HOSTS = ("i.ytimg.com", "*.ytimg.com")
KEEP_SEEN = 200  # feed mode: video ids remembered (the feed holds the 15 newest)


class YouTubeOptions(MediaOptions):
    class Meta:
        unknown = marshmallow.RAISE

    channel_id = fields.Str(required=True, validate=validate.Regexp(
        r"^UC[0-9A-Za-z_-]{22}$", error="expected a channel id like 'UC_x5XG1OV2P6uZZ5FSM9Ttw'"),
        metadata={"description": "the channel's id (`UC...`, 24 characters; not its @handle)"})
    api_key = fields.Str(load_default=None, allow_none=True, metadata={
        "description": "API key (`${ENV}` only) of a Google Cloud project with the YouTube Data API v3;"
                       " or `token`"})
    token = fields.Str(load_default=None, allow_none=True, metadata={
        "description": "OAuth 2.0 bearer token (`${ENV}` only), instead of `api_key`"})
    base_url = fields.Url(load_default=BASE_URL, schemes={"http", "https"}, require_tld=False,
                          metadata={"description": "the YouTube Data API v3"})
    mode = fields.Str(load_default="api", validate=validate.OneOf(["api", "feed"]), metadata={
        "description": "`api` (videos and comments, costs quota) or `feed` (the 15 newest videos, no"
                       " comments, no quota)"})
    feed_url = fields.Url(load_default=FEED_URL, schemes={"http", "https"}, require_tld=False,
                          metadata={"description": "the channel feed (`?channel_id=` is added), for `mode: feed`"})
    comments = fields.Bool(load_default=True, metadata={"description": "also archive the videos' comments"})
    recheck_days = fields.Int(load_default=7, validate=validate.Range(0, 365), metadata={
        "description": "videos published this many days ago or less are re-checked each poll: new and edited"
                       " comments, edited titles and descriptions, deletions"})
    daily_quota = fields.Int(load_default=DAILY_QUOTA, validate=validate.Range(min=1), metadata={
        "description": "quota units a day this channel may spend (each call costs 1); when used up, the"
                       " channel pauses until midnight Pacific Time"})

    @marshmallow.validates_schema
    def credentials(self, data, **kwargs):
        if data.get("api_key") and data.get("token"):
            raise marshmallow.ValidationError("give api_key or token, not both", "token")
        if data.get("mode", "api") == "api" and not (data.get("api_key") or data.get("token")):
            raise marshmallow.ValidationError("mode api needs api_key or token", "api_key")

    @marshmallow.post_load
    def tidy(self, data, **kwargs):
        data["base_url"] = data["base_url"].rstrip("/")
        return data


@SOURCES.register
class YouTubeSource(ItemFetching, ApiPolling, RestSource):
    """Videos (posts) and comments of one YouTube channel; see the module docstring."""

    kind = "youtube"
    options_schema = YouTubeOptions
    records_path = "items"

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: CallBudget | None = None, quota: Quota | None = None):
        super().__init__(name, options, session, budget)
        self.base_url = self.options["base_url"]
        self.channel_id = self.options["channel_id"]
        self.quota = quota or Quota(self.options["daily_quota"])

    def __repr__(self) -> str:  # never the key or token
        return f"<YouTubeSource {self.name!r} {self.options['mode']} {self.channel_id}>"

    # -- what RestSource asks of a platform -------------------------------------------------------

    def headers(self) -> dict:
        headers = super().headers()
        if self.options["token"]:
            headers["Authorization"] = f"Bearer {self.options['token']}"
        elif self.options["api_key"]:
            headers["X-Goog-Api-Key"] = self.options["api_key"]
        return headers

    def url(self, state: dict | None) -> str:
        return f"{self.base_url}/playlistItems"

    def classify_response(self, response: requests.Response, what: str):
        return classify(response, what, self.quota)

    def request(self, page: PageRequest, what: str) -> requests.Response:
        """Every call costs quota: counted before it is made (see :mod:`.youtube_quota`)."""
        self.quota.spend(what, 1, page.url)
        return super().request(page, what)

    def media_policy(self, **settings) -> MediaPolicy:
        """Thumbnails come from YouTube's image hosts (``*.ytimg.com``), plus ``media_hosts``."""
        options = {**self.options, "media_hosts": [*THUMBNAIL_HOSTS[1:], *self.options["media_hosts"]]}
        return MediaPolicy.for_channel(f"https://{THUMBNAIL_HOSTS[0]}/", options, **settings)

    # -- check ------------------------------------------------------------------------------------

    def _channel_request(self) -> PageRequest:
        return PageRequest(f"{self.base_url}/channels", {"part": "snippet,contentDetails", "id": self.channel_id})

    def check(self) -> list[Check]:
        """Settings, connection, credentials, the channel (its uploads playlist). Costs one quota unit
        in ``api`` mode (not counted against the polls' ``daily_quota``)."""
        checks = [Check("settings", True, f"{self.options['mode']} mode, channel {self.channel_id}")]
        if self.options["mode"] == "feed":
            try:
                response, body = self._fetch_feed({})
                _, _, ids = parse_feed(body, self.name, response.url, utcnow())
            except Failed as exc:
                return checks + [Check("connection", False, str(exc))]
            except ParseError as exc:
                return checks + [Check("connection", False, f"not a feed: {exc}")]
            return checks + [Check("connection", True, f"HTTP {response.status_code}"),
                             Check("account", True, f"feed of {self.channel_id}: {len(ids)} videos")]
        request = self._channel_request()
        try:
            response = self.session.get(request.url, params=request.params, headers=self.headers(),
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            return checks + [Check("connection", False, classify_exception(exc).message)]
        checks.append(Check("connection", True, f"HTTP {response.status_code}"))
        failure = classify_channel(response, "GET channel")  # a check must not mark the quota spent
        if failure is not None and response.status_code in (400, 401, 403) and failure.verdict == CONFIGURATION:
            return checks + [Check("credentials", False, failure.message)]
        if failure is not None:
            return checks + [Check("account", False, failure.message)]
        checks.append(Check("credentials", True, "token accepted" if self.options["token"] else "API key accepted"))
        try:
            uploads, title = self._uploads_of(response)
        except Failed as exc:
            return checks + [Check("account", False, exc.failure.message)]
        return checks + [Check("account", True, f"{title or self.channel_id}: uploads playlist {uploads}")]

    # -- polling ------------------------------------------------------------------------------------

    def poll(self, state: dict | None):
        state = json.loads(json.dumps(state or {}))  # never touch the caller's dict
        if state.get("channel_id") != self.channel_id:
            # a first poll, or the channel now follows another YouTube channel: start afresh
            state = {"channel_id": self.channel_id, "quota": state.get("quota")}
        self.quota.load(state.get("quota"))
        if self.options["mode"] == "feed":
            yield from self._poll_feed(state)
        else:
            yield from self.poll_api(state)

    def _fetch_feed(self, feed: dict) -> tuple[requests.Response, bytes]:
        headers = {"Accept": "application/atom+xml, application/xml;q=0.9, */*;q=0.1"}
        if feed.get("etag"):
            headers["If-None-Match"] = feed["etag"]
        if feed.get("last_modified"):
            headers["If-Modified-Since"] = feed["last_modified"]
        url = self.options["feed_url"]
        what = f"GET feed of {self.channel_id}"
        try:
            response = self.session.get(url, params={"channel_id": self.channel_id}, headers=headers,
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            raise Failed(classify_exception(exc, what)) from exc
        failure = self.classify_response(response, what)
        if failure is not None:
            raise Failed(failure)
        return response, response.content

    def _poll_feed(self, state: dict):
        feed = dict(state.get("feed") or {})
        response, body = self._fetch_feed(feed)
        if response.status_code == 304:
            yield Page([], {**state, "quota": self.quota.state()}, url=response.url)
            return
        fetched_at = utcnow()
        try:
            messages, quarantined, ids = parse_feed(body, self.name, response.url, fetched_at)
        except ParseError as exc:
            raise Failed(Failure(RETRY, f"GET feed of {self.channel_id}: unreadable response ({exc})",
                                 status=response.status_code, url=response.url)) from exc
        seen = dict(feed.get("seen") or {})
        new = [m for m in messages if m.id not in seen]
        quarantined = [q for q in quarantined if q.item_id not in seen]
        deletions = self._feed_deletions(seen, messages, set(ids), response.url, fetched_at)
        for message in messages:
            seen[message.id] = message.created_at.isoformat()
        for gone in deletions:
            seen.pop(gone.id, None)
        seen.update({i: seen.get(i, "") for i in ids if i not in seen})  # quarantined: never again
        seen = dict(sorted(seen.items(), key=lambda kv: kv[1])[-max(KEEP_SEEN, len(ids)):])
        feed = {"etag": response.headers.get("ETag"), "last_modified": response.headers.get("Last-Modified"),
                "seen": seen}
        new.sort(key=lambda m: (m.created_at, m.id))
        yield Page(captured(new, response), {**state, "feed": feed, "quota": self.quota.state()}, quarantined,
                   url=response.url, deletions=deletions)

    def _feed_deletions(self, seen: dict, messages: list[Message], ids: set[str], url: str,
                        now: datetime) -> list[Deletion]:
        """Seen videos within the re-check window that the feed no longer lists although it still
        lists an older video: the feed shows the 15 newest, so such a video was removed."""
        if not messages or not self.options["recheck_days"]:
            return []
        oldest = min(m.created_at for m in messages)
        since = now - timedelta(days=self.options["recheck_days"])
        gone = []
        for video_id, published in seen.items():
            try:
                when = parse_iso(published) if published else None
            except ValueError:
                continue
            if when and video_id not in ids and when > oldest and when >= since:
                gone.append(Deletion(video_id, "gone from the channel feed within the re-check window, while"
                                               " older videos are still listed", now, url))
        return gone

    # -- saved payloads -------------------------------------------------------------------------------

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved playlistItems, videos or commentThreads page (told apart by its ``kind``), a
        comments page, or a channel feed (Atom) -> (messages in payload order, quarantined)."""
        if data.lstrip()[:1] == b"<":
            messages, quarantined, _ = parse_feed(data, channel, "", None)
            return messages, quarantined
        items, is_list = split_payload(data)  # checks the whole document once
        if is_list:
            raise ParseError("expected a YouTube list response (an object with \"kind\"), not an array")
        page = items[0][1]
        kind = page.get("kind") if isinstance(page, dict) else None
        if isinstance(page, dict) and isinstance(page.get("error"), dict):
            error = page["error"]
            reasons = ", ".join(str(e.get("reason")) for e in error.get("errors") or [] if isinstance(e, dict))
            raise ParseError(f"a Google error answer, not a list: {error.get('code')} {error.get('message')}"
                             + (f" ({reasons})" if reasons else ""))
        try:
            records = [Record(value, raw) for raw, value in split_member(data, "items")]
        except ParseError as exc:
            raise ParseError(f"items: {exc.reason}", exc.position) from None
        if kind == "youtube#commentThreadListResponse":
            messages, quarantined, _ = threads_to_messages(records, channel, "", None)
            return messages, quarantined
        normalise = {"youtube#playlistItemListResponse": playlist_item_to_message,
                     "youtube#videoListResponse": video_to_message,
                     "youtube#commentListResponse": _comment}.get(kind)
        if normalise is None:
            raise ParseError(f"unknown kind {kind!r}: expected a playlistItems, videos, commentThreads or"
                             " comments list response")
        return to_messages(records, normalise, channel, "", None)


def _comment(value, *, channel: str = "", raw=None) -> Message:
    return comment_to_message(value, channel=channel, raw=raw)
