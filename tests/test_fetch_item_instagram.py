"""One Instagram medium by its permalink (``item_id_for_url``, ``fetch_item``) against the local Graph
double: the shortcode marker, the medium found in the account's media with poll's request (so the
same message and bytes), "not among the account's media" as permanent, failures as poll has them."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, Failed
from connector.sources.instagram import MEDIA_FIELDS, InstagramSource

from . import graph_support
from .graph_support import ACCOUNT, IG, Clock, by_id, data, instagram, poll_ok

server = graph_support.server  # the fixture; clock and double are this module's (the 2017 recordings)


@pytest.fixture
def clock():
    return Clock(datetime(2017, 9, 1, 12, tzinfo=timezone.utc))  # the day after the reference's examples


@pytest.fixture
def double(clock):
    from connector_doubles.graph import GraphDouble

    return GraphDouble(clock=clock)


def recorded(kind: str) -> dict:
    """The recorded medium whose permalink is a ``/p/`` or ``/reel/`` one."""
    return next(m for m in data(IG / "media_p1.json") if f"/{kind}/" in m["permalink"])


def shortcode(medium: dict) -> str:
    return medium["permalink"].rstrip("/").rsplit("/", 1)[-1]


def offline() -> InstagramSource:
    return InstagramSource("ig", {"account_id": ACCOUNT, "token": "t"})


@pytest.mark.parametrize("url, code", [
    ("https://www.instagram.com/p/BYxHwGJgp8Q/", "BYxHwGJgp8Q"),
    ("https://instagram.com/p/BYxHwGJgp8Q", "BYxHwGJgp8Q"),
    ("http://m.instagram.com/p/BYxHwGJgp8Q/?igsh=MWQ1ZGUxMzBkMA==", "BYxHwGJgp8Q"),
    ("https://www.instagram.com/reel/BYu2aF6gRz1/", "BYu2aF6gRz1"),
    ("https://www.instagram.com/jayposiris/p/BYxHwGJgp8Q/", "BYxHwGJgp8Q"),
])
def test_a_post_or_reel_permalink_gives_the_shortcode_marker(url, code):
    assert offline().item_id_for_url(url) == f"shortcode:{code}"


@pytest.mark.parametrize("url", [
    "https://www.instagram.com/jayposiris/",                 # a profile
    "https://www.instagram.com/p/",                          # no shortcode
    "https://www.instagram.com/p/BYxHwGJgp8Q/c/17873440459141021/",  # a comment: not mapped
    "https://www.instagram.com/p/<script>/",
    "https://www.facebook.com/p/BYxHwGJgp8Q/",               # another platform
    "https://instagram.com.evil.example/p/BYxHwGJgp8Q/",
    "javascript:alert(1)//www.instagram.com/p/BYxHwGJgp8Q/",
    "", None,
])
def test_other_urls_are_not_this_channels(url):
    assert offline().item_id_for_url(url) is None


@pytest.mark.parametrize("kind", ["p", "reel"])
def test_the_fetched_medium_is_the_message_a_poll_gives(server, double, clock, kind):
    medium = recorded(kind)
    polled = by_id(poll_ok(instagram(server, clock)))[medium["id"]]
    double.requests.clear()
    page = instagram(server, clock).fetch_item(medium["permalink"])
    assert page.quarantined == [] and page.state == {}
    [message] = page.messages
    assert message.id == medium["id"]  # the media id, as poll gives it, not the shortcode
    assert message.to_dict() == polled.to_dict()
    assert message.raw.body == polled.raw.body and message.version == polled.version
    assert {r["path"] for r in double.requests} == {f"/v21.0/{ACCOUNT}/media"}
    assert all(r["args"]["fields"] == MEDIA_FIELDS for r in double.requests)


def test_the_listing_is_followed_over_pages_until_the_medium(server, double, clock):
    for n in range(120):  # newer media push the recorded ones onto the second page of 100
        double.publish(ACCOUNT, {"caption": f"nieuw {n}", "media_type": "IMAGE", "permalink":
                                 f"https://www.instagram.com/p/NEW{n:04d}xyz/"})
    medium = recorded("p")
    page = instagram(server, clock).fetch_item(f"https://www.instagram.com/p/{shortcode(medium)}/")
    assert [m.id for m in page.messages] == [medium["id"]]
    assert len([r for r in double.requests if r["path"].endswith("/media")]) == 2


def test_a_medium_not_in_the_account_is_permanent(server, double, clock):
    with pytest.raises(Failed) as caught:
        instagram(server, clock).fetch_item("https://www.instagram.com/p/Zzzzzzzzzzz/")
    failure = caught.value.failure
    assert failure.verdict == PERMANENT and "no such item" in failure.message and "shortcode" in failure.message


def test_a_deleted_medium_is_permanent(server, double, clock):
    medium = recorded("p")
    double.delete(medium["id"])
    with pytest.raises(Failed) as caught:
        instagram(server, clock).fetch_item(medium["permalink"])
    assert caught.value.failure.verdict == PERMANENT


def test_a_refused_token_is_configuration(server, double, clock):
    double.expire_token()
    with pytest.raises(Failed) as caught:
        instagram(server, clock).fetch_item(recorded("p")["permalink"])
    assert caught.value.failure.verdict == CONFIGURATION and "Session has expired" in caught.value.failure.message


def test_instagrams_rate_limit_is_rate_limited_with_retry_at(server, double, clock):
    double.usage_header, double.call_limit = "buc", 0
    with pytest.raises(Failed) as caught:
        instagram(server, clock).fetch_item(recorded("p")["permalink"])
    failure = caught.value.failure
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None and "#80002" in failure.message


def test_a_malformed_medium_is_quarantined_with_its_bytes(server, double, clock):
    text = '{"id":"17800000000000001","caption":"geen datum","permalink":"https://www.instagram.com/p/BADbad123/"}'
    double.publish(ACCOUNT, text, item_id="17800000000000001")
    page = instagram(server, clock).fetch_item("https://www.instagram.com/p/BADbad123/")
    assert page.messages == [] and page.state == {}
    [held] = page.quarantined
    assert held.raw == text.encode() and held.item_id == "17800000000000001" and "timestamp" in held.reason
