"""The YouTube source (api mode) against the local replay double (127.0.0.1 only): the uploads
walk and its cursor, comments, edits, deletions, the quota, failures and check. Parsing saved
payloads, feed mode and hostile items are in ``test_source_youtube_payload.py``.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import marshmallow
import pytest

from connector.failures import CONFIGURATION, RATE_LIMITED, RETRY
from connector.message import iso, parse_iso
from connector.sources import youtube_api
from connector.sources.base import SOURCES
from connector.sources.youtube import YouTubeSource
from connector.sources.youtube_quota import next_reset

from . import youtube_support
from .youtube_support import (CHANNEL, COMMENTED, KEY, deletions_of, drain, fixture, full_poll, ids_of, messages_by_id,
                              recorded_video_ids, source)

double, server = youtube_support.double, youtube_support.server  # the fixtures


def recorded_comment_ids() -> list[str]:
    threads = [t["id"] for t in fixture("comment_threads_by_video_paged_1.json")["items"]]
    return threads + [c["id"] for c in fixture("derived/comments_replies_UgwI.json")["items"]]


def videos_of(pages) -> list[str]:
    return [m.id for page in pages for m in page.messages if m.kind == "post"]


def comments_of(pages) -> list[str]:
    return [m.id for page in pages for m in page.messages if m.kind == "comment"]


# -- the uploads walk ----------------------------------------------------------------------------

def test_source_is_registered():
    assert SOURCES.get_class("youtube") is YouTubeSource


def test_first_poll_stores_every_video_and_comment_once(server, double):
    pages = full_poll(server, recheck_days=0)
    assert sorted(videos_of(pages)) == sorted(recorded_video_ids())
    assert sorted(comments_of(pages)) == sorted(recorded_comment_ids())
    assert len(ids_of(pages)) == len(set(ids_of(pages)))
    for page in pages:  # oldest first within each page
        assert [m.created_at for m in page.messages] == sorted(m.created_at for m in page.messages)
    assert pages[-1].state["watermark"] == double.uploads(CHANNEL)[0].id and pages[-1].state["walk"] is None
    assert all("key" not in r["args"] for r in double.requests)  # the key travels in a header only
    assert all(KEY not in m.raw.page_url for page in pages for m in page.messages)


def test_second_poll_asks_only_the_top_of_the_uploads(server, double):
    state = full_poll(server, recheck_days=0)[-1].state
    double.requests.clear()
    pages = full_poll(server, state, recheck_days=0)
    assert ids_of(pages) == []
    assert [r["path"].rsplit("/", 1)[-1] for r in double.requests] == ["playlistItems"]


def test_new_video_appears_on_next_poll_with_its_thumbnail(server, double):
    state = full_poll(server)[-1].state
    new = double.add_video(title="Raadsvergadering 12 maart", description="Live uit de raadzaal #raad")
    pages = full_poll(server, state)
    assert videos_of(pages) == [new]
    message = messages_by_id(pages)[new]
    assert message.url == f"https://www.youtube.com/watch?v={new}" and message.kind == "post"
    assert message.text == "Raadsvergadering 12 maart\n\nLive uit de raadzaal #raad"
    assert message.hashtags == ("raad",) and message.thread_id == new
    assert [(a.url, a.media_type) for a in message.attachments] == [
        (double.videos[new].obj["snippet"]["thumbnails"]["maxres"]["url"], "image/jpeg")]
    assert ids_of(full_poll(server, pages[-1].state)) == []


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(youtube_api, "PAGE", 5)


def test_walk_over_several_pages_resumes_where_max_pages_stopped(server, double, small_pages):
    src = source(server, recheck_days=0, comments=False)
    src.max_pages = 1
    state, seen, polls = None, [], 0
    while True:
        pages, failure = drain(src, state)
        assert failure is None
        polls += 1
        seen += ids_of(pages)
        state = pages[-1].state
        if state["walk"] is None:
            break
    assert polls == 3  # 12 videos, 5 a page
    assert sorted(seen) == sorted(recorded_video_ids()) and len(seen) == len(set(seen))
    tokens = [r["args"].get("pageToken") for r in double.calls("playlistItems")]
    assert tokens == [None, "CAUQAA", "CAoQAA"]  # YouTube's own offset tokens: 5, 10
    assert state["watermark"] == double.uploads(CHANNEL)[0].id


def test_upload_during_an_unfinished_walk_is_found_by_the_next_walk(server, double, small_pages):
    src = source(server, recheck_days=0, comments=False)
    src.max_pages = 1
    first, _ = drain(src, None)
    new = double.add_video(title="Uploaded meanwhile")
    state, seen = first[-1].state, ids_of(first)
    for _ in range(5):
        pages, failure = drain(src, state)
        assert failure is None
        seen += ids_of(pages)
        state = pages[-1].state
    assert sorted(set(seen)) == sorted(recorded_video_ids() + [new])
    assert len(seen) - len(set(seen)) <= 5  # the shifted offsets repeat at most one page's worth


def test_a_crash_after_the_first_page_repeats_at_most_that_page(server, small_pages):
    pages = full_poll(server, recheck_days=0, comments=False)
    rest = full_poll(server, pages[0].state, recheck_days=0, comments=False)
    assert set(ids_of(pages[:1]) + ids_of(rest)) == set(recorded_video_ids())
    assert not set(ids_of(pages[:1])) & set(ids_of(rest))


def test_poll_does_not_mutate_state(server):
    state = full_poll(server)[-1].state
    before = copy.deepcopy(state)
    full_poll(server, state)
    assert state == before


# -- comments ------------------------------------------------------------------------------------

def test_comments_carry_their_thread(server):
    messages = messages_by_id(full_poll(server, recheck_days=0))
    thread = fixture("comment_threads_by_video_paged_1.json")["items"][4]
    top = messages[thread["id"]]
    assert (top.kind, top.in_reply_to, top.thread_id) == ("comment", COMMENTED, COMMENTED)
    assert top.url == f"https://www.youtube.com/watch?v={COMMENTED}&lc={thread['id']}"
    assert top.text == thread["snippet"]["topLevelComment"]["snippet"]["textOriginal"]
    for reply in fixture("derived/comments_replies_UgwI.json")["items"]:
        message = messages[reply["id"]]
        assert (message.in_reply_to, message.thread_id) == (thread["id"], COMMENTED)
        assert message.created_at == parse_iso(reply["snippet"]["publishedAt"])


def test_replies_beyond_those_embedded_are_asked_for(server, double):
    double.embed_replies = 1
    messages = messages_by_id(full_poll(server, recheck_days=0))
    assert [r["args"]["parentId"] for r in double.calls("comments")] == ["UgwI_ylXVnzPS8Q-oAV4AaABAg"]
    assert {c["id"] for c in fixture("derived/comments_replies_UgwI.json")["items"]} <= set(messages)


def test_recorded_edited_reply_is_a_version_of_its_own(server):
    reply = fixture("derived/comments_replies_UgwI.json")["items"][1]["snippet"]
    messages = messages_by_id(full_poll(server, recheck_days=0)).values()
    message = [m for m in messages if m.text == reply["textOriginal"]][0]
    assert message.version == iso(parse_iso(reply["updatedAt"])) and message.edited_at == parse_iso(reply["updatedAt"])


def test_comment_edit_within_the_window_is_a_new_version(server, double):
    video = double.add_video(title="Inspraakavond")
    comment = double.add_comment(video, "Hoe laat begint het?", published="2026-01-01T10:00:00Z")
    pages = full_poll(server)
    assert messages_by_id(pages)[comment].version == ""
    updated = double.edit_comment(comment, "Hoe laat begint het? Gevonden: 19:30")
    pages = full_poll(server, pages[-1].state)
    assert ids_of(pages) == [comment]
    edited = messages_by_id(pages)[ids_of(pages)[0]]
    assert edited.version == iso(parse_iso(updated)) and edited.edited_at == parse_iso(updated)
    assert edited.text == "Hoe laat begint het? Gevonden: 19:30"
    assert ids_of(full_poll(server, pages[-1].state)) == []


def test_new_comment_on_a_window_video_and_on_an_old_one(server, double):
    video = double.add_video(title="Nieuw")
    state = full_poll(server)[-1].state
    fresh = double.add_comment(video, "Eerste!")
    double.add_comment(COMMENTED, "too late: that video is outside the re-check window")
    pages = full_poll(server, state)
    assert ids_of(pages) == [fresh]


def test_comments_disabled_is_no_failure(server, double):
    video = double.add_video(title="Reacties uit")
    double.videos[video].comments_disabled = True
    pages, failure = drain(source(server), None)
    assert failure is None and video in videos_of(pages)


def test_comments_false_reads_no_comments(server, double):
    pages = full_poll(server, comments=False)
    assert comments_of(pages) == [] and double.calls("commentThreads") == []


# -- re-check: edits and deletions ---------------------------------------------------------------

def test_video_edit_within_the_window_is_a_new_version(server, double):
    video = double.add_video(title="Persconferentie", description="Om 14:00")
    state = full_poll(server)[-1].state
    double.edit_video(video, title="Persconferentie (verplaatst)", description="Om 15:00")
    pages = full_poll(server, state)
    assert ids_of(pages) == [video]
    edited = messages_by_id(pages)[ids_of(pages)[0]]
    assert edited.text == "Persconferentie (verplaatst)\n\nOm 15:00" and edited.version.startswith("sha256:")
    assert edited.edited_at is not None
    assert ids_of(full_poll(server, pages[-1].state)) == []


def test_video_gone_within_the_window_is_a_deletion(server, double):
    video = double.add_video(title="Per ongeluk gepubliceerd")
    state = full_poll(server)[-1].state
    double.delete_video(video)
    pages = full_poll(server, state)
    assert deletions_of(pages) == [video] and ids_of(pages) == []
    deletion = [d for page in pages for d in page.deletions][0]
    assert "re-check" in deletion.reason and deletion.at <= datetime.now(timezone.utc)
    assert video not in pages[-1].state["videos"]
    assert deletions_of(full_poll(server, pages[-1].state)) == []  # reported once


def test_video_gone_outside_the_window_is_not_checked(server, double):
    state = full_poll(server)[-1].state
    double.delete_video("CvTApw9X8aA")  # from 2019
    assert deletions_of(full_poll(server, state)) == []


def test_comment_gone_on_recheck_is_a_deletion(server, double):
    video = double.add_video(title="Debat")
    keep, gone = double.add_comment(video, "blijft"), double.add_comment(video, "verdwijnt")
    reply = double.add_comment(video, "antwoord", parent_id=keep)
    state = full_poll(server)[-1].state
    double.delete_comment(gone)
    double.delete_comment(reply)
    pages = full_poll(server, state)
    assert sorted(deletions_of(pages)) == sorted([gone, reply])
    assert deletions_of(full_poll(server, pages[-1].state)) == []


# -- quota and failures --------------------------------------------------------------------------

def test_our_daily_quota_pauses_until_midnight_pacific(server, double):
    src = source(server, daily_quota=3, recheck_days=0)
    pages, failure = drain(src, None)
    assert failure.verdict == RATE_LIMITED and "midnight Pacific Time" in failure.message
    assert abs(failure.retry_at - next_reset(datetime.now(timezone.utc))) < timedelta(seconds=5)
    assert len(double.requests) == 3 and videos_of(pages)  # channel, uploads, videos: then no more calls
    sent = len(double.requests)
    _, again = drain(src, pages[-1].state)
    assert again.verdict == RATE_LIMITED and len(double.requests) == sent
    # a restarted connector takes the count over from the cursor
    _, restarted = drain(source(server, daily_quota=3, recheck_days=0), pages[-1].state)
    assert restarted.verdict == RATE_LIMITED and len(double.requests) == sent


def test_google_quota_exceeded_pauses_until_midnight_pacific_and_skips_nothing(server, double):
    double.daily_quota = 3
    pages, failure = drain(source(server, recheck_days=0), None)
    assert failure.verdict == RATE_LIMITED and failure.status == 403
    assert "quotaExceeded" in failure.message and "midnight Pacific Time" in failure.message
    assert abs(failure.retry_at - next_reset(datetime.now(timezone.utc))) < timedelta(seconds=5)
    double.daily_quota, double.quota_used = 10_000, 0  # the next Pacific day
    rest = full_poll(server, pages[-1].state, recheck_days=0)
    assert sorted(set(ids_of(pages) + ids_of(rest))) == sorted(recorded_video_ids() + recorded_comment_ids())


def test_wrong_api_key_is_a_clear_configuration_failure(server):
    src = source(server, api_key="wrong-key")
    _, failure = drain(src, None)
    assert failure.verdict == CONFIGURATION and failure.status == 400
    assert "API key not valid" in failure.message and "keyInvalid" in failure.message
    assert "wrong-key" not in failure.message + repr(src)


def test_wrong_bearer_token_is_a_clear_configuration_failure(server, double):
    double.token = "good-token"
    _, failure = drain(source(server, api_key=None, token="bad-token"), None)
    assert failure.verdict == CONFIGURATION and failure.status == 401 and "authError" in failure.message
    pages = full_poll(server, api_key=None, token="good-token", recheck_days=0)
    assert sorted(videos_of(pages)) == sorted(recorded_video_ids())


def test_unknown_channel_is_configuration(server):
    _, failure = drain(source(server, channel_id="UC" + "x" * 22), None)
    assert failure.verdict == CONFIGURATION and "not found" in failure.message


def test_server_error_mid_walk_is_retry_and_the_cursor_holds(server, double, small_pages):
    double.fail_next(503, after=3)  # channel, page 1, its videos, then page 2 fails
    pages, failure = drain(source(server, recheck_days=0, comments=False), None)
    assert failure.verdict == RETRY and len(pages) == 1
    rest = full_poll(server, pages[-1].state, recheck_days=0, comments=False)
    assert sorted(ids_of(pages) + ids_of(rest)) == sorted(recorded_video_ids())


def test_truncated_page_is_retry(server, double):
    double.truncate_next(after=1)
    pages, failure = drain(source(server), None)
    assert pages == [] and failure.verdict == RETRY and "unreadable" in failure.message


def test_malformed_video_is_quarantined_and_the_rest_kept(server, double):
    state = full_poll(server)[-1].state
    before, bad, after = (double.add_video(title=t) for t in ("voor", "kapot", "na"))
    broken = double.videos[bad].text.replace('"publishedAt"', '"publishedAtt"').encode()
    double.set_video_text(bad, broken)
    pages = full_poll(server, state)
    assert sorted(videos_of(pages)) == sorted([before, after])
    quarantined = [q for page in pages for q in page.quarantined]
    assert [q.raw for q in quarantined] == [broken] and "publishedAt" in quarantined[0].reason
    assert quarantined[0].item_id == bad


# -- options and check ---------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {"channel_id": CHANNEL},                                       # api mode without credentials
    {"channel_id": CHANNEL, "api_key": "k", "token": "t"},         # both
    {"channel_id": "@googledevelopers", "api_key": "k"},           # a handle, not an id
    {"channel_id": CHANNEL, "api_key": "k", "mode": "scrape"},
    {"channel_id": CHANNEL, "api_key": "k", "colour": "red"},
    {"channel_id": CHANNEL, "api_key": "k", "recheck_days": -1},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        YouTubeSource("yt", options)


def test_option_defaults():
    src = YouTubeSource("yt", {"channel_id": CHANNEL, "mode": "feed"})
    assert src.options["base_url"] == "https://www.googleapis.com/youtube/v3"
    assert src.options["feed_url"] == "https://www.youtube.com/feeds/videos.xml"
    assert (src.options["comments"], src.options["recheck_days"], src.options["daily_quota"]) == (True, 7, 10_000)
    assert src.media_policy().host_allowed("i.ytimg.com") and src.media_policy().host_allowed("i1.ytimg.com")


def test_check_reports_channel_and_credentials(server):
    good = source(server).check()
    assert all(c.ok for c in good) and [c.name for c in good] == ["settings", "connection", "credentials", "account"]
    assert "UU" + CHANNEL[2:] in good[-1].message
    bad = source(server, api_key="wrong").check()
    assert [(c.name, c.ok) for c in bad][-1] == ("credentials", False) and "API key not valid" in bad[-1].message
    unknown = source(server, channel_id="UC" + "y" * 22).check()
    assert [(c.name, c.ok) for c in unknown][-1] == ("account", False)


def test_playlist_item_without_video_id_is_quarantined_once(server, double, monkeypatch):
    state = full_poll(server)[-1].state
    new = double.add_video(title="Nieuw")
    original = double.uploads

    def with_a_broken_item(channel_id):  # the newest playlist item names no video
        videos = original(channel_id)
        broken = copy.copy(videos[0])
        broken.id = ""
        return [broken] + videos
    monkeypatch.setattr(double, "uploads", with_a_broken_item)
    pages = full_poll(server, state)
    assert ids_of(pages) == [new]
    quarantined = [q for page in pages for q in page.quarantined]
    assert len(quarantined) == 1 and "no video id" in quarantined[0].reason
    again = full_poll(server, pages[-1].state)
    assert ids_of(again) == [] and [q for page in again for q in page.quarantined] == []


def test_comment_threads_and_replies_are_read_over_several_pages(server, double, monkeypatch):
    monkeypatch.setattr(youtube_api, "COMMENT_PAGE", 2)
    double.embed_replies = 1
    video = double.add_video(title="Druk bezocht")
    tops = [double.add_comment(video, f"reactie {n}") for n in range(5)]
    replies = [double.add_comment(video, f"antwoord {n}", parent_id=tops[0]) for n in range(3)]
    pages = full_poll(server)
    assert set(tops + replies) <= set(ids_of(pages))
    threads = [r["args"].get("pageToken") for r in double.calls("commentThreads") if r["args"]["videoId"] == video]
    assert threads == [None, "CAIQAA", "CAQQAA"]
    asked = [r["args"].get("pageToken") for r in double.calls("comments") if r["args"]["parentId"] == tops[0]]
    assert asked == [None, "CAIQAA"]
