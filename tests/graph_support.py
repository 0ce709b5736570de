"""What the Facebook and Instagram tests share: the Graph replay double on a local port with a
clock the test moves, sources polling it, and polls that keep the failure they ended with.

The recordings are from 2021 (Facebook) and 2017 (the Instagram reference's examples), so the
double's clock and the sources' re-check window start just after them: "now" is the clock's.
Expected values are read from the fixture JSON, never copied in.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connector_doubles.graph import TOKEN, GraphDouble, serve
from connector.failures import Failed
from connector.sources.facebook import FacebookSource
from connector.sources.instagram import InstagramSource

ROOT = Path(__file__).resolve().parents[1]
FB = ROOT / "fixtures" / "facebook"
IG = ROOT / "fixtures" / "instagram"
PAGE = "19292868552"
ACCOUNT = "17841405822304914"
COMMENTED_POST = "19292868552_10158407654328553"
CAROUSEL = "17895695668004550"


class Clock:
    """A clock a test moves; the double and the sources read the same one."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def data(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["data"]


def recorded_posts() -> list[dict]:
    """Every post the double serves at start, newest first."""
    posts = data(FB / "feeds_default_fields_p1.json") + data(FB / "replay" / "posts_with_comments.json")
    return sorted(posts, key=lambda p: p["created_time"], reverse=True)


@pytest.fixture
def clock():
    return Clock(datetime(2021, 8, 13, 12, tzinfo=timezone.utc))  # two days after the recorded comments


@pytest.fixture
def double(clock):
    return GraphDouble(clock=clock)


@pytest.fixture
def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def facebook(server, clock, **options) -> FacebookSource:
    return FacebookSource("fb", {"page_id": PAGE, "token": TOKEN, "base_url": server.url, **options}, clock=clock)


def instagram(server, clock, **options) -> InstagramSource:
    return InstagramSource("ig", {"account_id": ACCOUNT, "token": TOKEN, "base_url": server.url, **options},
                           clock=clock)


def drain(source, state):
    """All pages a poll yields, and the failure it ended with (or None)."""
    pages = []
    try:
        for page in source.poll(state):
            pages.append(page)
    except Failed as failed:
        return pages, failed.failure
    return pages, None


def poll_ok(source, state=None):
    pages, failure = drain(source, state)
    assert failure is None, failure
    return pages


def ids_of(pages, kind: str | None = None) -> list[str]:
    return [m.id for page in pages for m in page.messages if kind is None or m.kind == kind]


def by_id(pages) -> dict:
    return {m.id: m for page in pages for m in page.messages}


def deletions_of(pages) -> list:
    return [d for page in pages for d in page.deletions]


def last_state(pages, state=None):
    return pages[-1].state if pages else state
