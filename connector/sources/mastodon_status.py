"""Mastodon statuses as channel-neutral :class:`~connector.message.Message` s.

Split from :mod:`.mastodon` (polling, cursor, pagination) so that each module reads in one
sitting. ``status_to_message`` raises ``_Invalid`` (a ``ValueError``) with the quarantine reason;
``statuses_to_messages`` turns one page's items into messages and quarantined items, keeping the
ids the cursor needs (a quarantined status's too).
"""
from __future__ import annotations

import mimetypes
import re
from datetime import datetime
from html import escape
from urllib.parse import urlsplit

from ..htmltext import sanitize, to_text
from ..message import Attachment, Author, Message, Quarantined, Quote, Raw, iso, value_defect
from .base import admit
from .fields import Invalid as _Invalid, date as _date, member as _object, members as _list_of_objects, \
    text as _text
from .jsonitems import Unreadable
from .rest import Record

MEDIA_TYPE = "application/json"

# Mastodon attachment types -> media type family
_FAMILIES = {"image": "image", "gifv": "video", "video": "video", "audio": "audio"}


# status ids: Mastodon's decimal snowflakes, Pleroma's base62 flakes, GoToSocial's ULIDs
STATUS_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


# -- normalisation --------------------------------------------------------------------------

def _handle(acct: str, account: dict, host: str | None) -> str:
    # Mastodon leaves the host off local accounts; ours always carry it
    if "@" in acct:
        return acct
    if not host and isinstance(account.get("url"), str):
        host = urlsplit(account["url"]).hostname  # parse_payload: no base URL, the profile URL's host
    return f"{acct}@{host}" if host else acct


def _attachment(media: dict) -> Attachment | None:
    url = media.get("url") or media.get("remote_url") or media.get("preview_url")
    if not isinstance(url, str) or not url:
        return None
    kind = media.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _Invalid(f"media_attachments: type: expected a string, got {type(kind).__name__}")
    family = _FAMILIES.get(kind or "")
    guessed = mimetypes.guess_type(urlsplit(url).path)[0] or ""
    if family:
        media_type = guessed if guessed.startswith(family + "/") else f"{family}/*"
    else:
        media_type = guessed
    description = media.get("description")
    return Attachment(url=url, media_type=media_type, description=description if isinstance(description, str) else "")


# Mastodon 4.5+ puts a fallback for clients without quotes into the content: "RE: <link>" in this paragraph
_QUOTE_INLINE = re.compile(r'<p class="quote-inline">.{0,4000}?</p>', re.S)


def _quote(shown: dict, host: str | None) -> Quote | None:
    """A Mastodon 4.5+ quote (``quote``: a Quote with the ``quoted_status``, or a ShallowQuote with
    only ``quoted_status_id``); ``None`` for no quote or one without a status to point at (its
    ``state`` revoked, deleted, pending...)."""
    quote = shown.get("quote")
    if quote is None:
        return None
    if not isinstance(quote, dict):
        raise _Invalid(f"quote: expected an object, got {type(quote).__name__}")
    quoted = quote.get("quoted_status")
    if isinstance(quoted, dict):
        account = quoted.get("account") if isinstance(quoted.get("account"), dict) else {}
        acct = _text(account, "acct") if account else None
        return Quote(id=_text(quoted, "id", required=True), url=_text(quoted, "url") or _text(quoted, "uri") or "",
                     text=to_text(sanitize(_text(quoted, "content") or "")),
                     handle=_handle(acct, account, host) if acct else "")
    if quoted is not None:
        raise _Invalid("quote: quoted_status: expected an object")
    quoted_id = _text(quote, "quoted_status_id")
    return Quote(id=quoted_id) if quoted_id else None


def status_to_message(status, *, channel: str = "", raw: Raw | None = None, host: str | None = None) -> Message:
    """One Mastodon status as a :class:`Message`; raises ``_Invalid`` with the reason.

    ``thread_id``: one status only knows its parent, not the thread's root, so a reply's
    thread is its ``in_reply_to_id`` and a post or boost is its own thread.
    A boost (``reblog``) becomes kind "share" whose text/html is the boosted status, headed by
    who wrote it; its hashtags, mentions, media and content warning are the boosted status's.
    A quote post (Mastodon 4.5+) carries :class:`~connector.message.Quote`; the "RE: <link>"
    paragraph Mastodon adds for clients without quotes is left out of its text.
    """
    if not isinstance(status, dict):
        raise _Invalid(f"expected a status object, got {type(status).__name__}")
    defect = value_defect(status)  # named by the status's own field, before anything uses it
    if defect:
        raise _Invalid(defect)
    status_id = _text(status, "id", required=True)
    if not STATUS_ID.fullmatch(status_id):
        raise _Invalid(f"id: {status_id[:80]!r} is not a status id")
    created_at = _date(status, "created_at", required=True)
    edited_at = _date(status, "edited_at")
    account = _object(status, "account")
    author = Author(id=_text(account, "id", required=True),
                    handle=_handle(_text(account, "acct", required=True), account, host),
                    name=_text(account, "display_name") or _text(account, "username") or "")
    in_reply_to = _text(status, "in_reply_to_id")
    reblog = status.get("reblog")
    if reblog is not None and not isinstance(reblog, dict):
        raise _Invalid("reblog: expected an object")
    shown = reblog or status
    html = _text(shown, "content") or ""
    if reblog:
        kind = "share"
        boosted = _object(reblog, "account")
        who = _handle(_text(boosted, "acct", required=True), boosted, host)
        link = _text(reblog, "url") or _text(reblog, "uri") or _text(boosted, "url") or ""
        html = f'<p>Boosted from <a href="{escape(link)}">@{escape(who)}</a>:</p>{html}'
    else:
        kind = "reply" if in_reply_to else "post"
    sensitive = shown.get("sensitive")
    if sensitive is not None and not isinstance(sensitive, bool):
        raise _Invalid(f"sensitive: expected true/false, got {sensitive!r}")
    mentions = []
    for mention in _list_of_objects(shown, "mentions"):
        acct = _text(mention, "acct")
        if acct:
            mentions.append(_handle(acct, mention, host))
    quote = _quote(shown, host)
    if quote is not None:
        html = _QUOTE_INLINE.sub("", html, count=1)  # the quote is kept as itself, not as "RE: <link>"
    clean = sanitize(html)
    return Message(
        channel=channel,
        id=status_id,
        kind=kind,
        author=author,
        created_at=created_at,
        edited_at=edited_at,
        text=to_text(clean),
        html=clean,
        url=_text(status, "url") or _text(status, "uri") or "",
        in_reply_to=in_reply_to,
        thread_id=in_reply_to or status_id,
        language=_text(shown, "language"),
        hashtags=tuple(t["name"].lower() for t in _list_of_objects(shown, "tags") if isinstance(t.get("name"), str)),
        mentions=tuple(mentions),
        attachments=tuple(a for a in map(_attachment, _list_of_objects(shown, "media_attachments")) if a),
        sensitive=bool(sensitive),
        spoiler_text=_text(shown, "spoiler_text") or "",
        version=iso(edited_at) if edited_at else "",
        quote=quote,
        raw=raw,
    )



def item_id(value) -> str:
    """The id an item carries (an unreadable one's too, where it can still be read), or ""."""
    found = value.get("id") if isinstance(value, (dict, Unreadable)) else None
    return found if isinstance(found, str) else ""


def statuses_to_messages(records: list[Record], channel: str, page_url: str, fetched_at: datetime | None,
                         host: str | None) -> tuple[list[Message], list[Quarantined], list[str]]:
    """(messages, quarantined, ids of all items with a well-formed id) for one page's records.

    A record whose value is :class:`~.jsonitems.Unreadable` is quarantined with its reason.
    """
    messages, quarantined, ids = [], [], []
    for record in records:
        body, value, status_id = record.raw, record.value, item_id(record.value)
        if STATUS_ID.fullmatch(status_id):
            ids.append(status_id)  # a quarantined status still moves the watermark past itself
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=status_id, page_url=page_url))
            continue
        raw = Raw(body=body, media_type=MEDIA_TYPE, page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: status_to_message(value, channel=channel, raw=raw, host=host), body,
                        item_id=status_id, page_url=page_url, now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    return messages, quarantined, ids
