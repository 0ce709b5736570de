"""After a medium's fetch failed: try again later, or record it as missing.

:func:`decide` is a pure function of the attempts so far and the last failure. A permanent
failure (refused by the policy, oversize, wrong type, 404/410) makes the medium missing at once;
a transient one (timeouts, connection errors, 5xx, 429) is tried again, at the server's
``Retry-After`` when it gave one, else after :data:`BACKOFF`, until ``max_attempts`` attempts have
failed; then the medium is missing too. A :class:`Missing` is what the rendition and the record's
metadata show in the medium's place: never silently skipped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from ..failures import RATE_LIMITED, RETRY, Failure
from ..message import Attachment
from ..redact import redact_url

DEFAULT_MAX_ATTEMPTS = 4
BACKOFF = (timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=1))  # then the last, again


@dataclass(frozen=True)
class Missing:
    """A medium that could not be archived: where it was, what it was said to be, its alt text,
    and why it is missing (the last failure, after how many attempts)."""

    url: str
    media_type: str
    description: str
    reason: str
    verdict: str
    attempts: int
    status: int | None = None
    cause: str = ""  # the failure's detail["reason"]: refused, oversize, wrong_type, http_status, ...

    @classmethod
    def of(cls, attachment: Attachment, failure: Failure, attempts: int) -> "Missing":
        detail = failure.detail if isinstance(failure.detail, dict) else {}
        return cls(url=redact_url(attachment.url), media_type=attachment.media_type or "",
                   description=attachment.description or "", reason=failure.message, verdict=failure.verdict,
                   attempts=attempts, status=failure.status, cause=str(detail.get("reason") or ""))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RetryLater:
    at: datetime
    attempts: int


def decide(attachment: Attachment, attempts: int, failure: Failure, *, now: datetime,
           max_attempts: int = DEFAULT_MAX_ATTEMPTS) -> RetryLater | Missing:
    """``attempts`` fetches of ``attachment`` have failed, the last with ``failure``: what now?"""
    if attempts < 1:
        raise ValueError("decide() is for a medium that failed at least once")
    if failure.verdict not in (RETRY, RATE_LIMITED) or attempts >= max_attempts:
        missing = Missing.of(attachment, failure, attempts)
        if failure.verdict in (RETRY, RATE_LIMITED):
            missing = Missing(**{**missing.to_dict(),
                                 "reason": f"gave up after {attempts} attempts; the last: {failure.message}"})
        return missing
    wait = BACKOFF[min(attempts, len(BACKOFF)) - 1]
    at = failure.retry_at if failure.retry_at and failure.retry_at > now else now + wait
    return RetryLater(at=at, attempts=attempts)
