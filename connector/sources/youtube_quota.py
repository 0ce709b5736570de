"""The YouTube Data API's daily quota, and its error answers, as data.

Google does not announce the quota in headers: a project has ``daily_quota`` units a day (10,000
by default) and every ``list`` call costs 1 unit. :class:`Quota` counts each call's cost before
it is made, per Pacific day (the quota resets at midnight America/Los_Angeles), and refuses a
call that would pass the limit with ``rate_limited`` until that midnight. A 403 whose
``errors[].reason`` is ``quotaExceeded`` or ``dailyLimitExceeded`` (the project's real quota is
used up, by us or another client of the same key) pauses likewise and marks the day spent.

:func:`classify` reads Google's error body (``{"error": {"code", "message", "errors": [{"reason",
"message", "domain"}]}}``) and names the reason and Google's own message: a wrong API key
(``keyInvalid``, 400), refused credentials (401) or a forbidden request (403 ``forbidden``,
``accessNotConfigured``, ...) are ``configuration``; short rate limits (``rateLimitExceeded``) are
``rate_limited`` for a minute.
"""
from __future__ import annotations

import re
import threading
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..failures import CONFIGURATION, PERMANENT, RATE_LIMITED, Failed, Failure, classify_response

PACIFIC = ZoneInfo("America/Los_Angeles")
DAILY_QUOTA = 10_000
QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"}
SHORT_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
AUTH_REASONS = {"keyInvalid", "keyExpired", "authError", "forbidden", "accessNotConfigured", "ipRefererBlocked",
                "insufficientPermissions", "accountDisabled", "unauthorized"}


def pacific_day(now: datetime) -> str:
    """The Pacific date the quota of ``now`` is counted on (``2026-11-26``)."""
    return now.astimezone(PACIFIC).date().isoformat()


def next_reset(now: datetime) -> datetime:
    """The next midnight in America/Los_Angeles after ``now``, in UTC (daylight saving time included)."""
    local = now.astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=PACIFIC)
    return midnight.astimezone(timezone.utc)


def _reset_words(when: datetime) -> str:
    return (f"the quota resets at midnight Pacific Time ({when.astimezone(PACIFIC).strftime('%Y-%m-%d %H:%M %Z')},"
            f" {when.isoformat().replace('+00:00', 'Z')})")


class Quota:
    """Units spent today (a Pacific day), shared by the polls of one source; ``now`` is the clock."""

    def __init__(self, limit: int = DAILY_QUOTA, now=lambda: datetime.now(timezone.utc)):
        self.limit, self.now = limit, now
        self.day, self.used = "", 0
        self._lock = threading.Lock()

    def load(self, saved: dict | None) -> None:
        """Take over a cursor's count (after a restart): the larger count of the same day wins."""
        saved = saved if isinstance(saved, dict) else {}
        with self._lock:
            self._roll()
            if saved.get("day") == self.day and isinstance(saved.get("used"), int):
                self.used = max(self.used, saved["used"])

    def state(self) -> dict:
        with self._lock:
            self._roll()
            return {"day": self.day, "used": self.used}

    def _roll(self) -> None:
        today = pacific_day(self.now())
        if today != self.day:
            self.day, self.used = today, 0

    def spend(self, what: str, cost: int = 1, url: str = "") -> None:
        """Count ``cost`` units for a call about to be made, or raise ``rate_limited`` until the reset."""
        with self._lock:
            self._roll()
            if self.used + cost > self.limit:
                reset = next_reset(self.now())
                raise Failed(Failure(RATE_LIMITED, f"{what}: the daily YouTube quota of {self.limit} units is used"
                                     f" up ({self.used} spent today); {_reset_words(reset)}", retry_at=reset, url=url))
            self.used += cost

    def exhausted(self) -> datetime:
        """Google said the quota is used up: nothing more today. Returns the reset."""
        with self._lock:
            self._roll()
            self.used = max(self.used, self.limit)
            return next_reset(self.now())


def google_error(response) -> tuple[str, str]:
    """(first reason, Google's message) of an error answer; empty strings where the body has none."""
    try:
        body = response.json()
    except ValueError:
        return "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", str(error) if isinstance(error, str) else ""
    errors = error.get("errors") if isinstance(error.get("errors"), list) else []
    reason = next((e.get("reason") for e in errors if isinstance(e, dict) and isinstance(e.get("reason"), str)), "")
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    if not message:
        message = next((e.get("message") for e in errors if isinstance(e, dict)
                        and isinstance(e.get("message"), str)), "")
    message = re.sub(r"<[^>]*>", "", message)  # Google links its quota page inside the message
    return reason or (error.get("status") if isinstance(error.get("status"), str) else ""), message


def classify(response, what: str, quota: Quota) -> Failure | None:
    """The shared classification, refined by Google's error reason (see the module docstring)."""
    failure = classify_response(response, what)
    if failure is None:
        return None
    reason, message = google_error(response)
    said = f"{message} (reason {reason})" if reason and message else message or reason
    status = response.status_code
    label = f"{what}: HTTP {status}"
    if reason in QUOTA_REASONS:
        reset = quota.exhausted()
        return Failure(RATE_LIMITED, f"{label}: YouTube says the daily quota is exceeded: {said};"
                       f" {_reset_words(reset)}", status=status, retry_at=reset, detail=failure.detail, url=failure.url)
    if reason in SHORT_LIMIT_REASONS:
        return Failure(RATE_LIMITED, f"{label}: YouTube rate limit: {said}", status=status,
                       retry_at=failure.retry_at or quota.now() + timedelta(minutes=1), detail=failure.detail,
                       url=failure.url)
    if status in (401, 403) or reason in AUTH_REASONS:
        return Failure(CONFIGURATION, f"{label}: Google refused the credentials or the request: {said or 'no reason'};"
                       " check the channel's api_key or token", status=status, detail=failure.detail, url=failure.url)
    if said:
        verdict = PERMANENT if status == 400 else failure.verdict
        return Failure(verdict, f"{label}: {said}", status=status, retry_at=failure.retry_at,
                       detail=failure.detail, url=failure.url)
    return failure


def classify_channel(response, what: str) -> Failure | None:
    """:func:`classify` on a throw-away count (``check()``: an operator's check spends no poll's quota)."""
    return classify(response, what, Quota())
