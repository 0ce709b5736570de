"""The LinkedIn source's failures against the replay double: LinkedIn's daily limits (no rate-limit
headers, reset at midnight UTC), refused tokens and permissions, retired ``LinkedIn-Version`` s,
broken pages and malformed or hostile items; ``check()`` and the options."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import marshmallow
import pytest
import requests

from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY
from connector.sources.linkedin import LinkedInSource
from connector.sources.linkedin_limits import DailyBudget, next_midnight

from . import linkedin_support
from .linkedin_support import TOKEN, drain, ids_of, posts_oldest_first, recorded_comments

double, server = linkedin_support.double, linkedin_support.server  # the fixtures


class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self):
        return self.now


def _with_budget(server, budget, **options) -> LinkedInSource:
    settings = {"organization": "urn:li:organization:2414183", "token": TOKEN, "base_url": server.url,
                "comments": False, "recheck_days": 0, "page_size": 2, **options}
    return LinkedInSource("li", settings, budget=budget)


# -- rate limits ------------------------------------------------------------------------------

def test_429_is_rate_limited_until_midnight_utc_then_resumes_without_skipping(server, double):
    clock = Clock()
    src = _with_budget(server, DailyBudget(None, now=clock))
    double.daily_limit = 3  # the organization's name, page 1, its video; then LinkedIn's daily limit
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED and failure.status == 429
    assert failure.retry_at == next_midnight(datetime.now(timezone.utc))
    assert "midnight UTC" in failure.message and "APPLICATION DAY limit" in failure.message
    assert ids_of(pages) == ["urn:li:ugcPost:7261000000000000006", "urn:li:share:7262000000000000007"]
    sent = len(double.requests)
    again, failure = drain(src, pages[-1].state)  # same day: paused, not a single call
    assert again == [] and failure.verdict == RATE_LIMITED and len(double.requests) == sent
    clock.now = failure.retry_at + timedelta(seconds=1)
    double.reset_day()
    double.daily_limit = None
    seen, state = ids_of(pages), pages[-1].state
    for _ in range(5):
        more, failure = drain(src, state)
        assert failure is None
        seen += ids_of(more)
        state = more[-1].state if more else state
    assert sorted(set(seen)) == sorted(posts_oldest_first())


def test_429_while_reading_comments_loses_none_of_them(server, double):
    clock = Clock()
    src = _with_budget(server, DailyBudget(None, now=clock), page_size=10, comments=True)
    double.daily_limit = 9  # name, the page, 4 media, the comments of 3 posts; then LinkedIn's daily limit
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED and failure.status == 429
    assert ids_of(pages) == posts_oldest_first()  # the posts, stored; their comments not all read
    assert "urn:li:ugcPost:7261000000000000006" in pages[-1].state["pending"]
    clock.now = failure.retry_at
    double.daily_limit = None
    more, failure = drain(src, pages[-1].state)
    assert failure is None
    assert sorted(ids_of(more, "comment")) == sorted(c["$URN"] for c in recorded_comments())
    assert more[-1].state["pending"] == []


def test_calls_per_day_budget_stops_before_calling_and_resets_at_midnight(server, double):
    clock = Clock()
    budget = DailyBudget(3, now=clock)
    src = _with_budget(server, budget, calls_per_day=3)
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED and failure.status is None and "calls_per_day" in failure.message
    assert failure.retry_at == next_midnight(clock.now)
    assert len(double.requests) == 3 and all(r["status"] == 200 for r in double.requests)
    clock.now = failure.retry_at
    more, failure = drain(src, pages[-1].state if pages else None)
    assert len(double.requests) > 3


def test_calls_per_day_option_makes_the_budget():
    src = LinkedInSource("li", {"organization": "1", "token": "t", "calls_per_day": 500})
    assert isinstance(src.budget, DailyBudget) and src.budget.calls == 500


def test_next_midnight_is_utc():
    cet = timezone(timedelta(hours=1))
    assert next_midnight(datetime(2026, 3, 1, 0, 30, tzinfo=cet)) == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert next_midnight(datetime(2026, 3, 1, 23, 59, tzinfo=timezone.utc)) == datetime(2026, 3, 2, tzinfo=timezone.utc)


# -- refusals ---------------------------------------------------------------------------------

def test_invalid_token_is_a_configuration_failure_in_linkedins_words(server):
    src = LinkedInSource("li", {"organization": "2414183", "token": "wrong-secret", "base_url": server.url})
    pages, failure = drain(src, None)
    assert pages == [] and failure.verdict == CONFIGURATION and failure.status == 401
    assert "Invalid access token" in failure.message and "65600" in failure.message
    assert "wrong-secret" not in failure.message + repr(src) + failure.url


def test_another_organization_is_access_denied(server):
    src = LinkedInSource("li", {"organization": "999", "token": TOKEN, "base_url": server.url})
    _, failure = drain(src, None)
    assert failure.verdict == CONFIGURATION and failure.status == 403
    assert "ACCESS_DENIED" in failure.message and "r_organization_social" in failure.message


def test_retired_linkedin_version_says_so(server):
    src = LinkedInSource("li", {"organization": "2414183", "token": TOKEN, "base_url": server.url,
                                "api_version": "202301"})
    _, failure = drain(src, None)
    assert failure.verdict == CONFIGURATION and failure.status == 426
    assert "LinkedIn-Version 202301 is no longer active" in failure.message
    assert "Requested version 20230101 is not active" in failure.message


def test_missing_version_400_is_configuration(server, double):
    double.fail_next(400, body={"status": 400, "code": "VERSION_MISSING", "message": "A version must be present."})
    _, failure = drain(LinkedInSource("li", {"organization": "2414183", "token": TOKEN, "base_url": server.url}),
                       None)
    assert failure.verdict == CONFIGURATION and "no longer active" in failure.message


def test_server_error_on_a_page_is_retry_and_the_next_poll_skips_nothing(server, double):
    double.fail_next(500, after=3)  # the organization's name, page 1, its video, then page 2 fails
    src = _with_budget(server, None)
    pages, failure = drain(src, None)
    assert failure.verdict == RETRY and failure.status == 500
    seen, state = ids_of(pages), pages[-1].state
    for _ in range(5):
        more, failure = drain(src, state)
        assert failure is None
        seen += ids_of(more)
        state = more[-1].state if more else state
    assert sorted(set(seen)) == sorted(posts_oldest_first())


def test_server_error_resolving_a_medium_stops_the_walk_rather_than_lose_the_medium(server, double):
    double.fail_next(500, after=2)  # the organization's name, page 1, then its video fails
    src = _with_budget(server, None)
    pages, failure = drain(src, None)
    assert pages == [] and failure.verdict == RETRY
    again, failure = drain(src, None)
    video = next(m for p in again for m in p.messages if m.id == "urn:li:ugcPost:7261000000000000006")
    assert video.attachments[0].url.endswith("/media/C5F10AQGKQg_6y2a4sQ.mp4")


def test_html_page_with_status_200_is_retry(server):
    src = _with_budget(server, None)
    src.session = requests.Session()
    original = src.session.get

    def proxy_page(url, **kwargs):
        response = original(url, **kwargs)
        response._content = b"<html><body>Bad gateway</body></html>"
        return response
    src.session.get = proxy_page
    pages, failure = drain(src, None)
    assert pages == [] and failure.verdict == RETRY and "unreadable response" in failure.message


# -- malformed and hostile items --------------------------------------------------------------

def _publish_bad(double, body: bytes) -> str:
    """A post served as ``body`` between two good new ones; returns the good ones' URNs."""
    first = double.add_post(commentary="voor")
    double.set_text("urn:li:share:7279999999999999999", body)
    second = double.add_post(commentary="na")
    return first, second


@pytest.mark.parametrize("change, reason", [
    (lambda p: p.update(publishedAt="gisteren"), "publishedAt: expected epoch milliseconds"),
    (lambda p: p.update(author=None), "missing 'author'"),
    (lambda p: p.update(commentary="bad \ud800 surrogate"), "commentary: contains a lone surrogate"),
    (lambda p: p.update(commentary="nul \x00 byte"), "commentary: contains a NUL character"),
    (lambda p: p.update(publishedAt=253402300799000), "is more than a day after the fetch"),
    (lambda p: p.update(commentary="x" * (1024 * 1024)), "bytes, more than"),
    (lambda p: p.update(content={"media": {"id": "urn:li:nothing:1"}}), "content.media.id"),
])
def test_malformed_item_is_quarantined_and_the_rest_of_the_page_kept(server, double, change, reason):
    state = drain(_with_budget(server, None, page_size=10), None)[0][-1].state
    post = double.value("urn:li:share:7258000000000000001")
    post.update(id="urn:li:share:7279999999999999999", lastModifiedAt=double._stamp())
    change(post)
    body = json.dumps(post).encode()
    good = _publish_bad(double, body)
    pages, failure = drain(_with_budget(server, None, page_size=10), state)
    assert failure is None and ids_of(pages) == list(good)
    quarantined = [q for p in pages for q in p.quarantined]
    assert [q.raw for q in quarantined] == [body] and reason in quarantined[0].reason
    again, _ = drain(_with_budget(server, None, page_size=10), pages[-1].state)
    assert [q for p in again for q in p.quarantined] == [] and ids_of(again) == []


@pytest.mark.parametrize("body, reason", [
    (b'{"id":"urn:li:share:7279999999999999999","commentary":"caf\xe9","lastModifiedAt":1}', "not valid UTF-8"),
    (b'{"id":"urn:li:share:7279999999999999999","author":"urn:li:organization:2414183","publishedAt":1730700000000}',
     "missing 'lastModifiedAt'"),
    (b'[' * 5000 + b']' * 5000, "nested too deeply"),
])
def test_item_without_a_place_in_the_order_is_quarantined_once(server, double, body, reason):
    state = drain(_with_budget(server, None, page_size=10), None)[0][-1].state
    good = _publish_bad(double, body)
    pages, failure = drain(_with_budget(server, None, page_size=10), state)
    assert failure is None and ids_of(pages) == list(good)
    quarantined = [q for p in pages for q in p.quarantined]
    assert [q.raw for q in quarantined] == [body] and reason in quarantined[0].reason
    again, _ = drain(_with_budget(server, None, page_size=10), pages[-1].state)
    assert [q for p in again for q in p.quarantined] == []


# -- check and options ------------------------------------------------------------------------

def test_check_reports_connection_credentials_and_organization(server, double):
    good = LinkedInSource("li", {"organization": "2414183", "token": TOKEN, "base_url": server.url}).check()
    assert [(c.name, c.ok) for c in good] == [("settings", True), ("connection", True), ("credentials", True),
                                              ("account", True)]
    bad = LinkedInSource("li", {"organization": "2414183", "token": "nope", "base_url": server.url}).check()
    assert [(c.name, c.ok) for c in bad][-1] == ("credentials", False) and "65600" in bad[-1].message
    other = LinkedInSource("li", {"organization": "42", "token": TOKEN, "base_url": server.url}).check()
    assert [(c.name, c.ok) for c in other][-1] == ("account", False)
    old = LinkedInSource("li", {"organization": "2414183", "token": TOKEN, "base_url": server.url,
                                "api_version": "202302"}).check()
    assert not old[-1].ok and "no longer active" in old[-1].message


@pytest.mark.parametrize("options", [
    {"organization": "acme", "token": "t"},
    {"organization": "1", "token": "t", "api_version": "2024-11"},
    {"organization": "1", "token": "t", "colour": "blue"},
    {"organization": "1", "token": "t", "page_size": 101},
    {"organization": "1"},
    {"organization": "1", "token": "t", "base_url": "ftp://api.linkedin.com"},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        LinkedInSource("li", options)


def test_options_defaults_and_tidying():
    src = LinkedInSource("li", {"organization": "2414183", "token": "s3cret"})
    assert src.options["organization"] == "urn:li:organization:2414183"
    assert (src.options["base_url"], src.options["api_version"]) == ("https://api.linkedin.com", "202411")
    assert src.options["comments"] and src.options["recheck_days"] == 7
    assert "s3cret" not in repr(src)
    assert src.headers()["LinkedIn-Version"] == "202411" and src.headers()["X-Restli-Protocol-Version"] == "2.0.0"
