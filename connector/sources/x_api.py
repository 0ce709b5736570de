"""What the X (Twitter) API v2 says besides posts: its failures, its pages' parts, compliance events.

Split from :mod:`.x` (options, cursor, polling) so that each module reads in one sitting.

* :func:`x_failure`: X's own error bodies in words an operator acts on: the monthly usage cap
  (``429 {"title": "UsageCapExceeded", "period": "Monthly", "scope": "Product"}``: "X monthly
  usage cap of the project exceeded; resumes <date>", ``retry_at`` at ``x-rate-limit-reset`` or,
  without one, the start of the next month UTC), the rate limit (429, ``x-rate-limit-reset`` in
  epoch seconds), a refused token (401 ``{"title": "Unauthorized"}``) and a refused app (403).
* :func:`page_parts`: one page body as (``data`` items with their exact bytes, the page as
  parsed, ``errors`` items with their exact bytes); :func:`split_pages`: a saved file as pages
  (one JSON page, or JSON lines of pages as twarc writes them).
* :func:`compliance_deletions`: X compliance events (a batch compliance job's result lines,
  ``{"id", "action": "delete", "created_at", "redacted_at", "reason"}``, or compliance stream
  events ``{"data": {"delete": {"tweet": {"id"}, "event_at"}}}``) as :class:`~.base.Deletion` s.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from ..failures import CONFIGURATION, RATE_LIMITED, Failure
from ..message import iso, parse_iso
from .base import Deletion, ParseError
from .jsonitems import split_member, split_payload

NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def next_month(now: datetime) -> datetime:
    """The first instant of the month after ``now``'s, UTC (when a monthly cap starts again)."""
    now = now.astimezone(timezone.utc)
    return datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=timezone.utc)


def _reset_header(headers, now: datetime) -> datetime | None:
    """``x-rate-limit-reset`` (epoch seconds) as a time, when it is a plausible one (within 32 days)."""
    value = str(headers.get("x-rate-limit-reset") or "").strip()
    if not value.isdigit():
        return None
    try:
        when = datetime.fromtimestamp(int(value), timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return when if now - timedelta(minutes=5) <= when <= now + timedelta(days=32) else None


def x_failure(response, failure: Failure, what: str, now: datetime | None = None) -> Failure:
    """``failure`` (the shared classification of ``response``) in X's own words."""
    now = now or _now()
    body = failure.detail if isinstance(failure.detail, dict) else {}
    title = str(body.get("title") or "").strip()
    detail = str(body.get("detail") or body.get("error") or "").strip()
    said = ": ".join(x for x in (title, detail if detail != title else "") if x)
    status = failure.status
    if status == 429 and title == "UsageCapExceeded":
        period, scope = str(body.get("period") or "").lower(), str(body.get("scope") or "").lower()
        retry_at = _reset_header(response.headers, now) or (next_month(now) if period in ("monthly", "") else None)
        whose = "of the project" if scope in ("product", "") else f"({scope})"
        message = f"X {period or 'monthly'} usage cap {whose} exceeded; resumes {iso(retry_at) or 'when X lifts it'}" \
                  f" ({what}: HTTP 429 {said})"
        return Failure(RATE_LIMITED, message, status=status, retry_at=retry_at, detail=failure.detail, url=failure.url)
    if status == 429:
        retry_at = failure.retry_at or _reset_header(response.headers, now)
        return Failure(RATE_LIMITED, f"{what}: X rate limit used up; resumes {iso(retry_at) or 'later'}"
                       f" (HTTP 429 {said})", status=status, retry_at=retry_at, detail=failure.detail, url=failure.url)
    if status == 401:
        return Failure(CONFIGURATION, f"{what}: X refused the bearer token (HTTP 401 {said or 'Unauthorized'});"
                       " check the channel's token", status=status, detail=failure.detail, url=failure.url)
    if status == 403:
        return Failure(CONFIGURATION, f"{what}: X refused access (HTTP 403 {said or 'Forbidden'})",
                       status=status, detail=failure.detail, url=failure.url)
    return failure


def error_text(error: dict) -> str:
    return f"{error.get('title') or 'Error'}: {error.get('detail') or error.get('message') or ''}".strip()


def is_not_found(error) -> bool:
    """An ``errors[]`` entry saying a post does not exist (deleted): X's ``resource-not-found``."""
    return isinstance(error, dict) and (error.get("type") == NOT_FOUND or error.get("title") == "Not Found Error"
                                        or "Could not find tweet" in str(error.get("detail") or ""))


# -- pages -----------------------------------------------------------------------------------

def page_value(body: bytes) -> dict:
    """The page as parsed, for ``includes`` and ``meta``; ``{}`` when it cannot be read as a whole
    (one item too deep for Python's parser: its posts then go without includes, never lost)."""
    try:
        value = json.loads(body.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def member_items(body: bytes, key: str) -> list[tuple[bytes, object]]:
    """The items of a top-level array member with their exact bytes; ``[]`` when there is none."""
    try:
        return split_member(body, key)
    except ParseError:
        return []


def split_pages(data: bytes) -> list[tuple[str, bytes]]:
    """A saved file as (position, page bytes): one JSON page, or JSON lines (twarc's output: a page a line)."""
    try:
        split_payload(data)  # one document (a page or a compliance event)?
        return [("", data)]
    except ParseError as exc:
        if "extra data" not in exc.reason:
            raise
    pages = []
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            try:
                split_payload(line)
            except ParseError as exc:
                raise ParseError(exc.reason, f"line {number}") from None
            pages.append((f"line {number}", line))
    return pages


# -- compliance ------------------------------------------------------------------------------

def _event_deletion(event: dict, now: datetime) -> Deletion | None:
    if isinstance(event.get("data"), dict):  # compliance stream: {"data": {"delete": {...}}}
        delete = event["data"].get("delete")
        if not isinstance(delete, dict) or not isinstance(delete.get("tweet"), dict):
            return None
        tweet_id, at = delete["tweet"].get("id"), delete.get("event_at")
        reason = "X compliance event: delete"
    elif event.get("action") == "delete":  # batch compliance result line
        tweet_id, at = event.get("id"), event.get("redacted_at")
        reason = "X compliance event: delete" + (f" ({event['reason']})" if isinstance(event.get("reason"), str) else "")
    else:
        return None
    if not isinstance(tweet_id, str) or not tweet_id.isdigit():
        raise ValueError(f"no post id in the event: {tweet_id!r}"[:200])
    return Deletion(id=tweet_id, reason=reason, at=parse_iso(at) if isinstance(at, str) else now)


def is_compliance_event(value) -> bool:
    return isinstance(value, dict) and "data" not in value and "action" in value and "id" in value \
        or isinstance(value, dict) and isinstance(value.get("data"), dict) and "delete" in value["data"]


def compliance_deletions(data: bytes, now: datetime | None = None) -> list[Deletion]:
    """X compliance events (JSON lines) as deletions, in file order; other actions are skipped.

    ``at`` is the event's own time (``redacted_at``, ``event_at``) where it gives one, else ``now``
    (a batch result's ``created_at`` is the post's creation, not the event's). Raises
    :class:`ParseError` with the line of a malformed event.
    """
    now = now or _now()
    deletions = []
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
            found = _event_deletion(event, now) if isinstance(event, dict) else None
        except (ValueError, RecursionError) as exc:
            raise ParseError(str(exc) or "not a compliance event", f"line {number}") from None
        if found is not None:
            deletions.append(found)
    return deletions
