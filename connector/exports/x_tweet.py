"""One tweet of an X archive (``data/tweets.js``) as a :class:`~connector.message.Message`.

The archive's tweet objects are v1.1-like (``id_str``, ``full_text``, ``created_at`` as
``Wed Oct 10 20:19:24 +0000 2018``, ``entities``, ``extended_entities``, ``edit_info``), all
numbers as strings, ``full_text`` HTML-escaped (``&amp;``). The message must be the one the X API
source makes of the same tweet, so that the store, keyed on ``(channel, id, version)``, keeps one
record whether a tweet was polled or imported:

* ``id`` is the ORIGINAL tweet's id (``edit_info.edit.initialTweetId`` of an edit, else
  ``edit_info.initial.editTweetIds[0]``, else ``id_str``); ``version`` is ``""`` for the original
  and the edit's own tweet id for an edit, whose ``edited_at`` is the edit's ``created_at`` and
  whose ``created_at`` is the original's (read from its snowflake id);
* ``url`` is ``https://x.com/<username>/status/<id>``; the author is the archive's owner;
* a retweet (``RT @`` text; the archive's ``retweeted`` is always false) is a ``share``; a reply
  carries ``in_reply_to`` = ``in_reply_to_status_id_str`` and ``thread_id`` = the root of its
  thread where the parent is in the same archive (a self-thread), else the parent's id;
* a quote (``quoted_status_id_str``, or a link to a status among ``entities.urls``) gets
  ``Quote(id, url, handle)``;
* ``text`` is ``full_text`` unescaped with its t.co links expanded (a medium's t.co link is dropped:
  the medium is an attachment), or a long post's whole text from ``note-tweet.js``; attachments are the media's own https URLs (the largest mp4 of
  a video), whose files the archive holds in ``data/tweets_media/`` (see ``open_media``).
"""
from __future__ import annotations

import html
import mimetypes
import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ..message import Attachment, Author, Message, Quote, Raw, value_defect
from .common import Invalid, objects, text_html

CREATED_AT = "%a %b %d %H:%M:%S %z %Y"
TWEET_ID = re.compile(r"[0-9]{1,20}")
# a status permalink among a tweet's links: a quote (x.com, twitter.com, mobile. and www. forms)
STATUS_LINK = re.compile(r"https?://(?:www\.|mobile\.)?(?:x|twitter)\.com/([A-Za-z0-9_]{1,15})/status(?:es)?/([0-9]{1,20})/?(?:[?#].*)?")
TWITTER_EPOCH_MS = 1288834974657


def _string(obj: dict, name: str, where: str = "") -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Invalid(f"{where}{name}: expected a string, got {type(value).__name__}")
    return value


def _tweet_id(obj: dict, name: str, where: str = "") -> str | None:
    value = _string(obj, name, where)
    if value is not None and not TWEET_ID.fullmatch(value):
        raise Invalid(f"{where}{name}: {value[:40]!r} is not a tweet id")
    return value


def _dict(obj: dict, name: str, where: str = "") -> dict:
    value = obj.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"{where}{name}: expected an object, got {type(value).__name__}")
    return value


def created_at(tweet: dict) -> datetime:
    value = _string(tweet, "created_at")
    if value is None:
        raise Invalid("missing 'created_at'")
    try:
        return datetime.strptime(value, CREATED_AT).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise Invalid(f"created_at: {value[:60]!r} is not a date like 'Wed Oct 10 20:19:24 +0000 2018'") from None


def snowflake_time(tweet_id: str) -> datetime | None:
    """When a tweet with this id was made (ids since November 2010 carry their time), or None."""
    millis = (int(tweet_id) >> 22) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(millis / 1000, timezone.utc) if int(tweet_id) >> 22 else None


def original_id(tweet: dict, own: str) -> str:
    """The id the tweet had as first published (see the module docstring)."""
    info = _dict(tweet, "edit_info")
    edit = _dict(info, "edit", "edit_info.")
    initial = _tweet_id(edit, "initialTweetId", "edit_info.edit.")
    if initial:
        return initial
    ids = _dict(info, "initial", "edit_info.").get("editTweetIds")
    if ids is None or ids == []:
        return own
    if not isinstance(ids, list) or not all(isinstance(i, str) and TWEET_ID.fullmatch(i) for i in ids):
        raise Invalid("edit_info.initial.editTweetIds: expected a list of tweet ids")
    return ids[0]


def _text(tweet: dict, entities: dict, media: list[dict]) -> str:
    text = html.unescape(_string(tweet, "full_text") or _string(tweet, "text") or "")
    for link in objects(entities, "urls", "entities."):
        short, long = _string(link, "url", "entities.urls."), _string(link, "expanded_url", "entities.urls.")
        if short and long:
            text = text.replace(short, long)
    for medium in media:
        short = _string(medium, "url", "media.")
        if short:
            text = text.replace(short, "")
    return text.strip()


def long_text(text: str, published: datetime, notes: dict[datetime, list[dict]] | None) -> str:
    """The whole text of a long post from ``note-tweet.js``, else ``text`` (the archive's truncated one).

    The archive does not say which note belongs to which tweet; a note is taken when it is the only
    one made in the tweet's second and its text begins as the tweet's does (X's truncated text).
    """
    if not notes or not text:
        return text
    head = text.rstrip("…").strip()[:40]
    found = [n for n in notes.get(published, []) if html.unescape(n["text"]).startswith(head)]
    if len(found) != 1:
        return text
    note = html.unescape(found[0]["text"])
    for link in found[0]["urls"]:
        short = link.get("shortUrl") or link.get("url")
        long = link.get("expandedUrl") or link.get("expanded_url")
        if isinstance(short, str) and isinstance(long, str) and short:
            note = note.replace(short, long)
    return note.strip() if len(note) > len(head) else text


def _attachment(medium: dict) -> Attachment | None:
    kind = _string(medium, "type", "media.") or "photo"
    url = _string(medium, "media_url_https", "media.") or _string(medium, "media_url", "media.")
    media_type = ""
    if kind in ("video", "animated_gif"):
        variants = [v for v in objects(_dict(medium, "video_info", "media."), "variants", "media.video_info.")
                    if v.get("content_type") == "video/mp4" and isinstance(v.get("url"), str)]
        if variants:
            best = max(variants, key=lambda v: int(v["bitrate"]) if str(v.get("bitrate", "")).isdigit() else 0)
            url, media_type = best["url"], "video/mp4"
    if not url:
        return None
    if not media_type:
        media_type = mimetypes.guess_type(urlsplit(url).path)[0] or "image/*"
    return Attachment(url=url, media_type=media_type, description=_string(medium, "ext_alt_text", "media.") or "")


def _quote(tweet: dict, entities: dict) -> Quote | None:
    quoted = _tweet_id(tweet, "quoted_status_id_str")
    links = [_string(link, "expanded_url", "entities.urls.") or "" for link in objects(entities, "urls", "entities.")]
    permalink = _string(_dict(tweet, "quoted_status_permalink"), "expanded")
    for link in ([permalink] if permalink else []) + links:
        found = STATUS_LINK.fullmatch(link)
        if found and (quoted is None or found.group(2) == quoted):
            handle, status = found.groups()
            return Quote(id=status, url=f"https://x.com/{handle}/status/{status}", handle=handle)
    return Quote(id=quoted, url=f"https://x.com/i/status/{quoted}") if quoted else None


def tweet_to_message(tweet, *, channel: str, author: Author, raw: Raw | None,
                     roots: dict[str, str] | None = None, notes: dict[datetime, list[dict]] | None = None) -> Message:
    """One archive tweet as a Message (see the module docstring); raises :class:`Invalid` with the reason.

    ``roots`` maps the ids of tweets already imported to their thread's root (read, not written);
    ``notes`` the long posts of ``note-tweet.js`` by the second they were made (see :func:`long_text`).
    """
    if not isinstance(tweet, dict):
        raise Invalid(f"expected a tweet object, got {type(tweet).__name__}")
    defect = value_defect(tweet)
    if defect:
        raise Invalid(defect)
    own = _tweet_id(tweet, "id_str") or _tweet_id(tweet, "id")
    if own is None:
        raise Invalid("missing 'id_str'")
    published = created_at(tweet)
    first = original_id(tweet, own)
    version = "" if first == own else own
    edited_at = published if version else None
    if version:
        published = snowflake_time(first) or published
    entities = _dict(tweet, "entities")
    media = objects(_dict(tweet, "extended_entities"), "media", "extended_entities.") \
        or objects(entities, "media", "entities.")
    text = long_text(_text(tweet, entities, media), edited_at or published, notes)
    in_reply_to = _tweet_id(tweet, "in_reply_to_status_id_str") or _tweet_id(tweet, "in_reply_to_status_id")
    if text.startswith("RT @") or tweet.get("retweeted") is True:
        kind = "share"
    else:
        kind = "reply" if in_reply_to else "post"
    sensitive = tweet.get("possibly_sensitive")
    if sensitive is not None and not isinstance(sensitive, bool):
        raise Invalid(f"possibly_sensitive: expected true/false, got {sensitive!r}"[:120])
    hashtags = tuple(t["text"].lower() for t in objects(entities, "hashtags", "entities.")
                     if isinstance(t.get("text"), str))
    mentions = tuple(m["screen_name"] for m in objects(entities, "user_mentions", "entities.")
                     if isinstance(m.get("screen_name"), str))
    return Message(
        channel=channel,
        id=first,
        kind=kind,
        author=author,
        created_at=published,
        edited_at=edited_at,
        text=text,
        html=text_html(text),
        url=f"https://x.com/{author.handle}/status/{first}",
        in_reply_to=in_reply_to,
        thread_id=(roots or {}).get(in_reply_to, in_reply_to) if in_reply_to else first,
        language=_string(tweet, "lang"),
        hashtags=hashtags,
        mentions=mentions,
        attachments=tuple(a for a in map(_attachment, media) if a),
        sensitive=bool(sensitive),
        version=version,
        quote=_quote(tweet, entities),
        raw=raw,
    )
