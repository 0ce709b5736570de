"""The Facebook source's failures against the Graph double: Graph error codes, usage headers and
rate limits, transient trouble, hostile items, options and check()."""
from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta, timezone

import marshmallow
import pytest

from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY
from connector.sources.facebook import FacebookSource
from connector.sources.graph import THROTTLE_PAUSE, USAGE_PAUSE, usage

from .graph_support import (COMMENTED_POST, FB, PAGE, clock, double, drain, facebook, ids_of,  # noqa: F401
                            last_state, poll_ok, recorded_posts, server)

TEMPLATE = {"message": "Goed bericht", "from": {"id": PAGE, "name": "Gemeente"}}


def near(when: datetime, expected: datetime, seconds: float = 5) -> bool:
    return abs((when - expected).total_seconds()) <= seconds


# -- Graph's errors ----------------------------------------------------------------------------

def test_wrong_token_is_a_configuration_failure_naming_graphs_words(server, clock):
    source = facebook(server, clock, token="not-the-token")
    _, failure = drain(source, None)
    assert failure.verdict == CONFIGURATION and failure.status == 400
    assert "#190 (OAuthException): Invalid OAuth access token" in failure.message
    assert "renew the access token" in failure.message
    assert "not-the-token" not in failure.message + failure.url + repr(source)


def test_expired_token_says_so(server, double, clock):
    double.expire_token()
    _, failure = drain(facebook(server, clock), None)
    assert failure.verdict == CONFIGURATION
    assert "#190/463" in failure.message and "Session has expired" in failure.message


def test_unknown_page_gets_the_recorded_permission_error(server, clock):
    _, failure = drain(facebook(server, clock, page_id="123456"), None)
    recorded = json.loads((FB / "error_data.json").read_text(encoding="utf-8"))["error"]
    assert failure.verdict == CONFIGURATION and recorded["message"] in failure.message
    assert recorded["fbtrace_id"] in failure.message and failure.detail == {"error": recorded}


@pytest.mark.parametrize("code, verdict, words", [
    (200, CONFIGURATION, "the token lacks a permission"),
    (10, CONFIGURATION, "the token lacks a permission"),
    (2, RETRY, "Service temporarily unavailable"),
    (17, RATE_LIMITED, "User request limit reached"),
    (613, RATE_LIMITED, "Calls to this api have exceeded the rate limit"),
])
def test_graph_error_codes_decide_the_verdict(server, double, clock, code, verdict, words):
    messages = {200: "(#200) Permissions error", 10: "(#10) Permission denied", 2: "Service temporarily unavailable",
                17: "(#17) User request limit reached", 613: "Calls to this api have exceeded the rate limit."}
    double.fail_next(400, body={"error": {"message": messages[code], "type": "OAuthException", "code": code,
                                          "fbtrace_id": "Atrace"}})
    _, failure = drain(facebook(server, clock), None)
    assert failure.verdict == verdict and words in failure.message and f"#{code} " in failure.message
    if verdict == RATE_LIMITED:
        assert near(failure.retry_at, datetime.now(timezone.utc) + THROTTLE_PAUSE)


def test_an_error_graph_marks_transient_is_retry(server, double, clock):
    double.fail_next(400, body={"error": {"message": "Please retry your request later.", "type": "OAuthException",
                                          "code": 100, "is_transient": True}})
    _, failure = drain(facebook(server, clock), None)
    assert failure.verdict == RETRY and "Please retry" in failure.message


def test_server_error_is_retry_and_earlier_pages_stay_valid(server, double, clock):
    double.fail_next(500, after=1)
    pages, failure = drain(facebook(server, clock, page_size=2), None)
    assert len(pages) == 1 and failure.verdict == RETRY
    rest = poll_ok(facebook(server, clock, page_size=2), pages[-1].state)
    assert sorted(ids_of(pages, "post") + ids_of(rest, "post")) == sorted(p["id"] for p in recorded_posts())


def test_truncated_page_is_retry_and_the_cursor_does_not_move(server, double, clock):
    double.truncate_next(after=0)
    pages, failure = drain(facebook(server, clock), None)
    assert pages == [] and failure.verdict == RETRY and "unreadable" in failure.message
    assert len(ids_of(poll_ok(facebook(server, clock)), "post")) == len(recorded_posts())


@pytest.mark.parametrize("status, verdict", [(400, "permanent"), (503, RETRY)])
def test_an_error_body_nested_too_deeply_is_still_a_classified_failure(server, double, clock, status, verdict):
    double.fail_next(status, body="[" * 50000 + "]" * 50000)  # served as is
    _, failure = drain(facebook(server, clock), None)
    assert failure.verdict == verdict and failure.status == status and "unreadable error body" in failure.message


def test_a_proxys_error_page_falls_back_to_the_status_table(server, double, clock):
    double.fail_next(502, body={"message": "Bad gateway"})
    _, failure = drain(facebook(server, clock), None)
    assert failure.verdict == RETRY and failure.status == 502


# -- usage headers and rate limits ---------------------------------------------------------

def test_usage_at_the_threshold_pauses_before_graph_refuses(server, double, clock):
    double.call_limit = 10  # X-App-Usage reaches 90% on the 9th call
    pages, failure = drain(facebook(server, clock, page_size=1), None)
    assert failure.verdict == RATE_LIMITED and "rate limit" in failure.message
    assert near(failure.retry_at, datetime.now(timezone.utc) + USAGE_PAUSE)
    assert len(double.requests) == 9 and all(r["status"] == 200 for r in double.requests)  # no call refused
    double.reset_usage()
    double.call_limit = 500
    rest = poll_ok(facebook(server, clock, page_size=1), last_state(pages))
    assert sorted(ids_of(pages, "post") + ids_of(rest, "post")) == sorted(p["id"] for p in recorded_posts())


def test_a_lower_threshold_pauses_earlier(server, double, clock):
    double.call_limit = 10
    _, failure = drain(facebook(server, clock, page_size=1, usage_threshold=50), None)
    assert failure.verdict == RATE_LIMITED and len(double.requests) == 5


def test_business_use_case_regain_time_is_the_pause(server, double, clock):
    double.usage_header, double.call_limit, double.regain_minutes = "buc", 3, 7
    pages, failure = drain(facebook(server, clock, page_size=2), None)
    assert failure.verdict == RATE_LIMITED and len(double.requests) == 3
    assert near(failure.retry_at, datetime.now(timezone.utc) + timedelta(minutes=7))
    assert len(pages) == 3  # the listing's three pages were read, the re-check waits
    assert sorted(ids_of(pages, "post")) == sorted(p["id"] for p in recorded_posts())


def test_rate_limit_error_takes_its_regain_time_from_the_header(server, double, clock):
    headers = {"X-Business-Use-Case-Usage": json.dumps({PAGE: [{"type": "pages", "call_count": 100,
                                                                "estimated_time_to_regain_access": 12}]})}
    double.fail_next(403, body={"error": {"message": "There have been too many calls to this Page account.",
                                          "type": "OAuthException", "code": 80001}}, headers=headers)
    _, failure = drain(facebook(server, clock), None)
    assert failure.verdict == RATE_LIMITED and "#80001" in failure.message
    assert near(failure.retry_at, datetime.now(timezone.utc) + timedelta(minutes=12))


def test_the_doubles_own_limit_error_is_rate_limited(server, double, clock):
    double.call_limit = 1
    source = facebook(server, clock, usage_threshold=100)
    source.budget.threshold = 101  # never pause by the header: meet Graph's #4 refusal
    pages, failure = drain(source, None)
    assert failure.verdict == RATE_LIMITED and "#4 " in failure.message and failure.status == 403


@pytest.mark.parametrize("header, level, regain", [
    ("not json", 0, 0), (json.dumps({"call_count": "lots"}), 0, 0), (json.dumps([1, 2]), 0, 0),
    (json.dumps({"call_count": -5, "total_time": 95}), 95, 0),
    (json.dumps({"x": [{"call_count": 10 ** 9, "estimated_time_to_regain_access": 10 ** 12}]}), 1000, 24 * 60),
    ("{" * 20000, 0, 0), ("[" * 5000, 0, 0),
])
def test_hostile_usage_headers_neither_crash_nor_pause_for_ever(header, level, regain):
    assert usage({"X-Business-Use-Case-Usage": header}) == (level, regain)


# -- hostile items ---------------------------------------------------------------------------

def _served(double, post_id: str, body: bytes) -> bytes:
    return body.replace(b"POST_ID", post_id.encode())


HOSTILE = {
    "lone surrogate": (b'{"id":"POST_ID","created_time":"2021-08-13T12:30:00+0000","message":"bad \\ud800 text"}',
                       "message: contains a lone surrogate"),
    "invalid utf-8": (b'{"id":"POST_ID","created_time":"2021-08-13T12:30:00+0000","message":"caf\xe9"}',
                      "not valid UTF-8"),
    "nul": (b'{"id":"POST_ID","created_time":"2021-08-13T12:30:00+0000","message":"a\\u0000b"}', "NUL character"),
    "year 9999": (b'{"id":"POST_ID","created_time":"9999-12-31T23:59:59+0000","message":"future"}',
                  "created_at: 9999-12-31T23:59:59Z"),
    "wrong types": (b'{"id":"POST_ID","created_time":"2021-08-13T12:30:00+0000","attachments":"photo"}',
                    "attachments: expected an object"),
    "deeply nested": (b'{"id":"POST_ID","created_time":"2021-08-13T12:30:00+0000","x":' + b"[" * 100000
                      + b"]" * 100000 + b"}", "nested too deeply"),
    "huge": (b'{"id":"POST_ID","created_time":"2021-08-13T12:30:00+0000","message":"' + b"a" * 1_100_000 + b'"}',
             "bytes, more than"),
}


@pytest.mark.parametrize("variant", sorted(HOSTILE))
def test_hostile_item_costs_only_itself(server, double, clock, variant):
    state = last_state(poll_ok(facebook(server, clock)))
    clock.advance(hours=1)
    before = double.publish(PAGE, TEMPLATE)
    bad_id = f"{PAGE}_999000{sorted(HOSTILE).index(variant)}"
    body, reason = HOSTILE[variant]
    served = _served(double, bad_id, body)
    double.publish(PAGE, served, item_id=bad_id, when=clock.advance(seconds=1))
    after = double.publish(PAGE, TEMPLATE, when=clock.advance(seconds=1))
    pages = poll_ok(facebook(server, clock), state)
    held = [q for page in pages for q in page.quarantined]
    assert [q.raw for q in held] == [served] and reason in held[0].reason
    assert ids_of(pages, "post") == [before, after]
    clock.advance(hours=1)
    newer = double.publish(PAGE, TEMPLATE)
    again = poll_ok(facebook(server, clock), pages[-1].state)
    assert ids_of(again, "post") == [newer] and [q for page in again for q in page.quarantined] == []


# -- options, repr, check --------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"page_id": PAGE}, {"token": "t"}, {"page_id": "not a page", "token": "t"},
    {"page_id": PAGE, "token": "t", "api_version": "21"}, {"page_id": PAGE, "token": "t", "recheck_days": 91},
    {"page_id": PAGE, "token": "t", "colour": "blue"}, {"page_id": PAGE, "token": "t", "usage_threshold": 0},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        FacebookSource("fb", options)


def test_defaults_token_in_header_only_and_media_hosts(server, double, clock):
    source = FacebookSource("fb", {"page_id": PAGE, "token": "s3cret"})
    assert (source.options["api_version"], source.options["recheck_days"], source.options["comments"]) == \
        ("v21.0", 7, True)
    assert source.graph == "https://graph.facebook.com/v21.0" and "s3cret" not in repr(source)
    assert source.media_policy().host_allowed("scontent-ssn1-1.xx.fbcdn.net")
    poll_ok(facebook(server, clock))
    assert all(r["auth"] == "Bearer graph-test-token" and "access_token" not in r["args"] for r in double.requests)


def test_check_names_the_page(server, clock):
    checks = facebook(server, clock).check()
    assert [(c.name, c.ok) for c in checks] == [("settings", True), ("connection", True), ("credentials", True),
                                                ("page", True)]


def test_check_with_a_wrong_token_fails_credentials(server, clock):
    checks = facebook(server, clock, token="wrong").check()
    assert [(c.name, c.ok) for c in checks][-1] == ("credentials", False)
    assert "Invalid OAuth access token" in checks[-1].message


def test_check_of_an_unknown_page_fails_the_page(server, clock):
    checks = facebook(server, clock, page_id="42").check()
    assert [(c.name, c.ok) for c in checks][-1] == ("page", False)
    assert "Unsupported get request" in checks[-1].message


def test_check_without_a_server_fails_the_connection(clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = FacebookSource("fb", {"page_id": PAGE, "token": "t", "base_url": f"http://127.0.0.1:{port}"})
    assert [(c.name, c.ok) for c in source.check()][-1] == ("connection", False)
    _, failure = drain(source, None)
    assert failure.verdict == RETRY


def test_a_hostile_comment_is_quarantined_once(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    clock.advance(hours=1)
    bad = b'{"id":"10158407654328553_4242","created_time":"2021-08-13T12:59:00+0000","message":"\\udfff"}'
    double.publish(COMMENTED_POST, bad, item_id="10158407654328553_4242")
    good = double.publish(COMMENTED_POST, {"message": "Goed"}, when=clock.advance(minutes=1))
    pages = poll_ok(facebook(server, clock), state)
    held = [q for page in pages for q in page.quarantined]
    assert ids_of(pages) == [good] and [q.raw for q in held] == [bad] and "lone surrogate" in held[0].reason
    again = poll_ok(facebook(server, clock), pages[-1].state)
    assert [q for page in again for q in page.quarantined] == [] and ids_of(again) == []
    assert [d.id for page in again for d in page.deletions] == []  # still listed: not gone
