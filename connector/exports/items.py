"""Items of an export's data file, each with its exact bytes, parsed one at a time.

X archives wrap each JSON array in a JavaScript assignment (``window.YTD.tweets.part0 = [ ... ]``);
Facebook's files are plain JSON (an array, or an object holding one). The item boundaries are found
on the bytes by :mod:`connector.sources.jsonitems` (no recursion, strings respected), so an item
that is not UTF-8 or not JSON is quarantined on its own, and ``Raw.body`` is the platform's own text.
Only the spans are kept for the whole file; each item is parsed when it is needed and dropped
after, so a 100,000-tweet archive never holds 100,000 parsed tweets.

This module is the one place that uses ``jsonitems``' span helpers directly (``top_level_spans``,
``member_start``, ``item_value``): the public ``split_payload`` parses every item at once.
"""
from __future__ import annotations

import re

from ..sources.base import ParseError
from ..sources.jsonitems import item_value, member_start, top_level_spans
from .container import ExportError

# X's wrapper: window.YTD.<type>.part<N> = ...  (manifest.js: window.__THAR_CONFIG = ...)
_ASSIGNMENT = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*window\.(?:YTD\.[A-Za-z0-9_]+\.part[0-9]+|__THAR_CONFIG)\s*=\s*")
_SPACE = b" \t\r\n"
_OBJECT = re.compile(rb"(?:\xef\xbb\xbf)?[ \t\r\n]*\{")
_SOLE_KEY = re.compile(rb'\{[ \t\r\n]*"([^"\\]*)"[ \t\r\n]*:[ \t\r\n]*')


def strip_assignment(data: bytes, where: str) -> bytes:
    """The JSON value of an X data file (the text after ``window.YTD.<type>.partN =``, without a
    final ``;``); ExportError naming the file when the assignment is not there."""
    found = _ASSIGNMENT.match(data)
    if found is None:
        head = data[:60].decode("utf-8", "replace")
        raise ExportError(f"{where}: expected 'window.YTD.<type>.part0 = [' at the start, found {head!r}")
    body = data[found.end():].rstrip(_SPACE)
    return body[:-1] if body.endswith(b";") else body


def js_spans(data: bytes, where: str) -> list[tuple[int, int]]:
    """Byte spans of the items of the array an X data file assigns (``window.YTD.tweets.part0 = [...];``),
    found in ``data`` itself: a 400 MB tweets.js is not copied to cut its prefix off. ExportError
    when the file is not such an assignment, or the array is cut off or followed by more than ``;``."""
    found = _ASSIGNMENT.match(data)
    if found is None:
        strip_assignment(data, where)  # raises, naming what was found
    start = found.end()
    try:
        if data[start:start + 1] != b"[":
            raise ParseError("expected a JSON array, found " + ("an object" if data[start:start + 1] == b"{" else "none"))
        items = top_level_spans(data, start, whole=False)  # checks nesting and truncation
        end = items[-1][1] if items else start + 1
        while data[end:end + 1] in (b" ", b"\t", b"\r", b"\n"):
            end += 1
        if data[end + 1:].strip(_SPACE) not in (b"", b";"):
            raise ParseError("extra data after the JSON value")
        return items
    except ParseError as exc:
        raise ExportError(f"{where}: not readable as JSON: {exc}") from None


def spans(body: bytes, where: str, member: str | None = None) -> list[tuple[int, int]]:
    """Byte spans of the items of the JSON array ``body`` (or of the array at its top-level key
    ``member``, when ``body`` is an object; a missing key gives ``[]``). ExportError with the position
    when the document as a whole is not such JSON (cut off, not JSON)."""
    try:
        start = 0
        while start < len(body) and body[start] in _SPACE:
            start += 1
        if start == len(body) or body[start:start + 1] not in (b"[", b"{"):
            raise ParseError("expected a JSON array or object")
        outer = top_level_spans(body, start)  # checks the whole document: nesting, truncation, extra data
        if body[start] == ord("["):
            return outer
        if member is None:
            raise ParseError("expected a JSON array, found an object")
        inner = member_start(body, member)
        if inner is None or body.startswith(b"null", inner):
            return []
        if body[inner] != ord("["):
            raise ParseError(f"expected a list at {member!r}")
        return top_level_spans(body, inner, whole=False)
    except ParseError as exc:
        raise ExportError(f"{where}: not readable as JSON: {exc}") from None


def first_list_member(body: bytes, names: tuple[str, ...]) -> str | None:
    """The first of ``names`` that is a top-level key of the JSON object ``body`` (None for an array)."""
    if _OBJECT.match(body) is None:
        return None
    for name in names:
        if member_start(body, name) is not None:
            return name
    return None


def value(raw: bytes):
    """The parsed item, or :class:`~connector.sources.jsonitems.Unreadable` with the reason."""
    return item_value(raw)


def member_bytes(raw: bytes, key: str, sole: bool = False) -> bytes | None:
    """The exact bytes of the value at top-level ``key`` of the JSON object ``raw`` (``{"tweet": {...}}``
    gives the tweet object's own text), or None when there is no such key or it holds no object.

    ``sole``: the caller parsed ``raw`` and knows ``key`` is its only member, so the value is
    everything between ``{ "key" :`` and the closing ``}`` (no tokenizing: a third of an X import's
    time went there); a key written with escapes takes the general way.
    """
    if sole:
        head = _SOLE_KEY.match(raw)
        if head and head.group(1) == key.encode() and raw[head.end():head.end() + 1] == b"{":
            closing = len(raw.rstrip(_SPACE)) - 1
            return raw[head.end():len(raw[:closing].rstrip(_SPACE))]
    start = member_start(raw, key)
    if start is None or raw[start:start + 1] != b"{":
        return None
    try:
        return raw[start:top_level_spans(raw, start, whole=False)[0][1]]
    except ParseError:
        return None
