"""The Graph replay double itself: Graph's paging, time bounds, auth, missing objects, usage headers,
and the changes tests make (published replies nested as Instagram nests them, deletions)."""
from __future__ import annotations

import json
from datetime import datetime

import requests

from .graph_support import ACCOUNT, CAROUSEL, FB, IG, PAGE, clock, data, double, recorded_posts, server  # noqa: F401

AUTH = {"Authorization": "Bearer graph-test-token"}


def get(server, path: str, **params) -> requests.Response:
    return requests.get(f"{server.url}/v21.0/{path}", params=params, headers=AUTH, timeout=10)


def test_paging_follows_next_until_the_last_page(server):
    seen, url = [], f"{server.url}/v21.0/{PAGE}/posts?limit=4"
    while url:
        body = requests.get(url, headers=AUTH, timeout=10).json()
        seen += [p["id"] for p in body["data"]]
        url = body.get("paging", {}).get("next")
    assert seen == [p["id"] for p in recorded_posts()]


def test_since_and_until_are_inclusive_unix_seconds(server):
    posts = recorded_posts()
    second = int(datetime.strptime(posts[2]["created_time"], "%Y-%m-%dT%H:%M:%S%z").timestamp())
    body = get(server, f"{PAGE}/posts", since=second, until=second).json()
    assert [p["id"] for p in body["data"]] == [posts[2]["id"]]


def test_items_are_served_as_recorded(server):
    body = get(server, f"{PAGE}/posts", limit=100).content
    recorded = (FB / "feeds_default_fields_p1.json").read_bytes()
    first = recorded[recorded.index(b'{"id"'):recorded.index(b',{"id":"19292868552_10158347294088553"')]
    assert first in body


def test_no_token_missing_objects_and_usage(server, double):
    refused = requests.get(f"{server.url}/v21.0/{PAGE}/posts", timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == 190
    missing = get(server, "123_456")
    assert missing.status_code == 400 and (missing.json()["error"]["code"], missing.json()["error"]["error_subcode"]) \
        == (100, 33)
    double.call_limit = 4
    # the refused call is not counted: the page is the 2nd of 4
    assert json.loads(get(server, PAGE).headers["X-App-Usage"])["call_count"] == 50


def test_instagram_replies_are_nested_and_deletions_remove_them(server, double):
    top = data(IG / "comments_p1.json")[1]["id"]
    reply = double.publish(CAROUSEL, {"text": "reply", "username": "x"}, parent=top)
    comments = get(server, f"{CAROUSEL}/comments").json()["data"]
    assert [r["id"] for r in next(c for c in comments if c["id"] == top)["replies"]["data"]] == [reply]
    assert [c["id"] for c in comments] == [c["id"] for c in data(IG / "comments_p1.json")]  # replies not listed flat
    double.delete(reply)
    assert get(server, reply).status_code == 400
    comments = get(server, f"{CAROUSEL}/comments").json()["data"]
    assert next(c for c in comments if c["id"] == top)["replies"]["data"] == []
    assert get(server, f"{ACCOUNT}/media").status_code == 200
