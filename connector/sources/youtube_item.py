"""One YouTube video or comment by its URL (``item_id_for_url`` and ``fetch_item`` of
:class:`.youtube.YouTubeSource`), a mixin.

URLs read (hosts ``youtube.com``, ``www.``, ``m.``, and ``youtu.be``):

* ``/watch?v=<id>``, ``youtu.be/<id>``, ``/shorts/<id>``, ``/live/<id>``, ``/embed/<id>`` -> the video ``<id>``
  (11 characters), whatever else the query holds (``t=``, ``si=``, ``list=``);
* ``/watch?v=<id>&lc=<comment id>`` -> that comment (``mode: api`` only: the feed has no
  comments, so a feed channel gives ``None`` for it rather than the video).

``fetch_item`` in ``mode: api`` asks what a poll asks, so the message is the poll's: a video by
``videos?id=<id>&part=<poll's parts>`` (one quota unit); a top-level comment by
``commentThreads?id=<id>&part=snippet,replies`` (its thread's bytes, as poll stores them); a reply
(``<thread id>.<reply id>``) by ``comments?id=<id>``, its own resource (poll stores that too for a
thread with more replies than the thread embeds, else the thread's bytes: same id and version).
YouTube answers an id it does not know (deleted, private) with an empty ``items``: ``permanent``.
In ``mode: feed`` the video is looked up in the channel's feed (no quota); one not among its 15
newest entries is ``permanent`` ("not in the channel's feed").
"""
from __future__ import annotations

import re

from ..failures import PERMANENT, RETRY, Failed, Failure
from ..message import utcnow
from .base import ParseError, captured
from .itemurl import gone, missing, one_item, permalink, query, segments
from .rest import PageRequest
from .youtube_feed import parse_feed
from .youtube_items import comment_to_message, threads_to_messages, to_messages

HOSTS = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"})
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
COMMENT_ID = re.compile(r"[A-Za-z0-9_-]{8,100}(\.[A-Za-z0-9_-]{8,100})?")
_PATHS = ("shorts", "live", "embed")


def youtube_target(url) -> tuple[str, str] | None:
    """(video id, comment id or "") that a YouTube URL names, or None."""
    parts = permalink(url, HOSTS)
    if parts is None:
        return None
    path, args = segments(parts), query(parts)
    if parts.hostname == "youtu.be":
        video = path[0] if len(path) == 1 else ""
    elif path == ["watch"]:
        video = args.get("v", "")
    elif len(path) == 2 and path[0] in _PATHS:
        video = path[1]
    else:
        return None
    if not VIDEO_ID.fullmatch(video):
        return None
    comment = args.get("lc") or ""
    if comment and not COMMENT_ID.fullmatch(comment):
        return None
    return video, comment


class ItemFetching:
    """``item_id_for_url`` and ``fetch_item`` for :class:`~.youtube.YouTubeSource` (see the module docstring)."""

    def item_id_for_url(self, url: str) -> str | None:
        target = youtube_target(url)
        if target is None:
            return None
        video, comment = target
        if comment:
            return comment if self.options["mode"] == "api" else None
        return video

    def fetch_item(self, url: str):
        target = youtube_target(url)
        if target is None:
            raise Failed(Failure(PERMANENT, f"not the URL of a YouTube video or comment: {url}"[:500]))
        video, comment = target
        if self.options["mode"] == "feed":
            if comment:
                raise Failed(Failure(PERMANENT, f"comment {comment}: a channel in mode feed reads no comments"))
            return self._feed_video(video)
        if comment:
            return self._one_comment(video, comment)
        what = f"GET video {video}"
        try:
            messages, quarantined = self._videos([video], what)
        except Failed as failed:
            raise gone(failed, what) from None
        if not messages and not quarantined:
            raise missing(what, "YouTube returned no video with this id: deleted, private, or never published",
                          url=f"{self.base_url}/videos?id={video}")
        page_url = messages[0].raw.page_url if messages else quarantined[0].page_url
        return one_item(messages, quarantined, page_url)

    def _one_comment(self, video: str, comment: str):
        reply = "." in comment
        what = f"GET comment {comment}"
        request = PageRequest(f"{self.base_url}/{'comments' if reply else 'commentThreads'}", {
            "part": "snippet" if reply else "snippet,replies", "id": comment, "textFormat": "html"})
        try:
            response = self.request(request, what)
        except Failed as failed:
            raise gone(failed, what) from None
        records, now = self.records(response, what), utcnow()
        if reply:
            messages, quarantined = to_messages(records, lambda value, *, channel, raw: comment_to_message(
                value, video_id=video, channel=channel, raw=raw), self.name, response.url, now)
        else:
            messages, quarantined, _ = threads_to_messages(records, self.name, response.url, now, video)
            messages = [m for m in messages if m.id == comment]  # the thread's embedded replies are not asked for
        if not messages and not quarantined:
            raise missing(what, "YouTube returned no comment with this id: deleted, held for review, or never"
                                " posted", url=response.url, status=response.status_code)
        return one_item(captured(messages, response), quarantined, response.url)

    def _feed_video(self, video: str):
        response, body = self._fetch_feed({})
        try:
            messages, quarantined, _ = parse_feed(body, self.name, response.url, utcnow())
        except ParseError as exc:
            raise Failed(Failure(RETRY, f"GET feed of {self.channel_id}: unreadable response ({exc})",
                                 status=response.status_code, url=response.url)) from exc
        found = [m for m in messages if m.id == video]
        held = [q for q in quarantined if q.item_id == video]
        if not found and not held:
            raise missing(f"video {video}", f"not in the channel's feed of {self.channel_id}, which lists its 15 newest"
                          " videos: another channel's, older, or removed (mode api fetches any)", url=response.url)
        return one_item(captured(found, response), held, response.url)
