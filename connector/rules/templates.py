"""A small, safe template language for mapping rules.

``{name}`` placeholders are looked up in a fixed whitelist (:data:`VARIABLES`) or among the
regex groups of the rule (``{match.zaaknummer}``). There is no ``eval``, no ``str.format`` and no
attribute walking: a placeholder is a dictionary key, nothing more. Everything is parsed when the
rules are loaded, so an unknown name, a bad filter or a stray brace is a load-time error.

Syntax inside braces: ``name[:date-format][|filter[(argument)]]...``; ``{{`` and ``}}`` are
literal braces. Dates are rendered in UTC; the date format accepts only locale-independent
``strftime`` directives, so output is the same on every machine.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..message import Message, iso


class TemplateError(ValueError):
    """A template that cannot be parsed or names something unknown."""


def _joined(prefix: str, values) -> str:
    return " ".join(prefix + v for v in values)


# The whitelist. Each getter takes the Message and returns text (dates are handled apart).
VARIABLES = {
    "channel": lambda m: m.channel,
    "id": lambda m: m.id,
    "url": lambda m: m.url,
    "kind": lambda m: m.kind,
    "text": lambda m: m.text,
    "spoiler_text": lambda m: m.spoiler_text,
    "language": lambda m: m.language or "",
    "author.id": lambda m: m.author.id,
    "author.handle": lambda m: m.author.handle,
    "author.name": lambda m: m.author.name,
    "in_reply_to": lambda m: m.in_reply_to or "",
    "thread_id": lambda m: m.thread_id or "",
    "version": lambda m: m.version,
    "hashtags": lambda m: _joined("#", m.hashtags),
    "mentions": lambda m: _joined("@", m.mentions),
    "created_at": lambda m: m.created_at,
    "edited_at": lambda m: m.edited_at,
}
DATE_VARIABLES = ("created_at", "edited_at")
MATCH_PREFIX = "match."

# strftime directives whose output does not depend on the locale or the platform.
DATE_DIRECTIVES = frozenset("YymdHMSfjzZGVuw%")

_GROUP = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FILTER = re.compile(r"([a-z_]+)(?:\((.*)\))?\Z", re.S)
_CONTROL = {c: None for c in range(32) if c not in (9, 10)}
_CONTROL[127] = None
ELLIPSIS = "…"


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut.

    Cuts at a word boundary when one is near, and never between a character and the combining
    marks or joiners that belong to it.
    """
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ELLIPSIS[:limit]
    cut = limit - 1
    while cut > 0 and _clings(text, cut):
        cut -= 1
    for space in range(cut, max(cut - 20, 0), -1):  # prefer ending at a word boundary nearby
        if text[space].isspace():
            cut = space
            break
    return text[:cut].rstrip() + ELLIPSIS


def _clings(text: str, index: int) -> bool:
    """True when cutting before ``text[index]`` would split a grapheme."""
    char, before = text[index], text[index - 1]
    return (unicodedata.combining(char) > 0 or char in "\u200d\ufe0e\ufe0f" or before == "\u200d"
            or 0x1F3FB <= ord(char) <= 0x1F3FF)  # skin-tone modifiers


def oneline(text: str) -> str:
    return " ".join(text.split())


def plain(text: str) -> str:
    """Drop control characters (keeping tab and newline): output goes into plain-text fields."""
    return text.replace("\r\n", "\n").translate(_CONTROL)


def _truncate(argument):
    try:
        limit = int(argument)
    except (TypeError, ValueError):
        raise TemplateError("truncate needs a whole number, e.g. truncate(60)") from None
    if not 1 <= limit <= 10000:
        raise TemplateError("truncate(N) needs 1 <= N <= 10000")
    return lambda value: shorten(value, limit)


def _default(argument):
    if argument is None:
        raise TemplateError("default needs a text, e.g. default(unknown)")
    return lambda value: value if value.strip() else argument


def _plain_filter(function):
    def make(argument):
        if argument is not None:
            raise TemplateError("takes no argument")
        return function
    return make


# name -> factory(argument or None) -> function(str) -> str
FILTERS = {
    "upper": _plain_filter(str.upper),
    "lower": _plain_filter(str.lower),
    "oneline": _plain_filter(oneline),
    "truncate": _truncate,
    "default": _default,
}


@dataclass(frozen=True)
class _Placeholder:
    name: str
    date_format: str | None
    filters: tuple


@dataclass(frozen=True)
class Template:
    """A parsed template. :meth:`render` is pure: same message and groups, same text."""

    source: str
    parts: tuple  # str (literal) or _Placeholder

    @property
    def groups(self) -> frozenset[str]:
        """The ``match.<group>`` names this template uses."""
        return frozenset(p.name[len(MATCH_PREFIX):] for p in self.parts
                         if isinstance(p, _Placeholder) and p.name.startswith(MATCH_PREFIX))

    def render(self, message: Message, groups: dict[str, str] | None = None) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            if part.name.startswith(MATCH_PREFIX):
                value = (groups or {}).get(part.name[len(MATCH_PREFIX):]) or ""
            else:
                value = VARIABLES[part.name](message)
                if part.name in DATE_VARIABLES:
                    value = "" if value is None else (
                        value.strftime(part.date_format) if part.date_format else iso(value))
            for function in part.filters:
                value = function(value)
            out.append(value)
        return plain("".join(out))


def parse(source: str) -> Template:
    """Parse a template; raise :class:`TemplateError` naming the first problem."""
    if not isinstance(source, str):
        raise TemplateError("a template must be text")
    parts, literal, i = [], [], 0
    while i < len(source):
        char = source[i]
        if char in "{}" and source[i:i + 2] == char * 2:
            literal.append(char)
            i += 2
        elif char == "}":
            raise TemplateError("single '}' (write '}}' for a literal brace)")
        elif char == "{":
            end = source.find("}", i + 1)
            if end < 0:
                raise TemplateError("unclosed '{' (write '{{' for a literal brace)")
            inner = source[i + 1:end]
            if "{" in inner:
                raise TemplateError(f"'{{' inside placeholder '{{{inner}...': placeholders do not nest")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_placeholder(inner))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return Template(source, tuple(parts))


def _placeholder(inner: str) -> _Placeholder:
    head, *filter_texts = inner.split("|")
    name, colon, date_format = head.partition(":")
    name = name.strip()
    if not name:
        raise TemplateError(f"empty placeholder {{{inner}}}: name a variable, e.g. {{text}}")
    if name.startswith(MATCH_PREFIX):
        if not _GROUP.match(name[len(MATCH_PREFIX):]):
            raise TemplateError(f"{{{name}}}: match groups are written match.<group name>")
    elif name not in VARIABLES:
        raise TemplateError(f"unknown placeholder {{{name}}} (known: {', '.join(VARIABLES)}, match.<group>)")
    if colon:
        if name not in DATE_VARIABLES:
            raise TemplateError(f"{{{name}:...}}: only {' and '.join(DATE_VARIABLES)} take a date format")
        _check_date_format(name, date_format)
    filters = []
    for text in filter_texts:
        found = _FILTER.match(text.strip())
        if not found or found.group(1) not in FILTERS:
            raise TemplateError(f"unknown filter {text.strip()!r} in {{{inner}}} (known: {', '.join(FILTERS)})")
        try:
            filters.append(FILTERS[found.group(1)](found.group(2)))
        except TemplateError as exc:
            raise TemplateError(f"filter {found.group(1)} in {{{inner}}}: {exc}") from None
    return _Placeholder(name, date_format if colon else None, tuple(filters))


def _check_date_format(name: str, date_format: str) -> None:
    if not date_format:
        raise TemplateError(f"{{{name}:}}: empty date format")
    directives = re.findall(r"%(.?)", date_format)
    bad = sorted({d for d in directives if d not in DATE_DIRECTIVES})
    if bad:
        raise TemplateError(f"{{{name}:{date_format}}}: unsupported date directive(s) "
                            f"{', '.join('%' + d for d in bad)} (allowed: "
                            f"{' '.join('%' + d for d in sorted(DATE_DIRECTIVES))})")
