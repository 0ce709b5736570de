"""Mastodon: one status by its URL (``item_id_for_url``, ``fetch_item``) against the replay double.

The fetched status must be the message a poll gives for it (so the store deduplicates the two), a
missing one a permanent failure that says so, other failures classified as a poll's are.
"""
from __future__ import annotations

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY
from connector_doubles.mastodon import MastodonDouble, serve

from .fetch_item_support import NOT_URLS, comparable, fetch, polled
from .mastodon_support import REPLAY, double, full_poll, replay, server, source  # noqa: F401

ACCOUNT = "schochastics"


def status_ids() -> list[str]:
    return [s["id"] for s in replay(ACCOUNT)["statuses"]]


@pytest.mark.parametrize("shape", ["{base}/@{user}/{id}", "{base}/@{user}/{id}/", "{base}/@{user}/{id}?lang=nl",
                                   "{base}/@{user}@fosstodon.org/{id}", "{base}/users/{user}/statuses/{id}",
                                   "{base}/notice/{id}", "{base}//@{user}/{id}#top"])
def test_status_urls_on_the_instance_give_the_status_id(server, shape):
    wanted = status_ids()[2]
    url = shape.format(base=server.url, user=ACCOUNT, id=wanted)
    assert source(server).item_id_for_url(url) == wanted


def test_www_and_scheme_variants_of_the_instance_host_are_recognised():
    src = source_for("https://social.example.nl")
    assert src.item_id_for_url("http://social.example.nl/@gemeente/1234") == "1234"
    assert src.item_id_for_url("https://www.social.example.nl/@gemeente/1234") == "1234"
    assert src.item_id_for_url("https://SOCIAL.example.nl:443/@gemeente/1234") == "1234"


@pytest.mark.parametrize("path", ["/@gemeente", "/@gemeente/", "/@gemeente/with_replies", "/@gemeente/media",
                                  "/@/1234", "/users/gemeente", "/api/v1/statuses/1234", "/@gemeente/1234/extra",
                                  "/tags/gemeente", "/@gemeente/12%2F34", "/"])
def test_other_pages_on_the_instance_are_not_statuses(path):
    assert source_for("https://social.example.nl").item_id_for_url("https://social.example.nl" + path) is None


@pytest.mark.parametrize("url", ["https://mastodon.social/@gemeente/1234", "https://social.example.nl.evil.org/@a/1",
                                 "https://social.example.nl:8443/@gemeente/1234", *NOT_URLS])
def test_other_hosts_and_non_urls_are_not_this_channels(url):
    assert source_for("https://social.example.nl").item_id_for_url(url) is None


def source_for(base_url: str):
    from connector.sources.mastodon import MastodonSource
    return MastodonSource("social", {"base_url": base_url, "account": "gemeente"})


def test_fetched_status_equals_the_polled_one(server, double):
    by_poll = polled(full_poll(server))
    requests_before = len(double.requests)
    for wanted in status_ids()[:5]:
        page, failure = fetch(source(server), f"{server.url}/@{ACCOUNT}/{wanted}")
        assert failure is None, failure
        assert page.state == {} and page.quarantined == []
        [message] = page.messages
        assert comparable(message) == comparable(by_poll[(wanted, "")])
        assert message.raw.page_url.endswith(f"/api/v1/statuses/{wanted}")
    paths = [r["path"] for r in double.requests[requests_before:]]
    assert paths == [f"/api/v1/statuses/{i}" for i in status_ids()[:5]]  # no lookup, no listing


def test_an_edited_status_comes_as_its_new_version(server, double):
    wanted = status_ids()[1]
    double.edit_status(wanted, "<p>Nieuwe tekst</p>")
    page, failure = fetch(source(server), f"{server.url}/@{ACCOUNT}/{wanted}")
    assert failure is None
    [message] = page.messages
    assert message.text == "Nieuwe tekst" and message.version != ""
    assert comparable(message) == comparable(polled(full_poll(server))[(wanted, message.version)])


def test_a_deleted_status_is_a_permanent_failure_that_says_so(server, double):
    wanted = status_ids()[0]
    double.delete_status(wanted)
    page, failure = fetch(source(server), f"{server.url}/@{ACCOUNT}/{wanted}")
    assert page is None
    assert failure.verdict == PERMANENT and failure.status == 404
    assert "no such item" in failure.message and "Record not found" in failure.message


def test_a_refused_token_is_a_configuration_failure_with_the_servers_words(server):
    secured = MastodonDouble(REPLAY, token="secret")
    running = serve(secured)
    try:
        url = f"{running.url}/@{ACCOUNT}/{status_ids()[0]}"
        _, failure = fetch(source(running, token="wrong"), url)
        assert failure.verdict == CONFIGURATION and failure.status == 401
        assert "The access token is invalid" in failure.message
        page, failure = fetch(source(running, token="secret"), url)
        assert failure is None and page.messages[0].id == status_ids()[0]
    finally:
        running.shutdown()


def test_rate_limited_carries_retry_at(server, double):
    double.fail_next(429, headers={"Retry-After": "120"})
    _, failure = fetch(source(server), f"{server.url}/@{ACCOUNT}/{status_ids()[0]}")
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None


@pytest.mark.parametrize("fault", ["server error", "truncated"])
def test_a_server_error_or_cut_answer_is_retried_later(server, double, fault):
    double.fail_next(503) if fault == "server error" else double.truncate_next(keep=0.5)
    _, failure = fetch(source(server), f"{server.url}/@{ACCOUNT}/{status_ids()[0]}")
    assert failure.verdict == RETRY


def test_a_malformed_status_is_quarantined_with_its_bytes(server, double):
    wanted = status_ids()[3]
    broken = b'{"id":"' + wanted.encode() + b'","created_at":"not a date","account":{}}'
    double.set_text(wanted, broken)
    page, failure = fetch(source(server), f"{server.url}/@{ACCOUNT}/{wanted}")
    assert failure is None and page.messages == []
    [held] = page.quarantined
    assert held.raw == broken and held.item_id == wanted and held.reason


def test_the_cursor_is_untouched(server, double):
    pages = full_poll(server)
    state = pages[-1].state
    src = source(server)
    page, _ = fetch(src, f"{server.url}/@{ACCOUNT}/{status_ids()[0]}")
    assert page.state == {}
    new_id = double.add_status(replay(ACCOUNT)["statuses"][0])
    again = list(src.poll(state))  # the poll after a fetch still starts from its own cursor
    assert [m.id for p in again for m in p.messages] == [new_id]


def test_a_url_that_is_not_this_channels_is_refused_without_a_request(server, double):
    _, failure = fetch(source(server), "https://mastodon.social/@someone/1234")
    assert failure.verdict == PERMANENT
    assert double.requests == []
