"""The shared helper of every channel's ``item_id_for_url`` and ``fetch_item`` (:mod:`connector.sources.itemurl`):
pasted URLs read safely, hosts compared as people paste them, a missing item as a permanent failure."""
from __future__ import annotations

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, Failed, Failure
from connector.sources.bluesky import BlueskySource
from connector.sources.mastodon import MastodonSource
from connector.sources.rss import FeedSource
from connector.sources.webpage import WebPageSource
from connector.sources.x import XSource
from connector.sources.itemurl import gone, same_site, segments, web_url

from .fetch_item_support import NOT_URLS


@pytest.mark.parametrize("url", [u for u in NOT_URLS if not (isinstance(u, str) and u.startswith("https://x.com/a"))]
                         + ["https://x.com/a b", "https://x.com/a\\b", "http://x.com:port/", "https://" + "a" * 5000])
def test_what_is_no_pasteable_web_url_is_none(url):
    assert web_url(url) is None


def test_a_web_url_is_read_with_its_blanks_around_it_stripped():
    parts = web_url("  https://Social.Example.nl/@gemeente/1?x=1#y \n")
    assert (parts.hostname, parts.path, parts.query) == ("social.example.nl", "/@gemeente/1", "x=1")


@pytest.mark.parametrize("url, base, same", [
    ("http://www.social.example.nl/a", "https://social.example.nl", True),
    ("https://social.example.nl:443/a", "https://social.example.nl", True),
    ("https://social.example.nl./a", "https://social.example.nl", True),
    ("https://social.example.nl:8443/a", "https://social.example.nl", False),
    ("https://social.example.nl/a", "http://127.0.0.1:8080", False),
    ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080", True),
    ("https://evil-social.example.nl/a", "https://social.example.nl", False),
    ("https://mobile.twitter.com/a", "https://twitter.com", False)])
def test_same_site(url, base, same):
    assert same_site(web_url(url), base) is same


def test_a_mobile_prefix_counts_only_where_the_caller_names_it():
    assert same_site(web_url("https://mobile.twitter.com/a"), "https://twitter.com", ("www.", "mobile."))


def test_segments_ignore_doubled_and_trailing_slashes():
    assert segments(web_url("https://h.nl//a///b/")) == ["a", "b"]


@pytest.mark.parametrize("status", [404, 410])
def test_gone_makes_a_missing_item_permanent_with_the_platforms_words(status):
    failed = Failed(Failure(CONFIGURATION, "GET x: HTTP 404", status=status, detail={"error": "Record not found"},
                            url="https://h.nl/api/1"))
    failure = gone(failed, "GET status 1").failure
    assert failure.verdict == PERMANENT and failure.status == status and failure.url == "https://h.nl/api/1"
    assert "no such item" in failure.message and "Record not found" in failure.message


@pytest.mark.parametrize("verdict, status", [(CONFIGURATION, 401), (RATE_LIMITED, 429), (CONFIGURATION, 403)])
def test_gone_leaves_other_failures_as_classified(verdict, status):
    failed = Failed(Failure(verdict, "as it was", status=status))
    assert gone(failed, "GET status 1") is failed


class NoNetwork:
    """A session that fails the test on any request (these URLs must be refused before one is made)."""

    def request(self, *args, **kwargs):
        raise AssertionError(f"a request was made: {args} {kwargs}")

    get = post = head = request


@pytest.mark.parametrize("kind, options", [
    (MastodonSource, {"base_url": "https://social.example.nl", "account": "gemeente"}),
    (XSource, {"token": "t", "user": "gemeente"}), (BlueskySource, {"actor": "gemeente.bsky.social"}),
    (FeedSource, {"url": "https://www.gemeente.nl/feed.xml"}), (WebPageSource, {})])
@pytest.mark.parametrize("url", NOT_URLS)
def test_fetch_item_refuses_what_is_no_url_of_the_channel_without_a_request(kind, options, url):
    src = kind("c", options, session=NoNetwork())
    with pytest.raises(Failed) as caught:
        src.fetch_item(url)
    assert caught.value.failure.verdict == PERMANENT
