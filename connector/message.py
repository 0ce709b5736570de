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

What every source checks before it hands a message on (:func:`check_message`, one place for all
channels, so a new channel gets it for free); a message that fails is quarantined, not stored:

* every text field is valid Unicode (no lone surrogate such as JSON's ``"\\ud800"``: it cannot be
  encoded as UTF-8, so neither the store nor a case system could keep it) and holds no NUL
  character (XML cannot carry one, PostgreSQL text columns refuse it);
* ``created_at`` and ``edited_at`` lie between :data:`EARLIEST` (1990-01-01, before any platform
  we read existed) and a day after the fetch (:data:`FUTURE_SLACK`, for clock skew and feeds that
  date items in a time zone they do not state). A date outside that range was not made by the
  platform, and at the edges of ``datetime`` (year 1, 9999) converting it to local time overflows;
* the raw item is at most :data:`MAX_RAW_BYTES` (1 MiB): far above any real post or feed entry,
  and a bound on what rules, renditions and the case system's upload must handle.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime, timedelta, timezone
from typing import ClassVar

KINDS = ("post", "reply", "share", "comment")
EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
FUTURE_SLACK = timedelta(days=1)
MAX_RAW_BYTES = 1024 * 1024
#: a web page captured with its resources is kept as one WARC file: a larger bound for that form only
MAX_RAW_BYTES_BY_TYPE = {"application/warc": 32 * 1024 * 1024}
_UNSTORABLE = re.compile("[\ud800-\udfff\x00]")


class ItemDefect(ValueError):
    """An item that cannot become a stored message; the text is the quarantine reason."""


class DateOutOfRange(ValueError):
    """A well-formed date with no UTC equivalent within ``datetime``'s range (year 1 to 9999)."""


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
class Quote:
    """The message a quote post quotes (Mastodon 4.5+ ``quote``, X ``referenced_tweets`` of type
    ``quoted``, a Bluesky embedded record): its platform ``id``, its permalink ``url``, and its
    ``text`` and author's ``handle`` when the platform sends them along (else empty)."""

    id: str
    url: str = ""
    text: str = ""
    handle: str = ""


@dataclass(frozen=True)
class Raw:
    """The platform payload for one message, byte for byte, and where it came from.

    ``body`` is exact bytes as the platform sent them; ``scope`` says which: ``"item"`` (this
    item's own bytes as they stood in the response: for a JSON list page the item's JSON text, for
    a feed the entry element) or ``"response"`` (the whole response, because the item could not
    be cut out of it exactly). ``page_url`` is the URL fetched, ``fetched_at`` when (UTC),
    ``media_type`` its content type. ``warc_file``, ``warc_record`` and ``warc_offset`` name the
    capture log's response record that carried it (:mod:`connector.capture`; empty without one).
    """

    body: bytes
    media_type: str
    page_url: str = ""
    fetched_at: datetime | None = None
    scope: str = "item"
    warc_file: str = ""
    warc_record: str = ""
    warc_offset: int | None = None

    ITEM: ClassVar[str] = "item"
    RESPONSE: ClassVar[str] = "response"

    def __post_init__(self):
        if self.scope not in (self.ITEM, self.RESPONSE):
            raise ValueError(f"scope must be {self.ITEM!r} or {self.RESPONSE!r}, not {self.scope!r}")

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
    # the message this one quotes (a quote post), or None
    quote: Quote | None = None
    raw: Raw | None = field(default=None, compare=False, repr=False)
    # the attachments as archived, set just before delivery (connector.media.stage): a fetched
    # MediaResult or a Missing per attachment, in order; empty before that, and never stored
    media: tuple = field(default=(), compare=False, repr=False)
    # the message it replies to (the newest stored version of ``in_reply_to`` in the same channel), set
    # just before delivery (connector.engine) for the PDF/A rendition's quote; None when unknown, never stored
    parent: "Message | None" = field(default=None, compare=False, repr=False)

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
        data = asdict(dataclasses.replace(self, raw=None, media=(), parent=None))
        data.pop("raw")
        data.pop("media")
        data.pop("parent")
        data["created_at"] = iso(self.created_at)
        data["edited_at"] = iso(self.edited_at)
        data["hashtags"] = list(self.hashtags)
        data["mentions"] = list(self.mentions)
        data["attachments"] = [asdict(a) for a in self.attachments]
        if self.quote is None:
            data.pop("quote")  # the printed and stored form of a message without a quote is unchanged
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
            quote=Quote(**data["quote"]) if data.get("quote") else None,
            raw=raw,
        )


def iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with ``Z``, millisecond precision dropped when zero.

    The form messages are shown and identified in (``to_dict``, a Mastodon or feed edit's
    ``version``, templates). It is not fixed width, so its text order is not time order
    (``12:00:00Z`` sorts after ``12:00:00.500Z``): the store writes :func:`fixed_iso` instead.
    It stays as it is because edit versions already saved in cursors were made with it; another
    form would make every stored edit look new again.
    """
    if value is None:
        return None
    value = value.astimezone(timezone.utc)
    text = value.isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def fixed_iso(value: datetime | None) -> str | None:
    """UTC ISO 8601 with ``Z`` and always milliseconds: ``2026-01-01T12:00:00.000Z`` (24 characters).

    Every timestamp the store writes has this form. Fixed width makes text order time order, which
    SQL comparisons (``next_attempt_at <= :now``) and ``order by`` rely on. Milliseconds, as in
    :func:`iso` (and Mastodon, and JavaScript): finer would only order events within one
    millisecond, which the audit trail's row ids already do; sub-millisecond digits are dropped.
    """
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 (``Z`` allowed) into an aware UTC datetime. Naive input is taken as UTC.

    Raises ``ValueError`` for text that is no date, and :class:`DateOutOfRange` (a ``ValueError``)
    for one that has no UTC equivalent within ``datetime``'s range (``0001-01-01T00:00:00+01:00``).
    """
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:
        raise DateOutOfRange(f"{value!r} has no UTC equivalent within years 1 to 9999") from None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def storable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes: safe to encode as UTF-8.

    For identifiers and reasons that must be kept even when the item itself is quarantined.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _text_fields(value, name: str):
    """(dotted field name, string) for every string inside a message, its author and attachments."""
    if isinstance(value, str):
        yield name, value
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _text_fields(item, f"{name}[{index}]")
    elif is_dataclass(value) and not isinstance(value, (type, Raw)):
        for f in fields(value):
            yield from _text_fields(getattr(value, f.name), f"{name}.{f.name}" if name else f.name)


def _text_defect(name: str, text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return f"{name}: contains a NUL character (U+0000) at position {found.start()}"
    return f"{name}: contains a lone surrogate (U+{ord(char):04X}) at position {found.start()}: not valid Unicode"


def value_defect(value, name: str = "") -> str | None:
    """The first unstorable string (see :func:`check_message`) in a parsed JSON value, keys included.

    Named by its path (``account.display_name``, ``tags[0].name``), so a quarantine reason points
    at the platform's own field. Iterative: a deeply nested value cannot exhaust the stack.
    """
    pending = [(name, value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            found = _text_defect(path or "value", item)
            if found:
                return found
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                found = _text_defect(f"{path}.{key}" if path else "key", key) if _UNSTORABLE.search(key) else None
                if found:
                    return found
                pending.append((f"{path}.{key}" if path else key, child))
        elif isinstance(item, list):
            pending.extend((f"{path}[{i}]", child) for i, child in reversed(list(enumerate(item))))
    return None


def check_message(message: Message, now: datetime | None = None) -> None:
    """Raise :class:`ItemDefect` when ``message`` must be quarantined (see the module docstring).

    ``now`` is when the item was fetched (default: ``message.raw.fetched_at``, else the current
    time); dates more than :data:`FUTURE_SLACK` after it are refused.
    """
    problems = [p for p in (_text_defect(n, t) for n, t in _text_fields(message, "")) if p]
    reference = now or (message.raw.fetched_at if message.raw else None) or utcnow()
    latest = reference + FUTURE_SLACK
    for name in ("created_at", "edited_at"):
        value = getattr(message, name)
        if value is None:
            continue
        if value < EARLIEST:
            problems.append(f"{name}: {_show(value)} is before {EARLIEST.year}: not a date the platform made")
        elif value > latest:
            problems.append(f"{name}: {_show(value)} is more than a day after the fetch ({iso(reference)}):"
                            " not a date the platform made")
    if message.raw is not None:
        limit = MAX_RAW_BYTES_BY_TYPE.get(message.raw.media_type, MAX_RAW_BYTES)
        if len(message.raw.body) > limit:
            problems.append(f"item is {len(message.raw.body)} bytes, more than the {limit} a message may have")
    if problems:
        raise ItemDefect("; ".join(problems))


def _show(value: datetime) -> str:
    # iso() converts to UTC, which overflows at the edges of datetime; show such a value as given
    try:
        return iso(value)
    except OverflowError:
        return value.isoformat()


MAX_REASON = 1000
MAX_ITEM_ID = 500


@dataclass(frozen=True)
class Quarantined:
    """An item that could not be normalised: kept with its bytes and the reason.

    A model shared by sources (which make them) and the store (which keeps them), so it lives here
    and the store imports no plugin package.
    """

    reason: str
    raw: bytes
    item_id: str = ""
    page_url: str = ""

    def __post_init__(self):
        # the reason and id come from hostile input too: always storable, never huge
        object.__setattr__(self, "reason", _clip(storable(self.reason), MAX_REASON))
        object.__setattr__(self, "item_id", _clip(storable(self.item_id), MAX_ITEM_ID))


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"
