"""The RSS/Atom source against the local feed replay server (127.0.0.1 only).

Expected values are read from the fixture XML with lxml here, independently of feedparser.
"""
from __future__ import annotations

import copy
import email.utils
from datetime import datetime, timedelta, timezone

import marshmallow
import pytest

from connector_doubles.feeds import FeedDouble, serve
from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed
from connector.message import iso
from connector.sources.base import SOURCES, ParseError
from connector.sources.rss import FeedSource

from .rss_support import FIXTURES, expected_entries, fixture_bytes, make_source, poll, served
from .rss_support import feeds  # noqa: F401 (a fixture)


# --- polling ---------------------------------------------------------------------------------------

def test_source_is_registered_as_rss():
    assert SOURCES.get_class("rss") is FeedSource


def test_first_poll_yields_every_entry_once_oldest_first(feeds):
    source = served(feeds, "RSSWithComments.xml")
    page = poll(source)
    expected = expected_entries("RSSWithComments.xml")
    ids = [m.id for m in page.messages]
    assert sorted(ids) == sorted(expected)
    assert all(m.version == "" for m in page.messages)
    times = [m.created_at for m in page.messages]
    assert times == sorted(times)
    assert set(page.state["seen"]) == set(expected)
    assert page.state["etag"] and page.state["last_modified"]


@pytest.mark.parametrize("validator,header", [("etag", "if_none_match"), ("last_modified", "if_modified_since")])
def test_second_poll_is_conditional_and_304_yields_nothing(feeds, validator, header):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    first = poll(source)
    state = {validator: first.state[validator], "seen": first.state["seen"]}
    second = poll(source, state)
    assert getattr(double.requests[-1], header) == first.state[validator]
    assert double.requests[-1].status == 304
    assert second.messages == []
    assert second.state["seen"] == first.state["seen"]
    assert second.state[validator] == first.state[validator]


def test_changed_feed_yields_only_the_new_entry(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    state = poll(source).state
    double.replace("/feed.xml", FIXTURES / "RSSWithComments-new-entry.xml")
    page = poll(source, state)
    new_keys = set(expected_entries("RSSWithComments-new-entry.xml")) - set(expected_entries("RSSWithComments.xml"))
    assert len(new_keys) == 1
    assert [m.id for m in page.messages] == list(new_keys)
    assert page.messages[0].version == ""
    assert double.requests[-1].if_none_match == state["etag"]


def test_changed_updated_yields_a_new_version(feeds):
    double, _ = feeds
    source = served(feeds, "FeedBurnerXHTML.xml")
    state = poll(source).state
    double.replace("/feed.xml", FIXTURES / "FeedBurnerXHTML-edited.xml")
    page = poll(source, state)
    before, after = expected_entries("FeedBurnerXHTML.xml"), expected_entries("FeedBurnerXHTML-edited.xml")
    edited = [key for key in after if after[key]["updated"] != before[key]["updated"]]
    assert len(edited) == 1
    [message] = page.messages
    assert message.id == edited[0]
    assert message.version == iso(after[edited[0]]["updated"])
    assert message.edited_at == after[edited[0]]["updated"]
    assert message.created_at == after[edited[0]]["created_at"]
    # the same edit seen again is not a third version
    double.replace("/feed.xml", FIXTURES / "FeedBurnerXHTML-edited.xml")
    assert poll(source, {"seen": page.state["seen"]}).messages == []


def test_server_without_conditional_get_repeats_nothing(feeds):
    source = served(feeds, "TechCrunch.xml")
    first = poll(source)
    again = poll(source, {"seen": first.state["seen"]})  # no validators: a full 200 response
    assert again.messages == []
    assert again.state["seen"] == first.state["seen"]


def test_initial_latest_skips_the_backlog(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml", initial="latest")
    first = poll(source)
    assert first.messages == []
    assert set(first.state["seen"]) == set(expected_entries("RSSWithComments.xml"))
    double.replace("/feed.xml", FIXTURES / "RSSWithComments-new-entry.xml")
    assert [m.url for m in poll(source, first.state).messages] == ["https://example.org/a-new-story"]


def test_seen_map_is_bounded_but_keeps_current_entries(feeds):
    source = served(feeds, "RSSWithComments.xml", keep_seen=35)
    old = {f"https://old.example/{n}": "" for n in range(50)}
    page = poll(source, {"seen": old})
    current = set(expected_entries("RSSWithComments.xml"))
    assert len(page.state["seen"]) == 35
    assert current <= set(page.state["seen"])
    # the oldest forgotten first: what remains of the old keys is the most recent of them
    assert [k for k in page.state["seen"] if k in old] == list(old)[-5:]


def test_poll_does_not_mutate_the_given_state(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    state = poll(source).state
    frozen = copy.deepcopy(state)
    double.replace("/feed.xml", FIXTURES / "RSSWithComments-new-entry.xml")
    poll(source, state)
    assert state == frozen


# --- failures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("streaming", [False, True], ids=["content-length", "streamed"])
def test_body_over_max_bytes_is_refused(feeds, streaming):
    double, _ = feeds
    double.streaming = streaming
    source = served(feeds, "TechCrunch.xml", max_bytes=50_000)
    with pytest.raises(Failed) as caught:
        poll(source)
    assert caught.value.failure.verdict == CONFIGURATION
    assert "max_bytes" in caught.value.failure.message


def test_body_at_max_bytes_is_accepted(feeds):
    source = served(feeds, "RSSWithComments.xml", max_bytes=len(fixture_bytes("RSSWithComments.xml")))
    assert len(poll(source).messages) == len(expected_entries("RSSWithComments.xml"))


def test_server_error_is_retry_and_leaves_state_unchanged(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    state = poll(source).state
    frozen = copy.deepcopy(state)
    double.fail_next(500, body=b"upstream broke")
    with pytest.raises(Failed) as caught:
        poll(source, state)
    assert caught.value.failure.verdict == RETRY
    assert caught.value.failure.status == 500
    assert state == frozen
    assert poll(source, state).messages == []  # the next poll carries on from the same cursor


def test_rate_limit_with_retry_after_gives_retry_at(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    double.fail_next(429, retry_after=120)
    before = datetime.now(timezone.utc)
    with pytest.raises(Failed) as caught:
        poll(source)
    failure = caught.value.failure
    assert failure.verdict == RATE_LIMITED
    assert before + timedelta(seconds=119) <= failure.retry_at <= datetime.now(timezone.utc) + timedelta(seconds=121)


def test_connection_refused_is_retry():
    double = FeedDouble()
    running = serve(double)
    url = running.url + "/feed.xml"
    running.shutdown()
    with pytest.raises(Failed) as caught:
        poll(make_source(url))
    assert caught.value.failure.verdict == RETRY


def test_html_page_instead_of_feed_is_permanent_with_position(feeds):
    source = served(feeds, "not-a-feed.html")
    with pytest.raises(Failed) as caught:
        poll(source)
    assert caught.value.failure.verdict == PERMANENT
    assert "line" in caught.value.failure.message


@pytest.mark.parametrize("name,line", [("truncated-header.xml", 6), ("not-a-feed.html", 8)])
def test_malformed_xml_is_a_parse_error_with_a_line(name, line):
    with pytest.raises(ParseError) as caught:
        FeedSource.parse_payload(fixture_bytes(name))
    assert caught.value.position.startswith(f"line {line}")
    assert caught.value.reason


def test_well_formed_xml_that_is_no_feed_is_a_parse_error():
    with pytest.raises(ParseError):
        FeedSource.parse_payload(b'<?xml version="1.0"?>\n<invoice><total>12</total></invoice>')


def test_truncated_feed_is_a_parse_error_at_its_end():
    # feedparser would still make a message of the cut-off item (no date, half its text)
    data = fixture_bytes("RSSWithComments-truncated.xml")
    with pytest.raises(ParseError) as caught:
        FeedSource.parse_payload(data)
    last_line = len(data.splitlines())
    assert caught.value.position == f"line {last_line}"
    assert "truncated" in caught.value.reason


def test_truncated_feed_stores_no_half_entry_and_is_retried(feeds):
    # bug: the cut-off item was stored with the fetch time as its date and remembered as seen, so
    # the complete item never came through on later polls
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    double.fail_next(200, body=fixture_bytes("RSSWithComments-truncated.xml"))
    with pytest.raises(Failed) as caught:
        poll(source)
    assert caught.value.failure.verdict == RETRY
    page = poll(source)  # nothing was stored, so the next poll starts from no state at all
    expected = expected_entries("RSSWithComments.xml")
    assert sorted(m.id for m in page.messages) == sorted(expected)
    assert all(m.created_at == expected[m.id]["created_at"] for m in page.messages)


def test_feed_with_comment_after_the_root_is_not_truncated():
    data = fixture_bytes("FeedBurnerXHTML.xml")
    assert data.rstrip().endswith(b"-->")  # FeedBurner appends a comment after </feed>
    messages, _ = FeedSource.parse_payload(data)
    assert len(messages) == len(expected_entries("FeedBurnerXHTML.xml"))


def test_duplicate_guid_in_one_feed_is_one_message():
    data = fixture_bytes("RSSWithComments.xml")
    start, end = data.index(b"<item>"), data.index(b"</item>") + len(b"</item>")
    repeated = data[:end] + data[start:end] + data[end:]  # the server repeats the first item
    messages, quarantined = FeedSource.parse_payload(repeated)
    assert sorted(m.id for m in messages) == sorted(expected_entries("RSSWithComments.xml"))
    assert quarantined == []


def test_rate_limit_with_retry_after_http_date(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    # within the day that failures.MAX_RETRY_AFTER allows (a later date is capped to it)
    until = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    double.fail_next(429, retry_after=email.utils.format_datetime(until, usegmt=True))
    with pytest.raises(Failed) as caught:
        poll(source)
    assert (caught.value.failure.verdict, caught.value.failure.retry_at) == (RATE_LIMITED, until)


def test_body_that_looks_like_a_path_is_not_opened(tmp_path):
    # feedparser.parse(bytes) would open a local file of that name; a hostile server must not get that
    local = tmp_path / "local.xml"
    local.write_bytes(fixture_bytes("RSSWithComments.xml"))
    with pytest.raises(ParseError):
        FeedSource.parse_payload(str(local).encode())


# --- options and check -------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {},
    {"url": "ftp://example.org/feed"},
    {"url": "http://127.0.0.1/feed", "initial": "newest"},
    {"url": "http://127.0.0.1/feed", "max_bytes": 0},
    {"url": "http://127.0.0.1/feed", "colour": "blue"},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        FeedSource("news", options)


def test_option_defaults():
    options = make_source("http://127.0.0.1/feed").options
    assert (options["max_bytes"], options["initial"], options["keep_seen"]) == (10 * 1024 * 1024, "all", 1000)


@pytest.mark.parametrize("name,ok", [("RSSWithComments.xml", True), ("not-a-feed.html", False)])
def test_check_reports_connection(feeds, name, ok):
    checks = served(feeds, name).check()
    assert [c.name for c in checks] == ["settings", "connection"]
    assert checks[-1].ok is ok


