"""What fetching one item by its permalink needs on every platform (``Source.item_id_for_url`` and
``Source.fetch_item``, see :mod:`.base`): reading a pasted URL safely, and telling "no such item"
from the other failures.

A pasted URL is hostile input: :func:`permalink` accepts only ``http``/``https`` on one of the
platform's own hosts (compared lower case, without a port, user info or a trailing dot), and never
raises; everything else (``javascript:``, another host, garbage) is ``None``. Each platform then
reads the path and query its own way (:mod:`.graph_item`, :mod:`.youtube_item`,
:mod:`.linkedin_fetch`, :mod:`.yammer_item`).

A fetch is classified as the platform's poll classifies a call (its own ``request`` and
``classify_response``); only "the item does not exist or cannot be seen" is turned into a
``permanent`` failure that says so (:func:`gone`), since retrying will not bring the item back
and no setting of the channel is wrong. Each platform names its own signs of that (HTTP 404/410,
Graph's error #100/33, YouTube's empty ``items``).
"""
from __future__ import annotations

from urllib.parse import SplitResult, parse_qs, urlsplit

from ..failures import PERMANENT, RETRY, Failed, Failure
from .base import Page, ParseError
from .jsonitems import split_payload
from .rest import Record

MAX_URL = 4096  # characters of a pasted URL that are read at all
NOT_VISIBLE = "deleted, or not visible with the channel's credentials"


def permalink(url, hosts: frozenset[str] | set[str]) -> SplitResult | None:
    """``url`` split, when it is an ``http(s)`` URL on one of ``hosts`` (lower case); else ``None``."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:  # a malformed port or an IPv6 literal that is none
        return None
    if parts.scheme.lower() not in ("http", "https") or parts.username or parts.password:
        return None
    if port not in (None, 80, 443) or host not in hosts:
        return None
    return parts


def query(parts: SplitResult) -> dict[str, str]:
    """The first value of each query parameter (blank ones kept as ``""``)."""
    try:
        return {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    except ValueError:
        return {}


def segments(parts: SplitResult) -> list[str]:
    """The path's non-empty segments (so a trailing slash or a doubled one changes nothing)."""
    return [s for s in parts.path.split("/") if s]


def gone(failure: Failure, what: str, why: str = NOT_VISIBLE) -> Failed:
    """A ``permanent`` failure saying the item at ``what`` does not exist or cannot be seen; the
    platform's own words (``failure.message``) follow, for the operator."""
    said = failure.message.removeprefix(f"{what}: ")
    return Failed(Failure(PERMANENT, f"{what}: no such item ({why}); the platform answered: {said}",
                          status=failure.status, detail=failure.detail, url=failure.url))


def missing(what: str, why: str, url: str = "", status: int | None = None) -> Failed:
    """A ``permanent`` failure for an item the platform answered about without giving it."""
    return Failed(Failure(PERMANENT, f"{what}: no such item ({why})", status=status, url=url))


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
