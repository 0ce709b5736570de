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

:meth:`Source.parse_payload` turns a saved platform response (a file) into messages without any
network access; ``connector messages parse`` uses it. It raises :class:`ParseError` with a
position for malformed input.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Iterator

import marshmallow
import requests

from ..checks import Check
from ..http import Session
from ..message import Message
from ..registry import Registry

SOURCES = Registry("channel")


@dataclass(frozen=True)
class Quarantined:
    """An item that could not be normalised: kept with its bytes and the reason."""

    reason: str
    raw: bytes
    item_id: str = ""
    page_url: str = ""


@dataclass
class Page:
    messages: list[Message]
    state: dict
    quarantined: list[Quarantined] = field(default_factory=list)
    url: str = ""


class ParseError(ValueError):
    """Malformed platform payload; ``position`` is e.g. ``"line 3 column 5"`` or ``"entry 4"``."""

    def __init__(self, reason: str, position: str = ""):
        super().__init__(f"{position}: {reason}" if position else reason)
        self.reason = reason
        self.position = position


class Source:
    """Base class of all channel sources."""

    kind: ClassVar[str] = ""
    title: ClassVar[str] = ""
    options_schema: ClassVar[type[marshmallow.Schema]] = marshmallow.Schema
    timeout: ClassVar[float] = 30.0

    def __init__(self, name: str, options: dict, session: requests.Session | None = None):
        self.name = name
        self.options = self.options_schema().load(options)
        self.session = session or Session()

    def check(self) -> list[Check]:
        """Settings, then connection, then credentials; never raises."""
        return [Check("settings", True)]

    def poll(self, state: dict | None) -> Iterator[Page]:
        raise NotImplementedError

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        raise NotImplementedError
