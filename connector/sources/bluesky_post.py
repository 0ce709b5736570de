"""Bluesky feed items and post views as channel-neutral :class:`~connector.message.Message` s.

Split from :mod:`.bluesky` (polling, cursor, edits, deletions). ``feed_item_to_message`` and
``post_to_message`` raise ``Invalid`` (a ``ValueError``) with the quarantine reason.

What a message is made of (AT Protocol ``app.bsky.feed.defs``):

* ``id`` = the post's ``at://`` URI; a repost (feed item ``reason`` ``#reasonRepost``) is kind
  ``share`` with the repost record's own URI as id where the AppView sends it (``reason.uri``),
  else ``<post uri>#repost`` (one actor can hold one repost of a post at a time, and a channel
  follows one actor). Its author is the reposting account, its time the repost's ``indexedAt``.
* ``url`` = ``https://bsky.app/profile/<handle>/post/<rkey>`` as bsky.app builds it (the DID
  when there is no valid handle).
* ``text`` = ``record.text`` verbatim; ``html`` is built from it with its facets (UTF-8 *byte*
  ranges) as links, mentions and hashtags, then sanitised. An external link card is added as a
  last paragraph (title and URL) to both. Facets that are malformed, overlap or cut a character
  are left out (the text stays), as Bluesky's own clients do.
* ``record.reply`` makes a ``reply`` (``in_reply_to`` = parent URI, ``thread_id`` = root URI).
* images (``fullsize`` with ``alt``) and videos (the HLS playlist) are attachments, a quoted
  record (``embed.record#view``, ``embed.recordWithMedia#view``) is ``quote``.
"""
from __future__ import annotations

import re
from datetime import datetime
from html import escape
from urllib.parse import quote as url_quote

from ..htmltext import sanitize
from ..message import Attachment, Author, DateOutOfRange, Message, Quarantined, Quote, Raw, parse_iso, value_defect
from .base import admit
from .jsonitems import Unreadable

MEDIA_TYPE = "application/json"
POST_COLLECTION = "app.bsky.feed.post"
AT_URI = re.compile(r"at://(did:[a-z0-9]+:[A-Za-z0-9._:%-]{1,2048}|[A-Za-z0-9.-]{1,253})"
                    r"/([A-Za-z0-9.-]{1,317})/([A-Za-z0-9._:~-]{1,512})")
DID = re.compile(r"did:[a-z0-9]+:[A-Za-z0-9._:%-]{1,2048}")
HANDLE = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]([A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?")
REPOST = "app.bsky.feed.defs#reasonRepost"
SENSITIVE_LABELS = {"porn", "sexual", "nudity", "graphic-media", "gore"}
_IMAGE_SUFFIX = re.compile(r"@(jpeg|png|webp|gif)$")


class Invalid(ValueError):
    """An item that cannot be normalised; the message is the quarantine reason."""


# -- small readers ----------------------------------------------------------------------------

def _text(obj: dict, name: str, required: bool = False, where: str = "") -> str | None:
    value = obj.get(name)
    label = f"{where}{name}"
    if value is None:
        if required:
            raise Invalid(f"missing {label!r}")
        return None
    if not isinstance(value, str) or (required and not value):
        raise Invalid(f"{label}: expected a non-empty string, got {value!r}"[:200])
    return value


def _date(obj: dict, name: str, where: str = "") -> datetime:
    value = _text(obj, name, required=True, where=where)
    try:
        return parse_iso(value)
    except DateOutOfRange as exc:
        raise Invalid(f"{where}{name}: {exc}") from None
    except ValueError:
        raise Invalid(f"{where}{name}: {value!r} is not an ISO 8601 date") from None


def _object(obj: dict, name: str, where: str = "") -> dict:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise Invalid(f"{where}{name}: expected an object, got {value!r}"[:200] if value is not None
                      else f"missing {where + name!r}")
    return value


def _objects(obj: dict, name: str, where: str = "") -> list[dict]:
    value = obj.get(name) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Invalid(f"{where}{name}: expected a list of objects")
    return value


def split_uri(uri: str) -> tuple[str, str, str] | None:
    """(authority, collection, rkey) of an ``at://`` URI, or None."""
    match = AT_URI.fullmatch(uri) if isinstance(uri, str) else None
    return match.groups() if match else None


def profile_name(handle: str | None, did: str) -> str:
    """What bsky.app puts in a profile URL: the handle, or the DID when the handle is not valid."""
    if handle and handle != "handle.invalid" and HANDLE.fullmatch(handle):
        return handle
    return did


def permalink(uri: str, handle: str | None = None) -> str:
    """``https://bsky.app/profile/<handle or DID>/post/<rkey>`` for a post URI ("" for other records)."""
    parts = split_uri(uri)
    if not parts or parts[1] != POST_COLLECTION:
        return ""
    return f"https://bsky.app/profile/{profile_name(handle, parts[0])}/post/{parts[2]}"


def sort_time(item: dict) -> datetime | None:
    """Where a feed item sits in getAuthorFeed's order (the AppView's ``sortAt``): a repost's
    ``indexedAt``, else the earlier of the post's ``createdAt`` and ``indexedAt``; None if unreadable."""
    try:
        reason = item.get("reason")
        if isinstance(reason, dict) and reason.get("$type") == REPOST:
            return parse_iso(reason["indexedAt"])
        post = item.get("post", item)
        times = [parse_iso(post["indexedAt"])]
        created = (post.get("record") or {}).get("createdAt")
        if isinstance(created, str):
            times.append(parse_iso(created))
        return min(times)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


# -- rich text --------------------------------------------------------------------------------

def _is_boundary(data: bytes, index: int) -> bool:
    return index == len(data) or (data[index] & 0xC0) != 0x80  # not inside a UTF-8 sequence


def _facet_spans(data: bytes, facets: list) -> list[tuple[int, int, dict]]:
    """Usable facets as (byteStart, byteEnd, feature), sorted, without overlaps."""
    spans = []
    for facet in facets if isinstance(facets, list) else []:
        if not isinstance(facet, dict) or not isinstance(facet.get("index"), dict):
            continue
        start, end = facet["index"].get("byteStart"), facet["index"].get("byteEnd")
        if not (type(start) is int and type(end) is int and 0 <= start < end <= len(data)):
            continue
        if not (_is_boundary(data, start) and _is_boundary(data, end)):
            continue
        features = [f for f in facet.get("features") or [] if isinstance(f, dict)] \
            if isinstance(facet.get("features"), list) else []
        if features:
            spans.append((start, end, features[0]))
    spans.sort(key=lambda s: (s[0], s[1]))
    kept, last_end = [], 0
    for span in spans:
        if span[0] >= last_end:
            kept.append(span)
            last_end = span[1]
    return kept


def _paragraph(text: str) -> str:
    return escape(text, quote=False).replace("\n", "<br>")


def _is_web(uri) -> bool:
    return isinstance(uri, str) and re.match(r"https?://[^\s]", uri, re.I) is not None


def rich_text(text: str, facets, handles: dict[str, str]) -> tuple[str, list[str], list[str]]:
    """(html, hashtags, mentions) of a post text and its facets (byte ranges into the UTF-8 text).

    A mention's handle comes from the post's context (``handles``: DID -> handle of the accounts
    the item names), else from the mentioned text itself (``@handle``), else it is the DID.
    """
    data = text.encode("utf-8")
    parts, tags, mentions, position = [], [], [], 0
    for start, end, feature in _facet_spans(data, facets):
        label = data[start:end].decode("utf-8")
        kind = feature.get("$type")
        href = None
        if kind == "app.bsky.richtext.facet#link" and _is_web(feature.get("uri")):
            href = feature["uri"]
        elif kind == "app.bsky.richtext.facet#mention" and isinstance(feature.get("did"), str) \
                and DID.fullmatch(feature["did"]):
            did = feature["did"]
            typed = label[1:] if label.startswith("@") else ""
            mentions.append(handles.get(did) or (typed if HANDLE.fullmatch(typed) else did))
            href = f"https://bsky.app/profile/{did}"
        elif kind == "app.bsky.richtext.facet#tag" and isinstance(feature.get("tag"), str) and feature["tag"]:
            tag = feature["tag"].lstrip("#")
            tags.append(tag.lower())
            href = f"https://bsky.app/hashtag/{url_quote(tag, safe='')}"
        if href is None:
            continue
        parts.append(_paragraph(data[position:start].decode("utf-8")))
        parts.append(f'<a href="{escape(href)}">{_paragraph(label)}</a>')
        position = end
    parts.append(_paragraph(data[position:].decode("utf-8")))
    return "".join(parts), tags, mentions


# -- embeds -----------------------------------------------------------------------------------

def _image(view: dict) -> Attachment | None:
    url = view.get("fullsize") or view.get("thumb")
    if not _is_web(url):
        return None
    suffix = _IMAGE_SUFFIX.search(url)
    alt = view.get("alt")
    return Attachment(url=url, media_type=f"image/{suffix.group(1)}" if suffix else "image/*",
                      description=alt if isinstance(alt, str) else "")


def _quote(record: dict) -> Quote | None:
    uri = record.get("uri")
    parts = split_uri(uri)
    if not parts or parts[1] != POST_COLLECTION:
        return None  # a feed generator, list or starter pack: not a post
    author = record.get("author") if isinstance(record.get("author"), dict) else {}
    value = record.get("value") if isinstance(record.get("value"), dict) else {}
    handle = author.get("handle") if isinstance(author.get("handle"), str) else ""
    text = value.get("text") if isinstance(value.get("text"), str) else ""
    return Quote(id=uri, url=permalink(uri, handle), text=text, handle=handle)


def embed_parts(view) -> tuple[list[Attachment], Quote | None, list[dict]]:
    """(attachments, quote, link cards) of a post view's ``embed``."""
    if not isinstance(view, dict):
        return [], None, []
    kind = view.get("$type")
    if kind == "app.bsky.embed.images#view":
        return [a for a in map(_image, _objects(view, "images", "embed.")) if a], None, []
    if kind == "app.bsky.embed.video#view":
        playlist, alt = view.get("playlist"), view.get("alt")
        if not _is_web(playlist):
            return [], None, []
        return [Attachment(url=playlist, media_type="application/vnd.apple.mpegurl",
                           description=alt if isinstance(alt, str) else "")], None, []
    if kind == "app.bsky.embed.external#view":
        external = view.get("external")
        return [], None, [external] if isinstance(external, dict) and _is_web(external.get("uri")) else []
    if kind == "app.bsky.embed.record#view":
        record = view.get("record")
        return [], _quote(record) if isinstance(record, dict) else None, []
    if kind == "app.bsky.embed.recordWithMedia#view":
        attachments, _, cards = embed_parts(view.get("media"))
        outer = view.get("record") if isinstance(view.get("record"), dict) else {}
        record = outer.get("record")
        return attachments, _quote(record) if isinstance(record, dict) else None, cards
    return [], None, []


# -- messages ---------------------------------------------------------------------------------

def _handles(*people) -> dict[str, str]:
    found = {}
    for person in people:
        if isinstance(person, dict) and isinstance(person.get("did"), str) and isinstance(person.get("handle"), str):
            found.setdefault(person["did"], person["handle"])
    return found


def _context_people(item: dict, post: dict) -> list:
    people = [post.get("author")]
    reply = item.get("reply") if isinstance(item.get("reply"), dict) else {}
    for name in ("parent", "root"):
        node = reply.get(name)
        if isinstance(node, dict):
            people.append(node.get("author"))
    people.append(reply.get("grandparentAuthor"))
    reason = item.get("reason")
    if isinstance(reason, dict):
        people.append(reason.get("by"))
    embed = post.get("embed") if isinstance(post.get("embed"), dict) else {}
    for record in (embed.get("record"), (embed.get("record") or {}).get("record")
                   if isinstance(embed.get("record"), dict) else None):
        if isinstance(record, dict):
            people.append(record.get("author"))
    return people


def _card(card: dict) -> tuple[str, str]:
    title = card.get("title") if isinstance(card.get("title"), str) else ""
    uri = card["uri"]
    text = f"{title}\n{uri}" if title.strip() else uri
    html = f'<p><a href="{escape(uri)}">{_paragraph(title.strip() or uri)}</a></p>'
    return text, html


def _labels(post: dict, record: dict) -> set[str]:
    values = [label.get("val") for label in post.get("labels") or [] if isinstance(label, dict)] \
        if isinstance(post.get("labels"), list) else []
    own = record.get("labels")
    if isinstance(own, dict) and isinstance(own.get("values"), list):
        values += [v.get("val") for v in own["values"] if isinstance(v, dict)]
    return {v for v in values if isinstance(v, str)}


def post_to_message(post, *, channel: str = "", raw: Raw | None = None, item: dict | None = None) -> Message:
    """One post view (``app.bsky.feed.defs#postView``) as a post, reply or (with ``item``'s repost
    reason) share. ``item`` is the feed item around it (for the reply context and repost)."""
    if not isinstance(post, dict):
        raise Invalid(f"expected a post view object, got {type(post).__name__}")
    item = item if isinstance(item, dict) else {}
    defect = value_defect(item or post)  # named by the platform's own field, before anything uses it
    if defect:
        raise Invalid(defect)
    uri = _text(post, "uri", required=True)
    parts = split_uri(uri)
    if not parts or parts[1] != POST_COLLECTION:
        raise Invalid(f"uri: {uri[:120]!r} is not the at:// URI of a post")
    _text(post, "cid", required=True)
    author = _object(post, "author")
    did = _text(author, "did", required=True, where="author.")
    if not DID.fullmatch(did):
        raise Invalid(f"author.did: {did[:120]!r} is not a DID")
    handle = _text(author, "handle", where="author.") or ""
    record = _object(post, "record")
    text = _text(record, "text", where="record.") or ""
    created_at = _date(record, "createdAt", "record.")
    _date(post, "indexedAt")
    handles = _handles(*_context_people(item, post))
    body, hashtags, mentions = rich_text(text, record.get("facets"), handles)
    outline = record.get("tags")
    if isinstance(outline, list):
        hashtags += [t.lstrip("#").lower() for t in outline if isinstance(t, str) and t.strip("#")]
    attachments, quote, cards = embed_parts(post.get("embed"))
    html = f"<p>{body}</p>" if text else ""
    for card in cards:
        card_text, card_html = _card(card)
        text = f"{text}\n\n{card_text}" if text else card_text
        html += card_html
    reply = record.get("reply")
    in_reply_to = thread_id = None
    if reply is not None:
        if not isinstance(reply, dict):
            raise Invalid("record.reply: expected an object")
        in_reply_to = _text(_object(reply, "parent", "record.reply."), "uri", True, "record.reply.parent.")
        thread_id = _text(_object(reply, "root", "record.reply."), "uri", True, "record.reply.root.")
    langs = record.get("langs")
    language = langs[0] if isinstance(langs, list) and langs and isinstance(langs[0], str) else None
    url = permalink(uri, handle)
    message = dict(
        channel=channel, id=uri, kind="reply" if in_reply_to else "post",
        author=Author(id=did, handle=handle, name=_text(author, "displayName", where="author.") or ""),
        created_at=created_at, text=text, url=url, in_reply_to=in_reply_to, thread_id=thread_id or uri,
        language=language, hashtags=tuple(dict.fromkeys(hashtags)), mentions=tuple(dict.fromkeys(mentions)),
        attachments=tuple(attachments), sensitive=bool(_labels(post, record) & SENSITIVE_LABELS), quote=quote,
        raw=raw)
    reason = item.get("reason")
    if isinstance(reason, dict) and reason.get("$type") == REPOST:
        by = _object(reason, "by", "reason.")
        by_did = _text(by, "did", required=True, where="reason.by.")
        who = handle or did
        message.update(
            id=_text(reason, "uri", where="reason.") or f"{uri}#repost", kind="share",
            author=Author(id=by_did, handle=_text(by, "handle", where="reason.by.") or "",
                          name=_text(by, "displayName", where="reason.by.") or ""),
            created_at=_date(reason, "indexedAt", "reason."), in_reply_to=None,
            text=f"Reposted from @{who}:\n\n{text}",
            html=f'<p>Reposted from <a href="{escape(url or uri)}">@{escape(who)}</a>:</p>{html}')
        message["thread_id"] = message["id"]
    message.setdefault("html", html)
    message["html"] = sanitize(message["html"])
    return Message(**message)


def feed_item_to_message(item, *, channel: str = "", raw: Raw | None = None) -> Message:
    """One getAuthorFeed item (``app.bsky.feed.defs#feedViewPost``) as a message."""
    if not isinstance(item, dict):
        raise Invalid(f"expected a feed item object, got {type(item).__name__}")
    return post_to_message(_object(item, "post"), channel=channel, raw=raw, item=item)


def item_key(value) -> str:
    """The message id a feed item, thread node or post view will have ("" when it has no post URI)."""
    if not isinstance(value, dict):
        return ""
    post = value.get("post") if isinstance(value.get("post"), dict) else value
    uri = post.get("uri") if isinstance(post.get("uri"), str) else ""
    reason = value.get("reason")
    if uri and isinstance(reason, dict) and reason.get("$type") == REPOST:
        return reason.get("uri") if isinstance(reason.get("uri"), str) else f"{uri}#repost"
    return uri


def records_to_messages(records, channel: str, page_url: str, fetched_at: datetime | None,
                        normalise=feed_item_to_message) -> tuple[list[Message], list[Quarantined]]:
    """(messages, quarantined) of one answer's records (``.rest.Record``: value and exact bytes).

    A record whose value is :class:`~.jsonitems.Unreadable` is quarantined with its reason.
    """
    messages, quarantined = [], []
    for record in records:
        body, value, key = record.raw, record.value, item_key(record.value)
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=key, page_url=page_url))
            continue
        raw = Raw(body=body, media_type=MEDIA_TYPE, page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: normalise(value, channel=channel, raw=raw), body, item_id=key,
                        page_url=page_url, now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    return messages, quarantined
