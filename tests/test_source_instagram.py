"""The Instagram source: the derived reference pages through parse_payload and ``connector messages
parse`` (expectations written by hand), and polls of the Graph double: media, comments and their
replies, incremental polls, deletions, no edits, Instagram's rate limit and auth failures, check().
The machinery it shares with Facebook (cursor, errors, usage) is tested in ``test_source_facebook*``."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from connector.failures import CONFIGURATION, RATE_LIMITED
from connector.sources.base import SOURCES
from connector.sources.instagram import InstagramSource

from .conftest import run_cli
from .graph_support import (ACCOUNT, CAROUSEL, IG, Clock, by_id, data, deletions_of, drain, ids_of,  # noqa: F401
                            instagram, last_state, poll_ok, server)

PAGES = ["media_p1", "comments_p1"]


@pytest.fixture
def clock():
    return Clock(datetime(2017, 9, 1, 12, tzinfo=timezone.utc))  # the day after the reference's examples


@pytest.fixture
def double(clock):
    from connector_doubles.graph import GraphDouble

    return GraphDouble(clock=clock)


def expected(name: str) -> list[dict]:
    return [json.loads(line) for line in (IG / "expected" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_source_is_registered():
    assert SOURCES.get_class("instagram") is InstagramSource


@pytest.mark.parametrize("name", PAGES)
def test_parse_gives_the_expected_messages(capsys, name):
    messages, quarantined = InstagramSource.parse_payload((IG / f"{name}.json").read_bytes())
    assert quarantined == [] and [m.to_dict() for m in messages] == expected(name)
    code, out, err = run_cli(capsys, "messages", "parse", "instagram", str(IG / f"{name}.json"))
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == expected(name)


def test_a_reply_keeps_its_own_exact_bytes():
    body = (IG / "comments_p1.json").read_bytes()
    messages, _ = InstagramSource.parse_payload(body)
    reply = data(IG / "comments_p1.json")[0]["replies"]["data"][0]
    [message] = [m for m in messages if m.id == reply["id"]]
    assert message.raw.body in body and json.loads(message.raw.body) == reply


def test_a_comment_without_its_media_is_quarantined():
    comment = dict(data(IG / "comments_p1.json")[1])
    comment.pop("media")
    _, quarantined = InstagramSource.parse_payload(json.dumps({"data": [comment]}).encode())
    assert "cannot tell which media" in quarantined[0].reason


# -- polling ---------------------------------------------------------------------------------

def test_first_poll_gets_media_comments_and_replies(server, double, clock):
    pages = poll_ok(instagram(server, clock, page_size=3))
    media = data(IG / "media_p1.json")
    assert sorted(ids_of(pages, "post")) == sorted(m["id"] for m in media)
    comments = data(IG / "comments_p1.json")
    reply = comments[0]["replies"]["data"][0]
    assert ids_of(pages, "comment") == [comments[0]["id"], reply["id"], comments[1]["id"]]  # by time
    found = by_id(pages)
    assert (found[reply["id"]].in_reply_to, found[reply["id"]].thread_id) == (comments[0]["id"], CAROUSEL)
    assert (found[comments[1]["id"]].in_reply_to, found[comments[1]["id"]].thread_id) == (CAROUSEL, CAROUSEL)
    carousel = found[CAROUSEL]
    assert [a.url for a in carousel.attachments] == [c["media_url"] for c in media[0]["children"]["data"]]
    listing = [r for r in double.requests if r["path"] == f"/v21.0/{ACCOUNT}/media"]
    assert "children{id,media_type,media_url,thumbnail_url}" in listing[0]["args"]["fields"]
    assert ids_of(poll_ok(instagram(server, clock), pages[-1].state)) == []


def test_new_medium_comment_and_reply_on_the_next_poll(server, double, clock):
    state = last_state(poll_ok(instagram(server, clock)))
    clock.advance(hours=1)
    medium = double.publish(ACCOUNT, {"caption": "Nieuw #park", "media_type": "IMAGE", "username": "jayposiris",
                                      "media_url": "https://scontent.cdninstagram.com/v/new.jpg"})
    comment = double.publish(medium, {"text": "Mooi!", "username": "buurman"}, when=clock.advance(minutes=1))
    reply = double.publish(medium, {"text": "@buurman dank", "username": "jayposiris"}, parent=comment,
                           when=clock.advance(minutes=1))
    pages = poll_ok(instagram(server, clock), state)
    assert ids_of(pages) == [medium, comment, reply]
    found = by_id(pages)
    assert found[medium].hashtags == ("park",) and found[reply].mentions == ("buurman",)
    assert (found[reply].in_reply_to, found[reply].thread_id) == (comment, medium)


def test_deleted_reply_and_medium_are_reported(server, double, clock):
    state = last_state(poll_ok(instagram(server, clock)))
    reply = data(IG / "comments_p1.json")[0]["replies"]["data"][0]["id"]
    gone_medium = data(IG / "media_p1.json")[1]["id"]
    double.delete(reply)
    double.delete(gone_medium)
    pages = poll_ok(instagram(server, clock), state)
    assert sorted((d.id, d.reason) for d in deletions_of(pages)) == sorted([
        (reply, "gone from the media's comments within the re-check window"),
        (gone_medium, "gone from the account's media within the re-check window")])
    assert deletions_of(poll_ok(instagram(server, clock), pages[-1].state)) == []


def test_a_changed_caption_is_no_new_version(server, double, clock):
    state = last_state(poll_ok(instagram(server, clock)))
    double.edit(CAROUSEL, {"caption": "Gewijzigd onderschrift"}, clock.advance(hours=1))
    assert ids_of(poll_ok(instagram(server, clock), state)) == []


def test_business_use_case_limit_pauses_until_regain(server, double, clock):
    double.usage_header, double.call_limit, double.regain_minutes = "buc", 2, 9
    pages, failure = drain(instagram(server, clock, page_size=2), None)
    assert failure.verdict == RATE_LIMITED and len(double.requests) == 2
    assert abs((failure.retry_at - datetime.now(timezone.utc) - timedelta(minutes=9)).total_seconds()) < 5
    double.reset_usage()
    double.call_limit = 500
    rest = poll_ok(instagram(server, clock, page_size=2), last_state(pages))
    assert sorted(ids_of(pages, "post") + ids_of(rest, "post")) == sorted(m["id"] for m in data(IG / "media_p1.json"))


def test_instagrams_own_limit_error(server, double, clock):
    double.usage_header, double.call_limit = "buc", 1
    source = instagram(server, clock)
    source.budget.threshold = 101
    double.regain_minutes = 0
    _, failure = drain(source, None)
    assert failure.verdict == RATE_LIMITED and "#80002" in failure.message


def test_wrong_token_and_check(server, clock):
    _, failure = drain(instagram(server, clock, token="nope"), None)
    assert failure.verdict == CONFIGURATION and "Invalid OAuth access token" in failure.message
    assert [(c.name, c.ok) for c in instagram(server, clock).check()][-1] == ("account", True)
    assert [(c.name, c.ok) for c in instagram(server, clock, token="nope").check()][-1] == ("credentials", False)


def test_media_policy_allows_instagrams_cdn():
    source = InstagramSource("ig", {"account_id": ACCOUNT, "token": "t"})
    policy = source.media_policy()
    assert policy.host_allowed("scontent.cdninstagram.com") and not policy.host_allowed("evil.example")


@pytest.mark.parametrize("replies", ['"none"', '{"data":"none"}', '{"data":[1,2]}'])
def test_a_comment_with_malformed_replies_is_quarantined_whole(replies):
    page = (IG / "comments_p1.json").read_text(encoding="utf-8")
    start = page.index('"replies"')
    end = page.index('\n    },\n    {', start)  # the end of the first comment
    broken = page[:start] + f'"replies": {replies}\n' + page[end:]
    messages, quarantined = InstagramSource.parse_payload(broken.encode())
    assert [m.id for m in messages] == [data(IG / "comments_p1.json")[1]["id"]]
    assert len(quarantined) == 1 and "replies" in quarantined[0].reason
