"""One Facebook post or comment by its permalink (``item_id_for_url``, ``fetch_item``) against the
local Graph double: the same message a poll gives, "no such item" as permanent, the poll's
classification of every other failure, a malformed item quarantined, no cursor."""
from __future__ import annotations

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed

from . import graph_support
from .graph_support import COMMENTED_POST, FB, PAGE, by_id, data, facebook, poll_ok

clock, double, server = graph_support.clock, graph_support.double, graph_support.server  # the fixtures

POST = COMMENTED_POST.split("_")[1]
COMMENT, REPLY = "10158407903973553", "10158409983033553"  # a comment of the recorded page and a reply to it


@pytest.mark.parametrize("url, expected", [
    (f"https://www.facebook.com/{PAGE}/posts/{POST}/", COMMENTED_POST),
    (f"https://www.facebook.com/{PAGE}/posts/{POST}", COMMENTED_POST),
    (f"http://facebook.com/{PAGE}/posts/{POST}?ref=share&__tn__=K", COMMENTED_POST),
    (f"https://m.facebook.com/story.php?story_fbid={POST}&id={PAGE}", COMMENTED_POST),
    (f"https://www.facebook.com/permalink.php?story_fbid={POST}&id={PAGE}", COMMENTED_POST),
    (f"https://WWW.Facebook.com/{PAGE}/posts/{POST}/", COMMENTED_POST),
    (f"https://www.facebook.com/{PAGE}/posts/{POST}/?comment_id={COMMENT}", f"{POST}_{COMMENT}"),
    (f"https://m.facebook.com/{PAGE}/posts/{POST}?comment_id={COMMENT}&reply_comment_id={REPLY}", f"{POST}_{REPLY}"),
])
def test_a_permalink_with_ids_names_the_graph_id(url, expected):
    assert facebook_offline().item_id_for_url(url) == expected


@pytest.mark.parametrize("url", [
    f"https://www.facebook.com/gemeente.utrecht/posts/{POST}",       # a vanity name: needs a call
    f"https://www.facebook.com/{PAGE}/posts/pfbid02abcDEFghi123",    # an obfuscated id
    f"https://www.facebook.com/{PAGE}",                              # the page, not a post
    f"https://www.facebook.com/{PAGE}/videos/{POST}",                # a video's id is not the post's
    f"https://www.facebook.com/{PAGE}/posts/{POST}?comment_id=abc",  # a garbled comment id
    f"https://www.instagram.com/{PAGE}/posts/{POST}",                # another host
    f"https://evil.example/{PAGE}/posts/{POST}?h=facebook.com",
    f"https://www.facebook.com.evil.example/{PAGE}/posts/{POST}",
    f"https://user@www.facebook.com/{PAGE}/posts/{POST}",
    f"ftp://www.facebook.com/{PAGE}/posts/{POST}",
    "javascript:alert(document.domain)//www.facebook.com/1/posts/2",
    "https://www.facebook.com:99999/1/posts/2",
    "http://[::1/1/posts/2",
    f"https://www.facebook.com/{PAGE}/posts/{POST}\udcff",              # a lone surrogate
    f"https://www.facebook.com/{PAGE}/posts/{POST}?x=" + "%" * 5000,     # longer than a URL is read
    "", "not a url", None, 42,
])
def test_other_urls_are_not_this_channels(url):
    assert facebook_offline().item_id_for_url(url) is None


def facebook_offline():
    from connector.sources.facebook import FacebookSource

    return FacebookSource("fb", {"page_id": PAGE, "token": "t"})


def comparable(message) -> dict:
    return message.to_dict()  # the raw payload (bytes, page URL, fetch time) is compared on its own


@pytest.mark.parametrize("object_id, url", [
    (COMMENTED_POST, f"https://www.facebook.com/{PAGE}/posts/{POST}/"),
    (f"{POST}_{COMMENT}", f"https://www.facebook.com/{PAGE}/posts/{POST}/?comment_id={COMMENT}"),
    (f"{POST}_{REPLY}", f"https://m.facebook.com/{PAGE}/posts/{POST}?comment_id={COMMENT}&reply_comment_id={REPLY}"),
])
def test_the_fetched_item_is_the_message_a_poll_gives(server, double, clock, object_id, url):
    polled = by_id(poll_ok(facebook(server, clock)))[object_id]
    double.requests.clear()
    page = facebook(server, clock).fetch_item(url)
    assert page.quarantined == [] and page.state == {} and page.deletions == []
    [message] = page.messages
    assert comparable(message) == comparable(polled)
    assert message.raw.body == polled.raw.body and message.version == polled.version
    assert message.raw.page_url == page.url and f"/v21.0/{object_id}" in page.url
    [asked] = double.requests  # one call, with the fields a poll asks for
    assert asked["path"] == f"/v21.0/{object_id}"
    assert asked["args"]["fields"] == polled_fields(double, object_id)


def polled_fields(double, object_id: str) -> str:
    from connector.sources.facebook import COMMENT_FIELDS, POST_FIELDS

    return POST_FIELDS if object_id == COMMENTED_POST else COMMENT_FIELDS


def test_a_post_outside_the_listing_is_fetched_by_its_ids(server, double, clock):
    [oldest] = [p for p in data(FB / "feeds_default_fields_p1.json") if p["created_time"].startswith("2021-06-30")]
    page, post = oldest["id"].split("_")
    message = facebook(server, clock).fetch_item(f"https://www.facebook.com/{page}/posts/{post}").messages[0]
    assert message.id == oldest["id"] and message.url == oldest["permalink_url"]


def test_a_deleted_post_is_permanent_and_says_so(server, double, clock):
    double.delete(COMMENTED_POST)
    with pytest.raises(Failed) as caught:
        facebook(server, clock).fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/")
    failure = caught.value.failure
    assert failure.verdict == PERMANENT and "no such item" in failure.message
    assert "#100/33" in failure.message and "does not exist" in failure.message  # Graph's own words kept


def test_a_404_from_in_front_of_graph_is_permanent(server, double, clock):
    double.fail_next(404, body={"message": "Not Found"})
    with pytest.raises(Failed) as caught:
        facebook(server, clock).fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/")
    assert caught.value.failure.verdict == PERMANENT and caught.value.failure.status == 404


def test_a_refused_token_is_configuration(server, double, clock):
    with pytest.raises(Failed) as caught:
        facebook(server, clock, token="wrong").fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/")
    failure = caught.value.failure
    assert failure.verdict == CONFIGURATION and "#190" in failure.message
    assert "renew the access token" in failure.message


def test_a_401_is_configuration(server, double, clock):
    double.fail_next(401, body={"message": "Unauthorized"})
    with pytest.raises(Failed) as caught:
        facebook(server, clock).fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/")
    assert caught.value.failure.verdict == CONFIGURATION


def test_a_rate_limit_is_rate_limited_with_retry_at(server, double, clock):
    double.usage_header, double.call_limit, double.regain_minutes = "buc", 0, 7
    with pytest.raises(Failed) as caught:
        facebook(server, clock).fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/")
    failure = caught.value.failure
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None and "#80001" in failure.message


def test_a_429_with_retry_after_is_rate_limited(server, double, clock):
    double.fail_next(429, body={"message": "slow down"}, headers={"Retry-After": "120"})
    with pytest.raises(Failed) as caught:
        facebook(server, clock).fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/")
    assert caught.value.failure.verdict == RATE_LIMITED and caught.value.failure.retry_at is not None


def test_a_server_error_is_retried(server, double, clock):
    double.fail_next(503, body={"message": "unavailable"})
    with pytest.raises(Failed) as caught:
        facebook(server, clock).fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/")
    assert caught.value.failure.verdict == RETRY


def test_a_malformed_post_is_quarantined_with_its_bytes(server, double, clock):
    text = '{"id":"%s_777","message":"zonder datum"}' % PAGE
    double.publish(PAGE, text, item_id=f"{PAGE}_777")
    page = facebook(server, clock).fetch_item(f"https://www.facebook.com/{PAGE}/posts/777")
    assert page.messages == [] and page.state == {}
    [held] = page.quarantined
    assert held.raw == text.encode() and held.item_id == f"{PAGE}_777" and "created_time" in held.reason


def test_fetching_leaves_the_cursor_alone(server, double, clock):
    source = facebook(server, clock)
    state = poll_ok(source)[-1].state
    frozen = repr(state)
    assert source.fetch_item(f"https://www.facebook.com/{PAGE}/posts/{POST}/").state == {}
    assert repr(state) == frozen
    again = [m.id for p in poll_ok(facebook(server, clock), state) for m in p.messages]
    assert again == []  # the fetch changed nothing a poll sees
