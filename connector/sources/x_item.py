"""X: one post by its URL (``x.com/USER/status/ID`` and its variants), fetched as a poll fetches it.

Split from :mod:`.x` (options, cursor, polling). Recognised: ``x.com``, ``twitter.com`` and their
``www.`` and ``mobile.`` hosts, with ``/USER/status/ID`` (also ``statuses``, and the ``/photo/N``
or ``/video/N`` view of the post's media), ``/i/web/status/ID`` and ``/i/status/ID``.

``GET /2/tweets/:id`` with the fields and expansions a poll asks for, so ``includes`` (authors,
media, referenced posts, earlier versions) make the same message; the post's raw is the exact
bytes of the answer's ``data`` object. X answers a post that is gone or protected with 200 and an
``errors[]`` entry (``Not Found Error``, ``Authorization Error``): a permanent failure in X's
words. Failures otherwise as a poll's (:func:`.x_api.x_failure`: 401 the token, 429 the reset).

An edit is a post of its own: when the post asked for has newer versions (``edit_history_tweet_ids``
goes on past it), the newest is fetched instead, once, as the timeline shows it and a poll stores it;
when X does not show that one (protected, gone), the version asked for is what there is.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from ..failures import PERMANENT, RETRY, Failed, Failure
from ..message import Author
from .base import Page, ParseError, captured
from .itemurl import NOT_VISIBLE, gone, missing, same_site, segments, web_url
from .jsonitems import item_value, member_start, top_level_spans
from .rest import PageRequest, Record
from .x_api import error_text, member_items, page_value
from .x_tweet import TWEET_ID, page_to_messages

HOSTS = {"x.com", "twitter.com"}
_USER = re.compile(r"[A-Za-z0-9_]{1,15}")
_MEDIA_VIEWS = {"photo", "video"}


def tweet_id_for_url(url: str) -> str | None:
    """The post id of an X permalink, or ``None`` (another host, a profile, not a URL)."""
    found = _permalink(url)
    return found[1] if found else None


def _permalink(url: str) -> tuple[str, str] | None:
    """``(username, post id)`` of an X permalink (username ``""`` for ``/i/web/status/ID``), or ``None``."""
    parts = web_url(url)
    if parts is None or not any(same_site(parts, f"https://{host}", ("www.", "mobile.")) for host in HOSTS):
        return None
    path = segments(parts)
    if len(path) == 5 and path[4].isdigit() and path[3] in _MEDIA_VIEWS:
        path = path[:-2]  # /USER/status/ID/photo/1: the post itself
    if len(path) == 3 and path[1] in ("status", "statuses") and _USER.fullmatch(path[0]):
        user, found = ("" if path[0] == "i" else path[0]), path[2]
    elif len(path) == 4 and path[:3] == ["i", "web", "status"]:
        user, found = "", path[3]
    else:
        return None
    return (user, found) if TWEET_ID.fullmatch(found) else None


def _data(body: bytes, what: str, response) -> list[Record]:
    """The answer's ``data`` object as one record with its exact bytes; ``[]`` without one."""
    try:
        start = member_start(body, "data")
        if start is None or body.startswith(b"null", start):
            return []
        if body[start] != ord("{"):
            raise ParseError("expected one post object at 'data'")
        (a, b), = top_level_spans(body, start, whole=False)
    except (ParseError, ValueError) as exc:
        raise Failed(Failure(RETRY, f"{what}: unreadable response ({exc})", status=response.status_code,
                             url=response.url)) from exc
    return [Record(item_value(body[a:b]), body[a:b])]


def _newer_version(record: Record, asked: str) -> str | None:
    value = record.value if isinstance(record.value, dict) else {}
    history = value.get("edit_history_tweet_ids")
    if isinstance(history, list) and asked in history and history[-1] != asked \
            and isinstance(history[-1], str) and TWEET_ID.fullmatch(history[-1]):
        return history[-1]
    return None


def _owner(source, records: list[Record], named: str) -> Author | None:
    """The channel's own user, as a poll knows it, for a post without ``author_id`` (not asked for: a
    saved or proxied answer) whose URL names that user or none; ``None`` when the post names its author."""
    value = records[0].value if records and isinstance(records[0].value, dict) else {}
    user = source.options["user"]
    if "author_id" in value or named.lower() not in ("", user.lower()):
        return None
    what = f"GET user @{user}"
    found = source._user(source.request(source._lookup_request(), what, source.budgets["users"]), what)
    return Author(id=found["id"], handle=user, name=found.get("name") or "")


def _get(source, tweet_id: str, params: dict):
    """(response, [the post's record], the page as parsed) of ``GET /2/tweets/:id``; raises when there is no post."""
    what = f"GET post {tweet_id}"
    try:
        response = source.request(PageRequest(f"{source.base_url}/2/tweets/{tweet_id}", params), what,
                                  source.budgets["tweets"])
    except Failed as failed:
        raise gone(failed, what) from None
    records = _data(response.content, what, response)
    page = page_value(response.content)
    if records:
        return response, records, page
    errors = [e for e in page.get("errors") or [] if isinstance(e, dict)]
    if errors:  # X answers 200 with errors[] for a post that is gone or protected
        raise missing(what, NOT_VISIBLE, f"X: {error_text(errors[0])}", status=response.status_code,
                      url=response.url, detail=page)
    raise Failed(Failure(RETRY, f"{what}: no post in X's answer", status=response.status_code, url=response.url))


def fetch_tweet(source, url: str) -> Page:
    """One post as :meth:`connector.sources.x.XSource.fetch_item` returns it (see the module docstring)."""
    from .x import EXPANSIONS, MEDIA_FIELDS, TWEET_FIELDS, USER_FIELDS  # x imports this module

    found = _permalink(url)
    if found is None:
        raise Failed(Failure(PERMANENT, f"{str(url)[:200]!r} is not the URL of a post on X"))
    named, tweet_id = found
    params = {"tweet.fields": TWEET_FIELDS, "expansions": EXPANSIONS, "media.fields": MEDIA_FIELDS,
              "user.fields": USER_FIELDS}
    response, records, page = _get(source, tweet_id, params)
    newer = _newer_version(records[0], tweet_id)
    if newer is not None:  # an edited post: its newest version, as the timeline shows it (and a poll stores it)
        try:
            response, records, page = _get(source, newer, params)
        except Failed as failed:
            if failed.failure.verdict != PERMANENT:
                raise  # (a newest version X no longer shows: the version asked for is what there is)
    owner = _owner(source, records, named)
    messages, quarantined, _ = page_to_messages(records, page, member_items(response.content, "errors"), source.name,
                                                response.url, datetime.now(timezone.utc), owner)
    return Page(captured(messages, response), {}, quarantined, url=response.url)
