"""The X replay double answers as X does (what the source's tests rely on): paging, bounds, auth,
rate-limit headers, partial errors, edits and deletions. Plain HTTP against it, no source."""
from __future__ import annotations

import time

import requests

from . import x_support
from .x_support import DEV, TOKEN, dev_ids_oldest_first, page

double, server = x_support.double, x_support.server  # pytest fixtures
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def get(server, path, **params):
    return requests.get(server.url + path, params=params, headers=AUTH, timeout=10)


def test_lookup_by_username_and_an_unknown_user(server):
    assert get(server, f"/2/users/by/username/{DEV}").json() == {
        "data": {"id": "2244994945", "name": "Twitter Dev", "username": DEV}}
    unknown = get(server, "/2/users/by/username/nobody_here")
    assert unknown.status_code == 200 and unknown.json()["errors"][0]["title"] == "Not Found Error"


def test_timeline_pages_newest_first_with_next_token(server):
    first = get(server, "/2/users/2244994945/tweets", max_results=5).json()
    newest = list(reversed(dev_ids_oldest_first()))
    assert [t["id"] for t in first["data"]] == newest[:5]
    assert first["meta"] == {"result_count": 5, "newest_id": newest[0], "oldest_id": newest[4],
                             "next_token": first["meta"]["next_token"]}
    second = get(server, "/2/users/2244994945/tweets", max_results=5,
                 pagination_token=first["meta"]["next_token"]).json()
    assert [t["id"] for t in second["data"]] == newest[5:] and "next_token" not in second["meta"]
    bounded = get(server, "/2/users/2244994945/tweets", max_results=100, since_id=newest[6], until_id=newest[1]).json()
    assert [t["id"] for t in bounded["data"]] == newest[2:6]  # both bounds exclusive
    assert get(server, "/2/users/2244994945/tweets", since_id=newest[0]).json() == {"meta": {"result_count": 0}}


def test_timeline_bounds_as_x_refuses_them(server):
    for size in ("4", "101", "ten"):
        assert get(server, "/2/users/2244994945/tweets", max_results=size).status_code == 400
    assert get(server, "/2/users/2244994945/tweets", pagination_token="garbage").status_code == 400


def test_posts_are_served_as_their_recorded_bytes(server):
    body = get(server, "/2/users/783214/tweets", max_results=5).content
    recorded = (x_support.FIXTURES / "tweepy_get_users_tweets.json").read_bytes()
    start = recorded.index(b'[{') + 1
    first_post = recorded[start:recorded.index(b'},{"edit_history', start) + 1]
    assert first_post in body


def test_includes_and_partial_errors_when_expansions_are_asked(server, double):
    body = get(server, "/2/users/2244994945/tweets", max_results=5, expansions="author_id").json()
    assert {u["username"] for u in body["includes"]["users"]} == {DEV}
    assert {t["id"] for t in body["includes"]["tweets"]} >= {"1364275610764201984", "1362439336910675970"}
    assert [e["resource_id"] for e in body["errors"]] == ["1364529977640341504"]
    double.protect("1364275610764201984")
    body = get(server, "/2/users/2244994945/tweets", max_results=5, expansions="author_id").json()
    assert {e["title"] for e in body["errors"]} == {"Not Found Error", "Authorization Error"}
    assert "includes" not in get(server, "/2/users/2244994945/tweets", max_results=5).json()


def test_auth_rate_limit_headers_and_429(server, double):
    refused = requests.get(server.url + "/2/users/2244994945/tweets", timeout=10)
    assert refused.status_code == 401 and refused.json()["title"] == "Unauthorized"
    double.limits["timeline"] = 2
    first = get(server, "/2/users/2244994945/tweets")
    assert first.headers["x-rate-limit-limit"] == "2" and first.headers["x-rate-limit-remaining"] == "1"
    assert int(first.headers["x-rate-limit-reset"]) > time.time()
    get(server, "/2/users/2244994945/tweets")
    spent = get(server, "/2/users/2244994945/tweets")
    assert spent.status_code == 429 and spent.json()["title"] == "Too Many Requests"
    assert get(server, f"/2/users/by/username/{DEV}").status_code == 200  # its own window
    double.usage_capped = True
    capped = get(server, f"/2/users/by/username/{DEV}")
    assert capped.status_code == 429 and capped.json()["title"] == "UsageCapExceeded"


def test_edit_and_delete(server, double):
    original = page("timeline_tweets.json")["data"][0]["id"]
    edit = double.edit(original, "corrected")
    shown = [t["id"] for t in get(server, "/2/users/2244994945/tweets", max_results=100).json()["data"]]
    assert edit in shown and original not in shown  # a timeline shows the newest version
    looked = get(server, "/2/tweets", ids=f"{original},{edit}").json()
    assert [t["edit_history_tweet_ids"] for t in looked["data"]] == [[original, edit]] * 2
    double.delete(original)
    gone = get(server, "/2/tweets", ids=f"{original},{edit}").json()
    assert "data" not in gone and [e["resource_id"] for e in gone["errors"]] == [original, edit]
    assert "Could not find tweet with ids" in gone["errors"][0]["detail"]
