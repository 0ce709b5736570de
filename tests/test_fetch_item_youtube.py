"""One YouTube video or comment by its URL (``item_id_for_url``, ``fetch_item``) against the local
replay double, in api and feed mode: the message a poll gives, unknown ids as permanent, Google's
refusals and quota as poll classifies them, a malformed video quarantined, no cursor."""
from __future__ import annotations

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed
from connector.sources.youtube import YouTubeSource

from . import youtube_support
from .youtube_support import CHANNEL, COMMENTED, KEY, fixture, full_poll, messages_by_id, recorded_video_ids, source

double, server = youtube_support.double, youtube_support.server  # the fixtures

THREAD = "UgwI_ylXVnzPS8Q-oAV4AaABAg"  # the recorded thread with two (derived) replies
REPLY = f"{THREAD}.8x1Derived0001"


def offline(mode: str = "api") -> YouTubeSource:
    return YouTubeSource("yt", {"channel_id": CHANNEL, "api_key": KEY if mode == "api" else None, "mode": mode})


def a_video() -> str:
    return recorded_video_ids()[0]


@pytest.mark.parametrize("url, expected", [
    ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://youtube.com/watch?v=dQw4w9WgXcQ&t=42s&si=abc", "dQw4w9WgXcQ"),
    ("http://m.youtube.com/watch?feature=share&v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://youtu.be/dQw4w9WgXcQ?si=xyz", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/shorts/dQw4w9WgXcQ/", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/live/dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/embed/dQw4w9WgXcQ?start=5", "dQw4w9WgXcQ"),
    (f"https://www.youtube.com/watch?v={COMMENTED}&lc={THREAD}", THREAD),
    (f"https://www.youtube.com/watch?v={COMMENTED}&lc={REPLY}", REPLY),
])
def test_a_video_or_comment_url_names_its_id(url, expected):
    assert offline().item_id_for_url(url) == expected


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/@GoogleDevelopers",                # a channel page
    "https://www.youtube.com/channel/UC_x5XG1OV2P6uZZ5FSM9Ttw",
    "https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
    "https://www.youtube.com/watch?v=short",                    # not an 11-character id
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ&lc=<script>",
    "https://vimeo.com/watch?v=dQw4w9WgXcQ",
    "https://youtu.be.evil.example/dQw4w9WgXcQ",
    "javascript:alert(1)//youtu.be/dQw4w9WgXcQ",
    "", None,
])
def test_other_urls_are_not_this_channels(url):
    assert offline().item_id_for_url(url) is None


def test_a_feed_channel_takes_videos_but_not_comments():
    assert offline("feed").item_id_for_url("https://youtu.be/dQw4w9WgXcQ") == "dQw4w9WgXcQ"
    assert offline("feed").item_id_for_url(f"https://www.youtube.com/watch?v={COMMENTED}&lc={THREAD}") is None


def test_the_fetched_video_is_the_message_a_poll_gives(server, double):
    video = a_video()
    polled = messages_by_id(full_poll(server, recheck_days=0))[video]
    double.requests.clear()
    page = source(server).fetch_item(f"https://youtu.be/{video}")
    assert page.quarantined == [] and page.state == {}
    [message] = page.messages
    assert message.to_dict() == polled.to_dict()
    assert message.raw.body == polled.raw.body and message.version == polled.version
    [asked] = double.requests
    assert asked["path"].endswith("/videos") and asked["args"]["id"] == video
    assert asked["args"]["part"] in double_calls_of_poll(server, double)


def double_calls_of_poll(server, double) -> list[str]:
    """The ``part`` a poll asks videos.list for (read from the double's log, not the source's code)."""
    double.requests.clear()
    full_poll(server, recheck_days=0, comments=False)
    return [r["args"]["part"] for r in double.calls("videos")]


def test_a_top_level_comment_is_the_message_a_poll_gives(server, double):
    polled = messages_by_id(full_poll(server, recheck_days=0))[THREAD]
    double.requests.clear()
    page = source(server).fetch_item(f"https://www.youtube.com/watch?v={COMMENTED}&lc={THREAD}")
    [message] = page.messages  # the thread's embedded replies are not part of the answer
    assert message.to_dict() == polled.to_dict() and message.raw.body == polled.raw.body
    assert [r["path"].rsplit("/", 1)[-1] for r in double.requests] == ["commentThreads"]
    assert double.requests[0]["args"]["id"] == THREAD


def test_a_reply_is_its_own_resource_with_the_polled_fields(server, double):
    polled = messages_by_id(full_poll(server, recheck_days=0))[REPLY]
    page = source(server).fetch_item(f"https://www.youtube.com/watch?v={COMMENTED}&lc={REPLY}")
    [message] = page.messages
    assert message.to_dict() == polled.to_dict()
    reply = next(c for c in fixture("derived/comments_replies_UgwI.json")["items"] if c["id"] == REPLY)
    assert message.in_reply_to == reply["snippet"]["parentId"] == THREAD


def test_feed_mode_finds_the_video_in_the_feed_without_quota(server, double):
    video = a_video()
    polled = messages_by_id(full_poll(server, mode="feed", api_key=None))[video]
    double.requests.clear()
    page = source(server, mode="feed", api_key=None).fetch_item(f"https://www.youtube.com/watch?v={video}")
    [message] = page.messages
    assert message.to_dict() == polled.to_dict() and message.raw.body == polled.raw.body
    assert double.quota_used == 0 and [r["path"] for r in double.requests] == ["/feeds/videos.xml"]


def test_feed_mode_a_video_not_in_the_feed_is_permanent(server, double):
    with pytest.raises(Failed) as caught:
        source(server, mode="feed", api_key=None).fetch_item("https://youtu.be/AAAAAAAAAAA")
    failure = caught.value.failure
    assert failure.verdict == PERMANENT and "not in the channel's feed" in failure.message


@pytest.mark.parametrize("url", ["https://youtu.be/AAAAAAAAAAA",
                                 f"https://www.youtube.com/watch?v={COMMENTED}&lc=UgzNoSuchThread00AaABAg",
                                 f"https://www.youtube.com/watch?v={COMMENTED}&lc={THREAD}.NoSuchReply"])
def test_an_unknown_id_is_permanent_and_says_so(server, double, url):
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(url)
    failure = caught.value.failure
    assert failure.verdict == PERMANENT and "no such item" in failure.message


def test_a_deleted_video_is_permanent(server, double):
    video = a_video()
    double.delete_video(video)
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(f"https://youtu.be/{video}")
    assert caught.value.failure.verdict == PERMANENT


def test_a_wrong_key_is_configuration(server, double):
    with pytest.raises(Failed) as caught:
        source(server, api_key="wrong").fetch_item(f"https://youtu.be/{a_video()}")
    failure = caught.value.failure
    assert failure.verdict == CONFIGURATION and "API key not valid" in failure.message


def test_a_401_is_configuration(server, double):
    double.fail_next(401)
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(f"https://youtu.be/{a_video()}")
    assert caught.value.failure.verdict == CONFIGURATION


def test_the_used_up_quota_is_rate_limited_until_the_reset(server, double):
    double.daily_quota = 0
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(f"https://youtu.be/{a_video()}")
    failure = caught.value.failure
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None and "quota" in failure.message


def test_a_429_is_rate_limited_with_retry_at(server, double):
    double.fail_next(429, headers={"Retry-After": "60"})
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(f"https://youtu.be/{a_video()}")
    assert caught.value.failure.verdict == RATE_LIMITED and caught.value.failure.retry_at is not None


def test_a_server_error_is_retried(server, double):
    double.fail_next(503)
    with pytest.raises(Failed) as caught:
        source(server).fetch_item(f"https://youtu.be/{a_video()}")
    assert caught.value.failure.verdict == RETRY


def test_a_malformed_video_is_quarantined_with_its_bytes(server, double):
    video = double.add_video(title="template")
    data = double.videos[video].text.replace('"title":"template"', '"title":"a\\u0000b"').encode()
    double.set_video_text(video, data)
    page = source(server).fetch_item(f"https://youtu.be/{video}")
    assert page.messages == [] and page.state == {}
    [held] = page.quarantined
    assert held.raw == data and held.item_id == video and "NUL" in held.reason
