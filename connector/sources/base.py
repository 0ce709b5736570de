"""The source contract: one class per platform, a tiny cursor interface, failures as data.

A source is configured with a channel ``name`` and ``options`` (validated by its marshmallow
``options_schema``). The scheduler calls :meth:`Source.poll` with the channel's last saved cursor
``state`` (a JSON-able dict, ``None`` the first time) and receives :class:`Page` s, oldest first.

The cursor contract (what makes incremental polling resumable):

* Each yielded page carries the ``state`` that is valid *once that page's messages are stored*.
  The store saves the page's messages and that state in one transaction, so the cursor never
  moves past a message that is not stored, and a crash between pages repeats at most one page
  (which the store deduplicates on ``(channel, id, version)``).
* Pages are yielded oldest first where the platform allows, so replies follow their parents.
* ``poll`` must not mutate the ``state`` it was given.

Failures are raised as :class:`connector.failures.Failed` with a classified verdict; a
rate-limited source may first yield the pages it got, then raise ``rate_limited`` with
``retry_at``. One malformed item does not fail the page: it goes into ``Page.quarantined``
with its raw bytes and a reason.

Item-level defects, for every channel: a source normalises each item through :func:`admit`,
which quarantines the item (with the exact bytes it received) when the source's normaliser
raises ``ValueError`` (the source's own reason), when the message fails the shared checks of
:func:`connector.message.check_message` (lone surrogates, NUL, impossible dates, size), and when
the normaliser raises anything else (``internal error: ...``: a bug must cost one item, never
the page and with it the channel). Only a page that is unreadable as a whole (not JSON, not a
feed, cut off) fails the poll.

:meth:`Source.parse_payload` turns a saved platform response (a file) into messages without any
network access; ``connector messages parse`` uses it. It raises :class:`ParseError` with a
position for malformed input.
"""
from __future__ import annotations

import abc
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator

import marshmallow
import requests

from ..checks import Check
from ..failures import CONFIGURATION, Failed, Failure
from ..http import Session
from ..message import Message, Quarantined, check_message, storable  # noqa: F401 - Quarantined re-exported
from ..registry import SOURCES  # noqa: F401 - re-exported: plugins register with @SOURCES.register

if TYPE_CHECKING:
    from ..media import MediaPolicy

log = logging.getLogger(__name__)
def admit(normalise: Callable[[], Message], raw: bytes, item_id: str = "", page_url: str = "",
          now: datetime | None = None) -> Message | Quarantined:
    """Run one item's ``normalise()`` and check the result: the message, or the item quarantined.

    ``ValueError`` (the source's reason) and :class:`~connector.message.ItemDefect` give their own
    text as the reason; any other exception is a bug and is reported as ``internal error: ...``.
    ``now`` is the fetch time the dates are checked against (see ``check_message``).
    """
    try:
        message = normalise()
        check_message(message, now)
        return message
    except ValueError as exc:
        reason = str(exc) or type(exc).__name__
    except Exception as exc:  # noqa: BLE001 - one item's bug must not fail the page
        log.warning("item %r quarantined after an internal error", storable(item_id), exc_info=True)
        reason = f"internal error: {type(exc).__name__}: {exc}"
    return Quarantined(reason=reason, raw=raw, item_id=item_id, page_url=page_url)


def captured(messages: list[Message], response) -> list[Message]:
    """``messages`` with their ``raw`` naming the capture log's record of ``response`` (the response that
    carried them: ``response.capture_ref``, see :mod:`connector.capture`); unchanged without one."""
    ref = getattr(response, "capture_ref", None)
    if ref is None:
        return messages
    return [replace(m, raw=replace(m.raw, warc_file=ref.file, warc_record=ref.record_id, warc_offset=ref.offset))
            if m.raw is not None else m for m in messages]


@dataclass(frozen=True)
class Deletion:
    """A message the platform no longer shows (or says it removed): never a reason to delete the record.

    ``id`` is the platform id (as in ``Message.id``); ``reason`` says how it was seen, in words an
    operator reads (``"404 Not Found on re-check"``, ``"X compliance event: delete"``, ``"gone from
    the page's feed within the re-check window"``); ``at`` is when (the platform's event time where
    it gives one, else the check's time, UTC); ``url`` what was asked. The store records it as an
    event on every stored version of the message, once.
    """

    id: str
    reason: str
    at: datetime
    url: str = ""


@dataclass
class Page:
    """One step of a poll: new messages, their cursor, quarantined items and deletions seen."""

    messages: list[Message]
    state: dict
    quarantined: list[Quarantined] = field(default_factory=list)
    url: str = ""
    deletions: list[Deletion] = field(default_factory=list)


class ParseError(ValueError):
    """Malformed platform payload; ``position`` is e.g. ``"line 3 column 5"`` or ``"entry 4"``."""

    def __init__(self, reason: str, position: str = ""):
        super().__init__(f"{position}: {reason}" if position else reason)
        self.reason = reason
        self.position = position


class Source(abc.ABC):
    """Base class of all channel sources.

    A plugin sets ``kind`` (its entry point's name, used in ``connector.yaml``) and
    ``options_schema`` (a marshmallow schema; give each field ``metadata={"description": ...}``
    for the generated options table), and implements :meth:`poll` and :meth:`parse_payload`.
    It may refine :meth:`check`.
    """

    kind: ClassVar[str] = ""
    options_schema: ClassVar[type[marshmallow.Schema]] = marshmallow.Schema
    timeout: ClassVar[float] = 30.0

    def __init__(self, name: str, options: dict, session: requests.Session | None = None):
        self.name = name
        self.options = self.options_schema().load(options)
        self.session = session or Session()

    def media_policy(self, **settings) -> "MediaPolicy | None":
        """Where this channel's media may be fetched from (:class:`connector.media.MediaPolicy`), or
        ``None`` when the source fetches none: each attachment is then recorded as missing.

        A platform source returns ``MediaPolicy.for_channel(<its base URL>, self.options, **settings)``
        and lets its option schema inherit :class:`connector.media.MediaOptions` (``media_hosts``,
        ``max_media_bytes``); ``settings`` come from the configuration (``media.trusted_networks``).
        """
        return None

    def check(self) -> list[Check]:
        """Settings, then connection, then credentials; never raises."""
        return [Check("settings", True)]

    # -- one item by its URL ("Archiveer in zaak" with a pasted link; connector.ondemand) ---------
    def item_id_for_url(self, url: str) -> str | None:
        """The platform id of the item (post, reply, comment, video, page) whose permalink is ``url``,
        when this channel can fetch it: the URL is on this channel's platform host(s) and has the shape
        of one item's permalink, as the platform builds it (also its common variants: ``www.``, mobile
        host, trailing slash, query string). ``None``: not this channel's (the default: a channel kind
        that cannot fetch one item). Pure: no I/O, never raises (a malformed URL is ``None``).

        The id is the same string poll gives the item as ``Message.id``. The item need not be the
        configured account's own: a citizen's reply in a thread is fetched with the channel's
        credentials too, as a civil servant archiving it would expect.
        """
        return None

    def fetch_item(self, url: str) -> Page:
        """The item at ``url`` fetched now (only called when :meth:`item_id_for_url` gave an id).

        Returns a :class:`Page` whose ``messages`` hold that item, normalised exactly as poll does
        (same ``id`` and ``version``, its exact bytes as ``raw``, ``page_url`` the URL asked), so the
        store deduplicates it with what polls bring; an unreadable item goes into ``quarantined``
        through :func:`admit`. ``state`` is ``{}`` and ignored: the channel's cursor is left alone.
        Raises :class:`connector.failures.Failed`: ``permanent`` with a message that says so when the
        item does not exist or cannot be seen (404, deleted, private); classified as poll does
        otherwise (401/403 configuration, 429 rate_limited with retry_at, 5xx retry).
        """
        raise Failed(Failure(CONFIGURATION, f"channel {self.name!r} ({self.kind}) cannot fetch one item by its URL"))

    @abc.abstractmethod
    def poll(self, state: dict | None) -> Iterator[Page]:
        """Pages of new messages since ``state``, oldest first, each with its cursor (see above)."""

    @classmethod
    @abc.abstractmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """Messages and quarantined items of one saved platform response; :class:`ParseError` if malformed."""
