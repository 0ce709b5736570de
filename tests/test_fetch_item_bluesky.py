"""Bluesky: one post by its bsky.app URL (``item_id_for_url``, ``fetch_item``) against the replay double.

The fetched post must be the message a poll gives for it (same id, version and text), a deleted one
a permanent failure, other failures classified as a poll's are.
"""
from __future__ import annotations

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY
from connector.sources.bluesky import BlueskySource
from connector_doubles.bluesky import BlueskyDouble, serve

from .bluesky_support import ACTOR, DID, FIXTURES, double, full_poll, recorded_feed, server, source  # noqa: F401
from .fetch_item_support import NOT_URLS, fetch, polled

OFFLINE = BlueskySource("bsky", {"actor": ACTOR})


def own_posts() -> list[str]:
    """The recorded feed's posts (not reposts) by the account itself."""
    return [i["post"]["uri"] for i in recorded_feed() if not i.get("reason") and i["post"]["author"]["did"] == DID]


def url_of(uri: str, actor: str = ACTOR) -> str:
    return f"https://bsky.app/profile/{actor}/post/{uri.rsplit('/', 1)[1]}"


@pytest.mark.parametrize("url, wanted", [
    ("https://bsky.app/profile/gemeente.bsky.social/post/3lof7sovfok2h",
     "at://gemeente.bsky.social/app.bsky.feed.post/3lof7sovfok2h"),
    ("http://www.bsky.app/profile/Gemeente.BSKY.social/post/3lof7sovfok2h/?ref=x",
     "at://gemeente.bsky.social/app.bsky.feed.post/3lof7sovfok2h"),
    (f"https://bsky.app/profile/{DID}/post/3lof7sovfok2h", f"at://{DID}/app.bsky.feed.post/3lof7sovfok2h")])
def test_post_urls_give_the_posts_at_uri(url, wanted):
    assert OFFLINE.item_id_for_url(url) == wanted


@pytest.mark.parametrize("url", [
    "https://bsky.app/profile/gemeente.bsky.social", "https://bsky.app/profile/gemeente.bsky.social/post/",
    "https://bsky.app/profile/gemeente.bsky.social/lists/3lof7sovfok2h",
    "https://bsky.app/profile/gemeente.bsky.social/feed/aaa", "https://bsky.app/profile/not a handle/post/3l",
    "https://bsky.app/profile/gemeente.bsky.social/post/3l%2F..", "https://bsky.social/profile/g.bsky.social/post/3l",
    "https://bsky.app.evil.org/profile/g.bsky.social/post/3l", "https://x.com/gemeente/status/1", *NOT_URLS])
def test_other_urls_are_not_posts(url):
    assert OFFLINE.item_id_for_url(url) is None


def test_fetched_posts_equal_the_polled_ones(server, double):
    by_poll = polled(full_poll(server))
    wanted = own_posts()
    assert len(wanted) >= 3
    for uri in wanted:
        found, failure = fetch(source(server), url_of(uri))
        assert failure is None, failure
        [message] = found.messages
        assert found.state == {} and found.quarantined == []
        assert message.to_dict() == by_poll[(uri, "")].to_dict()
        assert message.raw.body == double.view_text(uri).encode()  # the post view's exact bytes
    gets = [r for r in double.requests if r["path"].endswith("getPosts")]
    assert [r["args"]["uris"] for r in gets] == wanted
    assert sum(r["path"].endswith("resolveHandle") for r in double.requests) == len(wanted) + 1  # +1: the poll


def test_a_did_url_needs_no_handle_resolution(server, double):
    uri = own_posts()[0]
    found, failure = fetch(source(server), url_of(uri, DID))
    assert failure is None and found.messages[0].id == uri
    assert [r["path"] for r in double.requests] == ["/xrpc/app.bsky.feed.getPosts"]


def test_a_deleted_post_is_permanent(server, double):
    uri = own_posts()[1]
    double.delete_post(uri)
    found, failure = fetch(source(server), url_of(uri))
    assert found is None and failure.verdict == PERMANENT and "no such item" in failure.message


def test_an_unknown_handle_is_permanent_too(server):
    _, failure = fetch(source(server), "https://bsky.app/profile/nobody.example.org/post/3lof7sovfok2h")
    assert failure.verdict == PERMANENT and "Unable to resolve handle" in failure.message


def test_refused_credentials_are_a_configuration_failure():
    secured = BlueskyDouble(FIXTURES, credentials=("gemeente.bsky.social", "app-pass"))
    running = serve(secured)
    try:
        options = {"actor": ACTOR, "pds_url": running.url, "identifier": "gemeente.bsky.social"}
        _, failure = fetch(BlueskySource("bsky", {**options, "app_password": "wrong"}), url_of(own_posts()[0], DID))
        assert failure.verdict == CONFIGURATION and failure.status == 401
        found, failure = fetch(BlueskySource("bsky", {**options, "app_password": "app-pass"}),
                               url_of(own_posts()[0], DID))
        assert failure is None and found.messages[0].id == own_posts()[0]
    finally:
        running.shutdown()


def test_429_is_rate_limited_with_retry_at(server, double):
    double.fail_next(429, headers={"Retry-After": "60"})
    _, failure = fetch(source(server), url_of(own_posts()[0], DID))
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None


@pytest.mark.parametrize("fault", ["server error", "truncated"])
def test_a_server_error_or_cut_answer_is_retried_later(server, double, fault):
    double.fail_next(502) if fault == "server error" else double.truncate_next(keep=0.6)
    _, failure = fetch(source(server), url_of(own_posts()[0], DID))
    assert failure.verdict == RETRY


def test_a_malformed_post_is_quarantined_with_its_bytes(server, double):
    uri = own_posts()[2]
    broken = '{"uri":"' + uri + '","cid":"bafy","author":{"did":"' + DID + '"},"record":{"createdAt":"soon"}}'
    double.set_view_text(uri, broken)
    found, failure = fetch(source(server), url_of(uri))
    assert failure is None and found.messages == []
    [held] = found.quarantined
    assert held.raw == broken.encode() and held.item_id == uri and "createdAt" in held.reason


def test_the_cursor_is_untouched(server, double):
    state = full_poll(server)[-1].state
    src = source(server)
    found, _ = fetch(src, url_of(own_posts()[0]))
    assert found.state == {}
    new_id = double.add_post(text="Nieuw bericht")
    assert [m.id for p in src.poll(state) for m in p.messages] == [new_id]
