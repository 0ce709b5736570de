"""YouTube's quota-free channel feed (``https://www.youtube.com/feeds/videos.xml?channel_id=...``).

An Atom feed of the channel's 15 newest videos: per ``<entry>`` a ``yt:videoId``, ``yt:channelId``,
``title``, ``author``, ``published`` and ``updated``, and a ``media:group`` with the description
(``media:description``) and a thumbnail (``media:thumbnail``). No comments, tags or language.

Each entry becomes the very message :func:`.youtube_items.video` makes in ``api`` mode (id the
video id, url ``https://www.youtube.com/watch?v=<id>``, kind ``post``, the same text), so a
channel switched between modes stores no video twice. ``Raw.body`` is the ``<entry>`` element
exactly as it stood in the response (found by :func:`.feedspans.entry_spans`); where the spans
cannot be paired with the entries, each entry's original is the whole response (scope
``response``). A document that is not a well-formed Atom feed (a proxy's page, a body cut off)
raises :class:`~.base.ParseError`.
"""
from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import lxml.etree

from ..message import Message, Quarantined, Raw, storable
from .base import ParseError, admit
from .feedspans import entry_spans
from .youtube_items import ITEM_ID, _Invalid, language, video
from .youtube_items import _date as _item_date

ATOM_TYPE = "application/atom+xml"
ATOM = "http://www.w3.org/2005/Atom"
YT = "http://www.youtube.com/xml/schemas/2015"
MEDIA = "http://search.yahoo.com/mrss/"
_PARSER = lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=False)


def _find(element, path: str) -> str:
    found = element.findtext(path, namespaces={"a": ATOM, "yt": YT, "media": MEDIA})
    return found.strip() if isinstance(found, str) else ""


def _date(element, name: str, required: bool) -> datetime | None:
    value = _find(element, f"a:{name}")
    return _item_date({name: value}, name, required) if value or required else None


def _channel_id(entry) -> str:
    # recent feeds drop the "UC" of yt:channelId; the author's channel URL still has the whole id
    uri = _find(entry, "a:author/a:uri")
    last = urlsplit(uri).path.rstrip("/").rsplit("/", 1)[-1] if uri else ""
    return last if last.startswith("UC") else _find(entry, "yt:channelId")


def entry_to_message(entry, *, channel: str = "", raw: Raw | None = None, feed_language: str | None = None) -> Message:
    """One feed ``<entry>`` (an lxml element) as the video's message; raises ``_Invalid``."""
    video_id = _find(entry, "yt:videoId")
    if not video_id:
        identifier = _find(entry, "a:id")
        video_id = identifier.rsplit(":", 1)[-1] if identifier.startswith("yt:video:") else ""
    if not ITEM_ID.fullmatch(video_id):
        raise _Invalid(f"yt:videoId: {video_id[:80]!r} is not a YouTube video id" if video_id else "no yt:videoId")
    thumbnail = entry.find(f"{{{MEDIA}}}group/{{{MEDIA}}}thumbnail")
    url = thumbnail.get("url", "") if thumbnail is not None else ""
    channel_id = _channel_id(entry)
    if not channel_id:
        raise _Invalid("no yt:channelId or author uri")
    return video(channel=channel, video_id=video_id,
                 title=_find(entry, "a:title") or _find(entry, "media:group/media:title"),
                 description=(entry.findtext(f"{{{MEDIA}}}group/{{{MEDIA}}}description") or ""),
                 published=_date(entry, "published", required=True), channel_id=channel_id,
                 channel_title=_find(entry, "a:author/a:name"),
                 thumbnail=url if url.startswith("https://") else "", lang=language(feed_language), raw=raw)


def parse_feed(data: bytes, channel: str, url: str, fetched_at: datetime | None
               ) -> tuple[list[Message], list[Quarantined], list[str]]:
    """(messages, quarantined, video ids in feed order) of one feed document; ParseError if it is none."""
    try:
        root = lxml.etree.fromstring(data.lstrip(), _PARSER)
    except lxml.etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        raise ParseError(exc.msg or "not XML", f"line {line} column {column}" if line else "") from None
    if root.tag != f"{{{ATOM}}}feed":
        raise ParseError(f"expected an Atom <feed>, found <{lxml.etree.QName(root).localname}>", "line 1")
    entries = root.findall(f"{{{ATOM}}}entry")
    spans = entry_spans(data)
    if spans is not None and len(spans) != len(entries):
        spans = None
    feed_language = root.get("{http://www.w3.org/XML/1998/namespace}lang")
    messages, quarantined, ids = [], [], []
    for position, entry in enumerate(entries):
        if spans is not None:
            body, scope = data[slice(*spans[position])], Raw.ITEM
        else:
            body, scope = data, Raw.RESPONSE
        raw = Raw(body=body, media_type=ATOM_TYPE, page_url=url, fetched_at=fetched_at, scope=scope)
        found = storable(_find(entry, "yt:videoId"))
        outcome = admit(lambda: entry_to_message(entry, channel=channel, raw=raw, feed_language=feed_language),
                        body, item_id=found, page_url=url, now=fetched_at)
        if isinstance(outcome, Quarantined):
            quarantined.append(outcome)
        else:
            messages.append(outcome)
        if found and ITEM_ID.fullmatch(found):
            ids.append(found)
    return messages, quarantined, ids
