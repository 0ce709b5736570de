"""YouTube resources (videos, playlist items, comment threads, comments) as channel-neutral messages.

Split from :mod:`.youtube` (options, polling, cursor) so that each module reads in one sitting.
The normalisers raise ``_Invalid`` (a ``ValueError``) with the quarantine reason.

* A video is a ``post``: id the video id, url ``https://www.youtube.com/watch?v=<id>``, text the
  title, a blank line and the description (plain text as YouTube keeps it), html the same as
  simple safe HTML (title as ``<h2>``, paragraphs, ``<br>``, http(s) links), its best thumbnail
  (maxres, standard, high, medium, default) as an ``image/jpeg`` attachment, hashtags from its
  tags and from ``#words`` in the description. A playlist item and a feed entry make the very
  same message (id, url, kind, text), so switching modes or endpoints never duplicates a video.
* A comment is a ``comment``: ``in_reply_to`` the video id for a top-level comment, the
  top-level comment's id (``snippet.parentId``) for a reply; ``thread_id`` the video id; url
  ``https://www.youtube.com/watch?v=<video>&lc=<comment>``; text ``textOriginal``, html
  ``textDisplay`` sanitised. A comment whose ``updatedAt`` is after its ``publishedAt`` was
  edited: ``edited_at`` = ``updatedAt``, ``version`` = its ISO form.
"""
from __future__ import annotations

import re
from datetime import datetime
from html import escape
from urllib.parse import urlsplit

from ..htmltext import sanitize, to_text
from ..message import Attachment, Author, Message, Quarantined, Raw, iso, value_defect
from .base import admit
from .fields import Invalid as _Invalid, date as _date, text as _text
from .jsonitems import Unreadable
from .rest import Record

MEDIA_TYPE = "application/json"
WATCH = "https://www.youtube.com/watch?v="
THUMBNAIL_ORDER = ("maxres", "standard", "high", "medium", "default")
# YouTube ids: 11-character video ids, comment ids like "UgyZ1jqkHKYvi1-ruOZ4AaABAg" (a reply's has a ".")
ITEM_ID = re.compile(r"[0-9A-Za-z_.-]{1,128}")
_HASHTAG = re.compile(r"(?<![\w/&#])#(\w*[^\W\d_]\w*)")
_MENTION = re.compile(r"(?<![\w@/])@([\w.-]*\w)")
_LINK = re.compile(r"https?://[^\s<>\"']+")


# -- field access -------------------------------------------------------------------------------

def _object(obj: dict, name: str, required: bool = True) -> dict:
    value = obj.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"{name}: expected an object, got {type(value).__name__}" if value is not None
                       else f"missing {name!r}")
    return value


def _id(value: str, name: str) -> str:
    if not ITEM_ID.fullmatch(value):
        raise _Invalid(f"{name}: {value[:80]!r} is not a YouTube id")
    return value


def _unique(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def _checked(resource, kind: str) -> dict:
    if not isinstance(resource, dict):
        raise _Invalid(f"expected a {kind} object, got {type(resource).__name__}")
    defect = value_defect(resource)  # named by the resource's own field, before anything uses it
    if defect:
        raise _Invalid(defect)
    return resource


# -- videos -------------------------------------------------------------------------------------

def text_html(title: str, description: str) -> tuple[str, str]:
    """Plain text and simple safe HTML of a video's title and description."""
    text = f"{title}\n\n{description}" if description.strip() else title
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", description.strip()) if p.strip()]
    body = "".join(f"<p>{_linked(p.strip())}</p>" for p in paragraphs)
    return text, sanitize(f"<h2>{escape(title)}</h2>{body}")


def _linked(paragraph: str) -> str:
    parts, last = [], 0
    for match in _LINK.finditer(paragraph):
        url = match.group().rstrip(".,;:!?)")
        parts.append(escape(paragraph[last:match.start()]))
        parts.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        last = match.start() + len(url)
    parts.append(escape(paragraph[last:]))
    return "".join(parts).replace("\n", "<br>")


def best_thumbnail(thumbnails: dict) -> str:
    for size in THUMBNAIL_ORDER:
        found = thumbnails.get(size)
        if isinstance(found, dict) and isinstance(found.get("url"), str) and found["url"].startswith("https://"):
            return found["url"]
    return ""


def language(*candidates) -> str | None:
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return re.split(r"[-_]", value.strip().lower())[0]
    return None


def video(*, channel: str, video_id: str, title: str, description: str, published: datetime,
          channel_id: str, channel_title: str, thumbnail: str = "", tags=(), lang: str | None = None,
          sensitive: bool = False, raw: Raw | None = None) -> Message:
    """The one message a video makes, whichever endpoint or feed told of it."""
    text, html = text_html(title, description)
    hashtags = [t.strip().lstrip("#").strip().lower() for t in tags if isinstance(t, str)]
    hashtags += [h.lower() for h in _HASHTAG.findall(description)]
    return Message(
        channel=channel, id=video_id, kind="post",
        author=Author(id=channel_id, handle=channel_id, name=channel_title),
        created_at=published, text=text, html=html, url=WATCH + video_id, thread_id=video_id,
        language=lang, hashtags=_unique(hashtags),
        attachments=(Attachment(url=thumbnail, media_type="image/jpeg"),) if thumbnail else (),
        sensitive=sensitive, raw=raw)


def video_to_message(resource, *, channel: str = "", raw: Raw | None = None) -> Message:
    """A ``youtube#video`` resource (videos.list)."""
    resource = _checked(resource, "video")
    video_id = _id(_text(resource, "id", required=True), "id")
    snippet = _object(resource, "snippet")
    tags = snippet.get("tags") or []
    if not isinstance(tags, list):
        raise _Invalid("snippet.tags: expected a list")
    rating = _object(_object(resource, "contentDetails", required=False), "contentRating", required=False)
    return video(channel=channel, video_id=video_id, title=_text(snippet, "title") or "",
                 description=_text(snippet, "description") or "",
                 published=_date(snippet, "publishedAt", required=True),
                 channel_id=_text(snippet, "channelId", required=True),
                 channel_title=_text(snippet, "channelTitle") or "",
                 thumbnail=best_thumbnail(_object(snippet, "thumbnails", required=False)), tags=tags,
                 lang=language(snippet.get("defaultLanguage"), snippet.get("defaultAudioLanguage")),
                 sensitive=rating.get("ytRating") == "ytAgeRestricted", raw=raw)


def playlist_item_to_message(resource, *, channel: str = "", raw: Raw | None = None) -> Message:
    """A ``youtube#playlistItem`` resource: the video it holds (``created_at`` the video's own
    publication, ``contentDetails.videoPublishedAt``, where the answer has it; else the snippet's)."""
    resource = _checked(resource, "playlist item")
    snippet = _object(resource, "snippet")
    video_id = _id(_text(_object(snippet, "resourceId"), "videoId", required=True), "snippet.resourceId.videoId")
    details = _object(resource, "contentDetails", required=False)
    published = _date(details, "videoPublishedAt") or _date(snippet, "publishedAt", required=True)
    owner = _text(snippet, "videoOwnerChannelId") or _text(snippet, "channelId", required=True)
    return video(channel=channel, video_id=video_id, title=_text(snippet, "title") or "",
                 description=_text(snippet, "description") or "", published=published, channel_id=owner,
                 channel_title=_text(snippet, "videoOwnerChannelTitle") or _text(snippet, "channelTitle") or "",
                 thumbnail=best_thumbnail(_object(snippet, "thumbnails", required=False)), raw=raw)


def playlist_video_id(value) -> str:
    """The video id a playlistItems record names (an unreadable one's too, where it can be read), or ""."""
    if isinstance(value, dict):
        found = ((value.get("snippet") or {}).get("resourceId") or {}).get("videoId") \
            or (value.get("contentDetails") or {}).get("videoId")
        return found if isinstance(found, str) and ITEM_ID.fullmatch(found) else ""
    return ""


# -- comments -----------------------------------------------------------------------------------

def _handle(snippet: dict, author_id: str) -> str:
    url = snippet.get("authorChannelUrl")
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else ""
    return last[1:] if last.startswith("@") and len(last) > 1 else author_id


def comment_to_message(comment, *, video_id: str = "", channel: str = "", raw: Raw | None = None) -> Message:
    """A ``youtube#comment`` (a thread's top-level comment, or a reply), under video ``video_id``."""
    comment = _checked(comment, "comment")
    comment_id = _id(_text(comment, "id", required=True), "id")
    snippet = _object(comment, "snippet")
    video_id = _text(snippet, "videoId") or video_id
    if not video_id:
        raise _Invalid("missing 'videoId': the comment's video is unknown")
    parent = _text(snippet, "parentId")
    published = _date(snippet, "publishedAt", required=True)
    updated = _date(snippet, "updatedAt")
    edited = updated if updated and updated > published else None
    author_id = _text(_object(snippet, "authorChannelId", required=False), "value") or ""
    text = _text(snippet, "textOriginal")
    display = _text(snippet, "textDisplay")
    if text is None and display is None:
        raise _Invalid("missing 'textOriginal' and 'textDisplay'")
    html = sanitize(display) if display is not None else "<p>" + escape(text).replace("\n", "<br>") + "</p>"
    if text is None:
        text = to_text(html)
    return Message(
        channel=channel, id=comment_id, kind="comment",
        author=Author(id=author_id, handle=_handle(snippet, author_id), name=_text(snippet, "authorDisplayName") or ""),
        created_at=published, edited_at=edited, text=text, html=html,
        url=f"{WATCH}{_id(video_id, 'snippet.videoId')}&lc={comment_id}",
        in_reply_to=_id(parent, "snippet.parentId") if parent else video_id, thread_id=video_id,
        hashtags=_unique(h.lower() for h in _HASHTAG.findall(text)), mentions=_unique(_MENTION.findall(text)),
        version=iso(edited) if edited else "", raw=raw)


def thread_comments(thread) -> tuple[dict, list[dict], int]:
    """(top-level comment, embedded replies, totalReplyCount) of a ``youtube#commentThread``."""
    thread = _checked(thread, "comment thread")
    snippet = _object(thread, "snippet")
    top = _object(snippet, "topLevelComment")
    replies = _object(thread, "replies", required=False).get("comments") or []
    if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
        raise _Invalid("replies.comments: expected a list of objects")
    count = snippet.get("totalReplyCount") or 0
    if not isinstance(count, int):
        raise _Invalid(f"snippet.totalReplyCount: expected a number, got {count!r}"[:200])
    return top, replies, count


def thread_video_id(value) -> str:
    snippet = value.get("snippet") if isinstance(value, dict) else None
    found = snippet.get("videoId") if isinstance(snippet, dict) else None
    return found if isinstance(found, str) else ""


# -- records of a page --------------------------------------------------------------------------

def item_id(value) -> str:
    """The id an item carries (an unreadable one's too, where it can still be read), or ""."""
    found = value.get("id") if isinstance(value, (dict, Unreadable)) else None
    return found if isinstance(found, str) else ""


def to_messages(records: list[Record], normalise, channel: str, page_url: str,
                fetched_at: datetime | None) -> tuple[list[Message], list[Quarantined]]:
    """Each record through ``normalise(value, channel=, raw=)`` and :func:`admit`: messages, quarantined."""
    messages, quarantined = [], []
    for record in records:
        body, value, found = record.raw, record.value, item_id(record.value)
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=found, page_url=page_url))
            continue
        raw = Raw(body=body, media_type=MEDIA_TYPE, page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: normalise(value, channel=channel, raw=raw), body, item_id=found,
                        page_url=page_url, now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    return messages, quarantined


def threads_to_messages(records: list[Record], channel: str, page_url: str, fetched_at: datetime | None,
                        video_id: str = "") -> tuple[list[Message], list[Quarantined], list[tuple[str, int, int]]]:
    """Messages of a commentThreads page: each thread's top-level comment and its embedded replies.

    Every comment of a thread keeps the thread's exact bytes as its original (the replies are
    part of that resource). Also returns ``(top-level id, embedded replies, totalReplyCount)`` per
    thread, so the caller can ask ``comments?parentId=`` for the replies not embedded.
    """
    messages, quarantined, counts = [], [], []
    for record in records:
        body, value, found = record.raw, record.value, item_id(record.value)
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=found, page_url=page_url))
            continue
        raw = Raw(body=body, media_type=MEDIA_TYPE, page_url=page_url, fetched_at=fetched_at)
        try:
            top, replies, count = thread_comments(value)
            video = thread_video_id(value) or video_id
            built = [comment_to_message(c, video_id=video, channel=channel, raw=raw) for c in [top, *replies]]
        except ValueError as exc:
            quarantined.append(Quarantined(reason=str(exc), raw=body, item_id=found, page_url=page_url))
            continue
        except Exception as exc:  # noqa: BLE001 - one thread's bug must not fail the page
            quarantined.append(Quarantined(reason=f"internal error: {type(exc).__name__}: {exc}", raw=body,
                                           item_id=found, page_url=page_url))
            continue
        # the shared checks, per comment; one bad comment quarantines its thread (they share the bytes)
        admitted = [admit(lambda m=m: m, body, item_id=m.id, page_url=page_url, now=fetched_at) for m in built]
        bad = [q for q in admitted if isinstance(q, Quarantined)]
        if bad:
            quarantined.append(Quarantined(reason=bad[0].reason, raw=body, item_id=found, page_url=page_url))
            continue
        counts.append((built[0].id, len(replies), count))
        messages.extend(admitted)
    return messages, quarantined, counts
