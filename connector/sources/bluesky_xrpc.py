"""What every Bluesky (AT Protocol XRPC) call shares: rate-limit headers, error bodies, and the
exact bytes of the records inside an answer.

Split from :mod:`.bluesky`. XRPC servers announce their limit as ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (Unix seconds) and ``RateLimit-Policy``
(``3000;w=300``), without the ``X-`` the shared :class:`~.rest.CallBudget` reads, so
:class:`XrpcBudget` reads them. Errors come as ``{"error": "<Name>", "message": "..."}``; a 429
is ``RateLimitExceeded``, credentials are refused with ``AuthRequired``, ``ExpiredToken``,
``InvalidToken`` (400 or 401), an unknown account with ``InvalidRequest`` "Profile not found" or
"Unable to resolve handle" (400): :func:`classify` names the platform's own words and gives each
its verdict.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from ..failures import CONFIGURATION, MAX_RETRY_AFTER, RATE_LIMITED, Failure, classify_response, \
    retry_at_from_headers
from .base import ParseError
from .jsonitems import TOKEN, item_value, member_start, top_level_spans, split_payload
from .rest import CallBudget

AUTH_ERRORS = {"AuthRequired", "ExpiredToken", "InvalidToken", "AuthenticationRequired", "AuthFactorTokenRequired",
               "AccountTakedown"}
ACCOUNT_ERRORS = {"BlockedActor", "BlockedByActor", "AccountDeactivated", "AccountNotFound", "RepoNotFound",
                  "RepoTakendown", "RepoDeactivated", "RepoSuspended"}
ACCOUNT_MESSAGES = ("profile not found", "unable to resolve handle", "could not find", "actor not found")


def reset_at(headers, now: datetime | None = None) -> datetime | None:
    """When the limit resets: ``Retry-After`` first, else ``RateLimit-Reset`` (Unix seconds), capped at a day."""
    now = now or datetime.now(timezone.utc)
    found = retry_at_from_headers(headers, now)
    if found is not None:
        return found
    value = str({k.lower(): v for k, v in headers.items()}.get("ratelimit-reset") or "").strip()
    try:
        if not value.replace(".", "", 1).isdigit():
            return None
        seconds = float(value)
        if seconds < 10**9:  # seconds from now, as some proxies send it
            return now + timedelta(seconds=min(seconds, MAX_RETRY_AFTER.total_seconds()))
        return min(datetime.fromtimestamp(seconds, timezone.utc), now + MAX_RETRY_AFTER)
    except (OverflowError, OSError, ValueError):
        return None


class XrpcBudget(CallBudget):
    """The shared call budget, paused by ``RateLimit-Remaining: 0`` until ``RateLimit-Reset``."""

    def observe(self, response) -> None:
        remaining = str(response.headers.get("RateLimit-Remaining") or "").strip()
        if remaining != "0":
            super().observe(response)  # (an X-RateLimit-* proxy in front still counts)
            return
        with self._lock:
            self.paused_until = reset_at(response.headers, self.now()) or self.now() + timedelta(seconds=60)


def classify(response, what: str, account: str = "") -> Failure | None:
    """``None`` for a success, else the failure with the XRPC error's own name and message."""
    failure = classify_response(response, what)
    if failure is None:
        return None
    body = failure.detail if isinstance(failure.detail, dict) else {}
    name = body.get("error") if isinstance(body.get("error"), str) else ""
    text = body.get("message") if isinstance(body.get("message"), str) else ""
    said = ": ".join(p for p in (name, text) if p)
    message = f"{what}: HTTP {response.status_code}" + (f" {said}" if said else "")
    verdict, retry_at = failure.verdict, failure.retry_at
    if response.status_code == 429 or name == "RateLimitExceeded":
        verdict, retry_at = RATE_LIMITED, reset_at(response.headers)
    elif name in AUTH_ERRORS or response.status_code in (401, 403):
        verdict = CONFIGURATION
        message = f"{what}: Bluesky refused the credentials (HTTP {response.status_code} {said or 'no reason given'})"
    elif name in ACCOUNT_ERRORS or (name == "InvalidRequest" and any(m in text.lower() for m in ACCOUNT_MESSAGES)):
        verdict = CONFIGURATION
        message = f"{what}: account {account!r} not found or not readable on Bluesky ({said})"
    return Failure(verdict, message, status=response.status_code, retry_at=retry_at, detail=failure.detail,
                   url=failure.url)


# -- exact bytes of nested records --------------------------------------------------------------

def member(body: bytes, key: str) -> bytes | None:
    """The exact bytes of the object at top-level ``key`` of the JSON object ``body`` (None if absent/null)."""
    start = member_start(body, key)
    if start is None or body[start] != ord("{"):
        return None
    (a, b), = top_level_spans(body, start, whole=False)
    return body[a:b]


def array_items(body: bytes, key: str) -> list[bytes]:
    """The exact bytes of each item of the array at top-level ``key`` of ``body`` ([] if absent)."""
    start = member_start(body, key)
    if start is None or body[start] != ord("["):
        return []
    return [body[a:b] for a, b in top_level_spans(body, start, whole=False)]


def whole_object(data: bytes) -> bytes:
    """``data`` as one JSON object's bytes (BOM and blanks off); :class:`ParseError` if it is none."""
    items, is_list = split_payload(data)
    if is_list:
        raise ParseError("expected a JSON object (an XRPC answer), not an array")
    return items[0][0]


def thread_nodes(node: bytes, depth: int = 0) -> list[tuple[bytes, object, int]]:
    """Every node of a getPostThread ``thread`` (its bytes, value, depth: parents < 0 < replies),
    the ``parent`` chain first (root first), then the node, then its replies depth first.

    Iterative over the parent chain and the replies: a deep thread cannot exhaust the stack.
    """
    chain, current, level = [], node, depth
    while current is not None:  # the node and its parents, nearest first
        chain.append((current, level))
        current, level = member(current, "parent"), level - 1
    found = [(raw, item_value(raw), level) for raw, level in reversed(chain)]
    pending = [(raw, depth + 1) for raw in reversed(array_items(node, "replies"))]
    while pending:
        raw, level = pending.pop()
        found.append((raw, item_value(raw), level))
        pending.extend((child, level + 1) for child in reversed(array_items(raw, "replies")))
    return found


def top_level_string(body: bytes, key: str) -> str | None:
    """The string at top-level ``key`` of the JSON object ``body`` (say the ``cursor`` of a page),
    read without parsing the rest: one hostile item elsewhere on the page must not hide it."""
    start = member_start(body, key)
    token = TOKEN.match(body, start) if start is not None else None
    if token is None or body[start] != ord('"') or token.end() - start < 2:
        return None
    try:
        value = json.loads(body[start:token.end()].decode("utf-8"))
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def json_or_none(response):
    """The answer's JSON, or None when it is not readable (not JSON, nested too deeply)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None
