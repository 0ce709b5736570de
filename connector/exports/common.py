"""What both importers share: the batch, the oldest-first walk over every item of an export, safe HTML."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape
from typing import Callable, Iterable, Iterator

from ..htmltext import sanitize
from ..message import Message, Quarantined
from . import items
from ..sources.jsonitems import Unreadable

#: at most this many items (messages and quarantined together) per batch: one store transaction each
BATCH_SIZE = 200

_URL = re.compile(r"https?://[^\s<>\"']+")


@dataclass
class Batch:
    """Messages of one export, oldest first, and the items of the same stretch that were quarantined."""

    messages: list[Message] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)


def batches(outcomes: Iterable[Message | Quarantined], size: int = BATCH_SIZE) -> Iterator[Batch]:
    """``outcomes`` in order, cut into batches of at most ``size`` items."""
    batch = Batch()
    for outcome in outcomes:
        (batch.quarantined if isinstance(outcome, Quarantined) else batch.messages).append(outcome)
        if len(batch.messages) + len(batch.quarantined) >= size:
            yield batch
            batch = Batch()
    if batch.messages or batch.quarantined:
        yield batch


@dataclass(frozen=True)
class Item:
    """One element of a data file: which file, its exact bytes (parsed again when it is its turn)."""

    file: str
    raw: bytes

    def value(self):
        return items.value(self.raw)


def oldest_first(files: list[tuple[str, bytes | bytearray, list[tuple[int, int]]]],
                 order: Callable[[object], tuple]) -> Iterator[Item]:
    """Every item of ``files`` ((name, body, spans) each), sorted by ``order(value)``, stable.

    Each item is parsed once here for its sort key and dropped, and once more when it is yielded:
    twice the parsing, but never every parsed item in memory at once. An unreadable item sorts
    first (its key is ``order(Unreadable)``, which should be the smallest) and is quarantined.
    """
    keyed = []
    for index, (name, body, found) in enumerate(files):
        for position, (start, end) in enumerate(found):
            value = items.value(body[start:end])
            keyed.append((order(value), index, position, start, end))
    keyed.sort(key=lambda k: k[:3])
    for _, index, _, start, end in keyed:
        name, body, _ = files[index]
        yield Item(name, bytes(body[start:end]))


class Invalid(ValueError):
    """An item that cannot be normalised; the text is the quarantine reason (see ``admit``)."""


def objects(obj: dict, name: str, where: str = "") -> list[dict]:
    """``obj[name]`` as a list of objects (``[]`` when absent); :class:`Invalid` for anything else."""
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Invalid(f"{where}{name}: expected a list of objects")
    return value


def is_unreadable(value) -> bool:
    return isinstance(value, Unreadable)


def text_html(text: str) -> str:
    """Safe HTML for plain ``text``: escaped, http(s) links as ``<a href>``, paragraphs and line breaks."""
    if not text:
        return ""
    parts, position = [], 0
    for found in _URL.finditer(text):
        url = found.group().rstrip(".,;:!?)")  # the sentence's punctuation, not the link's
        parts.append(escape(text[position:found.start()], quote=False))
        parts.append(f'<a href="{escape(url)}">{escape(url, quote=False)}</a>')
        position = found.start() + len(url)
    parts.append(escape(text[position:], quote=False))
    paragraphs = "".join(parts).split("\n\n")
    return sanitize("".join(f"<p>{p.replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip()))
