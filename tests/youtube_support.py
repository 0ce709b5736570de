"""What the YouTube source's tests share: the replay double on a local port, and polls against it.

Expected values are read from the fixture JSON (real recorded resources) and the double's own
state, never from the source under test.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector_doubles.youtube import YouTubeDouble, serve
from connector.failures import Failed
from connector.sources.youtube import YouTubeSource

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "youtube"
CHANNEL = "UC_x5XG1OV2P6uZZ5FSM9Ttw"  # Google Developers, as in the recordings
KEY = "test-api-key"
COMMENTED = "F1UP7wRCPH8"  # the video of the recorded comment threads


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def recorded_video_ids() -> list[str]:
    """The channel's videos in the fixtures: the playlist's ten, one of videos_info_multi, the placeholder."""
    ids = [i["snippet"]["resourceId"]["videoId"] for i in fixture("playlist_items_paged_1.json")["items"]]
    ids += [v["id"] for v in fixture("videos_info_multi.json")["items"] if v["snippet"]["channelId"] == CHANNEL]
    return ids + [COMMENTED]


@pytest.fixture
def double():
    return YouTubeDouble(FIXTURES, api_key=KEY)


@pytest.fixture
def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def source(server, **options) -> YouTubeSource:
    return YouTubeSource("youtube", {"channel_id": CHANNEL, "api_key": KEY,
                                     "base_url": server.url + "/youtube/v3",
                                     "feed_url": server.url + "/feeds/videos.xml", **options})


def drain(src: YouTubeSource, state):
    """All pages a poll yields, and the failure it ended with (or None)."""
    pages = []
    try:
        for page in src.poll(state):
            pages.append(page)
    except Failed as failed:
        return pages, failed.failure
    return pages, None


def full_poll(server, state=None, **options):
    pages, failure = drain(source(server, **options), state)
    assert failure is None, failure
    return pages


def ids_of(pages) -> list[str]:
    return [m.id for page in pages for m in page.messages]


def messages_by_id(pages) -> dict:
    return {m.id: m for page in pages for m in page.messages}


def deletions_of(pages) -> list[str]:
    return [d.id for page in pages for d in page.deletions]
