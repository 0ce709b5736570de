"""Small pieces the Facebook and Instagram normalisers share: admitting a page's items (each with
its exact bytes), Graph ids and dates, media types, text to safe HTML, hashtags and mentions
written in the text, members found on the bytes (``paging``, a nested ``replies`` list).

The field readers (``_text``, ``_date``, ``_object``, ``_list_of_objects``, raising a
``ValueError`` whose text is the quarantine reason) are Mastodon's, re-used rather than copied:
Graph dates (``2021-07-09T19:09:52+0000``) are ISO 8601 that :func:`~connector.message.parse_iso`
reads.
"""
from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from datetime import datetime
from html import escape
from typing import Callable
from urllib.parse import urlsplit

from ..htmltext import sanitize
from ..message import EARLIEST, FUTURE_SLACK, Message, Quarantined, Raw, parse_iso, utcnow, value_defect
from .base import admit
from .jsonitems import Unreadable, member_start, top_level_spans, split_member
from .fields import Invalid, date as date_field, member as object_field, members as objects_field, \
    text as text_field  # noqa: F401 - re-exported
from .mastodon_status import item_id  # noqa: F401 - re-exported

# A link in plain text: http(s) up to a blank; trailing punctuation stays outside the link.
_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]}]")
# Hashtags as Facebook and Instagram link them: '#' after a non-word character, then letters/digits/_
_HASHTAG = re.compile(r"(?<![\w&#])#(\w{1,100})")
# Instagram @mentions: usernames are letters, digits, '.' and '_', at most 30 characters
_MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9._]{1,30})(?![A-Za-z0-9_])")
# Graph ids: digits, or a page's post id "<page id>_<post id>" (Facebook comment ids alike)
GRAPH_ID = re.compile(r"[0-9]{1,32}(_[0-9]{1,32})?")


def checked(item, what: str) -> dict:
    """``item`` when it is an object with nothing unstorable in it (named by its field), else ``Invalid``."""
    if not isinstance(item, dict):
        raise Invalid(f"expected a {what} object, got {type(item).__name__}")
    defect = value_defect(item)
    if defect:
        raise Invalid(defect)
    return item


def edge_items(item: dict, name: str) -> list[dict]:
    """The objects of an edge expanded inside an item (``{name: {"data": [...]}}``), ``[]`` without one;
    ``Invalid`` naming the field (``replies.data: ...``) when it is not a list of objects."""
    if item.get(name) is None:
        return []
    try:
        return objects_field(object_field(item, name), "data")
    except ValueError as exc:
        raise Invalid(f"{name}.{exc}" if str(exc).startswith("data") else str(exc)) from None


def graph_id(item: dict, name: str = "id") -> str:
    value = text_field(item, name, required=True)
    if not GRAPH_ID.fullmatch(value):
        raise Invalid(f"{name}: {value[:80]!r} is not a Graph id")
    return value


def media_type(url: str, family: str) -> str:
    """The media type a medium's URL names (``image/jpeg``), or ``<family>/*`` when it names none of ``family``."""
    guessed = mimetypes.guess_type(urlsplit(url).path)[0] or ""
    return guessed if guessed.startswith(family + "/") else f"{family}/*"


def admit_records(records, page_url: str, fetched_at,
                  normalise: Callable[[object, Raw], Message]) -> tuple[list[Message], list[Quarantined]]:
    """Messages and quarantined items of ``(bytes, value)`` pairs: each through :func:`~.base.admit`
    with its exact bytes as ``Raw``; an unreadable one (:class:`Unreadable`) quarantined with its reason."""
    messages, quarantined = [], []
    for body, value in records:
        key = item_id(value)
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=key, page_url=page_url))
            continue
        raw = Raw(body=body, media_type="application/json", page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: normalise(value, raw), body, item_id=key, page_url=page_url, now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    return messages, quarantined


def text_html(text: str) -> str:
    """Sanitised HTML of a plain text: escaped, paragraphs and line breaks kept, http(s) links as ``<a href>``."""
    if not text:
        return ""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.strip()):
        parts, last = [], 0
        for found in _URL.finditer(block):
            parts.append(escape(block[last:found.start()]))
            url = escape(found.group())
            parts.append(f'<a href="{url}">{url}</a>')
            last = found.end()
        parts.append(escape(block[last:]))
        paragraphs.append("<p>" + "".join(parts).replace("\n", "<br>") + "</p>")
    return sanitize("".join(paragraphs))


def hashtags(text: str) -> tuple[str, ...]:
    """The ``#hashtags`` written in ``text``, lower case, without ``#``, each once in order of appearance."""
    return tuple(dict.fromkeys(tag.lower() for tag in _HASHTAG.findall(text or "")))


def mentions(text: str) -> tuple[str, ...]:
    """The ``@username`` s written in ``text`` (Instagram's form), without ``@``, each once."""
    return tuple(dict.fromkeys(name.rstrip(".") for name in _MENTION.findall(text or "")))


def content_key(*parts: str) -> str:
    """A short stable digest of what a reader sees of an item (to tell a real edit from a new comment)."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def created_ts(value, name: str) -> int | None:
    """The item's creation time (field ``name``) as unix seconds, or None when it is missing, unreadable,
    or outside the dates a platform can make (a hostile year 9999 must not move a cursor)."""
    if not isinstance(value, dict) or not isinstance(value.get(name), str):
        return None
    try:
        when = parse_iso(value[name])
    except ValueError:
        return None
    if not EARLIEST <= when <= utcnow() + FUTURE_SLACK:
        return None
    return int(when.timestamp())


def member_object(body: bytes, key: str) -> bytes | None:
    """The exact bytes of the object at top-level ``key`` of the JSON object ``body``, or None.

    Found on the bytes, without parsing the rest: an item nested 100,000 arrays deep elsewhere in
    the page must not stop a reader of ``paging`` (Python's parser would recurse too deep).
    """
    start = member_start(body, key)
    if start is None or body[start:start + 1] != b"{":
        return None
    (begin, end), = top_level_spans(body, start, whole=False)
    return body[begin:end]


def nested_items(body: bytes, key: str) -> list[tuple[bytes, object]]:
    """The items of ``{key: {"data": [...]}}`` inside one item's exact bytes, each as (its exact bytes, value).

    For edges expanded inside an item (Instagram's ``replies``): each nested item keeps the
    platform's own bytes. ``[]`` when the member is missing or not an object.
    """
    found = member_object(body, key)
    return split_member(found, "data") if found is not None else []


def next_page(body: bytes) -> str | None:
    """``paging.next`` of a Graph page (the next page's URL), or None on the last page."""
    try:
        found = member_object(body, "paging")
        link = json.loads(found).get("next") if found is not None else None
    except (ValueError, RecursionError):
        return None
    return link if isinstance(link, str) and link else None


def ts_of(when: datetime) -> int:
    return int(when.timestamp())


__all__ = ["GRAPH_ID", "Invalid", "Unreadable", "admit_records", "checked", "content_key", "created_ts", "date_field",
           "edge_items", "graph_id", "hashtags", "item_id", "media_type", "member_object", "mentions", "nested_items",
           "next_page", "object_field", "objects_field", "text_field", "text_html", "ts_of"]
