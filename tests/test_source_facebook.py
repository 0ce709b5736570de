"""The Facebook Page source against the local Graph double: incremental polling of a newest-first
listing, comments and replies, edits, deletions. Failures, rate limits and check() are in
``test_source_facebook_failures.py``; normalising and parse_payload in ``test_source_facebook_parse.py``.
"""
from __future__ import annotations

import copy
import json
from urllib.parse import parse_qs, urlsplit

from connector.message import iso, parse_iso
from connector.sources.base import SOURCES
from connector.sources.facebook import FacebookSource

from .graph_support import (COMMENTED_POST, FB, PAGE, by_id, clock, data, deletions_of, double,  # noqa: F401
                            facebook, ids_of, last_state, poll_ok, recorded_posts, server)

NEW_POST = {"message": "Nieuw: de afvalkalender 2022 staat online #afval", "from": {"id": PAGE, "name": "Gemeente"}}


def recorded_comment_ids() -> list[str]:
    """Graph's ids of the recorded (id-less) comments: ``<post object id>_<comment id>`` of each permalink."""
    ids = []
    for comment in data(FB / "comments_p1.json"):
        query = parse_qs(urlsplit(comment["permalink_url"]).query)
        ids.append("10158407654328553_" + (query.get("reply_comment_id") or query["comment_id"])[0])
    return ids


def test_source_is_registered():
    assert SOURCES.get_class("facebook") is FacebookSource


def test_first_poll_collects_every_post_once_across_pages(server, double, clock):
    pages = poll_ok(facebook(server, clock, page_size=2))
    posts = recorded_posts()
    assert sorted(ids_of(pages, "post")) == sorted(p["id"] for p in posts)
    assert len(ids_of(pages, "post")) == len(posts)  # each once
    listing = [r for r in double.requests if r["path"] == f"/v21.0/{PAGE}/posts"]
    assert len(listing) >= 3  # three pages of two, then the re-check
    for page in pages:  # within a page: oldest first
        created = [m.created_at for m in page.messages if m.kind == "post"]
        assert created == sorted(created)
    state = pages[-1].state
    assert state["walk"] is None and state["since"] == int(parse_iso(posts[0]["created_time"]).timestamp())


def test_first_poll_reads_comments_of_posts_within_the_recheck_window_only(server, double, clock):
    pages = poll_ok(facebook(server, clock))
    assert ids_of(pages, "comment") == recorded_comment_ids()  # chronological, as the stream lists them
    asked = {r["path"] for r in double.requests if r["path"].endswith("/comments")}
    assert asked == {f"/v21.0/{COMMENTED_POST}/comments"}  # the July posts are older than 7 days
    comments = [r for r in double.requests if r["path"].endswith("/comments")]
    assert comments[0]["args"]["filter"] == "stream"


def test_second_poll_returns_nothing_new(server, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    again = poll_ok(facebook(server, clock), state)
    assert ids_of(again) == [] and deletions_of(again) == []


def test_new_post_and_comment_appear_on_the_next_poll_only(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    clock.advance(hours=1)
    post_id = double.publish(PAGE, NEW_POST)
    clock.advance(minutes=5)
    comment_id = double.publish(post_id, {"message": "Top!", "from": {"id": "1", "name": "Inwoner"}})
    pages = poll_ok(facebook(server, clock), state)
    assert ids_of(pages) == [post_id, comment_id]
    post, comment = by_id(pages)[post_id], by_id(pages)[comment_id]
    assert (post.kind, post.thread_id, post.text) == ("post", post_id, NEW_POST["message"])
    assert post.hashtags == ("afval",) and post.url.endswith(post_id.split("_")[1] + "/")
    assert (comment.kind, comment.in_reply_to, comment.thread_id) == ("comment", post_id, post_id)
    assert comment.author.name == "Inwoner"
    assert ids_of(poll_ok(facebook(server, clock), pages[-1].state)) == []


def test_reply_to_a_comment_names_the_comment_as_parent(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    parent = recorded_comment_ids()[2]
    clock.advance(minutes=10)
    reply = double.publish(COMMENTED_POST, {"message": "Welkom!", "from": {"id": PAGE, "name": "Page"}}, parent=parent)
    pages = poll_ok(facebook(server, clock), state)
    [message] = [m for page in pages for m in page.messages]
    assert (message.id, message.kind, message.in_reply_to, message.thread_id) == \
        (reply, "comment", parent, COMMENTED_POST)


def test_a_walk_cut_short_resumes_where_it_stopped(server, clock):
    source = facebook(server, clock, page_size=2)
    source.max_pages = 2  # two listing pages per poll: the history takes three polls
    first = poll_ok(source)
    assert first[-1].state["walk"] is not None and first[-1].state["since"] is None
    second = poll_ok(source, first[-1].state)
    assert second[-1].state["walk"] is None
    everything = ids_of(first, "post") + ids_of(second, "post")
    assert sorted(everything) == sorted(p["id"] for p in recorded_posts()) and len(set(everything)) == len(everything)
    assert ids_of(poll_ok(source, second[-1].state), "post") == []


def test_a_crash_after_any_page_repeats_nothing_and_skips_nothing(server, double, clock):
    pages = poll_ok(facebook(server, clock, page_size=2, comments=False))
    everything = sorted(p["id"] for p in recorded_posts())
    for crashed_after in range(len(pages)):
        stored = ids_of(pages[:crashed_after + 1], "post")
        rest = poll_ok(facebook(server, clock, page_size=2, comments=False), pages[crashed_after].state)
        assert sorted(stored + ids_of(rest, "post")) == everything
        assert not set(stored) & set(ids_of(rest, "post"))  # the stored pages are not asked for again


def test_resumed_walk_asks_graph_for_the_older_part_only(server, double, clock):
    pages = poll_ok(facebook(server, clock, page_size=2, comments=False))
    walk = pages[0].state["walk"]
    double.requests.clear()
    poll_ok(facebook(server, clock, page_size=2, comments=False), pages[0].state)
    first = double.requests[0]["args"]
    assert int(first["until"]) == walk["until"] + 1 and "since" not in first


def test_posts_in_the_watermark_second_are_neither_skipped_nor_repeated(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    clock.advance(hours=1)
    first = double.publish(PAGE, NEW_POST)
    middle = last_state(poll_ok(facebook(server, clock), state))
    second = double.publish(PAGE, dict(NEW_POST, message="Tweede bericht in dezelfde seconde"))
    pages = poll_ok(facebook(server, clock), middle)
    assert ids_of(pages, "post") == [second]
    assert set(pages[-1].state["since_ids"]) == {first, second}


def test_since_is_sent_one_second_wide(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    double.requests.clear()
    poll_ok(facebook(server, clock), state)
    assert int(double.requests[0]["args"]["since"]) == state["since"] - 1


def test_a_server_ignoring_since_costs_pages_not_correctness(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock, page_size=2)))
    clock.advance(hours=1)
    new = double.publish(PAGE, NEW_POST)
    real = double.listing
    double.listing = lambda owner, args: real(owner, {k: v for k, v in args.items() if k not in ("since", "until")})
    pages = poll_ok(facebook(server, clock, page_size=2), state)
    assert ids_of(pages) == [new]


def test_the_feed_listing_is_asked_for_when_configured(server, double, clock):
    pages = poll_ok(facebook(server, clock, listing="feed"))
    assert sorted(ids_of(pages, "post")) == sorted(p["id"] for p in recorded_posts())
    assert {r["path"] for r in double.requests if not r["path"].endswith("/comments")} == {f"/v21.0/{PAGE}/feed"}


def test_initial_recent_starts_with_the_recheck_window(server, clock):
    pages = poll_ok(facebook(server, clock, initial="recent"))
    assert ids_of(pages, "post") == [COMMENTED_POST] and len(ids_of(pages, "comment")) == 10
    assert ids_of(poll_ok(facebook(server, clock, initial="recent"), pages[-1].state)) == []


def test_poll_does_not_mutate_state(server, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    before = copy.deepcopy(state)
    poll_ok(facebook(server, clock), state)
    assert state == before


# -- edits -----------------------------------------------------------------------------------

def test_edit_within_the_window_is_a_new_version(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    clock.advance(hours=2)
    double.edit_message(COMMENTED_POST, "Corrected: ask us anything, in English please.")
    pages = poll_ok(facebook(server, clock), state)
    [edit] = [m for page in pages for m in page.messages]
    updated = json.loads(double.items[COMMENTED_POST].text)["updated_time"]
    assert (edit.id, edit.version, edit.edited_at) == (COMMENTED_POST, iso(parse_iso(updated)), parse_iso(updated))
    assert edit.text == "Corrected: ask us anything, in English please."
    assert ids_of(poll_ok(facebook(server, clock), pages[-1].state)) == []  # seen once


def test_a_new_comment_moves_updated_time_but_is_no_edit(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    clock.advance(hours=1)
    comment = double.publish(COMMENTED_POST, {"message": "Nog een vraag"})
    now = json.loads(double.items[COMMENTED_POST].text)["updated_time"]
    assert now != data(FB / "replay" / "posts_with_comments.json")[0]["updated_time"]
    pages = poll_ok(facebook(server, clock), state)
    assert ids_of(pages) == [comment]  # the comment, not a new version of the post


def test_edit_after_the_window_is_not_seen(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    clock.advance(days=8)
    double.edit_message(COMMENTED_POST, "Too late to be checked")
    pages = poll_ok(facebook(server, clock), state)
    assert ids_of(pages) == [] and COMMENTED_POST not in pages[-1].state["recent"]  # forgotten, bounded


# -- deletions -------------------------------------------------------------------------------

def test_deleted_post_within_the_window_is_reported_once_and_confirmed(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    double.delete(COMMENTED_POST)
    double.requests.clear()
    pages = poll_ok(facebook(server, clock), state)
    [deletion] = deletions_of(pages)
    assert deletion.id == COMMENTED_POST and deletion.reason == "gone from the page's feed within the re-check window"
    assert deletion.at == clock.now and deletion.url.startswith(server.url + f"/v21.0/{COMMENTED_POST}")
    assert any(r["path"] == f"/v21.0/{COMMENTED_POST}" and r["status"] == 400 for r in double.requests)
    assert ids_of(pages) == []
    assert deletions_of(poll_ok(facebook(server, clock), pages[-1].state)) == []


def test_deleted_comment_is_reported(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    gone = recorded_comment_ids()[3]
    double.delete(gone)
    pages = poll_ok(facebook(server, clock), state)
    assert [(d.id, d.reason) for d in deletions_of(pages)] == \
        [(gone, "gone from the post's comments within the re-check window")]
    assert deletions_of(poll_ok(facebook(server, clock), pages[-1].state)) == []


def test_a_post_missing_from_a_short_listing_is_not_a_deletion(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    real = double.listing
    double.listing = lambda owner, args: ([i for i in real(owner, args)[0] if i.id != COMMENTED_POST], False)
    pages = poll_ok(facebook(server, clock), state)
    assert deletions_of(pages) == []  # Graph still answers for it by id
    assert COMMENTED_POST in last_state(pages, state)["recent"]


def test_deleting_a_comment_with_replies_reports_them_all(server, double, clock):
    state = last_state(poll_ok(facebook(server, clock)))
    parent = recorded_comment_ids()[1]  # answered by two replies in the recording
    double.delete(parent)
    pages = poll_ok(facebook(server, clock), state)
    assert sorted(d.id for d in deletions_of(pages)) == sorted([parent, *recorded_comment_ids()[5:7]])


def test_remembered_comments_are_bounded_and_forgotten_ones_not_repeated(server, double, clock, monkeypatch):
    from connector.sources import graph_cursor

    monkeypatch.setattr(graph_cursor, "MAX_COMMENTS", 3)
    pages = poll_ok(facebook(server, clock))
    entry = pages[-1].state["recent"][COMMENTED_POST]
    assert sorted(entry["c"]) == sorted(recorded_comment_ids()[-3:]) and entry["cf"] > 0
    again = poll_ok(facebook(server, clock), pages[-1].state)
    assert ids_of(again) == [] and deletions_of(again) == []


def test_deletion_checks_per_poll_are_bounded_the_rest_follow(server, double, clock, monkeypatch):
    from connector.sources import graph_cursor

    monkeypatch.setattr(graph_cursor, "MAX_CONFIRM", 1)
    state = last_state(poll_ok(facebook(server, clock)))
    first, second = recorded_comment_ids()[3], recorded_comment_ids()[4]
    double.delete(first)
    double.delete(second)
    pages = poll_ok(facebook(server, clock), state)
    later = poll_ok(facebook(server, clock), pages[-1].state)
    assert [d.id for d in deletions_of(pages)] == [first] and [d.id for d in deletions_of(later)] == [second]
