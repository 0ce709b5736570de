"""One LinkedIn post by its URL (``item_id_for_url``, ``fetch_item``) against the local replay double:
the message a poll gives (media resolved, the organization named), poll's headers, a deleted post
as permanent, LinkedIn's refusals and daily limit as poll classifies them, a malformed post quarantined."""
from __future__ import annotations

import json

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed
from connector.sources.linkedin import LinkedInSource

from . import linkedin_support
from .linkedin_support import COMMENTED, TOKEN, drain, posts_page, source

double, server = linkedin_support.double, linkedin_support.server  # the fixtures

SHARE = "urn:li:share:7262000000000000007"


def offline() -> LinkedInSource:
    return LinkedInSource("li", {"organization": "2414183", "token": "t"})


def link(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


@pytest.mark.parametrize("url, expected", [
    (link(SHARE), SHARE),
    (link(COMMENTED), COMMENTED),
    ("http://linkedin.com/feed/update/urn:li:share:7262000000000000007", SHARE),
    ("https://nl.linkedin.com/feed/update/urn%3Ali%3Ashare%3A7262000000000000007/?utm_source=share", SHARE),
    ("https://m.linkedin.com/feed/update/urn:li:ugcPost:7261000000000000006/", COMMENTED),
])
def test_a_post_url_names_its_urn(url, expected):
    assert offline().item_id_for_url(url) == expected


@pytest.mark.parametrize("url", [
    link("urn:li:activity:7262000000000000123"),       # an activity: not the post's own URN
    "https://www.linkedin.com/posts/gemeente_raad-activity-7262000000000000123-AbCd/",
    link(SHARE) + "?commentUrn=urn%3Ali%3Acomment%3A%28urn%3Ali%3Ashare%3A1%2C2%29",  # a comment
    "https://www.linkedin.com/company/devtestco/",     # the organization's page
    link("urn:li:share:notanumber"),
    "https://www.linkedin.com.evil.example/feed/update/urn:li:share:7262000000000000007/",
    "https://www.example.com/feed/update/urn:li:share:7262000000000000007/",
    "javascript:alert(1)//www.linkedin.com/feed/update/urn:li:share:1/",
    "", None,
])
def test_other_urls_are_not_this_channels(url):
    assert offline().item_id_for_url(url) is None


@pytest.mark.parametrize("urn", [SHARE, COMMENTED, "urn:li:share:7260000000000000005"])  # text, video, images
def test_the_fetched_post_is_the_message_a_poll_gives(server, double, urn):
    pages, failure = drain(source(server), None)
    assert failure is None
    expected = {m.id: m for p in pages for m in p.messages}[urn]
    double.requests.clear()
    page = source(server).fetch_item(link(urn))
    assert page.quarantined == [] and page.state == {}
    [message] = page.messages
    assert message.to_dict() == expected.to_dict()
    assert message.raw.body == expected.raw.body and message.version == expected.version
    assert message.author.name == double.name  # the organization, named as a poll names it
    assert double.requests[0]["path"] == f"/rest/posts/{urn}"


def test_an_edited_post_comes_as_its_edit(server, double):
    edited_at = double.edit_post(SHARE, "Bijgewerkt bericht")
    [message] = source(server).fetch_item(link(SHARE)).messages
    assert message.text == "Bijgewerkt bericht" and message.version and message.edited_at is not None
    assert int(message.edited_at.timestamp() * 1000) == edited_at


def test_a_deleted_post_is_permanent_and_says_so(server, double):
    double.delete_post(SHARE)
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(link(SHARE))
    failure = caught.value.failure
    assert failure.verdict == PERMANENT and failure.status == 404 and "no such item" in failure.message


def test_a_draft_is_permanent(server, double):
    post = double.value(SHARE)
    post["lifecycleState"] = "DRAFT"
    double.set_text(SHARE, json.dumps(post).encode())
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(link(SHARE))
    assert caught.value.failure.verdict == PERMANENT and "DRAFT" in caught.value.failure.message


def test_a_refused_token_is_configuration(server, double):
    with pytest.raises(Failed) as caught:
        source(server, token="wrong").fetch_item(link(SHARE))
    failure = caught.value.failure
    assert failure.verdict == CONFIGURATION and failure.status == 401 and "renew the token" in failure.message


def test_a_retired_version_is_configuration(server, double):
    with pytest.raises(Failed) as caught:
        LinkedInSource("li", {"organization": "2414183", "token": TOKEN, "base_url": server.url,
                              "api_version": "202301"}).fetch_item(link(SHARE))
    assert caught.value.failure.verdict == CONFIGURATION and "202301" in caught.value.failure.message


def test_the_daily_limit_is_rate_limited_with_retry_at(server, double):
    double.daily_limit = 0
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(link(SHARE))
    failure = caught.value.failure
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None and "midnight UTC" in failure.message


def test_a_server_error_is_retried(server, double):
    double.fail_next(502)
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(link(SHARE))
    assert caught.value.failure.verdict == RETRY


def test_a_malformed_post_is_quarantined_with_its_bytes(server, double):
    text = b'{"id":"urn:li:share:7262000000000000007","author":"urn:li:organization:2414183","commentary":"x"}'
    double.set_text(SHARE, text)
    page = source(server).fetch_item(link(SHARE))
    assert page.messages == [] and page.state == {}
    [held] = page.quarantined
    assert held.raw == text and held.item_id == SHARE and "createdAt" in held.reason


def test_the_fetch_uses_polls_headers_and_leaves_the_listing_alone(server, double):
    assert source(server).fetch_item(link(SHARE)).messages  # the double refuses a call without them
    assert not [r for r in double.requests if r["path"] == "/rest/posts"]  # no listing walked
    assert posts_page()["elements"][0]["id"] == SHARE  # the fixture this test relies on
