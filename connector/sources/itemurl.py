"""One item by its permalink: what every source's ``item_id_for_url`` and ``fetch_item`` share.

A pasted URL is hostile input (a civil servant copies it from a browser, a citizen may have sent
it): :func:`web_url` accepts only an absolute ``http``/``https`` URL with a host and without
credentials, control characters, spaces or backslashes, and never raises. :func:`same_site` compares hosts
as people paste them: ``www.`` (and a platform's mobile prefix, when the caller names it) does
not count, ``http`` and ``https`` are the same site, an explicit default port is no port. Each
source then reads the path segments (:func:`segments`) in its platform's own shapes.

Fetching one item reuses the source's own request and classification; the only difference with a
poll is what a missing item means. For a poll a 404 on the configured URL is an operator's
configuration error; for one pasted item it says the item does not exist or cannot be seen
(deleted, private, a typo in the link), which no retry and no operator can change:
:func:`gone` turns such a failure into ``permanent`` with words that say so.
"""
from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit

from ..failures import PERMANENT, Failed, Failure

MAX_URL = 4096
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")  # (a backslash: browsers and servers read it each their own way)
_DEFAULT_PORTS = {"http": 80, "https": 443}
NOT_FOUND_STATUSES = (404, 410)


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


def segments(parts: SplitResult) -> list[str]:
    """The path's non-empty segments (a trailing slash or a doubled one changes nothing)."""
    return [segment for segment in parts.path.split("/") if segment]


def gone(failed: Failed, what: str) -> Failed:
    """``failed`` as the fetch of one item reports it: a 404 or 410 becomes ``permanent`` ("no such
    item: deleted, or not visible to this channel"), anything else stays as the source classified it."""
    failure = failed.failure
    if failure.status not in NOT_FOUND_STATUSES:
        return failed
    return Failed(not_found(what, f"HTTP {failure.status} {_said(failure)}".strip(), status=failure.status,
                            url=failure.url, detail=failure.detail))


def not_found(what: str, said: str, status: int | None = None, url: str = "", detail=None) -> Failure:
    """The ``permanent`` failure of an item that does not exist or cannot be seen, in words an operator reads."""
    return Failure(PERMANENT, f"{what}: no such post: deleted, or not visible to this channel ({said})",
                   status=status, url=url, detail=detail)


def _said(failure: Failure) -> str:
    detail = failure.detail if isinstance(failure.detail, dict) else {}
    for key in ("error", "message", "detail", "title"):
        if isinstance(detail.get(key), str) and detail[key]:
            return detail[key][:200]
    return ""
