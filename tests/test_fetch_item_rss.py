"""RSS/Atom: one entry by its link (``item_id_for_url``, ``fetch_item``) against the local feed server.

The feed's entries link to the feed's own host (``fixtures/rss/local-links.xml``, its ``{base}`` made the
server's URL). The fetched entry must be the message a first poll gives for it; an entry gone from the
feed a permanent failure that says so; the feed's own failures classified as a poll's are.
"""
from __future__ import annotations

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY

from .fetch_item_support import NOT_URLS, comparable, fetch, polled
from .rss_support import FIXTURES, feeds, make_source, poll  # noqa: F401


@pytest.fixture
def site(feeds):
    """(double, base URL, source of /feed.xml) with the local-links feed served."""
    double, running = feeds
    text = (FIXTURES / "local-links.xml").read_bytes().replace(b"{base}", running.url.encode())
    double.replace("/feed.xml", text)
    return double, running.url, make_source(running.url + "/feed.xml")


@pytest.mark.parametrize("path", ["/nieuws/werkzaamheden-dorpsstraat", "/nieuws/openingstijden?id=42",
                                  "/nieuws/raadsvergadering-12-november/", "/nieuws/iets-anders"])
def test_links_on_the_feeds_host_are_candidates(site, path):
    _, base, src = site
    assert src.item_id_for_url(base + path) == base + path


@pytest.mark.parametrize("url", ["{base}/feed.xml", "{base}/", "{base}", "https://elders.example.org/nieuws/1",
                                 "http://127.0.0.2:1/nieuws/1", *NOT_URLS])
def test_the_feed_itself_its_home_page_and_other_hosts_are_not(site, url):
    _, base, src = site
    assert src.item_id_for_url(url.format(base=base) if isinstance(url, str) else url) is None


@pytest.mark.parametrize("path", ["/nieuws/werkzaamheden-dorpsstraat", "/nieuws/openingstijden?id=42",
                                  "/nieuws/raadsvergadering-12-november/"])
def test_fetched_entry_equals_the_polled_one(site, path):
    double, base, src = site
    by_poll = polled([poll(make_source(base + "/feed.xml"))])
    found, failure = fetch(src, base + path)
    assert failure is None, failure
    [message] = found.messages
    assert found.state == {} and found.quarantined == []
    assert comparable(message) == comparable(by_poll[(message.id, "")])
    assert message.url == base + path


def test_the_link_matches_in_its_common_variants(site):
    _, base, src = site
    wanted = base + "/nieuws/raadsvergadering-12-november/"
    for variant in (base + "/nieuws/raadsvergadering-12-november", wanted + "#reacties"):
        found, failure = fetch(src, variant)
        assert failure is None and found.messages[0].url == wanted


def test_an_entry_is_found_by_its_guid_permalink_and_keeps_its_key(site):
    _, base, src = site
    found, _ = fetch(src, base + "/nieuws/openingstijden?id=42")
    assert found.messages[0].id == "gemeente-voorbeeld-nieuws-42"  # the guid, as a poll's id


def test_an_entry_not_in_the_feed_is_permanent(site):
    _, base, src = site
    _, failure = fetch(src, base + "/nieuws/oud-bericht-van-vorig-jaar")
    assert failure.verdict == PERMANENT and "not in the feed's current entries" in failure.message


def test_a_malformed_entry_is_quarantined_with_its_bytes(site):
    _, base, src = site
    found, failure = fetch(src, base + "/nieuws/kapotte-datum")
    assert failure is None and found.messages == []
    [held] = found.quarantined
    assert held.raw.startswith(b"<item>") and b"de dertigste februari" in held.raw and held.reason


@pytest.mark.parametrize("status, verdict", [(401, CONFIGURATION), (404, CONFIGURATION), (503, RETRY)])
def test_the_feeds_own_failures_are_classified_as_a_polls(site, status, verdict):
    double, base, src = site
    double.fail_next(status)
    _, failure = fetch(src, base + "/nieuws/werkzaamheden-dorpsstraat")
    assert failure.verdict == verdict and failure.status == status


def test_429_is_rate_limited_with_retry_at(site):
    double, base, src = site
    double.fail_next(429, retry_after=90)
    _, failure = fetch(src, base + "/nieuws/werkzaamheden-dorpsstraat")
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None


def test_the_cursor_is_untouched_and_not_used(site):
    double, base, src = site
    state = poll(src).state
    found, _ = fetch(src, base + "/nieuws/werkzaamheden-dorpsstraat")
    assert found.state == {}
    assert double.requests[-1].if_none_match is None and double.requests[-1].status == 200  # no conditional GET
    assert poll(src, state).messages == []  # the poll's own cursor still says: nothing new
