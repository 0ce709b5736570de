"""X: one post by its URL (``item_id_for_url``, ``fetch_item``) against the replay double.

The fetched post must be the message a poll gives for it (same id, version and bytes), a gone or
protected one a permanent failure in X's words, other failures classified as a poll's are.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY
from connector.sources.x import EXPANSIONS, TWEET_FIELDS, XSource

from . import x_support
from .fetch_item_support import NOT_URLS, comparable, fetch, polled
from .x_support import DEV, TOKEN, dev_ids_oldest_first, full_poll, page, source

double, server = x_support.double, x_support.server  # pytest fixtures

OFFLINE = XSource("x", {"token": TOKEN, "user": DEV})


@pytest.mark.parametrize("url", [
    "https://x.com/TwitterDev/status/1460323737035677698", "https://twitter.com/TwitterDev/status/1460323737035677698",
    "https://mobile.twitter.com/TwitterDev/status/1460323737035677698?s=20",
    "http://www.x.com/someone_else/status/1460323737035677698/",
    "https://www.twitter.com/i/web/status/1460323737035677698",
    "https://x.com/TwitterDev/status/1460323737035677698/photo/1",
    "https://X.com/twitterdev/statuses/1460323737035677698",
    "https://mobile.x.com/i/status/1460323737035677698#m"])
def test_post_urls_give_the_post_id(url):
    assert OFFLINE.item_id_for_url(url) == "1460323737035677698"


@pytest.mark.parametrize("url", [
    "https://x.com/TwitterDev", "https://x.com/TwitterDev/", "https://x.com/TwitterDev/status/",
    "https://x.com/TwitterDev/status/12ab", "https://x.com/TwitterDev/likes", "https://x.com/home",
    "https://x.com/a_name_that_is_far_too_long/status/1", "https://x.com/TwitterDev/status/1/retweets",
    "https://x.com.evil.org/TwitterDev/status/1", "https://notx.com/TwitterDev/status/1",
    "https://x.com:8443/TwitterDev/status/1", "https://bsky.app/profile/a.bsky.social/post/3k",
    "https://fosstodon.org/@TwitterDev/1460323737035677698", *NOT_URLS])
def test_other_urls_are_not_posts(url):
    assert OFFLINE.item_id_for_url(url) is None


def test_fetched_posts_equal_the_polled_ones(server, double):
    by_poll = polled(full_poll(server))
    before = len(double.requests)
    for wanted in dev_ids_oldest_first():
        found, failure = fetch(source(server), f"https://x.com/{DEV}/status/{wanted}")
        assert failure is None, failure
        assert found.state == {}
        for message in found.messages:
            assert comparable(message) == comparable(by_poll[(message.id, message.version)])
        assert [m.id for m in found.messages] == [wanted]
    asked = [r for r in double.requests[before:] if r["path"].startswith("/2/tweets")]
    assert [r["path"] for r in asked] == [f"/2/tweets/{i}" for i in dev_ids_oldest_first()]
    assert all(r["args"]["tweet.fields"] == TWEET_FIELDS and r["args"]["expansions"] == EXPANSIONS for r in asked)


def test_a_post_of_another_user_gets_no_lookup_of_the_channels_user(server, double):
    wanted = dev_ids_oldest_first()[0]
    found, failure = fetch(source(server), f"https://x.com/someone_else/status/{wanted}")
    assert failure is None and [m.id for m in found.messages] == [wanted]
    assert not any("/users/" in r["path"] for r in double.requests)


def test_an_edited_post_comes_as_its_newest_version(server, double):
    original = dev_ids_oldest_first()[0]
    newest = double.edit(original, "Verbeterde tekst")
    found, failure = fetch(source(server), f"https://x.com/{DEV}/status/{original}")
    assert failure is None
    [message] = found.messages
    assert (message.id, message.version, message.text) == (original, newest, "Verbeterde tekst")
    assert comparable(message) == comparable(polled(full_poll(server))[(original, newest)])


def test_an_edit_x_does_not_show_leaves_the_version_asked_for(server, double):
    original = dev_ids_oldest_first()[0]
    newest = double.edit(original, "Verbeterde tekst")
    double.protect(newest)
    found, failure = fetch(source(server), f"https://x.com/{DEV}/status/{original}")
    assert failure is None
    [message] = found.messages
    assert (message.id, message.version) == (original, "") and message.text != "Verbeterde tekst"


@pytest.mark.parametrize("how, words", [("delete", "Not Found Error"), ("protect", "Authorization Error")])
def test_a_gone_or_protected_post_is_permanent_in_xs_words(server, double, how, words):
    wanted = dev_ids_oldest_first()[-1]
    getattr(double, how)(wanted)
    found, failure = fetch(source(server), f"https://x.com/{DEV}/status/{wanted}")
    assert found is None
    assert failure.verdict == PERMANENT and "no such item" in failure.message and words in failure.message


def test_an_http_404_is_permanent_too(server, double):
    double.fail_next(404, body={"title": "Not Found"})
    _, failure = fetch(source(server), f"https://x.com/{DEV}/status/{dev_ids_oldest_first()[0]}")
    assert failure.verdict == PERMANENT and failure.status == 404


def test_a_refused_token_is_a_configuration_failure(server):
    src = XSource("x", {"token": "wrong", "user": DEV, "base_url": server.url})
    _, failure = fetch(src, f"https://x.com/{DEV}/status/{dev_ids_oldest_first()[0]}")
    assert failure.verdict == CONFIGURATION and failure.status == 401 and "bearer token" in failure.message


def test_429_is_rate_limited_until_the_announced_reset(server, double):
    double.limits["tweets"] = 0
    _, failure = fetch(source(server), f"https://x.com/{DEV}/status/{dev_ids_oldest_first()[0]}")
    assert failure.verdict == RATE_LIMITED
    assert failure.retry_at == datetime.fromtimestamp(double.reset_at, timezone.utc)


def test_a_server_error_is_retried_later(server, double):
    double.fail_next(503)
    _, failure = fetch(source(server), f"https://x.com/{DEV}/status/{dev_ids_oldest_first()[0]}")
    assert failure.verdict == RETRY


def test_a_malformed_post_is_quarantined_with_its_bytes(server, double):
    wanted = dev_ids_oldest_first()[2]
    broken = ('{"id":"' + wanted + '","text":"x","created_at":"yesterday"}').encode()
    double.set_text(wanted, broken)
    found, failure = fetch(source(server), f"https://x.com/{DEV}/status/{wanted}")
    assert failure is None and found.messages == []
    [held] = found.quarantined
    assert held.raw == broken and held.item_id == wanted and "created_at" in held.reason


def test_the_cursor_is_untouched(server, double):
    state = full_poll(server)[-1].state
    src = source(server)
    found, _ = fetch(src, f"https://x.com/{DEV}/status/{dev_ids_oldest_first()[0]}")
    assert found.state == {}
    new_id = double.add(page("timeline_tweets.json")["data"][0], DEV)
    assert [m.id for p in src.poll(state) for m in p.messages] == [new_id]
