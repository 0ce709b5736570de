"""LinkedIn posts (Posts API) and comments (socialActions comments) as :class:`Message` s.

Split from :mod:`.linkedin` (polling, cursor, deletions) so that each reads in one sitting.
Normalisers raise :class:`Invalid` (a ``ValueError``) with the quarantine reason.

Conventions (see the module docstring of :mod:`.linkedin` for the cursor):

* a post's ``id`` is its URN (``urn:li:share:...``, ``urn:li:ugcPost:...``), its ``url``
  ``https://www.linkedin.com/feed/update/<urn>/``; ``created_at`` is ``publishedAt`` (else
  ``createdAt``); a post LinkedIn marks ``lifecycleStateInfo.isEditedByAuthor`` gets
  ``version`` = ISO ``lastModifiedAt`` and ``edited_at`` = that time (so each edit is a version
  of its own, and an unedited post that is merely touched stays version ``""``);
* a reshare (``reshareContext.parent``) without commentary is kind ``share``; with commentary a
  ``post`` quoting its parent; both carry ``quote`` = the parent;
* media (``content.media``, ``content.multiImage``) are attachments whose URL is the
  ``downloadUrl`` LinkedIn's Images/Videos/Documents API gave for the URN (``resolved``); an
  unresolved one keeps its URN as URL, which the media policy records as missing, never fetched;
* a comment's ``id`` is its comment URN, ``thread_id`` the post it is under, ``in_reply_to`` its
  ``parentComment`` or else that post; ``url`` the post's with ``?commentUrn=<comment urn>``.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import escape
from urllib.parse import quote

from ..message import Attachment, Author, Message, Quarantined, Quote, Raw, iso, value_defect
from .base import admit
from .fields import Invalid, member, text as _text
from .jsonitems import Unreadable
from .linkedin_cursor import above
from .linkedin_text import parse_little, plain_html

POST_URN = re.compile(r"urn:li:(share|ugcPost|activity):[0-9A-Za-z_-]{1,64}")
MEDIA_URN = re.compile(r"urn:li:(image|video|document):[0-9A-Za-z_-]{1,128}")
PUBLISHED = ("PUBLISHED",)
_FAMILY = {"image": "image/*", "video": "video/*", "document": ""}


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


def comment_url(post_urn: str, comment_urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{post_urn}?commentUrn={quote(comment_urn, safe='')}"


def epoch_ms(value, name: str, required: bool = True) -> datetime | None:
    """A LinkedIn timestamp (epoch milliseconds) as an aware UTC datetime."""
    if value is None:
        if required:
            raise Invalid(f"missing {name!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{name}: expected epoch milliseconds, got {value!r}"[:200])
    try:
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Invalid(f"{name}: {value} is not a time in years 1 to 9999") from None


def _object(obj: dict, name: str) -> dict:
    return member(obj, name, required=False)


def media_urns(post) -> list[str]:
    """The image/video/document URNs a post's ``content`` names (for resolving before normalising)."""
    content = post.get("content") if isinstance(post, dict) else None
    if not isinstance(content, dict):
        return []
    found = []
    media = content.get("media")
    if isinstance(media, dict) and isinstance(media.get("id"), str):
        found.append(media["id"])
    multi = content.get("multiImage")
    if isinstance(multi, dict) and isinstance(multi.get("images"), list):
        found += [i["id"] for i in multi["images"] if isinstance(i, dict) and isinstance(i.get("id"), str)]
    return [urn for urn in found if MEDIA_URN.fullmatch(urn)]


def _attachment(item: dict, where: str, resolved: dict) -> Attachment:
    urn = _text(item, "id", required=True)
    match = MEDIA_URN.fullmatch(urn)
    if not match:
        raise Invalid(f"{where}.id: {urn[:80]!r} is not an image, video or document URN")
    alt = _text(item, "altText") or _text(item, "title") or ""
    return Attachment(url=resolved.get(urn) or urn, media_type=_FAMILY[match.group(1)], description=alt)


def _attachments(content: dict, resolved: dict) -> tuple[Attachment, ...]:
    found = []
    if content.get("media") is not None:
        found.append(_attachment(_object(content, "media"), "content.media", resolved))
    multi = _object(content, "multiImage")
    images = multi.get("images") or []
    if not isinstance(images, list) or not all(isinstance(i, dict) for i in images):
        raise Invalid("content.multiImage.images: expected a list of objects")
    found += [_attachment(image, f"content.multiImage.images[{n}]", resolved) for n, image in enumerate(images)]
    return tuple(found)


def post_to_message(post, *, channel: str = "", raw: Raw | None = None, resolved: dict | None = None,
                    names: dict | None = None) -> Message:
    """One Posts API element as a :class:`Message`; raises :class:`Invalid` with the reason.

    ``names`` maps an author URN to its display name (the organization's ``localizedName``)."""
    if not isinstance(post, dict):
        raise Invalid(f"expected a post object, got {type(post).__name__}")
    defect = value_defect(post)
    if defect:
        raise Invalid(defect)
    urn = _text(post, "id", required=True)
    if not POST_URN.fullmatch(urn):
        raise Invalid(f"id: {urn[:80]!r} is not a share or ugcPost URN")
    author_urn = _text(post, "author", required=True)
    created = epoch_ms(post.get("publishedAt"), "publishedAt", required=False) or \
        epoch_ms(post.get("createdAt"), "createdAt")
    modified = epoch_ms(post.get("lastModifiedAt"), "lastModifiedAt")
    edited = _object(post, "lifecycleStateInfo").get("isEditedByAuthor") is True
    little = parse_little(_text(post, "commentary") or "")
    text, html = little.text, little.html()
    content = _object(post, "content")
    article = _object(content, "article")
    source = _text(article, "source")
    if source:
        title = _text(article, "title") or source
        text = f"{text}\n\n{title}: {source}" if text else f"{title}: {source}"
        link = f'<a href="{escape(source)}">{escape(title)}</a>' if re.match(r"https?://", source) else \
            escape(f"{title}: {source}")
        html += f"<p>{link}</p>"
    parent = _text(_object(post, "reshareContext"), "parent")
    quoted = None
    kind = "post"
    if parent:
        if not POST_URN.fullmatch(parent):
            raise Invalid(f"reshareContext.parent: {parent[:80]!r} is not a post URN")
        quoted = Quote(id=parent, url=post_url(parent))
        if not little.text.strip():
            kind = "share"
            text = f"Reshared {post_url(parent)}"
            html = f'<p>Reshared <a href="{escape(post_url(parent))}">{escape(parent)}</a></p>'
    return Message(
        channel=channel,
        id=urn,
        kind=kind,
        author=Author(id=author_urn, handle=author_urn, name=(names or {}).get(author_urn) or ""),
        created_at=created,
        edited_at=modified if edited else None,
        text=text,
        html=html,
        url=post_url(urn),
        thread_id=urn,
        hashtags=little.hashtags,
        mentions=little.mentions,
        attachments=_attachments(content, resolved or {}),
        version=iso(modified) if edited else "",
        quote=quoted,
        raw=raw,
    )


def comment_id(comment) -> str:
    """A comment's URN (``commentUrn``, ``$URN``, else built from ``object`` and ``id``), or ""."""
    if not isinstance(comment, dict):
        return ""
    for name in ("commentUrn", "$URN"):
        if isinstance(comment.get(name), str) and comment[name]:
            return comment[name]
    if isinstance(comment.get("object"), str) and isinstance(comment.get("id"), str):
        return f"urn:li:comment:({comment['object']},{comment['id']})"
    return ""


def _urns_in(value) -> list[str]:
    found, pending = [], [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and re.fullmatch(r"urn:li:(person|organization|company):[^\s]+", item):
            found.append(item)
        elif isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            pending.extend(reversed(item))
    return found


def comment_to_message(comment, *, channel: str = "", raw: Raw | None = None, post: str | None = None) -> Message:
    """One comment as a :class:`Message` (kind ``comment``); ``post`` is the post it was asked for
    (its ``Message.id``); without it, the comment's own ``object``."""
    if not isinstance(comment, dict):
        raise Invalid(f"expected a comment object, got {type(comment).__name__}")
    defect = value_defect(comment)
    if defect:
        raise Invalid(defect)
    urn = comment_id(comment)
    if not urn.startswith("urn:li:comment:"):
        raise Invalid("missing 'commentUrn' ('$URN', or 'object' and 'id')")
    thread = post or _text(comment, "object", required=True)
    actor = _text(comment, "actor", required=True)
    created = epoch_ms(_object(comment, "created").get("time"), "created.time")
    modified = epoch_ms(_object(comment, "lastModified").get("time"), "lastModified.time", required=False)
    edited = modified is not None and modified > created
    message = _object(comment, "message")
    text = _text(message, "text") or ""
    attributes = message.get("attributes") or []
    content = comment.get("content") or []
    if not isinstance(content, list) or not all(isinstance(c, dict) for c in content):
        raise Invalid("content: expected a list of objects")
    attachments = []
    for item in content:
        url = _text(item, "url")
        if url:
            kind = (_text(item, "type") or "").upper()
            attachments.append(Attachment(url=url, media_type={"IMAGE": "image/*", "VIDEO": "video/*"}.get(kind, "")))
    parent = _text(comment, "parentComment")
    return Message(
        channel=channel,
        id=urn,
        kind="comment",
        author=Author(id=actor, handle=actor),
        created_at=created,
        edited_at=modified if edited else None,
        text=text,
        html=plain_html(text),
        url=comment_url(thread, urn),
        in_reply_to=parent or thread,
        thread_id=thread,
        mentions=tuple(dict.fromkeys(_urns_in(attributes))),
        attachments=tuple(attachments),
        version=iso(modified) if edited else "",
        raw=raw,
    )


# -- one page's records -------------------------------------------------------------------------

def key_of(value) -> tuple[int, str] | None:
    """A post's place in the listing: ``(lastModifiedAt, urn)``, or None when it has none."""
    if isinstance(value, dict):
        ms, urn = value.get("lastModifiedAt"), value.get("id")
        if isinstance(ms, int) and not isinstance(ms, bool) and isinstance(urn, str) and POST_URN.fullmatch(urn):
            return ms, urn  # a garbled id has no place in the cursor (it is quarantined once, by its bytes)
    return None


def comment_key(value) -> tuple[int, str] | None:
    """A comment's ``(last modification ms, urn)``, or None."""
    if not isinstance(value, dict):
        return None
    for name in ("lastModified", "created"):
        stamp = value.get(name)
        ms = stamp.get("time") if isinstance(stamp, dict) else None
        if isinstance(ms, int) and not isinstance(ms, bool) and comment_id(value):
            return ms, comment_id(value)
    return None


def has_replies(value) -> bool:
    """True for a comment whose ``commentsSummary`` counts replies (fetched from the comment itself)."""
    summary = value.get("commentsSummary") if isinstance(value, dict) else None
    if not isinstance(summary, dict):
        return False
    counts = [summary.get(n) for n in ("aggregatedTotalComments", "totalFirstLevelComments")]
    return any(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in counts)


def is_comment(value) -> bool:
    return isinstance(value, dict) and "actor" in value and ("message" in value or "object" in value)


def _item_id(value) -> str:
    if isinstance(value, dict):
        return comment_id(value) if is_comment(value) else (value.get("id") if isinstance(value.get("id"), str)
                                                              else "")
    return value.id if isinstance(value, Unreadable) else ""


def _admit_all(records, page_url, fetched_at, normalise):
    messages, quarantined = [], []
    for record in records:
        item = _item_id(record.value)
        if isinstance(record.value, Unreadable):
            quarantined.append(Quarantined(reason=record.value.reason, raw=record.raw, item_id=item,
                                           page_url=page_url))
            continue
        raw = Raw(body=record.raw, media_type="application/json", page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: normalise(record.value, raw), record.raw, item_id=item, page_url=page_url,
                        now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    return messages, quarantined


def posts_to_messages(records, channel: str, page_url: str, fetched_at, resolved: dict, names: dict | None = None):
    """(messages, quarantined) of posts; a post not ``PUBLISHED`` (a draft, a failed publication) is no message."""
    records = [r for r in records if not (isinstance(r.value, dict) and isinstance(r.value.get("lifecycleState"), str)
                                          and r.value["lifecycleState"] not in PUBLISHED)]
    return _admit_all(records, page_url, fetched_at,
                      lambda value, raw: post_to_message(value, channel=channel, raw=raw, resolved=resolved,
                                                         names=names))


def comments_to_messages(records, channel: str, page_url: str, fetched_at, post: str | None, mark: dict | None):
    """(messages, quarantined, keys) of the comments above ``mark`` (``{"ms", "ids"}``; None: all).

    ``keys`` are the ``(ms, urn)`` of every comment read, for the post's comment watermark."""
    keys = [k for k in (comment_key(r.value) for r in records) if k]
    fresh = [r for r in records if (lambda key: key is None or above(key, mark))(comment_key(r.value))]
    messages, quarantined = _admit_all(fresh, page_url, fetched_at,
                                       lambda value, raw: comment_to_message(value, channel=channel, raw=raw,
                                                                             post=post))
    return messages, quarantined, keys
