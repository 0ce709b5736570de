"""LinkedIn's "little text" format (the Posts API's ``commentary``) as plain text, safe HTML,
mentions and hashtags.

``little`` escapes its reserved characters with a backslash (``\\(``, ``\\#``, ``\\_``, ...), writes a
mention as ``@[Name](urn:li:organization:123)`` and a hashtag as the template
``{hashtag|\\#|tag}``. Plain text keeps what a reader sees on LinkedIn: the name of a mention, the
hashtag with its ``#``. Mentions are kept as the mentioned entity's URN (LinkedIn's only stable
handle), hashtags lower case without ``#``. Anything not well-formed is kept as the literal text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

_URN = re.compile(r"urn:li:[A-Za-z]+:[^\s()\[\]{}]+")
_LINK = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]]")
_TAG = re.compile(r"[^\s{}|\\]+")


@dataclass
class Little:
    """One commentary, parsed: ``parts`` are ("text", str), ("mention", name, urn) or ("hashtag", tag)."""

    parts: list = field(default_factory=list)

    @property
    def text(self) -> str:
        out = []
        for part in self.parts:
            out.append(part[1] if part[0] != "hashtag" else "#" + part[1])
        return "".join(out)

    @property
    def mentions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p[2] for p in self.parts if p[0] == "mention"))

    @property
    def hashtags(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p[1].lower() for p in self.parts if p[0] == "hashtag"))

    def html(self) -> str:
        """Simple safe HTML: escaped text, links to http(s) only, one ``<p>`` with ``<br>`` for new lines."""
        out = []
        for part in self.parts:
            if part[0] == "text":
                out.append(_linked(part[1]))
            elif part[0] == "hashtag":
                out.append(f'<a href="https://www.linkedin.com/feed/hashtag/{escape(part[1].lower())}/">'
                           f'#{escape(part[1])}</a>')
            else:
                page = entity_page(part[2])
                out.append(f'<a href="{escape(page)}">{escape(part[1])}</a>' if page else escape(part[1]))
        body = "".join(out).strip()
        return "<p>" + body.replace("\n", "<br>") + "</p>" if body else ""


def plain_html(text: str) -> str:
    """Plain text (a comment's ``message.text``) as simple safe HTML: escaped, http(s) links, ``<br>``."""
    body = _linked(text).strip()
    return "<p>" + body.replace("\n", "<br>") + "</p>" if body else ""


def entity_page(urn: str) -> str:
    """The public page of an organization URN (LinkedIn's ``/company/<id>/``), else ""."""
    match = re.fullmatch(r"urn:li:(?:organization|company):(\d+)", urn)
    return f"https://www.linkedin.com/company/{match.group(1)}/" if match else ""


def _linked(text: str) -> str:
    out, last = [], 0
    for match in _LINK.finditer(text):
        out.append(escape(text[last:match.start()]))
        url = match.group()
        out.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        last = match.end()
    out.append(escape(text[last:]))
    return "".join(out)


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


def _scan_to(text: str, start: int, stop: str) -> int:
    """Index of the first unescaped ``stop`` at or after ``start``, or -1."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == stop:
            return i
        i += 1
    return -1


def parse_little(text: str) -> Little:
    """``text`` in little format as :class:`Little`; never raises (a broken element stays literal text)."""
    parts: list = []
    buffer: list[str] = []

    def flush():
        if buffer:
            parts.append(("text", "".join(buffer)))
            buffer.clear()

    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            buffer.append(text[i + 1])
            i += 2
            continue
        if char == "@" and text.startswith("@[", i):
            close = _scan_to(text, i + 2, "]")
            if close != -1 and text.startswith("(", close + 1):
                end = _scan_to(text, close + 2, ")")
                urn = text[close + 2:end] if end != -1 else ""
                if _URN.fullmatch(urn):
                    flush()
                    parts.append(("mention", _unescape(text[i + 2:close]), urn))
                    i = end + 1
                    continue
        if char == "{":
            end = _scan_to(text, i + 1, "}")
            inner = text[i + 1:end] if end != -1 else ""
            pieces = inner.split("|")
            if len(pieces) == 3 and pieces[0] == "hashtag" and _unescape(pieces[1]) in ("#", "＃"):
                tag = _unescape(pieces[2])
                if _TAG.fullmatch(tag):
                    flush()
                    parts.append(("hashtag", tag))
                    i = end + 1
                    continue
        buffer.append(char)
        i += 1
    flush()
    return Little(parts)
