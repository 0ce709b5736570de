"""The X source against the local replay double (127.0.0.1 only): the resumable walk, incremental
polls, edits, deletions and options. Failures (rate limits, usage cap, auth) are in
``test_source_x_failures.py``, normalising and saved files in ``test_source_x_payload.py``.
"""
from __future__ import annotations

import copy

import marshmallow
import pytest

from connector.message import parse_iso
from connector.sources.base import SOURCES
from connector.sources.x import XSource

from . import x_support
from .x_support import (DEV, TOKEN, dev_ids_oldest_first, dev_posts, drain, full_poll, ids_of, page, source,
                        timeline_requests)

double, server = x_support.double, x_support.server  # pytest fixtures


def test_source_is_registered():
    assert SOURCES.get_class("x") is XSource


def test_first_poll_collects_every_post_once_across_pages(server, double):
    pages = full_poll(server, page_size=5)
    assert len(pages) == 2  # 9 posts, 5 a page
    assert sorted(ids_of(pages), key=int) == dev_ids_oldest_first()
    assert len(set(ids_of(pages))) == len(ids_of(pages))
    for found in pages:  # oldest first within a page; X pages newest first
        assert [int(m.id) for m in found.messages] == sorted(int(m.id) for m in found.messages)
    assert pages[0].state["since_id"] is None and pages[0].state["walk"]["newest"] == dev_ids_oldest_first()[-1]
    assert pages[-1].state["since_id"] == dev_ids_oldest_first()[-1] and pages[-1].state["walk"] is None
    asked = timeline_requests(double)
    assert "pagination_token" not in asked[0]["args"] and asked[1]["args"]["pagination_token"]
    assert asked[0]["args"]["max_results"] == "5" and "referenced_tweets.id" in asked[0]["args"]["expansions"]


def test_second_poll_returns_nothing_new_with_two_calls(server, double):
    state = full_poll(server, page_size=5)[-1].state
    double.requests.clear()
    again, failure = drain(source(server, page_size=5), state)
    assert failure is None and again == []
    # the timeline above since_id, and the re-check of the stored posts
    assert [r["path"] for r in double.requests] == ["/2/users/2244994945/tweets", "/2/tweets"]
    assert double.requests[0]["args"]["since_id"] == dev_ids_oldest_first()[-1]


def test_added_post_appears_on_next_poll_only(server, double):
    state = full_poll(server)[-1].state
    new_id = double.add(page("timeline_tweets.json")["data"][0], DEV)
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == [new_id]
    assert pages[-1].state["since_id"] == new_id
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []


def _publish(double, count: int) -> list[str]:
    template = page("timeline_tweets.json")["data"][1]
    return [double.add(template, DEV) for _ in range(count)]


def test_walk_interrupted_by_429_resumes_with_until_id_and_moves_since_id_only_when_complete(server, double):
    state = full_poll(server, page_size=5)[-1].state
    new = _publish(double, 12)  # three pages of new posts
    double.fail_next(429, after=1, headers={"x-rate-limit-remaining": "0"})  # page 1 served, page 2 refused
    pages, failure = drain(source(server, page_size=5), state)
    assert failure.verdict == "rate_limited" and len(pages) == 1
    assert ids_of(pages) == new[-5:]
    assert pages[0].state["since_id"] == state["since_id"]  # the walk is not complete
    assert pages[0].state["walk"] == {"newest": new[-1], "until_id": new[-5]}
    later = double.add(page("timeline_tweets.json")["data"][2], DEV)  # published while the walk waits
    rest, failure = drain(source(server, page_size=5), pages[0].state)
    assert failure is None
    resumed = timeline_requests(double)[-2]["args"]
    assert (resumed["since_id"], resumed["until_id"]) == (state["since_id"], new[-5])
    assert sorted(ids_of(pages) + ids_of(rest), key=int) == new
    assert rest[-1].state["since_id"] == new[-1] and rest[-1].state["walk"] is None
    last, failure = drain(source(server, page_size=5), rest[-1].state)
    assert failure is None and ids_of(last) == [later]


def test_a_crash_after_a_stored_page_repeats_nothing_and_skips_nothing(server, double):
    new = _publish(double, 11)
    src = source(server, page_size=5)
    poll = src.poll(None)
    first = next(poll)
    second = next(poll)
    poll.close()  # the process died here: only the pages so far were stored
    rest, failure = drain(source(server, page_size=5), second.state)
    assert failure is None
    got = ids_of([first, second]) + ids_of(rest)
    assert sorted(got, key=int) == sorted(new + dev_ids_oldest_first(), key=int)
    assert len(got) == len(set(got))


def test_max_pages_bounds_one_poll_and_the_next_goes_on(server, double, monkeypatch):
    _publish(double, 8)  # 17 posts: 4 pages of 5
    monkeypatch.setattr(XSource, "max_pages", 1)
    state, seen, polls = None, [], 0
    while True:
        pages, failure = drain(source(server, page_size=5), state)
        assert failure is None and len(pages) <= 1
        polls += 1
        if not pages:
            break
        seen += ids_of(pages)
        state = pages[-1].state
        if state["walk"] is None:
            break
    assert polls == 4 and len(seen) == len(set(seen)) == 17


def test_initial_latest_reads_one_page_then_only_newer(server, double):
    pages = full_poll(server, initial="latest", page_size=5)
    assert sorted(ids_of(pages), key=int) == dev_ids_oldest_first()[-5:]
    assert pages[-1].state["since_id"] == dev_ids_oldest_first()[-1] and pages[-1].state["walk"] is None
    assert ids_of(drain(source(server, initial="latest", page_size=5), pages[-1].state)[0]) == []


@pytest.mark.parametrize("option, excluded, kind", [("include_replies", "replies", "replied_to"),
                                                     ("include_retweets", "retweets", "retweeted")])
def test_excluding_replies_or_retweets(server, double, option, excluded, kind):
    pages = full_poll(server, **{option: False})
    assert timeline_requests(double)[0]["args"]["exclude"] == excluded
    expected = [t["id"] for t in dev_posts() if kind not in {r["type"] for r in t.get("referenced_tweets", [])}]
    assert sorted(ids_of(pages), key=int) == sorted(expected, key=int)


def test_poll_does_not_mutate_state(server):
    state = full_poll(server, page_size=5)[0].state
    before = copy.deepcopy(state)
    drain(source(server, page_size=5), state)
    assert state == before


def test_another_user_starts_afresh(server):
    state = full_poll(server)[-1].state
    pages, failure = drain(source(server, "Twitter"), state)
    assert failure is None
    assert sorted(ids_of(pages)) == sorted(t["id"] for t in page("tweepy_get_users_tweets.json")["data"])
    assert pages[-1].state["user_id"] == "783214"


# -- edits -------------------------------------------------------------------------------------

def test_edit_appears_as_a_new_version_of_the_original(server, double):
    state = full_poll(server)[-1].state
    target = page("timeline_tweets.json")["data"][0]
    edit_id = double.edit(target["id"], "If you're newly approved, our next stream (now at 11AM PST) is for you.")
    pages, failure = drain(source(server), state)
    assert failure is None
    [message] = [m for p in pages for m in p.messages]
    assert (message.id, message.version) == (target["id"], edit_id)
    assert message.text == "If you're newly approved, our next stream (now at 11AM PST) is for you."
    assert message.created_at == parse_iso(target["created_at"])
    assert message.edited_at == parse_iso(double.posts[edit_id].obj["created_at"])
    assert message.url == f"https://x.com/{DEV}/status/{edit_id}"
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []  # seen once


def test_a_second_edit_is_a_third_version(server, double):
    state = full_poll(server)[-1].state
    target = page("timeline_tweets.json")["data"][2]["id"]
    first = double.edit(target, "first correction")
    second = double.edit(first, "second correction")
    pages, _ = drain(source(server), state)
    assert [(m.id, m.version, m.text) for p in pages for m in p.messages] == [(target, second, "second correction")]


def test_recorded_edit_is_a_version_of_its_original(server):
    recorded = page("edited.jsonl")
    edit = recorded["data"][0]
    original = next(t for t in recorded["includes"]["tweets"] if t["id"] == edit["edit_history_tweet_ids"][0])
    [message] = [m for p in full_poll(server, "wongmjane") for m in p.messages]
    assert (message.id, message.version) == (original["id"], edit["id"])
    assert message.created_at == parse_iso(original["created_at"])
    assert message.edited_at == parse_iso(edit["created_at"])
    assert message.thread_id == original["id"]  # the edit's conversation_id names a version of itself


# -- deletions ---------------------------------------------------------------------------------

def test_deleted_post_is_reported_once_on_recheck(server, double):
    state = full_poll(server)[-1].state
    gone = page("timeline_tweets.json")["data"][3]["id"]
    double.delete(gone)
    pages, failure = drain(source(server), state)
    assert failure is None
    deletions = [d for p in pages for d in p.deletions]
    assert [d.id for d in deletions] == [gone]
    assert "Could not find tweet" in deletions[0].reason and "/2/tweets" in deletions[0].url
    assert gone in pages[-1].state["gone"] and gone not in pages[-1].state["recent"]
    again, failure = drain(source(server), pages[-1].state)
    assert failure is None and [d for p in again for d in p.deletions] == []


def test_deleted_edited_post_is_reported_under_its_original_id(server, double):
    state = full_poll(server)[-1].state
    original = page("timeline_tweets.json")["data"][1]["id"]
    edit = double.edit(original, "corrected")
    state = drain(source(server), state)[0][-1].state
    double.delete(edit)
    pages, _ = drain(source(server), state)
    assert [d.id for p in pages for d in p.deletions] == [original]


def test_recheck_asks_at_most_100_ids_a_call_and_only_the_newest(server, double):
    _publish(double, 120)
    state = full_poll(server, recheck=150)[-1].state
    assert len(state["recent"]) == 129
    double.requests.clear()
    drain(source(server, recheck=150), state)
    lookups = [r["args"]["ids"].split(",") for r in double.requests if r["path"] == "/2/tweets"]
    assert [len(ids) for ids in lookups] == [100, 29]
    assert len(full_poll(server, recheck=3)[-1].state["recent"]) == 3


def test_recheck_zero_asks_nothing(server, double):
    state = full_poll(server, recheck=0)[-1].state
    double.delete(page("timeline_tweets.json")["data"][0]["id"])
    double.requests.clear()
    pages, _ = drain(source(server, recheck=0), state)
    assert pages == [] and [r["path"] for r in double.requests] == ["/2/users/2244994945/tweets"]


# -- options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"token": TOKEN, "user": "x", "colour": "blue"},
    {"token": TOKEN, "user": "x", "page_size": 4},
    {"token": TOKEN, "user": "x", "page_size": 101},
    {"token": TOKEN, "user": "not a handle"},
    {"token": TOKEN, "user": "x", "base_url": "ftp://api.x.com"},
    {"token": TOKEN, "user": "x", "initial": "some"},
    {"user": "x"},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        XSource("x", options)


def test_options_defaults_repr_and_media_policy():
    src = XSource("x", {"token": "s3cret", "user": "@gemeente"})
    assert src.options["user"] == "gemeente" and src.options["base_url"] == "https://api.x.com"
    assert (src.options["page_size"], src.options["initial"], src.options["recheck"]) == (100, "all", 100)
    assert "s3cret" not in repr(src)
    policy = src.media_policy()
    assert policy.host_allowed("pbs.twimg.com") and policy.host_allowed("video.twimg.com")
    assert not policy.host_allowed("example.org")


# -- normalising through the double -----------------------------------------------------------

def test_reply_quote_share_and_media_through_a_poll(server):
    messages = {m.id: m for p in full_poll(server) for m in p.messages}
    derived = {t["id"]: t for t in page("derived/conversation.json")["data"]}
    for post_id, post in derived.items():
        message, refs = messages[post_id], {r["type"]: r["id"] for r in post["referenced_tweets"]}
        assert message.author.handle == DEV and message.url == f"https://x.com/{DEV}/status/{post_id}"
        assert message.in_reply_to == refs.get("replied_to")
        assert message.kind == ("reply" if "replied_to" in refs else "share" if "retweeted" in refs else "post")
        assert message.thread_id == (post_id if post["conversation_id"] == post_id else post["conversation_id"])
        assert (message.quote.id if message.quote else None) == refs.get("quoted")
    share = messages[next(i for i, t in derived.items() if t["referenced_tweets"][0]["type"] == "retweeted")]
    retweeted_id = derived[share.id]["referenced_tweets"][0]["id"]
    retweeted = next(t for t in page("timeline_tweets.json")["data"] if t["id"] == retweeted_id)
    assert share.text.endswith(retweeted["text"])  # the whole retweeted text, not X's cut retweet text
    [photo] = [m for m in messages.values() if m.attachments]
    media = page("derived/conversation.json")["includes"]["media"][0]
    assert [(a.url, a.media_type, a.description) for a in photo.attachments] == [
        (media["url"] + "?name=orig", "image/jpeg", media["alt_text"])]  # the photo as uploaded


def test_video_gets_the_highest_bit_rate_mp4(server):
    [message] = [m for p in full_poll(server, "IgorBrigadir") for m in p.messages]
    variants = page("media_tweet.jsonl")["includes"]["media"][0]["variants"]
    best = max((v for v in variants if v["content_type"] == "video/mp4"), key=lambda v: v["bit_rate"])
    assert [(a.url, a.media_type) for a in message.attachments] == [(best["url"], "video/mp4")]


@pytest.mark.parametrize("damage", [{"since_id": "not an id"}, {"walk": "half"}, {"walk": {"newest": 1}},
                                    {"recent": "1,2"}, {"gone": None}])
def test_a_damaged_cursor_is_read_without_failing(server, damage):
    state = full_poll(server)[-1].state
    pages, failure = drain(source(server), {**state, **damage})
    assert failure is None
    if "since_id" in damage:  # the history once more: the store keeps each post once
        assert sorted(ids_of(pages), key=int) == dev_ids_oldest_first()
