"""Web pages: one page by its URL (``item_id_for_url``, ``fetch_item``) against the local web site.

A fetched page is captured exactly as a poll (and ``connector save URL``) captures it: same id and
version; its WARC the original. A page not found is permanent, as in a poll.
"""
from __future__ import annotations

import pytest

from connector.failures import PERMANENT, RATE_LIMITED, RETRY
from connector.message import Quarantined

from .fetch_item_support import NOT_URLS, fetch
from .webpage_support import ARTICLE, PREZI, responses, running_site, served, source

site = pytest.fixture(running_site, name="site")


def test_a_page_url_gives_its_id_as_a_message_id(site):
    _, server = site
    src = source([])
    assert src.item_id_for_url(server.url + ARTICLE) == server.url + ARTICLE
    assert src.item_id_for_url(f"  {server.url}{ARTICLE}?utm_source=nieuwsbrief#top ") == server.url + ARTICLE


@pytest.mark.parametrize("url", ["http://127.0.0.2/pagina", "http://10.0.0.1/intranet", "http://169.254.169.254/",
                                 "http://[::1]/x", "file:///etc/passwd", *NOT_URLS])
def test_refused_addresses_and_non_urls_are_not_this_channels(url):
    assert source([]).item_id_for_url(url) is None


def test_page_hosts_limit_what_the_channel_claims():
    src = source([], page_hosts=["www.gemeente.nl", "*.prezi.com"])
    assert src.item_id_for_url("https://www.gemeente.nl/nieuws/1") == "https://www.gemeente.nl/nieuws/1"
    assert src.item_id_for_url("https://prezi.com.evil.org/view/1") is None
    assert src.item_id_for_url("https://x.com/gemeente/status/1") is None
    # without page_hosts any public host is the channel's, as for "connector save URL"
    assert source([]).item_id_for_url("https://x.com/gemeente/status/1") == "https://x.com/gemeente/status/1"


@pytest.mark.parametrize("path, dated", [(ARTICLE, True), (PREZI, False)])
def test_fetched_page_equals_the_polled_capture(site, path, dated):
    _, server = site
    [polled_page] = list(source([server.url + path]).poll(None))
    [by_poll] = polled_page.messages
    found, failure = fetch(source([]), server.url + path)
    assert failure is None, failure
    [message] = found.messages
    assert found.state == {} and found.quarantined == []
    mine, polled = message.to_dict(), by_poll.to_dict()
    if not dated:  # a page without a date of its own is dated by its (first) capture
        assert mine.pop("created_at") >= polled.pop("created_at")
    assert mine == polled
    assert message.raw.media_type == "application/warc"
    page = responses(message.raw.body)[server.url + path]
    assert page.payload == served(server, path)  # the page's own bytes in the WARC


def test_the_id_is_the_pages_canonical_link_as_a_poll_gives_it(site):
    _, server = site
    found, _ = fetch(source([]), server.url + ARTICLE)
    assert found.messages[0].id == server.url + "/nieuws/speeltuin-stadspark"  # its <link rel="canonical">


def test_a_page_not_found_is_permanent(site):
    web, server = site
    web.remove()
    _, failure = fetch(source([]), server.url + "/gone")
    assert failure.verdict == PERMANENT and failure.status == 404 and "page not found" in failure.message


def test_a_page_that_needs_a_login_is_refused_as_a_poll_refuses_it(site):
    web, server = site
    web.broken[ARTICLE] = 401
    _, failure = fetch(source([]), server.url + ARTICLE)
    assert failure.status == 401 and "needs a login" in failure.message and failure.verdict == PERMANENT


def test_429_is_rate_limited_with_retry_at(site):
    web, server = site
    web.fail_next(429, retry_after=60)
    _, failure = fetch(source([]), server.url + ARTICLE)
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None


def test_a_server_error_is_retried_later(site):
    web, server = site
    web.fail_next(503)
    _, failure = fetch(source([]), server.url + ARTICLE)
    assert failure.verdict == RETRY


def test_a_redirect_to_a_refused_address_is_permanent(site):
    _, server = site
    _, failure = fetch(source([]), server.url + "/to?url=http://169.254.169.254/latest/")
    assert failure.verdict == PERMANENT


@pytest.mark.parametrize("error, words", [(ValueError("no readable text"), "no readable text"),
                                          (KeyError("bug"), "internal error: KeyError")])
def test_a_page_that_cannot_be_normalised_is_quarantined_with_its_warc(site, monkeypatch, error, words):
    _, server = site

    def broken(**kwargs):
        raise error
    monkeypatch.setattr("connector.sources.webpage_capture.page_message", broken)
    found, failure = fetch(source([]), server.url + ARTICLE)
    assert failure is None and found.messages == []
    [held] = found.quarantined
    assert isinstance(held, Quarantined) and words in held.reason
    assert responses(held.raw)[server.url + ARTICLE].payload == served(server, ARTICLE)


def test_the_cursor_is_untouched(site):
    _, server = site
    src = source([server.url + ARTICLE])
    state = list(src.poll(None))[-1].state
    web, _ = site
    found, _ = fetch(src, server.url + ARTICLE)
    assert found.state == {}
    asked = len(web.requests)
    assert list(src.poll(state)) == []  # recapture not due: the poll's own cursor still rules
    assert len(web.requests) == asked
