"""HTTP failures classified once, as data."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import requests

from connector import failures


def response(status, body=b"", headers=None, content_type="application/json"):
    r = requests.Response()
    r.status_code = status
    r._content = body
    r.headers.update({"Content-Type": content_type, **(headers or {})})
    r.url = "http://127.0.0.1/x"
    return r


@pytest.mark.parametrize("status,verdict", [
    (200, None), (304, None), (400, "permanent"), (422, "permanent"), (401, "configuration"),
    (403, "configuration"), (404, "configuration"), (412, "configuration"), (429, "rate_limited"),
    (500, "retry"), (502, "retry"), (503, "retry"), (408, "retry"),
])
def test_verdict_per_status(status, verdict):
    failure = failures.classify_response(response(status, b"{}"))
    assert (failure.verdict if failure else None) == verdict


def test_problem_json_surfaces_verbatim():
    body = (b'{"type": "x", "code": "invalid", "title": "Invalid input.", "status": 400, "detail": "",'
            b' "invalidParams": [{"name": "identificatie", "code": "identificatie-niet-uniek",'
            b' "reason": "Deze identificatie bestaat al voor deze bronorganisatie"}]}')
    failure = failures.classify_response(response(400, body, content_type="application/problem+json"), "POST /eio")
    assert failure.detail["invalidParams"][0]["code"] == "identificatie-niet-uniek"
    assert failure.message.startswith("POST /eio: HTTP 400 Invalid input.")
    assert "identificatie: identificatie-niet-uniek (Deze identificatie bestaat al" in failure.message


def test_retry_after_seconds_and_date():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert failures.retry_at_from_headers({"Retry-After": "120"}, now) == now + timedelta(seconds=120)
    assert failures.retry_at_from_headers({"retry-after": "Thu, 01 Jan 2026 00:05:00 GMT"}, now) == \
        now + timedelta(minutes=5)


def test_mastodon_iso_and_x_epoch_reset():
    mastodon = failures.retry_at_from_headers({"X-RateLimit-Reset": "2025-07-17T13:50:00.377431Z"})
    assert mastodon == datetime(2025, 7, 17, 13, 50, 0, 377431, tzinfo=timezone.utc)
    x = failures.retry_at_from_headers({"x-rate-limit-reset": "1700000000"})
    assert x == datetime.fromtimestamp(1700000000, timezone.utc)


def test_429_carries_retry_at():
    failure = failures.classify_response(response(429, b'{"error": "Too many requests"}', {"Retry-After": "30"}))
    assert failure.verdict == "rate_limited" and failure.retry_at is not None
    assert "Too many requests" in failure.message


def test_non_json_error_body_is_kept_short():
    failure = failures.classify_response(response(502, b"<html>" + b"x" * 5000, content_type="text/html"))
    assert failure.verdict == "retry" and len(failure.detail["body"]) == 500


def test_transport_errors_are_transient():
    failure = failures.classify_exception(requests.ConnectTimeout("timed out"), "GET /zaken")
    assert failure.verdict == "retry" and failure.message == "GET /zaken: ConnectTimeout: timed out"


@pytest.mark.parametrize("headers", [
    {"Retry-After": "99999999999999"},                 # timedelta overflow
    {"x-rate-limit-reset": "99999999999999999"},       # epoch beyond what the OS can convert
    {"X-RateLimit-Reset": "9999-12-31T23:59:59Z"},     # "never"
    {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
])
def test_a_hostile_reset_header_cannot_crash_a_call_or_pause_for_ever(headers):
    from datetime import timedelta

    from connector.failures import MAX_RETRY_AFTER, retry_at_from_headers

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert retry_at_from_headers(headers, now) == now + MAX_RETRY_AFTER
    assert MAX_RETRY_AFTER <= timedelta(days=1)


@pytest.mark.parametrize("value", ["1" * 5000, "-5", "soon", "1e300", ""])
def test_a_reset_header_that_is_no_time_is_ignored(value):
    from connector.failures import retry_at_from_headers

    assert retry_at_from_headers({"Retry-After": value, "X-RateLimit-Reset": value}) is None


def test_a_huge_error_body_becomes_a_bounded_failure():
    """A server answering 500 with megabytes of detail: kept for the helpdesk, but bounded (stored per attempt)."""
    import json

    response = requests.models.Response()
    response.status_code = 500
    response._content = json.dumps({"detail": "x" * 3_000_000, "extra": ["y" * 1000] * 1000}).encode()
    response.headers["Content-Type"] = "application/problem+json"
    failure = failures.classify_response(response, "POST /zaken")
    assert failure.verdict == failures.RETRY
    assert failure.message.startswith("POST /zaken: HTTP 500 xxx") and len(failure.message) <= failures.MAX_MESSAGE
    assert failure.detail["truncated"] is True and len(json.dumps(failure.to_dict())) < 2 * failures.MAX_DETAIL
