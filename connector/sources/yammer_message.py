"""Yammer (Viva Engage) REST v1 messages as channel-neutral :class:`~connector.message.Message` s.

Split from :mod:`.yammer` (polling, cursor, re-check) so that each module reads in one sitting.
A message list answer is ``{"messages": [...], "references": [...], "meta": {...}}``: a message
names its sender, mentioned users and topics only by id (``sender_id``, ``[[user:67]]`` and
``[[tag:9001]]`` in ``body.parsed``); the objects themselves are in ``references``
(:class:`References`). ``message_to_message`` raises ``_Invalid`` (a ``ValueError``) with the
quarantine reason; ``records_to_messages`` turns one page's items into messages and quarantined
items, keeping the ids the cursor needs (a quarantined message's too).

Yammer writes dates its own way, ``2013/04/05 12:34:56 +0000`` (not ISO 8601), and says so
nowhere but in its answers: :func:`parse_date` reads exactly that form and nothing else, so a
date in another form quarantines the message with the value it had.
"""
from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
from datetime import datetime, timezone
from html import escape
from urllib.parse import urlsplit

from ..htmltext import sanitize
from ..message import Attachment, Author, Message, Quarantined, Raw, value_defect
from .base import admit
from .jsonitems import Unreadable, split_member
from .rest import Record

MEDIA_TYPE = "application/json"
DATE = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
DATE_FORM = "YYYY/MM/DD HH:MM:SS +ZZZZ"
_TOKEN = re.compile(r"\[\[(user|tag):(\d{1,20})\]\]")
# a message's own id, read from bytes that are not readable JSON (Yammer puts "id" first)
_RAW_ID = re.compile(rb'"id"\s*:\s*"?(\d{1,20})\b')
_PART = re.compile(r"\[\[(user|tag):(\d{1,20})\]\]|https?://[^\s<>\"']+")


class _Invalid(ValueError):
    """A message that cannot be normalised; the text is the quarantine reason."""


def parse_date(value, name: str = "created_at") -> datetime:
    """``2013/04/05 12:34:56 +0000`` as an aware UTC datetime; ``_Invalid`` for anything else."""
    if not isinstance(value, str):
        raise _Invalid(f"{name}: expected a date like '{DATE_FORM}', got {value!r}"[:200])
    match = DATE.fullmatch(value)
    if match is None:
        raise _Invalid(f"{name}: {value[:80]!r} is not a Yammer date (expected '{DATE_FORM}')")
    try:
        parsed = datetime.strptime(value, "%Y/%m/%d %H:%M:%S %z")
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise _Invalid(f"{name}: {value!r} is not a date that exists") from None


def message_id(value) -> str:
    """A Yammer id (a positive integer, or its decimal text) as text; "" when it is none."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20 and int(value) > 0:
        return str(int(value))
    return ""


def id_key(value: str) -> int:
    return int(value)


class References:
    """The ``references`` of one answer, by ``(type, id)``; the users, topics and threads messages name."""

    def __init__(self, items=()):
        self.by_key: dict[tuple[str, str], dict] = {}
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("type"), str) and message_id(item.get("id")):
                self.by_key[(item["type"], message_id(item["id"]))] = item

    @classmethod
    def of_page(cls, data: bytes) -> "References":
        """The references of a page's bytes; an unreadable reference (or none at all) is simply absent."""
        try:
            return cls(value for _, value in split_member(data, "references"))
        except ValueError:
            return cls()

    def get(self, kind: str, ref_id) -> dict:
        return self.by_key.get((kind, message_id(ref_id)), {})

    def user(self, user_id, sender_type: str = "user") -> dict:
        return self.get(sender_type, user_id) or self.get("user", user_id)

    def tag(self, tag_id) -> dict:
        return self.get("tag", tag_id) or self.get("topic", tag_id)


def fingerprint(message: Message) -> str:
    """What an edit changes (text, markup, attachments), as 16 hex digits: the edit's version marker."""
    content = [message.text, message.html, [a.url for a in message.attachments]]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def thread_link(network_host: str, thread_id: str) -> str:
    """The new Yammer's thread permalink: ``/main/threads/`` and the thread's base64 JSON id."""
    token = base64.urlsafe_b64encode(json.dumps({"_type": "Thread", "id": thread_id},
                                                separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{network_host}/main/threads/{token}"


# -- normalisation --------------------------------------------------------------------------

def _text(obj: dict, name: str, required: bool = False) -> str | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise _Invalid(f"missing {name!r}")
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{name}: expected a string, got {type(value).__name__}")
    return value


def _object(obj: dict, name: str) -> dict:
    value = obj.get(name)
    if not isinstance(value, dict):
        raise _Invalid(f"{name}: expected an object, got {type(value).__name__}" if value is not None
                       else f"missing {name!r}")
    return value


def _required_id(obj: dict, name: str) -> str:
    found = message_id(obj.get(name))
    if not found:
        raise _Invalid(f"{name}: expected a Yammer id (a positive integer), got {obj.get(name)!r}"[:200]
                       if name in obj else f"missing {name!r}")
    return found


def _optional_id(obj: dict, name: str) -> str | None:
    value = obj.get(name)
    if value is None:
        return None
    found = message_id(value)
    if not found:
        raise _Invalid(f"{name}: expected a Yammer id or null, got {value!r}"[:200])
    return found


def _attachment(item: dict, index: int) -> Attachment | None:
    kind = item.get("type")
    if kind is not None and not isinstance(kind, str):
        raise _Invalid(f"attachments[{index}].type: expected a string, got {type(kind).__name__}")
    image = item.get("image") if isinstance(item.get("image"), dict) else {}
    candidates = [image.get("url")] if kind == "image" else []
    candidates += [item.get("download_url"), item.get("web_url"), item.get("url")]
    url = next((c for c in candidates if isinstance(c, str) and c), None)
    if url is None:
        return None
    media_type = item.get("content_type") if isinstance(item.get("content_type"), str) else ""
    if not media_type:
        media_type = mimetypes.guess_type(urlsplit(url).path)[0] or ("image/*" if kind == "image" else "")
    name = next((item[k] for k in ("description", "name", "original_name") if isinstance(item.get(k), str)
                 and item[k]), "")
    return Attachment(url=url, media_type=media_type, description=name)


def _attachments(msg: dict) -> tuple[Attachment, ...]:
    items = msg.get("attachments") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _Invalid("attachments: expected a list of objects")
    return tuple(a for a in (_attachment(item, i) for i, item in enumerate(items)) if a)


def _link(url, label: str) -> str:
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return f'<a href="{escape(url)}">{escape(label)}</a>'
    return escape(label)


def _parsed_html(parsed: str, refs: References) -> str:
    """Safe HTML from ``body.parsed`` (or plain text): escaped, ``[[user:N]]`` and ``[[tag:N]]`` as
    links to the user's and the topic's page where the references have them, web links as links."""
    out, last = [], 0
    for match in _PART.finditer(parsed):
        out.append(escape(parsed[last:match.start()]))
        kind, ref_id = match.group(1), match.group(2)
        if kind is None:
            out.append(_link(match.group(), match.group()))
        else:
            ref = refs.user(ref_id) if kind == "user" else refs.tag(ref_id)
            name = ref.get("full_name") or ref.get("name") if kind == "user" else ref.get("name")
            label = ("@" if kind == "user" else "#") + (name if isinstance(name, str) and name else ref_id)
            out.append(_link(ref.get("web_url"), label))
        last = match.end()
    out.append(escape(parsed[last:]))
    return sanitize("<p>" + "".join(out).replace("\n", "<br>") + "</p>")


def message_to_message(msg, refs: References, *, channel: str = "", raw: Raw | None = None,
                       network_host: str = "https://web.yammer.com") -> Message:
    """One Yammer message as a :class:`Message`; raises ``_Invalid`` with the reason.

    Text is ``body.plain``; html is ``body.rich`` sanitised (else built from ``body.parsed``);
    a message with ``replied_to_id`` is a reply (``in_reply_to``), others are posts. The
    permalink is the message's own ``web_url`` (else its thread's, else the thread's link on
    ``network_host``). ``liked_by`` is not archived: likes change, the message does not.
    """
    if not isinstance(msg, dict):
        raise _Invalid(f"expected a message object, got {type(msg).__name__}")
    defect = value_defect(msg)  # named by the message's own field, before anything uses it
    if defect:
        raise _Invalid(defect)
    own_id = _required_id(msg, "id")
    thread_id = _optional_id(msg, "thread_id") or own_id
    in_reply_to = _optional_id(msg, "replied_to_id")
    created_at = parse_date(msg.get("created_at"), "created_at") if "created_at" in msg else None
    if created_at is None:
        raise _Invalid("missing 'created_at'")
    sender_id = _required_id(msg, "sender_id")
    sender_type = _text(msg, "sender_type") or "user"
    sender = refs.user(sender_id, sender_type)
    author = Author(id=sender_id, handle=sender.get("name") if isinstance(sender.get("name"), str) else "",
                    name=sender.get("full_name") if isinstance(sender.get("full_name"), str) else "")
    body = _object(msg, "body")
    text = _text(body, "plain") or ""
    rich = _text(body, "rich")
    parsed = _text(body, "parsed") or ""
    mentions, hashtags = [], []
    for kind, ref_id in _TOKEN.findall(parsed):  # mentions and topics: the handles and names of the references
        name = (refs.user(ref_id) if kind == "user" else refs.tag(ref_id)).get("name")
        if isinstance(name, str) and name:
            (mentions if kind == "user" else hashtags).append(name if kind == "user" else name.lower())
    thread = refs.get("thread", thread_id)
    url = _text(msg, "web_url") or (thread.get("web_url") if isinstance(thread.get("web_url"), str) else "") \
        or thread_link(network_host, thread_id)
    return Message(
        channel=channel,
        id=own_id,
        kind="reply" if in_reply_to else "post",
        author=author,
        created_at=created_at,
        text=text,
        html=sanitize(rich) if rich else _parsed_html(parsed or text, refs),
        url=url,
        in_reply_to=in_reply_to,
        thread_id=thread_id,
        hashtags=tuple(dict.fromkeys(hashtags)),
        mentions=tuple(dict.fromkeys(mentions)),
        attachments=_attachments(msg),
        version="",
        raw=raw,
    )


def item_id(record: Record) -> str:
    """The id a record carries (an unreadable one's too, read from its bytes), or ""."""
    if isinstance(record.value, dict):
        return message_id(record.value.get("id"))
    match = _RAW_ID.search(record.raw[:4096])
    return message_id(match.group(1).decode()) if match else ""


def records_to_messages(records: list[Record], refs: References, channel: str, page_url: str,
                        fetched_at: datetime | None, network_host: str = "https://web.yammer.com",
                        ) -> tuple[list[Message], list[Quarantined], list[str]]:
    """(messages, quarantined, ids of every item with a readable id) for one page's records."""
    messages, quarantined, ids = [], [], []
    for record in records:
        body, value, found = record.raw, record.value, item_id(record)
        if found:
            ids.append(found)  # a quarantined message still moves the cursor past itself
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=found, page_url=page_url))
            continue
        raw = Raw(body=body, media_type=MEDIA_TYPE, page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: message_to_message(value, refs, channel=channel, raw=raw, network_host=network_host),
                        body, item_id=found, page_url=page_url, now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    return messages, quarantined, ids
