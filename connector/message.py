"""The channel-neutral message model.

Every source turns a platform's payload into :class:`Message` objects. A message carries the
normalised fields that mapping rules and sinks work with, *and* the platform's original bytes
(``raw``) verbatim, so that the record kept in the case system is authentic: what the platform
said, not what we made of it.

Identity: ``(channel, id, version)``. ``id`` is the platform's own identifier (a Mastodon status
id, an RSS guid/atom:id). ``version`` distinguishes edits: ``""`` for a message as first
published, otherwise a stable marker of the edit (Mastodon ``edited_at``, Atom/RSS ``updated``).
An edit is therefore a new version of the same message, delivered as a document of its own.

Timestamps are timezone-aware UTC ``datetime`` objects; :meth:`Message.to_dict` renders them as
ISO 8601 with a ``Z`` suffix.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

KINDS = ("post", "reply", "share", "comment")


@dataclass(frozen=True)
class Author:
    """Who wrote a message. ``handle`` is the platform handle (``user@host`` for Mastodon)."""

    id: str
    handle: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    """A media item referenced by a message (not downloaded by the model itself)."""

    url: str
    media_type: str = ""
    description: str = ""


@dataclass(frozen=True)
class Raw:
    """The platform payload for one message, byte for byte, and where it came from.

    ``body`` is the exact bytes of this item as the platform sent them (for a JSON list page:
    the item's own JSON text as it stood in the response; for a feed: the entry element).
    ``page_url`` is the URL fetched, ``fetched_at`` when (UTC), ``media_type`` its content type.
    """

    body: bytes
    media_type: str
    page_url: str = ""
    fetched_at: datetime | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Message:
    """One post, reply, share or comment, channel-neutral.

    ``text`` is plain text (no markup); ``html`` is sanitised HTML safe to render.
    ``hashtags`` are lower-case without ``#``; ``mentions`` are handles without the leading ``@``.
    ``thread_id`` is the platform id of the thread root where known (else the message's own id
    for a root post). ``in_reply_to`` is the platform id of the parent message, if any.
    """

    channel: str
    id: str
    kind: str
    author: Author
    created_at: datetime
    text: str = ""
    html: str = ""
    url: str = ""
    edited_at: datetime | None = None
    in_reply_to: str | None = None
    thread_id: str | None = None
    language: str | None = None
    hashtags: tuple[str, ...] = ()
    mentions: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    sensitive: bool = False
    spoiler_text: str = ""
    version: str = ""
    raw: Raw | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        for name in ("created_at", "edited_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.channel, self.id, self.version)

    def to_dict(self) -> dict:
        """The JSON form printed by ``connector messages parse`` (without the raw payload)."""
        data = asdict(self)
        data.pop("raw")
        data["created_at"] = iso(self.created_at)
        data["edited_at"] = iso(self.edited_at)
        data["hashtags"] = list(self.hashtags)
        data["mentions"] = list(self.mentions)
        data["attachments"] = [asdict(a) for a in self.attachments]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict, raw: Raw | None = None) -> "Message":
        """Inverse of :meth:`to_dict`. Raises ``ValueError``/``KeyError``/``TypeError`` on bad input."""
        author = data["author"]
        return cls(
            channel=data.get("channel") or "",
            id=str(data["id"]),
            kind=data.get("kind") or "post",
            author=Author(id=str(author.get("id", "")), handle=author.get("handle", ""),
                          name=author.get("name") or ""),
            created_at=parse_iso(data["created_at"]),
            edited_at=parse_iso(data["edited_at"]) if data.get("edited_at") else None,
            text=data.get("text") or "",
            html=data.get("html") or "",
            url=data.get("url") or "",
            in_reply_to=data.get("in_reply_to"),
            thread_id=data.get("thread_id"),
            language=data.get("language"),
            hashtags=tuple(data.get("hashtags") or ()),
            mentions=tuple(data.get("mentions") or ()),
            attachments=tuple(Attachment(**a) for a in data.get("attachments") or ()),
            sensitive=bool(data.get("sensitive", False)),
            spoiler_text=data.get("spoiler_text") or "",
            version=data.get("version") or "",
            raw=raw,
        )


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with ``Z``, millisecond precision dropped when zero."""
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 (``Z`` allowed) into an aware UTC datetime. Naive input is taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
