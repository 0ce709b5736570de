"""Items of a JSON page, each with its exact bytes: for every channel whose API answers JSON.

:func:`split_payload` cuts a page (a JSON array of items, or one object) into its items *on the
bytes*, so that ``Raw.body`` is each item's text exactly as the platform sent it, and so that one
item the JSON parser cannot read (bytes that are not UTF-8, nesting deeper than Python's parser
allows, a syntax error inside it) is quarantined on its own instead of failing the whole page.
Only a page that is not a JSON array or object as a whole (a proxy's HTML error page, a body cut
off in transit) raises :class:`~connector.sources.base.ParseError`, which sources report as a
transient failure.
"""
from __future__ import annotations

import json
import re

from .base import ParseError

# One token of JSON structure: a whole string, a bracket or comma, or (last) an unterminated string.
# Public, with member_start, top_level_spans and item_value: readers that cut nested members or parse
# items lazily (Graph, Bluesky, the export importers) build on them.
TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},]|"', re.S)
_SPACE = b" \t\n\r"
_CLOSE = {ord("]"): ord("["), ord("}"): ord("{")}


class Unreadable:
    """An item whose own bytes are not a readable JSON value: the reason, and its id if one can be read."""

    def __init__(self, reason: str, item_id: str = ""):
        self.reason, self.id = reason, item_id

    def get(self, name, default=None):  # looks enough like an item object for id filters
        return self.id if name == "id" and self.id else default


def _position(data: bytes, index: int) -> str:
    line = data.count(b"\n", 0, index) + 1
    column = index - (data.rfind(b"\n", 0, index) + 1) + 1
    return f"line {line} column {column}"


def split_payload(data: bytes) -> tuple[list[tuple[bytes, object]], bool]:
    """Each item of a JSON array as (its exact bytes, its value); ``is_list`` False for one object.

    The item boundaries are found on the bytes (strings, brackets and commas; no recursion), so
    one item that is not valid UTF-8 or nests deeper than Python's parser goes does not hide the
    others: such an item comes back with an :class:`Unreadable` value (the reason, and its id if
    one can still be read) and is quarantined with its exact bytes. The bytes are the item's text
    as it stood in the payload, so ``Raw.body`` is the platform's own, not a re-serialisation.

    Raises :class:`ParseError` when the page as a whole is not a JSON array or object: not JSON
    at all (a proxy's HTML error page), cut off, or a bare string or number.
    """
    i = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    while i < len(data) and data[i] in _SPACE:
        i += 1
    if i == len(data):
        raise ParseError("empty response", _position(data, i))
    if data[i] not in b"[{":
        what = "a JSON value" if data[i] in b'"-0123456789tfn' else "JSON"
        raise ParseError(f"expected a JSON array of items or one object, not {what}",
                         _position(data, i))
    spans = top_level_spans(data, i)
    if data[i] == ord("{"):
        return [(data[i:spans[0][1]], item_value(data[i:spans[0][1]]))], False
    return [(data[a:b], item_value(data[a:b])) for a, b in spans], True


def split_member(data: bytes, key: str) -> list[tuple[bytes, object]]:
    """Each item of the array at top-level ``key`` of a JSON object page (``{"data": [...], "meta": ...}``)
    as (its exact bytes, its value), as :func:`split_payload` does for a top-level array.

    For APIs that wrap their records (X ``data``, Graph ``data``, YouTube ``items``): the raw
    payload of each record is still the platform's own text. A missing key or ``null`` gives ``[]``;
    a page that is not a JSON object, or whose ``key`` holds no array, raises :class:`ParseError`.
    """
    items, is_list = split_payload(data)  # checks the whole page (nesting, truncation) once
    if is_list:
        raise ParseError(f"expected a list at {key!r}: the page is an array, not an object")
    body = items[0][0]
    start = member_start(body, key)
    if start is None or body.startswith(b"null", start):
        return []
    if body[start] != ord("["):
        raise ParseError(f"expected a list at {key!r}", _position(body, start))
    return [(body[a:b], item_value(body[a:b])) for a, b in top_level_spans(body, start, whole=False)]


def member_start(body: bytes, key: str) -> int | None:
    """Where the value of top-level ``key`` starts in the JSON object ``body`` (the last one, as json does)."""
    depth, expect_key, found = 0, False, None
    for token in TOKEN.finditer(body):
        char = body[token.start()]
        if char in b"[{":
            depth += 1
            expect_key = depth == 1 and char == ord("{")
        elif char in b"]}":
            depth -= 1
        elif char == ord(","):
            expect_key = depth == 1
        elif char == ord('"') and depth == 1 and expect_key:
            expect_key = False
            try:
                name = json.loads(body[token.start():token.end()].decode("utf-8", "replace"))
            except ValueError:
                continue
            after = token.end()
            while after < len(body) and body[after] in _SPACE:
                after += 1
            if name == key and after < len(body) and body[after] == ord(":"):
                after += 1
                while after < len(body) and body[after] in _SPACE:
                    after += 1
                found = after
    return found


def top_level_spans(data: bytes, start: int, whole: bool = True) -> list[tuple[int, int]]:
    """Byte spans of the items of the array at ``start`` (or of the object there); checks nesting.

    ``whole``: the value at ``start`` is the whole document (nothing may follow it)."""
    is_array = data[start] == ord("[")
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    item_start = start + 1
    for token in TOKEN.finditer(data, start):
        char = data[token.start()]
        if char == ord('"') and token.end() - token.start() == 1:
            raise ParseError("unterminated string", _position(data, token.start()))
        if is_array and len(stack) == 1 and char in b",]":  # the end of one item of the page
            span = _strip(data, item_start, token.start())
            if span[0] < span[1]:
                spans.append(span)
            elif char == ord(",") or spans:  # "[]" is an empty page; "[," or ",]" is broken
                raise ParseError("expected a value", _position(data, token.start()))
            item_start = token.end()
        if char in b"[{":
            stack.append(char)
        elif char in b"]}":
            if not stack or stack.pop() != _CLOSE[char]:
                raise ParseError(f"unexpected {chr(char)!r}", _position(data, token.start()))
            if not stack:
                rest = data[token.end():].strip(_SPACE) if whole else b""
                if rest:
                    raise ParseError("extra data after the JSON value", _position(data, len(data) - len(rest)))
                return spans if is_array else [(start, token.end())]
    raise ParseError("the document ends before its closing bracket: truncated", _position(data, len(data)))


def _strip(data: bytes, start: int, end: int) -> tuple[int, int]:
    while start < end and data[start] in _SPACE:
        start += 1
    while end > start and data[end - 1] in _SPACE:
        end -= 1
    return start, end


def item_value(body: bytes):
    """The parsed item, or :class:`Unreadable` with the reason (invalid UTF-8, too deep, not JSON)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Unreadable(f"not valid UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start} of the item",
                          _readable_id(body.decode("utf-8", "replace")))
    try:
        return json.loads(text)
    except RecursionError:
        return Unreadable("nested too deeply to read", _readable_id(text, parse=False))
    except json.JSONDecodeError as exc:
        return Unreadable(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} of the item",
                          _readable_id(text, parse=False))


def _readable_id(text: str, parse: bool = True) -> str:
    """The status id of an unreadable item, where it can still be found (for the quarantine and cursor)."""
    try:
        value = json.loads(text) if parse else None
    except (ValueError, RecursionError):
        value = None
    if isinstance(value, dict):
        found = value.get("id")
    else:  # the first "id" key at any depth: an item's own id usually comes first
        match = re.search(r'"id"\s*:\s*"([^"\\]{1,64})"', text[:2000])
        found = match.group(1) if match else None
    return found if isinstance(found, str) else ""
