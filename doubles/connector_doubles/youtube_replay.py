"""The recorded data behind the YouTube double: channels, videos, comment threads, replies.

Split from :mod:`.youtube` (HTTP, auth, quota, faults) so each module reads in one sitting.
Loaded from ``fixtures/youtube/`` (see its ``ATTRIBUTION.md``):

* ``videos_info_multi.json``: two real ``youtube#video`` resources, served as their exact text;
* ``playlist_items_paged_1.json``: ten real playlist items of the Google Developers channel; each
  becomes a ``youtube#video`` resource built from the item's snippet (derived, compact JSON);
* ``comment_threads_by_video_paged_1.json``: five real comment threads of video ``F1UP7wRCPH8``,
  served as their exact text; that video itself is not in any recording, so a placeholder video
  resource stands in for it in the Google Developers channel;
* ``derived/comments_replies_UgwI.json``: two made-up replies of the thread whose recording says
  ``totalReplyCount: 2`` (the recording carries none), served by ``comments?parentId=``.

A test adds, edits and deletes videos and comments here (:meth:`Replay.add_video`,
:meth:`Replay.edit_comment`, ...); edited or added resources are serialised compactly, as
YouTube does. A resource may also be given as raw bytes (hostile-input tests), served as sent.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from connector.sources.jsonitems import split_member

from .paths import repo_root

DEFAULT_DATA_DIR = repo_root() / "fixtures" / "youtube"
PLACEHOLDER_VIDEO = "F1UP7wRCPH8"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _dump(value: dict) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (hostile tests): written as JSON's \ud800 escape
        text = json.dumps(value, separators=(",", ":"))
    return text


def _from_bytes(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")  # bytes that are not UTF-8 are served as sent


@dataclass
class Resource:
    """One video, thread or comment: its id, the exact text served and (unless broken) its value."""

    id: str
    text: str
    obj: dict

    def set(self, obj: dict) -> None:
        self.obj, self.text = obj, _dump(obj)


@dataclass
class Video(Resource):
    channel_id: str = ""
    published: str = ""
    threads: list = field(default_factory=list)  # of Resource, newest first
    comments_disabled: bool = False


def _items(path: Path) -> list[tuple[str, dict]]:
    data = path.read_bytes()
    return [(raw.decode("utf-8"), value) for raw, value in split_member(data, "items")]


def video_from_playlist_item(item: dict) -> dict:
    snippet = item["snippet"]
    return {"kind": "youtube#video", "etag": item.get("etag", ""), "id": snippet["resourceId"]["videoId"],
            "snippet": {k: snippet[k] for k in ("publishedAt", "channelId", "title", "description", "thumbnails",
                                                "channelTitle") if k in snippet}}


class Replay:
    """The channels a double serves; each video with its comment threads, each thread its replies."""

    def __init__(self, data_dir: str | Path | None = None):
        folder = Path(data_dir or DEFAULT_DATA_DIR)
        self._lock = threading.RLock()
        self.videos: dict[str, Video] = {}
        self.replies: dict[str, list[Resource]] = {}  # top-level comment id -> replies, oldest first
        self.channel_titles: dict[str, str] = {}
        self._serial = 0
        for text, value in _items(folder / "videos_info_multi.json"):
            self._put(Video(value["id"], text, value))
        for _, value in _items(folder / "playlist_items_paged_1.json"):
            video = video_from_playlist_item(value)
            self._put(Video(video["id"], _dump(video), video))
        threads = _items(folder / "comment_threads_by_video_paged_1.json")
        placeholder = {"kind": "youtube#video", "etag": "placeholder", "id": PLACEHOLDER_VIDEO, "snippet": {
            "publishedAt": "2019-11-12T17:00:00Z", "channelId": "UC_x5XG1OV2P6uZZ5FSM9Ttw",
            "title": "Placeholder for video F1UP7wRCPH8 (the recording holds only its comment threads)",
            "description": "", "channelTitle": "Google Developers"}}
        self._put(Video(PLACEHOLDER_VIDEO, _dump(placeholder), placeholder))
        self.videos[PLACEHOLDER_VIDEO].threads = [Resource(v["id"], t, v) for t, v in threads]
        for text, value in _items(folder / "derived" / "comments_replies_UgwI.json"):
            self.replies.setdefault(value["snippet"]["parentId"], []).append(Resource(value["id"], text, value))

    def _put(self, video: Video) -> None:
        snippet = video.obj.get("snippet") or {}
        video.channel_id, video.published = snippet.get("channelId", ""), snippet.get("publishedAt", "")
        self.channel_titles.setdefault(video.channel_id, snippet.get("channelTitle", ""))
        self.videos[video.id] = video

    # -- what a request gets ------------------------------------------------------------------------

    def uploads(self, channel_id: str) -> list[Video]:
        """A channel's videos, newest first (the uploads playlist's order)."""
        with self._lock:
            found = [v for v in self.videos.values() if v.channel_id == channel_id]
            return sorted(found, key=lambda v: (v.published, v.id), reverse=True)

    def thread_text(self, thread: Resource, embed: int) -> str:
        """A thread as commentThreads answers it with ``part=snippet,replies``: up to ``embed`` replies."""
        replies = self.replies.get(thread.id) or []
        if not replies or "replies" in thread.obj or not thread.obj:
            return thread.text
        shown = [r.obj for r in replies[:embed] if r.obj]
        return _dump({**thread.obj, "replies": {"comments": shown}}) if shown else thread.text

    def find_comment(self, comment_id: str) -> tuple[Resource | None, Video | None, Resource | None]:
        """(the comment's resource: a thread for a top-level one, its video, the thread of a reply)."""
        with self._lock:
            for video in self.videos.values():
                for thread in video.threads:
                    if thread.id == comment_id:
                        return thread, video, None
                    for reply in self.replies.get(thread.id) or []:
                        if reply.id == comment_id:
                            return reply, video, thread
        return None, None, None

    # -- what a test changes ----------------------------------------------------------------------

    def _next_id(self, prefix: str, size: int) -> str:
        self._serial += 1
        return (prefix + f"{self._serial:06d}").ljust(size, "x")[:size]

    def add_video(self, channel_id: str = "UC_x5XG1OV2P6uZZ5FSM9Ttw", title: str = "A new video",
                  description: str = "", published: str | None = None, **snippet) -> str:
        """Upload a video now (or at ``published``); returns its id (11 characters, as YouTube's)."""
        with self._lock:
            video_id = self._next_id("New", 11)
            base = f"https://i.ytimg.com/vi/{video_id}"
            obj = {"kind": "youtube#video", "etag": f"etag-{video_id}", "id": video_id, "snippet": {
                "publishedAt": published or _now_iso(), "channelId": channel_id, "title": title,
                "description": description, "thumbnails": {
                    "high": {"url": f"{base}/hqdefault.jpg", "width": 480, "height": 360},
                    "maxres": {"url": f"{base}/maxresdefault.jpg", "width": 1280, "height": 720}},
                "channelTitle": self.channel_titles.get(channel_id, "Channel"), **snippet},
                "contentDetails": {"duration": "PT1M3S"}, "status": {"privacyStatus": "public"},
                "statistics": {"viewCount": "0", "commentCount": "0"}}
            self._put(Video(video_id, _dump(obj), obj))
            return video_id

    def edit_video(self, video_id: str, **snippet) -> None:
        with self._lock:
            video = self.videos[video_id]
            video.set({**video.obj, "snippet": {**video.obj["snippet"], **snippet}})

    def delete_video(self, video_id: str) -> None:
        with self._lock:
            self.videos.pop(video_id)

    def set_video_text(self, video_id: str, data: bytes) -> None:
        """Serve ``data`` (any bytes) as the video's resource in videos.list answers."""
        with self._lock:
            video = self.videos[video_id]
            video.text, video.obj = _from_bytes(data), {}

    def add_comment(self, video_id: str, text: str, parent_id: str | None = None,
                    author: str = "Inwoner", published: str | None = None) -> str:
        """A new top-level comment (a thread) or, with ``parent_id``, a reply; returns its id."""
        with self._lock:
            when = published or _now_iso()
            comment_id = (f"{parent_id}." if parent_id else "") + self._next_id("UgzNew", 26)
            snippet = {"authorDisplayName": f"@{author.lower()}",
                       "authorChannelUrl": f"http://www.youtube.com/@{author.lower()}",
                       "authorChannelId": {"value": f"UC{author[:4]:x<22}"}, "videoId": video_id,
                       "textDisplay": escape(text).replace("\n", "<br>"), "textOriginal": text,
                       "canRate": True, "viewerRating": "none", "likeCount": 0, "publishedAt": when, "updatedAt": when}
            if parent_id:
                snippet["parentId"] = parent_id
                reply = {"kind": "youtube#comment", "etag": f"etag-{comment_id}", "id": comment_id, "snippet": snippet}
                self.replies.setdefault(parent_id, []).append(Resource(comment_id, _dump(reply), reply))
                thread, _, _ = self.find_comment(parent_id)
                count = thread.obj["snippet"].get("totalReplyCount", 0) + 1
                thread.set({**thread.obj, "snippet": {**thread.obj["snippet"], "totalReplyCount": count}})
                return comment_id
            top = {"kind": "youtube#comment", "etag": f"etag-{comment_id}", "id": comment_id, "snippet": snippet}
            thread = {"kind": "youtube#commentThread", "etag": f"etag-t-{comment_id}", "id": comment_id, "snippet": {
                "channelId": self.videos[video_id].channel_id, "videoId": video_id, "topLevelComment": top,
                "canReply": True, "totalReplyCount": 0, "isPublic": True}}
            self.videos[video_id].threads.insert(0, Resource(comment_id, _dump(thread), thread))
            return comment_id

    def edit_comment(self, comment_id: str, text: str) -> str:
        """Edit a comment now: new textOriginal/textDisplay and updatedAt; returns that updatedAt."""
        with self._lock:
            found, _, _ = self.find_comment(comment_id)
            when = _now_iso()
            change = {"textOriginal": text, "textDisplay": escape(text), "updatedAt": when}
            if found.obj.get("kind") == "youtube#commentThread":
                top = found.obj["snippet"]["topLevelComment"]
                top = {**top, "snippet": {**top["snippet"], **change}}
                found.set({**found.obj, "snippet": {**found.obj["snippet"], "topLevelComment": top}})
            else:
                found.set({**found.obj, "snippet": {**found.obj["snippet"], **change}})
            return when

    def delete_comment(self, comment_id: str) -> None:
        with self._lock:
            found, video, thread = self.find_comment(comment_id)
            if thread is None:
                video.threads.remove(found)
            else:
                self.replies[thread.id].remove(found)
