"""LinkedIn's options, rate limits and error bodies, classified once (for :mod:`.linkedin`).

LinkedIn publishes no rate-limit headers: its limits are per application and per member per
day, and they reset at midnight UTC. So a 429 means "wait until the next midnight UTC" (unless a
``Retry-After`` says otherwise), and the channel's own ``calls_per_day`` budget counts the calls
since the last midnight UTC (:class:`DailyBudget`), paused until midnight after a 429.

LinkedIn's error bodies are ``{"status", "serviceErrorCode", "code", "message"}``; the shared
table does not read ``message``, so :func:`classify` names it: a refused token (401, e.g.
``serviceErrorCode`` 65600 "Invalid access token"), missing permissions (403 ``ACCESS_DENIED``)
and a ``LinkedIn-Version`` LinkedIn no longer serves (426, or 400 naming the version) are
configuration failures an operator must fix.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

import marshmallow
from marshmallow import fields, validate

from ..failures import CONFIGURATION, RATE_LIMITED, Failed, Failure, classify_response, retry_at_from_headers
from ..media import MediaOptions
from .rest import CallBudget

class LinkedInOptions(MediaOptions):
    class Meta:
        unknown = marshmallow.RAISE

    organization = fields.Str(required=True, validate=validate.Regexp(
        r"^(urn:li:organization:)?\d{1,20}$", error="expected 'urn:li:organization:<id>' or the bare id"),
        metadata={"description": "the organization (`urn:li:organization:2414183` or `2414183`)"})
    token = fields.Str(required=True, validate=validate.Length(min=1), metadata={
        "description": "OAuth bearer token with r_organization_social (`${ENV}` only)"})
    base_url = fields.Url(load_default="https://api.linkedin.com", schemes={"http", "https"}, require_tld=False,
                          metadata={"description": "the API's base URL"})
    api_version = fields.Str(load_default="202411", validate=validate.Regexp(
        r"^\d{6}(\.\d{2})?$", error="expected YYYYMM"), metadata={
        "description": "the `LinkedIn-Version` header (YYYYMM); LinkedIn serves each version for about a year"})
    comments = fields.Bool(load_default=True, metadata={"description": "also archive the posts' comments"})
    recheck_days = fields.Int(load_default=7, validate=validate.Range(0, 3650), metadata={
        "description": "posts published this many days back are re-checked each poll: new comments, deletions"})
    page_size = fields.Int(load_default=50, validate=validate.Range(2, 100), metadata={
        "description": "posts per request (LinkedIn's maximum is 100)"})
    calls_per_day = fields.Int(load_default=None, allow_none=True, validate=validate.Range(min=1), metadata={
        "description": "our own budget of calls per UTC day (LinkedIn's limits are daily too)"})

    @marshmallow.post_load
    def tidy(self, data, **kwargs):
        data["base_url"] = data["base_url"].rstrip("/")
        if not data["organization"].startswith("urn:"):
            data["organization"] = f"urn:li:organization:{data['organization']}"
        return data


VERSION_CODES = {"NONEXISTENT_VERSION", "VERSION_MISSING", "INVALID_VERSION", "UNSUPPORTED_VERSION"}


def next_midnight(now: datetime) -> datetime:
    """The next midnight UTC after ``now`` (when LinkedIn's daily limits reset)."""
    day = now.astimezone(timezone.utc).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


class DailyBudget(CallBudget):
    """At most ``calls`` calls per UTC day (``None``: no budget of our own), spent before calling;
    after a 429 (:meth:`pause`) no call until the next midnight UTC."""

    def __init__(self, calls: int | None = None, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        super().__init__(calls, 86400.0, now)
        self.day = None
        self.count = 0
        self._lock = threading.Lock()

    def spend(self, what: str, url: str = "") -> None:
        with self._lock:
            now = self.now()
            if self.paused_until is not None and now < self.paused_until:
                raise Failed(Failure(RATE_LIMITED, f"{what}: LinkedIn's daily rate limit was reached; it resets at "
                                     f"{self.paused_until.isoformat()} (midnight UTC)", retry_at=self.paused_until,
                                     url=url))
            if self.day != now.date():
                self.day, self.count = now.date(), 0
            if self.calls is not None and self.count >= self.calls:
                again = next_midnight(now)
                raise Failed(Failure(RATE_LIMITED, f"{what}: calls_per_day budget of {self.calls} used up until "
                                     f"{again.isoformat()} (midnight UTC)", retry_at=again, url=url))
            self.count += 1

    def observe(self, response) -> None:
        """LinkedIn sends no rate-limit headers: nothing to learn from a successful answer."""

    def pause(self, until: datetime) -> None:
        with self._lock:
            self.paused_until = until


def _said(detail) -> tuple[str, str]:
    """(LinkedIn's own words for an error body, its ``code``)."""
    if not isinstance(detail, dict):
        return "", ""
    message = detail.get("message") if isinstance(detail.get("message"), str) else ""
    code = detail.get("code") if isinstance(detail.get("code"), str) else ""
    service = detail.get("serviceErrorCode")
    extra = ", ".join(x for x in (code, f"serviceErrorCode {service}" if service is not None else "") if x)
    text = f"LinkedIn: {message}" if message else ("LinkedIn" if extra else "")
    return (f"{text} ({extra})" if extra else text), code


def classify(response, what: str, api_version: str, now: datetime | None = None) -> Failure | None:
    """The shared classification, with LinkedIn's message, daily reset and version failures."""
    failure = classify_response(response, what)
    if failure is None:
        return None
    said, code = _said(failure.detail)
    status = response.status_code
    label = f"{what}: HTTP {status}"
    retry_at, verdict = failure.retry_at, failure.verdict
    version_words = "version" in said.lower()
    if status == 429:
        now = now or datetime.now(timezone.utc)
        retry_at = retry_at_from_headers(response.headers, now) or next_midnight(now)
        message = (f"{label} {said or 'Too Many Requests'}: LinkedIn's daily application or member limit is used "
                   f"up; LinkedIn resets it at midnight UTC, next attempt {retry_at.isoformat()}")
        verdict = RATE_LIMITED
    elif status == 426 or (status == 400 and (code in VERSION_CODES or version_words)):
        verdict = CONFIGURATION
        message = (f"{label}: LinkedIn-Version {api_version} is no longer active ({said or 'upgrade required'});"
                   f" set the channel's api_version to a version LinkedIn serves (YYYYMM)")
    elif status == 401:
        message = f"{label}: LinkedIn refused the access token ({said or 'Unauthorized'}); renew the token"
    elif status == 403:
        message = (f"{label}: LinkedIn denied access ({said or 'Forbidden'}); the token needs r_organization_social"
                   f" (r_organization_social_feed) and its member an approved role on the organization")
    else:
        message = f"{failure.message} {said}".strip() if said and said not in failure.message else failure.message
    return Failure(verdict, message, status=status, retry_at=retry_at, detail=failure.detail, url=failure.url)
