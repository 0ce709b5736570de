"""The Bluesky replay double itself: it answers the recorded requests with the recorded bytes, pages
by the AppView's cursor, and speaks XRPC's errors, rate-limit headers and sessions."""
from __future__ import annotations

import requests

from connector_doubles.bluesky import BlueskyDouble, serve

from . import bluesky_support
from .bluesky_support import ACTOR, DID, FIXTURES, recorded_feed

double, server = bluesky_support.double, bluesky_support.server  # fixtures


def get(server, method: str, **params) -> requests.Response:
    return requests.get(f"{server.url}/xrpc/{method}", params=params, timeout=10)


def test_recorded_requests_get_the_recorded_bytes(server):
    assert get(server, "app.bsky.feed.getAuthorFeed", actor=ACTOR).content == (FIXTURES / "f_autfeed.json").read_bytes()
    thread = "at://did:plc:ic6zqvuw5ulmfpjiwnhsr2ns/app.bsky.feed.post/3k7qmjev5lr2s"
    assert get(server, "app.bsky.feed.getPostThread", uri=thread).content == \
        (FIXTURES / "f_postthread.json").read_bytes()
    assert get(server, "com.atproto.identity.resolveHandle", handle=ACTOR).content == \
        (FIXTURES / "i_resolveh.json").read_bytes()


def test_pages_follow_the_cursor_to_an_empty_page_without_one(server):
    seen, cursor, pages = [], None, 0
    while True:
        answer = get(server, "app.bsky.feed.getAuthorFeed", actor=DID, limit="12",
                     **({"cursor": cursor} if cursor else {})).json()
        pages += 1
        seen += [item["post"]["uri"] for item in answer["feed"]]
        cursor = answer.get("cursor")
        if not answer["feed"]:
            assert cursor is None
            break
    assert seen == [item["post"]["uri"] for item in recorded_feed()] and pages == 6


def test_xrpc_errors_and_rate_limit_headers(server, double):
    answer = get(server, "app.bsky.feed.getAuthorFeed", actor="nobody.bsky.social")
    assert (answer.status_code, answer.json()) == (400, {"error": "InvalidRequest", "message": "Profile not found"})
    assert get(server, "app.bsky.feed.getAuthorFeed", actor=ACTOR, limit="101").status_code == 400
    assert answer.headers["RateLimit-Policy"] == "3000;w=300"
    assert int(answer.headers["RateLimit-Reset"]) == int(double.reset_at.timestamp())
    double.rate_limit = 2  # both used above
    limited = get(server, "app.bsky.actor.getProfile", actor=ACTOR)
    assert (limited.status_code, limited.json()["error"]) == (429, "RateLimitExceeded")
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert [r["status"] for r in double.requests] == [400, 400, 429]


def test_sessions_tokens_and_expiry():
    double = BlueskyDouble(FIXTURES, credentials=(ACTOR, "pw"))
    with serve(double) as served:
        url = f"{served.url}/xrpc/"
        assert requests.get(url + "app.bsky.actor.getProfile", params={"actor": ACTOR}).json()["error"] == \
            "AuthRequired"
        bad = requests.post(url + "com.atproto.server.createSession", json={"identifier": ACTOR, "password": "x"})
        assert bad.status_code == 401
        token = requests.post(url + "com.atproto.server.createSession",
                              json={"identifier": ACTOR, "password": "pw"}).json()["accessJwt"]
        headers = {"Authorization": f"Bearer {token}"}
        assert requests.get(url + "app.bsky.actor.getProfile", params={"actor": ACTOR}, headers=headers).ok
        double.expire_tokens()
        expired = requests.get(url + "app.bsky.actor.getProfile", params={"actor": ACTOR}, headers=headers)
        assert (expired.status_code, expired.json()["error"]) == (400, "ExpiredToken")


def test_edits_deletions_and_get_posts(server, double):
    uri = recorded_feed()[0]["post"]["uri"]
    cid = double.edit_post(uri, "changed")
    [view] = get(server, "app.bsky.feed.getPosts", uris=uri).json()["posts"]
    assert (view["cid"], view["record"]["text"]) == (cid, "changed")
    double.delete_post(uri)
    assert get(server, "app.bsky.feed.getPosts", uris=uri).json() == {"posts": []}
    assert uri not in get(server, "app.bsky.feed.getAuthorFeed", actor=ACTOR).text
