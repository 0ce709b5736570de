"""One item by its permalink: what every source's ``item_id_for_url`` and ``fetch_item`` share (see
:mod:`.base`): reading a pasted URL safely, telling "no such item" from the other failures, the page.

A pasted URL is hostile input (a civil servant copies it from a browser, a citizen may have sent it):
:func:`web_url` accepts only an absolute ``http``/``https`` URL with a host and without credentials,
control characters, spaces or backslashes, and never raises. A source then checks the host its own way:
:func:`same_site` against its configured base URL (``www.``, and a mobile prefix when the caller names it,
do not count; ``http`` and ``https`` are one site; an explicit default port is no port), or
:func:`permalink` against the platform's fixed hosts; and reads the path (:func:`segments`) and query
(:func:`query`) in its platform's own shapes.

Fetching one item reuses the source's own request and classification; the only difference with a poll
is what a missing item means. For a poll a 404 on the configured URL is an operator's configuration
error; for one pasted item it says the item does not exist or cannot be seen (deleted, private, a typo
in the link), which no retry and no operator can change. :func:`gone` turns a 404 or 410 into such a
``permanent`` failure, with the platform's own words; :func:`missing` is the same for an answer that
does not carry the item (X's ``errors[]``, YouTube's empty ``items``, a feed without the entry).
"""
from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qs, urlsplit

from ..failures import PERMANENT, RETRY, Failed, Failure
from .base import Page, ParseError
from .jsonitems import split_payload
from .rest import Record

MAX_URL = 4096  # characters of a pasted URL that are read at all
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")  # (a backslash: browsers and servers read it each their own way)
_DEFAULT_PORTS = {"http": 80, "https": 443}
NOT_FOUND_STATUSES = (404, 410)
NOT_VISIBLE = "deleted, or not visible to this channel"


def web_url(url) -> SplitResult | None:
    """``url`` split, when it is an absolute http(s) URL with a host; ``None`` otherwise (never raises)."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_URL or _FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a port that is no number
    except ValueError:
        return None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    return parts


def host_of(parts: SplitResult, prefixes: tuple[str, ...] = ("www.",)) -> str:
    """The host, lower case, without a trailing dot and without the first of ``prefixes`` it starts with."""
    host = (parts.hostname or "").lower().rstrip(".")
    for prefix in prefixes:
        if host.startswith(prefix) and len(host) > len(prefix):
            return host[len(prefix):]
    return host


def _port(parts: SplitResult) -> int | None:
    port = parts.port
    return None if port == _DEFAULT_PORTS.get(parts.scheme.lower()) else port


def same_site(parts: SplitResult, base_url: str, prefixes: tuple[str, ...] = ("www.",)) -> bool:
    """True when ``parts`` is on the host (and port) of ``base_url``; ``prefixes`` do not count, nor the scheme."""
    base = web_url(base_url)
    if base is None:
        return False
    return host_of(parts, prefixes) == host_of(base, prefixes) and _port(parts) == _port(base)


def permalink(url, hosts: frozenset[str] | set[str]) -> SplitResult | None:
    """``url`` split, when it is an http(s) URL (see :func:`web_url`) on one of ``hosts`` (lower case, the
    default port only); else ``None``."""
    parts = web_url(url)
    if parts is None or host_of(parts, ()) not in hosts or parts.port not in (None, 80, 443):
        return None
    return parts


def segments(parts: SplitResult) -> list[str]:
    """The path's non-empty segments (a trailing slash or a doubled one changes nothing)."""
    return [segment for segment in parts.path.split("/") if segment]


def query(parts: SplitResult) -> dict[str, str]:
    """The first value of each query parameter (blank ones kept as ``""``)."""
    try:
        return {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    except ValueError:
        return {}


def gone(failed: Failed, what: str, also: bool = False) -> Failed:
    """``failed`` as the fetch of one item reports it: a 404 or 410 (or ``also``: another sign the caller
    read, such as Graph's error #100/33) becomes ``permanent`` with the platform's own words; anything
    else stays as the source classified it."""
    failure = failed.failure
    if failure.status not in NOT_FOUND_STATUSES and not also:
        return failed
    said = _said(failure) or failure.message.removeprefix(f"{what}: ")
    return missing(what, NOT_VISIBLE, said=f"HTTP {failure.status}: {said}" if failure.status else said,
                   status=failure.status, url=failure.url, detail=failure.detail)


def missing(what: str, why: str, said: str = "", status: int | None = None, url: str = "", detail=None) -> Failed:
    """The ``permanent`` failure of an item that does not exist or cannot be seen, in words an operator reads."""
    return Failed(Failure(PERMANENT, f"{what}: no such item: {why}" + (f" ({said[:300]})" if said else ""),
                          status=status, url=url, detail=detail))


def _said(failure: Failure) -> str:
    detail = failure.detail if isinstance(failure.detail, dict) else {}
    for key in ("error", "message", "detail", "title"):
        if isinstance(detail.get(key), str) and detail[key]:
            return detail[key][:200]
    return ""


def one_item(messages: list, quarantined: list, url: str) -> Page:
    """The page ``fetch_item`` returns: the item (or its quarantined bytes), no cursor."""
    return Page(list(messages), {}, list(quarantined), url=url)


def single_record(response, what: str) -> Record:
    """The one JSON object a single-item answer is, with its exact bytes. A body that is no JSON
    object as a whole (a proxy's page, cut off) is transient, as an unreadable page is to a poll;
    an object the parser cannot read comes as :class:`~.jsonitems.Unreadable` (quarantined)."""
    try:
        items, is_list = split_payload(response.content)
        if is_list:
            raise ParseError("expected one object, got an array")
    except ParseError as exc:
        raise Failed(Failure(RETRY, f"{what}: unreadable response ({exc})", status=response.status_code,
                             url=response.url)) from exc
    raw, value = items[0]
    return Record(value, raw)
