"""The Yammer source against the local replay double (127.0.0.1 only): the backwards walk and its
cursor, resuming, the call budget and 429s. Edits, deletions, malformed items and check() are in
``test_source_yammer_changes.py``; normalising and parsing in ``test_source_yammer_payload.py``.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY
from connector.sources.base import SOURCES
from connector.sources.rest import CallBudget
from connector.sources.yammer import YammerSource

from . import yammer_support
from .yammer_support import Clock, by_id, drain, full_poll, ids_of, message_requests, recorded_ids, source

double = pytest.fixture(yammer_support.double)
server = pytest.fixture(yammer_support.server)


def test_source_is_registered_with_yammers_message_budget():
    assert SOURCES.get_class("yammer") is YammerSource
    assert (YammerSource.budget_calls, YammerSource.budget_period) == (10, 30.0)


# -- the walk --------------------------------------------------------------------------------

def test_first_poll_walks_back_through_every_page_and_hands_them_on_oldest_first(server, double):
    double.page_size = 3
    pages = full_poll(server)
    assert ids_of(pages) == recorded_ids()  # each once, oldest first overall
    assert [[m.id for m in p.messages] for p in pages] == [["5"], ["301", "302", "303"], ["304", "305", "306"]]
    # each page's cursor is valid once it is stored: everything up to its newest message is
    assert [p.state["watermark"] for p in pages] == ["5", "303", "306"]
    assert [p.state["walk"] for p in pages] == [None, None, None]
    asked = [r["args"] for r in message_requests(double)]
    assert asked == [{}, {"older_than": "304"}, {"older_than": "301"}]  # the last said older_available: false


def test_second_poll_asks_for_newer_messages_only(server, double):
    state = full_poll(server)[-1].state
    double.requests.clear()
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == []
    asked = [r["args"] for r in message_requests(double)]
    assert asked[0] == {"newer_than": "306"}
    assert asked[1:] == [{}]  # the re-check: the newest page once more, nothing changed


def test_a_new_message_appears_on_the_next_poll(server, double):
    state = full_poll(server)[-1].state
    new_id = double.add_message(by_id(302))
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == [new_id]
    message = pages[0].messages[0]
    assert message.text == by_id(302)["body"]["plain"]
    assert message.url.endswith(f"/messages/{new_id}")
    assert pages[0].state["watermark"] == new_id
    assert ids_of(drain(source(server), pages[-1].state)[0]) == []


def test_more_new_messages_than_a_page_are_walked_back_to_the_watermark(server, double):
    state = full_poll(server)[-1].state
    added = [double.add_message(by_id(306)) for _ in range(5)]
    double.page_size = 2
    double.requests.clear()
    pages, failure = drain(source(server, recheck=0), state)
    assert failure is None
    assert ids_of(pages) == added
    assert [[m.id for m in p.messages] for p in pages] == [added[:1], added[1:3], added[3:]]
    assert [p.state["watermark"] for p in pages] == [added[0], added[2], added[4]]
    asked = [r["args"] for r in message_requests(double)]
    assert asked == [{"newer_than": "306"}, {"older_than": added[3]}, {"older_than": added[1]}]


def test_a_server_whose_newer_than_gives_the_messages_just_above_is_read_in_a_few_polls(server, double):
    state = full_poll(server)[-1].state
    added = [double.add_message(by_id(306)) for _ in range(5)]
    double.page_size, double.newer_than_from_below = 2, True
    seen = []
    for _ in range(4):
        pages, failure = drain(source(server, recheck=0), state)
        assert failure is None
        seen += ids_of(pages)
        state = pages[-1].state if pages else state
    assert seen == added and state["watermark"] == added[-1]


def test_a_failure_mid_walk_keeps_the_pages_read_and_the_next_poll_goes_on(server, double):
    double.page_size = 2
    double.fail_next(500, after=2)  # pages 1 and 2 come, page 3 fails
    pages, failure = drain(source(server), None)
    assert failure.verdict == RETRY and failure.status == 500
    assert [[m.id for m in p.messages] for p in pages] == [["305", "306"], ["303", "304"]]  # as read
    assert [p.state["walk"] for p in pages] == [{"top": "306", "older_than": "305"},
                                                {"top": "306", "older_than": "303"}]
    assert {p.state["watermark"] for p in pages} == {None}
    double.requests.clear()
    rest, failure = drain(source(server), pages[-1].state)
    assert failure is None
    assert message_requests(double)[0]["args"] == {"older_than": "303"}
    assert [[m.id for m in p.messages] for p in rest] == [["5"], ["301", "302"]]  # the remainder oldest first
    assert rest[-1].state["watermark"] == "306" and rest[-1].state["walk"] is None
    assert sorted(ids_of(pages) + ids_of(rest), key=int) == recorded_ids()


def test_a_crash_after_the_first_page_repeats_at_most_one_page(server, double):
    double.page_size = 2
    double.fail_next(500, after=2)
    pages, _ = drain(source(server), None)
    rest, failure = drain(source(server), pages[0].state)  # the second page's store was lost
    assert failure is None
    seen = ids_of(pages[:1]) + ids_of(rest)
    assert sorted(set(seen), key=int) == recorded_ids()
    assert len(seen) == len(set(seen))  # the lost page is read again, nothing twice in the store's eyes


def test_a_walk_longer_than_max_pages_is_continued_by_the_next_poll(server, double):
    double.page_size = 2
    src = source(server)
    src.max_pages = 2
    first, failure = drain(src, None)
    assert failure is None and first[-1].state["walk"] == {"top": "306", "older_than": "303"}
    second, failure = drain(src, first[-1].state)
    assert failure is None and second[-1].state["walk"] is None and second[-1].state["watermark"] == "306"
    assert sorted(ids_of(first) + ids_of(second), key=int) == recorded_ids()
    assert len(ids_of(first) + ids_of(second)) == len(recorded_ids())


def test_messages_posted_during_an_unfinished_walk_come_with_the_walk_after(server, double):
    double.page_size = 2
    double.fail_next(500, after=1)
    pages, _ = drain(source(server, recheck=0), None)
    newer = double.add_message(by_id(306))
    rest, failure = drain(source(server, recheck=0), pages[-1].state)
    assert failure is None and newer not in ids_of(rest)
    after, failure = drain(source(server, recheck=0), rest[-1].state)
    assert failure is None and ids_of(after) == [newer]
    assert sorted(ids_of(pages) + ids_of(rest), key=int) == recorded_ids()


def test_initial_latest_reads_only_the_newest_page(server, double):
    double.page_size = 3
    pages = full_poll(server, initial="latest")
    assert ids_of(pages) == ["304", "305", "306"]
    assert pages[-1].state["watermark"] == "306"
    assert ids_of(drain(source(server, initial="latest"), pages[-1].state)[0]) == []


def test_poll_does_not_mutate_state(server):
    state = full_poll(server)[-1].state
    before = copy.deepcopy(state)
    drain(source(server), state)
    assert state == before


def test_a_cursor_of_another_group_starts_afresh(server):
    state = {**full_poll(server)[-1].state, "group_id": "8"}
    pages, failure = drain(source(server), state)
    assert failure is None and ids_of(pages) == recorded_ids()


# -- rate limits -------------------------------------------------------------------------------

def test_the_call_budget_pauses_the_walk_and_it_resumes_after_the_window(server, double):
    double.page_size = 1
    clock = Clock()
    src = source(server, budget=CallBudget(3, 30.0, now=clock), recheck=0)
    state, seen, polls = None, [], 0
    while True:
        pages, failure = drain(src, state)
        polls += 1
        seen += ids_of(pages)
        state = pages[-1].state if pages else state
        if failure is None:
            break
        assert failure.verdict == RATE_LIMITED and failure.retry_at == clock.now + timedelta(seconds=30)
        assert len(message_requests(double)) == 3 * polls  # paused politely: no call spent on a sure 429
        clock.advance(30)
    assert polls == 3
    assert sorted(seen, key=int) == recorded_ids() and len(seen) == len(set(seen))


def test_a_429_without_retry_after_is_rate_limited_for_30_seconds(server, double):
    double.page_size, double.rate_limit = 2, 2
    before = datetime.now(timezone.utc)
    pages, failure = drain(source(server), None)
    assert len(pages) == 2 and failure.verdict == RATE_LIMITED and failure.status == 429
    assert before + timedelta(seconds=30) <= failure.retry_at <= datetime.now(timezone.utc) + timedelta(seconds=30)
    assert "10 message calls per 30 s" in failure.message and "Rate limited" in failure.message
    double.reset_rate_limit()
    double.rate_limit = 1000
    rest, failure = drain(source(server), pages[-1].state)
    assert failure is None
    assert sorted(ids_of(pages) + ids_of(rest), key=int) == recorded_ids()


def test_a_429_with_retry_after_waits_as_told(server, double):
    double.rate_limit, double.retry_after = 1, 120
    pages, failure = drain(source(server), full_poll(server)[-1].state)
    assert failure.verdict == RATE_LIMITED
    assert failure.retry_at > datetime.now(timezone.utc) + timedelta(seconds=110)


# -- failures ----------------------------------------------------------------------------------

def test_a_refused_token_names_yammers_error(server, double):
    src = source(server, token="wrong-token")
    pages, failure = drain(src, None)
    assert pages == [] and failure.verdict == CONFIGURATION and failure.status == 401
    assert "Token not found. (Yammer error code 16)" in failure.message
    assert "valid bearer token" in failure.message
    assert "wrong-token" not in failure.message + repr(src)


def test_an_unknown_group_is_configuration(server):
    _, failure = drain(source(server, group_id="99"), None)
    assert failure.verdict == CONFIGURATION and failure.status == 404


@pytest.mark.parametrize("body", [b"<html>Bad gateway</html>", b'{"messages": [{"id": 307', b'"messages"'])
def test_an_unreadable_page_is_retry_and_the_cursor_stays(server, body):
    # a proxy answering with its own page, or a body cut off: the page is unreadable, not an item
    state = full_poll(server)[-1].state
    src = source(server)
    original = src.session.get

    def proxy(url, **kwargs):
        response = original(url, **kwargs)
        response._content = body
        return response
    src.session.get = proxy
    pages, failure = drain(src, state)
    assert pages == [] and failure.verdict == RETRY and "unreadable response" in failure.message
