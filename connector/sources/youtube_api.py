"""``mode: api``: the uploads playlist, the videos' details, their comments, and the re-check.

One poll, in this order (each step yields pages whose state is valid once they are stored):

1. **New videos.** The channel's uploads playlist (``channels?part=contentDetails`` once, its
   id kept as ``uploads``) is listed newest first and cannot be read the other way round, so
   the walk goes from the top down and stops at the first video it already knows (the
   ``watermark``, the newest video of the last finished walk, or any video of the re-check
   window) or at the first video published before the watermark (``watermark_published``, from
   ``contentDetails.videoPublishedAt``: the watermark video itself may have been deleted).
   Each playlistItems page (50 items) is followed by one ``videos?id=...`` call for their
   details and yielded as a page (oldest first within it). While a walk is unfinished (a first
   poll of a long history, ``max_pages`` reached, a crash, the quota) the cursor keeps
   ``walk = {"token", "top", "top_published", "stops", "floor"}``: the next poll resumes at that
   ``pageToken`` and moves the watermark to ``top`` (the newest video when the walk began) only
   once it reaches a stop or the end. Uploads made meanwhile lie above ``top`` and are found by
   the next walk. A crash between pages repeats at most that page. YouTube's page tokens are
   offsets, so an upload during a resumed walk shifts the items down and repeats one (the store
   deduplicates) and skips none; only a video deleted above the token during the walk can shift
   one past it. YouTube offers no "changed since": should it ever list a newly public video
   below the watermark (a premiere, say), the walk does not reach it. A video the playlist lists
   but ``videos.list`` does not return (private, or still processing) is not stored; a playlist
   item naming no video is quarantined once (``bad_items``).
2. **Re-check** of the videos published within ``recheck_days`` (``videos`` in the cursor:
   id -> publication date and a digest of the text): ``videos?id=`` in batches of 50; a video no
   longer returned is a :class:`~.base.Deletion`; a changed title or description is a new version
   (``version`` = ``sha256:`` + the text's digest, ``edited_at`` = when it was seen).
3. **Comments** (``comments: true``) of every video of the re-check window, every poll, and
   once of each new video outside it (``due``, at most 50 videos a poll): all
   ``commentThreads`` pages, and ``comments?parentId=`` for a thread with more replies than it
   embeds. ``comments`` in the cursor maps each window video to its comments' versions: a new
   comment or a changed ``updatedAt`` is emitted, a comment missing from a complete re-read is a
   Deletion. A video with comments disabled (403 ``commentsDisabled``) or gone (404) has none.
4. A last page with the cursor's quota count.

Every call costs one quota unit, counted before it is made (:mod:`.youtube_quota`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime, timedelta

from ..failures import CONFIGURATION, RETRY, Failed, Failure
from ..message import Message, Quarantined, fixed_iso, iso, parse_iso, utcnow
from .base import Deletion, Page, captured
from .rest import JsonPathPaginator, PageRequest
from .youtube_items import (comment_to_message, item_id, playlist_video_id, threads_to_messages, to_messages,
                            video_to_message)

PAGE = 50           # playlistItems and videos: YouTube's maximum per call
COMMENT_PAGE = 100  # commentThreads and comments: YouTube's maximum per call
DUE_PER_POLL = 50   # videos outside the re-check window whose comments are read once, per poll
GONE_REASONS = {"commentsDisabled", "videoNotFound", "commentThreadNotFound", "notFound"}


def _oldest_first(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.created_at, m.id))


def _published(value) -> str:
    """An uploads item's video publication time as fixed-width UTC text (comparable), or ""."""
    details = value.get("contentDetails") if isinstance(value, dict) else None
    found = details.get("videoPublishedAt") if isinstance(details, dict) else None
    try:
        return fixed_iso(parse_iso(found)) if isinstance(found, str) else ""
    except ValueError:
        return ""


def digest(message: Message) -> str:
    return hashlib.sha256(message.text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _reason(failure: Failure) -> str:
    error = failure.detail.get("error") if isinstance(failure.detail, dict) else None
    errors = error.get("errors") if isinstance(error, dict) else None
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    return first.get("reason") or ""


class ApiPolling:
    """The ``api`` mode of :class:`~.youtube.YouTubeSource` (a mixin: it uses the source's
    ``request``, ``records``, ``walk``, ``options`` and ``quota``)."""

    def _snapshot(self, state: dict) -> dict:
        return {**json.loads(json.dumps(state)), "quota": self.quota.state()}

    def _uploads_of(self, response) -> tuple[str, str]:
        """(uploads playlist id, channel title) from a channels.list answer."""
        try:
            items = response.json().get("items") or []
        except (ValueError, AttributeError):
            raise Failed(Failure(RETRY, f"GET channel {self.channel_id}: unreadable response",
                                 status=response.status_code, url=response.url)) from None
        if not items:
            raise Failed(Failure(CONFIGURATION, f"YouTube channel {self.channel_id} not found (channels.list"
                                 " returned no items): check channel_id", status=response.status_code,
                                 url=response.url))
        item = items[0] if isinstance(items[0], dict) else {}
        uploads = ((item.get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads")
        if not isinstance(uploads, str) or not uploads:
            raise Failed(Failure(CONFIGURATION, f"YouTube channel {self.channel_id} has no uploads playlist",
                                 url=response.url))
        return uploads, (item.get("snippet") or {}).get("title") or ""

    def poll_api(self, state: dict):
        if not state.get("uploads"):
            response = self.request(self._channel_request(), f"GET channel {self.channel_id}")
            state["uploads"], _ = self._uploads_of(response)
        state.setdefault("videos", {})
        state.setdefault("comments", {})
        state.setdefault("due", [])
        state.setdefault("bad_items", [])
        fresh: set[str] = set()
        yield from self._new_videos(state, fresh)
        yield from self._recheck(state, fresh)
        if self.options["comments"]:
            yield from self._all_comments(state)
        yield Page([], self._snapshot(state))

    # -- 1. new videos ------------------------------------------------------------------------------

    def _new_videos(self, state: dict, fresh: set[str]):
        walk = state.get("walk") or {}
        top, top_published = walk.get("top"), walk.get("top_published")
        floor = walk.get("floor") if walk else state.get("watermark_published")
        stops = set(walk.get("stops") or ([state["watermark"]] if state.get("watermark") else [])
                    + ([] if walk else list(state["videos"])))
        params = {"part": "snippet,contentDetails", "playlistId": state["uploads"], "maxResults": PAGE}
        if walk.get("token"):
            params["pageToken"] = walk["token"]
        what = f"GET uploads of {self.channel_id}"
        request = PageRequest(f"{self.base_url}/playlistItems", params)
        for response, records in self.walk(request, JsonPathPaginator("nextPageToken", "pageToken"), what):
            quarantined, ids, reached = [], [], False
            for record in records:
                video_id = playlist_video_id(record.value)
                if top is None and video_id:
                    top, top_published = video_id, _published(record.value)  # the newest when this walk began
                published = _published(record.value)
                if video_id in stops or (floor and published and published < floor):
                    reached = True  # a known video, or one older than the watermark (which may be deleted)
                    break
                if not video_id:
                    bad_item = item_id(record.value) or hashlib.sha256(record.raw).hexdigest()[:32]
                    if bad_item not in state["bad_items"]:  # above the watermark: met again by every walk
                        state["bad_items"] = (state["bad_items"] + [bad_item])[-100:]
                        quarantined.append(Quarantined("playlist item names no video id (snippet.resourceId"
                                                       ".videoId)", record.raw, bad_item, response.url))
                elif video_id not in fresh:
                    ids.append(video_id)
            messages, bad = self._videos(ids, what) if ids else ([], [])
            now = utcnow()
            for message in messages:
                fresh.add(message.id)
                self._remember(state, message, now)
            token = (response.json() or {}).get("nextPageToken")
            if reached or not token:
                state["walk"] = None
                if top:
                    state["watermark"], state["watermark_published"] = top, top_published
            else:
                state["walk"] = {"token": token, "top": top, "top_published": top_published, "stops": sorted(stops),
                                 "floor": floor}
            yield Page(_oldest_first(messages), self._snapshot(state), quarantined + bad, url=response.url)
            if state["walk"] is None:
                return

    def _videos(self, ids: list[str], what: str) -> tuple[list[Message], list[Quarantined]]:
        request = PageRequest(f"{self.base_url}/videos", {"part": "snippet,contentDetails,status,statistics",
                                                          "id": ",".join(ids), "maxResults": PAGE})
        response = self.request(request, f"{what}: video details")
        messages, quarantined = to_messages(self.records(response, what), video_to_message, self.name,
                                            response.url, utcnow())
        return captured(messages, response), quarantined

    def _remember(self, state: dict, message: Message, now: datetime) -> None:
        since = now - timedelta(days=self.options["recheck_days"])
        if self.options["recheck_days"] and message.created_at >= since:
            state["videos"][message.id] = {"published": iso(message.created_at), "digest": digest(message)}
        elif self.options["comments"] and message.id not in state["due"]:
            state["due"].append(message.id)

    # -- 2. re-check --------------------------------------------------------------------------------

    def _recheck(self, state: dict, fresh: set[str]):
        now = utcnow()
        since = now - timedelta(days=self.options["recheck_days"])
        videos = state["videos"]
        for video_id in [v for v, info in videos.items() if parse_iso(info["published"]) < since]:
            videos.pop(video_id)
            state["comments"].pop(video_id, None)
        check = [v for v in videos if v not in fresh]
        edits, deletions, url = [], [], ""
        for start in range(0, len(check), PAGE):
            batch = check[start:start + PAGE]
            messages, _ = self._videos(batch, f"GET videos of {self.channel_id} (re-check)")
            url = messages[0].raw.page_url if messages else f"{self.base_url}/videos?id={','.join(batch)}"
            present = {m.id for m in messages}
            for message in messages:
                text = digest(message)
                if text != videos[message.id]["digest"]:
                    edits.append(replace(message, version=f"sha256:{text}", edited_at=now))
                    videos[message.id]["digest"] = text
            for video_id in batch:
                if video_id not in present:
                    deletions.append(Deletion(video_id, "gone from videos.list on re-check (deleted or made"
                                              " private) within the re-check window", now, url))
                    videos.pop(video_id)
                    state["comments"].pop(video_id, None)
        if edits or deletions:
            yield Page(_oldest_first(edits), self._snapshot(state), url=url, deletions=deletions)

    # -- 3. comments --------------------------------------------------------------------------------

    def _all_comments(self, state: dict):
        window = list(state["videos"])
        due = [v for v in state["due"] if v not in state["videos"]][:DUE_PER_POLL]
        for video_id in window + due:
            seen = state["comments"].get(video_id, {}) if video_id in state["videos"] else None
            messages, quarantined, complete, url = self._comments(video_id)
            now = utcnow()
            deletions = []
            if seen is None:
                new = messages
                state["due"] = [v for v in state["due"] if v != video_id]
            else:
                new = [m for m in messages if seen.get(m.id) != m.version]
                quarantined = [q for q in quarantined if q.item_id not in seen]
                found = {m.id: m.version for m in messages} | {q.item_id: "?" for q in quarantined if q.item_id}
                if complete:
                    deletions = [Deletion(c, "gone from the video's comments on re-check", now, url)
                                 for c in seen if c not in found and seen[c] != "?"]
                    state["comments"][video_id] = found
                else:
                    state["comments"][video_id] = {**seen, **found}
            if new or deletions or quarantined or seen is None:
                yield Page(_oldest_first(new), self._snapshot(state), quarantined, url=url, deletions=deletions)

    def _comments(self, video_id: str) -> tuple[list[Message], list[Quarantined], bool, str]:
        """All comments of one video: (messages, quarantined, read completely, last URL)."""
        what = f"GET comments of video {video_id}"
        request = PageRequest(f"{self.base_url}/commentThreads", {
            "part": "snippet,replies", "videoId": video_id, "maxResults": COMMENT_PAGE, "textFormat": "html"})
        messages, quarantined, url, token = [], [], request.url, None
        try:
            for response, records in self.walk(request, JsonPathPaginator("nextPageToken", "pageToken"), what):
                url, token = response.url, (response.json() or {}).get("nextPageToken")
                found, bad, counts = threads_to_messages(records, self.name, response.url, utcnow(), video_id)
                found = captured(found, response)
                for top_id, embedded, total in counts:
                    if total > embedded:  # more replies than the thread carries: ask for all of them
                        replies, bad_replies = self._replies(top_id, video_id)
                        found = [m for m in found if m.in_reply_to != top_id] + replies
                        bad += bad_replies
                messages += found
                quarantined += bad
        except Failed as exc:
            if exc.failure.status in (403, 404) and _reason(exc.failure) in GONE_REASONS:
                return [], [], False, url  # comments disabled, or the video is gone: nothing to read
            raise
        return messages, quarantined, not token, url

    def _replies(self, parent_id: str, video_id: str) -> tuple[list[Message], list[Quarantined]]:
        request = PageRequest(f"{self.base_url}/comments", {
            "part": "snippet", "parentId": parent_id, "maxResults": COMMENT_PAGE, "textFormat": "html"})
        messages, quarantined = [], []

        def reply(value, *, channel, raw):
            return comment_to_message(value, video_id=video_id, channel=channel, raw=raw)
        for response, records in self.walk(request, JsonPathPaginator("nextPageToken", "pageToken"),
                                           f"GET replies to comment {parent_id}"):
            found, bad = to_messages(records, reply, self.name, response.url, utcnow())
            messages += captured(found, response)
            quarantined += bad
        return messages, quarantined
