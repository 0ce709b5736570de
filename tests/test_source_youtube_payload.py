"""YouTube: saved payloads (``connector messages parse youtube FILE``) against hand-written
expected messages, feed mode (quota-free) against the hostile items, and the quota clock."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from connector.cli import main as cli_main
from connector.failures import RATE_LIMITED, Failed
from connector.message import MAX_RAW_BYTES
from connector.sources.base import ParseError
from connector.sources.youtube import YouTubeSource
from connector.sources.youtube_quota import PACIFIC, Quota, next_reset, pacific_day

from . import youtube_support
from .youtube_support import (FIXTURES, drain, full_poll, ids_of, messages_by_id,
                              recorded_video_ids, source)

PAYLOADS = [("playlist_items_paged_1.json", "playlist_items_paged_1"),
            ("videos_info_multi.json", "videos_info_multi"),
            ("comment_threads_by_video_paged_1.json", "comment_threads_by_video_paged_1"),
            ("derived/comments_replies_UgwI.json", "comments_replies_UgwI"),
            ("derived/feed_videos.xml", "feed_videos")]

double, server = youtube_support.double, youtube_support.server  # the fixtures


def expected(name: str) -> list[dict]:
    lines = (FIXTURES / "expected" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("payload, name", PAYLOADS)
def test_parse_payload_gives_the_hand_written_messages(payload, name):
    data = (FIXTURES / payload).read_bytes()
    messages, quarantined = YouTubeSource.parse_payload(data)
    assert quarantined == []
    assert [m.to_dict() for m in messages] == expected(name)
    for message in messages:
        assert message.raw.body in data  # each message keeps its item's own bytes


@pytest.mark.parametrize("payload, name", PAYLOADS[:3])
def test_cli_messages_parse_prints_them(capsys, payload, name):
    assert cli_main(["messages", "parse", "youtube", str(FIXTURES / payload)]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == expected(name)


def test_error_answer_is_no_payload():
    with pytest.raises(ParseError, match="keyInvalid"):
        YouTubeSource.parse_payload((FIXTURES / "error_response.json").read_bytes())


@pytest.mark.parametrize("data, reason", [
    (b'{"kind": "youtube#videoListResponse", "items": [', "truncated"),
    (b"[]", "not an array"),
    (b'{"kind": "youtube#searchListResponse", "items": []}', "unknown kind"),
    (b"<feed xmlns='http://www.w3.org/2005/Atom'><entry>", "line"),
])
def test_malformed_payloads_raise_parse_error(data, reason):
    with pytest.raises(ParseError, match=reason):
        YouTubeSource.parse_payload(data)


def test_a_malformed_thread_is_quarantined_and_the_rest_parsed():
    page = json.loads((FIXTURES / "comment_threads_by_video_paged_1.json").read_text(encoding="utf-8"))
    page["items"][1]["snippet"]["topLevelComment"]["snippet"]["publishedAt"] = "gisteren"
    messages, quarantined = YouTubeSource.parse_payload(json.dumps(page).encode())
    assert len(messages) == 4 and len(quarantined) == 1
    assert "publishedAt" in quarantined[0].reason and quarantined[0].item_id == page["items"][1]["id"]


# -- hostile items, polled for real --------------------------------------------------------------

def _hostile(double, how: str) -> tuple[str, bytes]:
    video = double.add_video(title="template")
    text = double.videos[video].text
    if how == "lone surrogate":
        data = text.replace('"title":"template"', '"title":"bad \\ud800 title"').encode()
    elif how == "invalid utf-8":
        data = text.replace('"title":"template"', '"title":"caf\xe9"').encode("latin-1")
    elif how == "huge":
        data = text.replace('"description":""', '"description":"' + "x" * MAX_RAW_BYTES + '"').encode()
    else:  # NUL
        data = text.replace('"title":"template"', '"title":"a\\u0000b"').encode()
    double.set_video_text(video, data)
    return video, data


@pytest.mark.parametrize("how, reason", [("lone surrogate", "snippet.title: contains a lone surrogate"),
                                         ("invalid utf-8", "not valid UTF-8"),
                                         ("huge", "bytes, more than"),
                                         ("NUL", "snippet.title: contains a NUL character")])
def test_hostile_video_costs_only_itself(server, double, how, reason):
    state = full_poll(server)[-1].state
    good = double.add_video(title="goed")
    bad, served = _hostile(double, how)
    after = double.add_video(title="ook goed")
    pages = full_poll(server, state)
    assert sorted(ids_of(pages)) == sorted([good, after])
    quarantined = [q for page in pages for q in page.quarantined]
    assert [q.raw for q in quarantined] == [served] and reason in quarantined[0].reason
    again = full_poll(server, pages[-1].state)
    assert ids_of(again) == [] and [q for page in again for q in page.quarantined] == []


def test_hostile_comment_quarantines_its_thread_once(server, double):
    video = double.add_video(title="Reacties")
    double.add_comment(video, "goed")
    bad = double.add_comment(video, "bad \ud800 comment")
    pages = full_poll(server)
    quarantined = [q for page in pages for q in page.quarantined]
    assert [q.item_id for q in quarantined] == [bad] and "lone surrogate" in quarantined[0].reason
    assert bad not in ids_of(pages)
    again = full_poll(server, pages[-1].state)
    assert [q for page in again for q in page.quarantined] == []


# -- feed mode ------------------------------------------------------------------------------------

def test_feed_mode_reads_the_newest_videos_without_quota(server, double):
    pages = full_poll(server, mode="feed", api_key=None)
    newest = [v.id for v in double.uploads("UC_x5XG1OV2P6uZZ5FSM9Ttw")]
    assert sorted(ids_of(pages)) == sorted(newest)  # 12 videos: all of them fit the feed's 15
    assert all(r["path"] == "/feeds/videos.xml" for r in double.requests) and double.quota_used == 0
    assert all(m.raw.body.startswith(b"<entry>") and m.raw.media_type == "application/atom+xml"
               for page in pages for m in page.messages)


def test_feed_and_api_make_the_same_message(server):
    feed = messages_by_id(full_poll(server, mode="feed", api_key=None))
    api = messages_by_id(full_poll(server, recheck_days=0, comments=False))
    assert set(feed) == set(api)
    for video_id, message in feed.items():
        other = api[video_id]
        assert (message.id, message.url, message.kind, message.version, message.text, message.created_at) == \
               (other.id, other.url, other.kind, other.version, other.text, other.created_at)
        assert message.author == other.author and message.thread_id == other.thread_id


def test_feed_second_poll_is_a_304_and_a_new_video_comes_once(server, double):
    state = full_poll(server, mode="feed", api_key=None)[-1].state
    assert ids_of(full_poll(server, state, mode="feed", api_key=None)) == []
    assert double.requests[-1]["status"] == 304
    new = double.add_video(title="Nieuw in de feed")
    pages = full_poll(server, state, mode="feed", api_key=None)
    assert ids_of(pages) == [new]
    assert ids_of(full_poll(server, pages[-1].state, mode="feed", api_key=None)) == []


def test_switching_from_feed_to_api_keeps_every_video_identical(server):
    feed_pages = full_poll(server, mode="feed", api_key=None)
    api_pages = full_poll(server, feed_pages[-1].state, recheck_days=0, comments=False)
    keys = {m.key for m in api_pages[0].messages} | {m.key for page in api_pages for m in page.messages}
    assert keys == {m.key for page in feed_pages for m in page.messages}  # the store would keep each once


def test_feed_video_removed_within_the_window_is_a_deletion(server, double):
    first = double.add_video(title="Eerst")
    second = double.add_video(title="Daarna")
    state = full_poll(server, mode="feed", api_key=None)[-1].state
    double.delete_video(first)
    pages = full_poll(server, state, mode="feed", api_key=None)
    assert [d.id for page in pages for d in page.deletions] == [first]
    assert second in pages[-1].state["feed"]["seen"]


def test_feed_check(server):
    checks = source(server, mode="feed", api_key=None).check()
    assert all(c.ok for c in checks) and "12 videos" in checks[-1].message


# -- the quota clock ------------------------------------------------------------------------------

@pytest.mark.parametrize("now, reset", [
    ("2026-11-26T08:59:59+00:00", "2026-11-27T08:00:00+00:00"),  # winter: PST, midnight is 08:00 UTC
    ("2026-11-27T08:00:00+00:00", "2026-11-28T08:00:00+00:00"),
    ("2026-07-01T06:59:00+00:00", "2026-07-01T07:00:00+00:00"),  # summer: PDT, midnight is 07:00 UTC
    ("2026-03-08T07:30:00+00:00", "2026-03-08T08:00:00+00:00"),  # still PST: 23:30 on 7 March
    ("2026-03-08T12:00:00+00:00", "2026-03-09T07:00:00+00:00"),  # the day daylight saving time begins
])
def test_the_quota_resets_at_midnight_pacific(now, reset):
    assert next_reset(datetime.fromisoformat(now)) == datetime.fromisoformat(reset)


def test_quota_counts_per_pacific_day():
    clock = [datetime(2026, 11, 27, 7, 59, tzinfo=timezone.utc)]
    quota = Quota(2, now=lambda: clock[0])
    quota.spend("a")
    quota.spend("b")
    with pytest.raises(Failed) as refused:
        quota.spend("c")
    assert refused.value.failure.verdict == RATE_LIMITED
    assert refused.value.failure.retry_at == datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
    assert pacific_day(clock[0]) == "2026-11-26"
    clock[0] = datetime(2026, 11, 27, 8, 0, 1, tzinfo=timezone.utc)  # a new Pacific day
    quota.spend("d")
    assert quota.state() == {"day": "2026-11-27", "used": 1}


def test_google_quota_running_out_mid_poll_keeps_the_pages_got(server, double):
    double.daily_quota = 4  # channel, uploads, videos, one comment thread
    pages, failure = drain(source(server, recheck_days=0), None)
    assert failure.verdict == RATE_LIMITED and sorted(ids_of(pages)) == sorted(recorded_video_ids())


def test_our_quota_pause_ends_at_midnight_pacific_and_the_poll_goes_on(server, double):
    clock = [datetime(2026, 11, 26, 20, 0, tzinfo=timezone.utc)]
    options = {"channel_id": "UC_x5XG1OV2P6uZZ5FSM9Ttw", "api_key": "test-api-key", "recheck_days": 0,
               "base_url": server.url + "/youtube/v3", "daily_quota": 4}
    src = YouTubeSource("yt", options, quota=Quota(4, now=lambda: clock[0]))
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED and failure.retry_at == datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
    state, got, days = pages[-1].state, ids_of(pages), 1
    while failure is not None:  # 4 units a day: the poll goes on day after day, each at midnight Pacific
        assert failure.verdict == RATE_LIMITED and failure.retry_at.astimezone(PACIFIC).hour == 0
        clock[0] = failure.retry_at  # the scheduler polls again at retry_at
        pages, failure = drain(src, state)
        state, got, days = pages[-1].state if pages else state, got + ids_of(pages), days + 1
        assert days < 10
    assert days > 2 and sorted(set(got)) == sorted(set(ids_of(full_poll(server, recheck_days=0))))
