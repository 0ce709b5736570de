"""Failures classified once, as data.

Every HTTP exchange with a platform or a case system ends in one of a few verdicts, decided here
and nowhere else (Singer/Airbyte style, no zoo of exception types):

``retry``          transient: timeouts, connection errors, 5xx. Try again later with backoff.
``rate_limited``   429 or an exhausted rate-limit budget; ``retry_at`` says when it resets.
``permanent``      the request itself is wrong (400/422 with details): retrying cannot help.
``configuration``  401/403/404 on the configured base URL, bad credentials: an operator must act.

Sources and sinks raise :class:`Failed` carrying a :class:`Failure`; the store records it verbatim
for the helpdesk. ``detail`` holds a server's ``problem+json`` body unchanged where there was one.

A :class:`Failure` redacts itself on creation (:mod:`connector.redact`): credentials in its
``message``, ``url`` and ``detail`` (a URL's userinfo, ``api_key=...``, registered secret values)
become ``***``, so nothing stored, logged or shown from a failure can leak them.
"""
from __future__ import annotations

import email.utils
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .redact import redact, redact_text, redact_url

RETRY = "retry"
RATE_LIMITED = "rate_limited"
PERMANENT = "permanent"
CONFIGURATION = "configuration"
VERDICTS = (RETRY, RATE_LIMITED, PERMANENT, CONFIGURATION)


MAX_MESSAGE = 2000        # characters of a failure's message and url
MAX_DETAIL = 64 * 1024    # characters of a server's problem body, as JSON


def _clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"


def _bounded(detail):
    if detail is None:
        return None
    text = json.dumps(detail, ensure_ascii=False, default=str)
    if len(text) <= MAX_DETAIL:
        return detail
    return {"truncated": True, "characters": len(text), "start": text[:MAX_DETAIL]}


@dataclass
class Failure:
    verdict: str
    message: str
    status: int | None = None
    retry_at: datetime | None = None
    detail: dict | list | None = field(default=None)
    url: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")
        # a server's error body is hostile input too: kept, but bounded (it is stored per attempt)
        self.message = _clip(redact_text(str(self.message)), MAX_MESSAGE)
        self.url = _clip(redact_url(self.url), MAX_MESSAGE)
        self.detail = _bounded(redact(self.detail))

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "message": self.message,
            "status": self.status,
            "retry_at": self.retry_at.isoformat() if self.retry_at else None,
            "detail": self.detail,
            "url": self.url,
        }

    def __str__(self) -> str:
        return self.message


class Failed(Exception):
    """Raised by sources and sinks; carries the classified :class:`Failure`."""

    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


MAX_RETRY_AFTER = timedelta(days=1)


def retry_at_from_headers(headers, now: datetime | None = None) -> datetime | None:
    """When a rate limit resets, from ``Retry-After`` or ``X-RateLimit-Reset``-style headers.

    ``Retry-After`` may be seconds or an HTTP date. Mastodon sends ``X-RateLimit-Reset`` as ISO 8601;
    X sends ``x-rate-limit-reset`` as epoch seconds. Headers are looked up case-insensitively.
    A server's answer is hostile input: a value that cannot be a time is ignored, and a wait longer
    than :data:`MAX_RETRY_AFTER` is cut to it (the pause is simply decided again then), so a header
    saying "9999-12-31" cannot pause a channel or sink for ever, nor crash the call.
    """
    now = now or datetime.now(timezone.utc)
    try:
        when = _retry_at(headers, now)
    except (OverflowError, OSError, ValueError):
        return None
    if when is None:
        return None
    return min(when, now + MAX_RETRY_AFTER)


def _retry_at(headers, now: datetime) -> datetime | None:
    lower = {k.lower(): v for k, v in headers.items()}
    value = lower.get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():  # (a huge number still means "wait long": the caller caps it)
            return now + timedelta(seconds=min(int(value), MAX_RETRY_AFTER.total_seconds() + 1))
        try:
            return email.utils.parsedate_to_datetime(value).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    for name in ("x-ratelimit-reset", "x-rate-limit-reset"):
        value = lower.get(name)
        if not value:
            continue
        value = value.strip()
        try:
            if value.replace(".", "", 1).isdigit():
                number = float(value)
                # epoch seconds (X) vs. seconds-from-now (some APIs): epoch values are huge
                limit = MAX_RETRY_AFTER.total_seconds() + 1
                if number > 10**9:
                    return datetime.fromtimestamp(min(number, now.timestamp() + limit), timezone.utc)
                return now + timedelta(seconds=min(number, limit))
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _body(response):
    try:
        return response.json()
    except (ValueError, RecursionError):  # nested deeper than the parser goes: no body to read
        text = (response.text or "")[:500]
        return {"body": text} if text else None


# The shared status table (Airbyte's default error mapping, in our words): status -> verdict.
# Any other 5xx is RETRY, any other 4xx PERMANENT. A sink extends it with its own ``error_mapping``
# (see connector.sinks.base.Sink.classify_response).
ERROR_MAPPING: dict[int, str] = {
    408: RETRY, 425: RETRY,
    429: RATE_LIMITED,
    **{status: CONFIGURATION for status in (401, 403, 404, 405, 406, 407, 412, 415)},
}


def verdict_for(status: int, mapping: dict[int, str] | None = None) -> str:
    """The verdict of an error ``status``: ``mapping`` first, then :data:`ERROR_MAPPING`, then its range."""
    for table in (mapping or {}, ERROR_MAPPING):
        if status in table:
            return table[status]
    return RETRY if status >= 500 else PERMANENT


def classify_response(response, what: str = "", mapping: dict[int, str] | None = None) -> Failure | None:
    """``None`` for a 2xx/3xx response, otherwise the :class:`Failure` it means.

    ``what`` names the call for the operator ("POST /zaken", "GET statuses of @x"); ``mapping``
    (``{status: verdict}``) overrides the shared :data:`ERROR_MAPPING` for one caller.
    """
    status = response.status_code
    if status < 400:
        return None
    label = f"{what}: " if what else ""
    detail = _body(response)
    summary = ""
    if isinstance(detail, dict):
        summary = detail.get("detail") or detail.get("title") or detail.get("error") or ""
        if detail.get("invalidParams"):
            params = "; ".join(f"{p.get('name')}: {p.get('code')} ({p.get('reason')})"
                               for p in detail["invalidParams"])
            summary = f"{summary} [{params}]" if summary else params
    message = f"{label}HTTP {status}" + (f" {summary}" if summary else "")
    verdict = verdict_for(status, mapping)
    retry_at = retry_at_from_headers(response.headers) if verdict in (RETRY, RATE_LIMITED) else None
    return Failure(verdict, message, status=status, retry_at=retry_at, detail=detail,
                   url=str(getattr(response, "url", "") or ""))


def classify_exception(exc: BaseException, what: str = "") -> Failure:
    """Transport errors (timeouts, refused connections, TLS trouble) are transient."""
    label = f"{what}: " if what else ""
    return Failure(RETRY, f"{label}{type(exc).__name__}: {exc}")
