"""The LinkedIn replay double itself: LinkedIn's headers, error bodies, offset paging, media and the
changes tests make (so the source's tests rest on a double that behaves as documented)."""
from __future__ import annotations

import socket

import requests

from connector.sources.linkedin import LinkedInSource

from . import linkedin_support
from .linkedin_support import COMMENTED, TOKEN, posts_oldest_first, recorded_comments

double, server = linkedin_support.double, linkedin_support.server  # the fixtures
HEADERS = {"Authorization": f"Bearer {TOKEN}", "LinkedIn-Version": "202411", "X-Restli-Protocol-Version": "2.0.0"}
FINDER = {"q": "author", "author": "urn:li:organization:2414183", "sortBy": "LAST_MODIFIED"}


def _get(server, path, headers=None, **params):
    return requests.get(server.url + path, params=params, headers=HEADERS if headers is None else headers, timeout=5)


def test_offset_pages_newest_modification_first(server):
    first = _get(server, "/rest/posts", **FINDER, start=0, count=4).json()
    second = _get(server, "/rest/posts", **FINDER, start=4, count=4).json()
    assert first["paging"] == {"start": 0, "count": 4, "links": [], "total": 7}
    ids = [p["id"] for p in first["elements"] + second["elements"]]
    assert ids == list(reversed(posts_oldest_first()))


def test_each_element_is_served_as_its_exact_text(server, double):
    body = _get(server, "/rest/posts", **FINDER, start=0, count=10).content
    assert all(item.text in body for item in double.posts.values())


def test_linkedins_refusals(server):
    assert _get(server, "/rest/posts", headers={**HEADERS, "Authorization": "Bearer x"}, **FINDER).json() == {
        "status": 401, "message": "Invalid access token", "serviceErrorCode": 65600}
    missing = _get(server, "/rest/posts", headers={k: v for k, v in HEADERS.items() if k != "LinkedIn-Version"},
                   **FINDER)
    assert missing.status_code == 400 and missing.json()["code"] == "VERSION_MISSING"
    retired = _get(server, "/rest/posts", headers={**HEADERS, "LinkedIn-Version": "202301"}, **FINDER)
    assert retired.status_code == 426 and retired.json()["code"] == "NONEXISTENT_VERSION"
    other = _get(server, "/rest/posts", **{**FINDER, "author": "urn:li:organization:1"})
    assert other.status_code == 403 and other.json()["code"] == "ACCESS_DENIED"


def test_daily_limit_answers_429_without_rate_limit_headers(server, double):
    double.daily_limit = 1
    assert _get(server, "/rest/posts", **FINDER).status_code == 200
    limited = _get(server, "/rest/posts", **FINDER)
    assert limited.status_code == 429 and not [h for h in limited.headers if "ratelimit" in h.lower()]
    double.reset_day()
    assert _get(server, "/rest/posts", **FINDER).status_code == 200


def test_media_comments_deletion_and_edit(server, double):
    image = _get(server, "/rest/images/urn%3Ali%3Aimage%3AC4E10AQH7eQ2gm0u1Pg").json()
    assert image["downloadUrl"] == f"{server.url}/media/C4E10AQH7eQ2gm0u1Pg.jpg"
    assert requests.get(image["downloadUrl"], timeout=5).headers["Content-Type"] == "image/jpeg"
    comments = _get(server, f"/rest/socialActions/{COMMENTED}/comments").json()
    assert comments["elements"] == recorded_comments()
    double.delete_post(COMMENTED)
    assert _get(server, f"/rest/posts/{COMMENTED}").status_code == 404
    modified = double.edit_post(posts_oldest_first()[0], "nieuw")
    newest = _get(server, "/rest/posts", **FINDER, count=1).json()["elements"][0]
    assert (newest["id"], newest["lastModifiedAt"], newest["lifecycleStateInfo"]) == (
        posts_oldest_first()[0], modified, {"isEditedByAuthor": True})


def test_check_with_nobody_listening_fails_the_connection():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    checks = LinkedInSource("li", {"organization": "1", "token": "t", "base_url": f"http://127.0.0.1:{port}"}).check()
    assert [(c.name, c.ok) for c in checks] == [("settings", True), ("connection", False)]
