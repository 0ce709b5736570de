"""The Bluesky source against the local replay double (127.0.0.1 only): the watermark cursor and
its descent, edits, deletions, replies by others. Failures, auth and check are in
``test_source_bluesky_failures.py``, normalising in ``test_source_bluesky_payload.py``.
"""
from __future__ import annotations

import copy
from datetime import timedelta

import pytest

from connector.message import parse_iso
from connector.sources.base import SOURCES
from connector.sources.bluesky import BlueskySource

from . import bluesky_support
from .bluesky_support import (ACTOR, DID, drain, feed_calls, full_poll, ids_of, ids_oldest_first, messages_by_id,
                              recorded_feed, recorded_id, source)

double, server = bluesky_support.double, bluesky_support.server  # fixtures


def test_source_is_registered():
    assert SOURCES.get_class("bluesky") is BlueskySource


@pytest.mark.parametrize("page_size", [7, 50, 100])
def test_first_poll_collects_every_item_once_oldest_first(server, double, page_size):
    pages = full_poll(server, page_size=page_size)
    expected = [recorded_id(item) for item in reversed(recorded_feed())]
    assert ids_of(pages) == expected  # each once, oldest first overall
    assert pages[-1].state["did"] == DID and pages[-1].state["descent"] is None
    resolves = [r for r in double.requests if r["path"].endswith("resolveHandle")]
    assert [r["args"] for r in resolves] == [{"handle": ACTOR}]
    assert {r["args"]["actor"] for r in feed_calls(double)} == {DID}  # the DID, resolved once


def test_a_did_as_actor_needs_no_resolving(server, double):
    pages = full_poll(server, actor=DID)
    assert len(ids_of(pages)) == 50
    assert not [r for r in double.requests if r["path"].endswith("resolveHandle")]


def test_second_poll_returns_nothing_and_costs_one_request(server, double):
    state = full_poll(server)[-1].state
    double.requests.clear()
    again = full_poll(server, state)
    assert ids_of(again) == [] and [d for p in again for d in p.deletions] == []
    assert len(double.requests) == 1  # the top page serves the catch-up and the re-check


def test_new_posts_appear_on_the_next_poll_only(server, double):
    state = full_poll(server)[-1].state
    first = double.add_post(text="Gemeente: nieuwe dienstregeling")
    second = double.add_post(double.template("share"))
    pages = full_poll(server, state)
    assert ids_of(pages) == [first, second]
    assert messages_by_id(pages)[first].text == "Gemeente: nieuwe dienstregeling"
    assert messages_by_id(pages)[second].kind == "share"
    assert ids_of(full_poll(server, pages[-1].state)) == []


def test_a_long_catch_up_spreads_over_polls_within_max_pages(server, double):
    state, seen, polls = None, [], 0
    while polls < 20:
        before = len(double.requests)
        pages = full_poll(server, state, page_size=5, max_pages=3)
        assert len(double.requests) - before <= 3 + (1 if state is None else 0)  # + resolveHandle once
        seen += ids_of(pages)
        state, polls = pages[-1].state, polls + 1
        if not state["descent"] and ids_of(pages) == [] and seen:
            break
    assert seen == ids_oldest_first(double)
    assert polls > 3


def test_posts_published_during_a_catch_up_are_not_skipped(server, double):
    pages = full_poll(server, page_size=5, max_pages=4)
    assert pages[-1].state["descent"]  # unfinished: 50 items take more than 4 requests
    seen, state = ids_of(pages), pages[-1].state
    added = [double.add_post(text=f"during the catch-up {n}") for n in range(3)]
    for _ in range(15):
        pages = full_poll(server, state, page_size=5, max_pages=4)
        seen += ids_of(pages)
        state = pages[-1].state if pages else state
    assert sorted(seen) == sorted(ids_oldest_first(double)) and len(seen) == len(set(seen))
    assert seen[-3:] == added


def test_a_backdated_post_in_a_page_yet_to_be_re_read_pushes_nothing_out(server, double):
    state, seen, inserted = None, [], None
    for _ in range(40):
        pages = full_poll(server, state, page_size=5, max_pages=3)
        seen += ids_of(pages)
        state = pages[-1].state if pages else state
        descent = state["descent"]
        if inserted is None and descent and descent["done"] and descent.get("below") and len(descent["cursors"]) > 2:
            # just newer than the oldest item of the page re-read next: that item is pushed to the next page
            inserted = double.add_post(text="backdated", at=parse_iso(descent["below"]) + timedelta(milliseconds=1))
        if inserted and not descent and not ids_of(pages):
            break
    assert inserted in seen
    assert sorted(seen) == sorted(item.id for item in double.feed()) and len(seen) == len(set(seen))


@pytest.mark.parametrize("stored_pages", [1, 3, 6])
def test_a_crash_repeats_at_most_one_page_and_skips_nothing(server, double, stored_pages):
    pages = full_poll(server, page_size=8)
    stored = [m for page in pages[:stored_pages] for m in page.messages]
    rest = full_poll(server, pages[stored_pages - 1].state, page_size=8)
    assert [m.id for m in stored] + ids_of(rest) == ids_oldest_first(double)


def test_initial_latest_reads_the_newest_page_only(server, double):
    pages = full_poll(server, initial="latest", page_size=10)
    assert ids_of(pages) == ids_oldest_first(double)[-10:]
    assert len(feed_calls(double)) == 1
    new = double.add_post(text="after the start")
    assert ids_of(full_poll(server, pages[-1].state, initial="latest", page_size=10)) == [new]


def test_poll_does_not_mutate_state(server, double):
    state = full_poll(server)[-1].state
    double.add_post()
    before = copy.deepcopy(state)
    full_poll(server, state)
    assert state == before


def test_excluding_replies_and_reposts(server, double):
    feed = recorded_feed()
    no_replies = [recorded_id(i) for i in reversed(feed) if i.get("reason") or not i["post"]["record"].get("reply")]
    assert ids_of(full_poll(server, include_replies=False)) == no_replies
    assert {r["args"].get("filter") for r in feed_calls(double)} == {"posts_no_replies"}
    no_reposts = [recorded_id(i) for i in reversed(feed) if not i.get("reason")]
    assert ids_of(full_poll(server, include_reposts=False)) == no_reposts


# -- edits and deletions ------------------------------------------------------------------------

def test_a_changed_record_is_a_new_version(server, double):
    state = full_poll(server)[-1].state
    target = recorded_feed()[3]["post"]
    cid = double.edit_post(target["uri"], "Corrected: thanks to everyone!")
    pages = full_poll(server, state)
    assert ids_of(pages) == [target["uri"]]
    message = pages[-1].messages[0]
    assert message.version == cid != target["cid"]
    assert message.edited_at == parse_iso(double.post_view(target["uri"])["indexedAt"])
    assert message.text == "Corrected: thanks to everyone!"
    assert message.created_at == parse_iso(target["record"]["createdAt"])
    assert ids_of(full_poll(server, pages[-1].state)) == []  # seen once


def test_an_edit_older_than_the_recheck_window_is_not_seen(server, double):
    state = full_poll(server, recheck=5)[-1].state
    double.edit_post(recorded_feed()[20]["post"]["uri"], "late edit")
    assert ids_of(full_poll(server, state, recheck=5)) == []


def test_a_deleted_post_is_a_deletion_once(server, double):
    state = full_poll(server)[-1].state
    target = recorded_feed()[2]["post"]["uri"]
    double.delete_post(target)
    pages = full_poll(server, state)
    deletions = [d for page in pages for d in page.deletions]
    assert [d.id for d in deletions] == [target] and ids_of(pages) == []
    assert "getPosts no longer returns the post" in deletions[0].reason
    assert "getPosts" in deletions[0].url and deletions[0].at.tzinfo is not None
    asked = [r for r in double.requests if r["path"].endswith("getPosts")]
    assert asked and asked[-1]["args"]["uris"] == target
    again = full_poll(server, pages[-1].state)
    assert [d for page in again for d in page.deletions] == []


def test_a_withdrawn_repost_and_a_repost_of_a_deleted_post_are_deletions(server, double):
    state = full_poll(server)[-1].state
    shares = [recorded_id(i) for i in recorded_feed()[:30] if i.get("reason")]
    double.withdraw_repost(shares[0])
    double.delete_post(shares[1].removesuffix("#repost"))
    deletions = {d.id: d.reason for page in full_poll(server, state) for d in page.deletions}
    assert set(deletions) == {shares[0], shares[1]}
    assert deletions[shares[0]].startswith("repost withdrawn")
    assert "reposted post" in deletions[shares[1]]


def test_a_deletion_beyond_the_window_is_not_guessed(server, double):
    state = full_poll(server, recheck=5)[-1].state
    double.delete_post(recorded_feed()[30]["post"]["uri"])
    pages = full_poll(server, state, recheck=5)
    assert [d for page in pages for d in page.deletions] == []
    assert not [r for r in double.requests if r["path"].endswith("getPosts")]


# -- replies by others --------------------------------------------------------------------------

def test_replies_by_others_come_from_the_thread(server, double):
    state = full_poll(server, include_thread_replies=True)[-1].state
    double.requests.clear()
    for _ in range(4):  # at most max_pages (20) requests a poll: the rest of the threads next time
        state = full_poll(server, state, include_thread_replies=True)[-1].state
    threads = [r for r in double.requests if r["path"].endswith("getPostThread")]
    # each recorded own post with replies is read once (its reply count is remembered), no repost
    with_replies = [i["post"]["uri"] for i in recorded_feed() if not i.get("reason") and i["post"]["replyCount"]]
    assert len(with_replies) > 20
    assert sorted(r["args"]["uri"] for r in threads) == sorted(with_replies)
    assert len(feed_calls(double)) == 4  # one top page a poll
    target = recorded_feed()[4]["post"]
    reply = double.add_reply(target["uri"], "Congratulations!")
    nested = double.add_reply(reply, "Seconded")
    pages = full_poll(server, state, include_thread_replies=True)
    got = messages_by_id(pages)
    assert set(got) == {reply, nested}
    assert (got[reply].kind, got[reply].in_reply_to, got[reply].thread_id) == ("reply", target["uri"], target["uri"])
    assert (got[nested].in_reply_to, got[nested].thread_id) == (reply, target["uri"])
    assert got[reply].author.handle == "replier.bsky.social" and got[reply].text == "Congratulations!"
    assert ids_of(full_poll(server, pages[-1].state, include_thread_replies=True)) == []


def test_images_become_attachments_with_their_alt_text(server):
    messages = messages_by_id(full_poll(server))
    images_view = "app.bsky.embed.images#view"
    with_images = [i for i in recorded_feed() if (i["post"].get("embed") or {}).get("$type") == images_view]
    assert len(with_images) == 8
    for item in with_images:
        attachments = messages[recorded_id(item)].attachments
        images = item["post"]["embed"]["images"]
        assert [(a.url, a.description) for a in attachments] == [(i["fullsize"], i["alt"]) for i in images]
        assert all(a.media_type == "image/jpeg" for a in attachments)


def test_an_unreadable_thread_answer_is_retry(server, double):
    state = full_poll(server, include_thread_replies=True)[-1].state
    double.add_reply(recorded_feed()[4]["post"]["uri"], "hello")
    double.truncate_next(after=1)  # the top page, then the thread
    pages, failure = drain(source(server, include_thread_replies=True), state)
    assert failure.verdict == "retry" and "getPostThread" in failure.message and "unreadable" in failure.message
