"""What the Bluesky source's tests share: the replay double on a local port, and polls against
it (``drain`` keeps the failure a poll ended with). Expected values are read from the recorded
feed (``fixtures/bluesky/f_autfeed.json``) and the double's own state, never from the source.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector_doubles.bluesky import BlueskyDouble, serve
from connector.failures import Failed
from connector.sources.bluesky import BlueskySource

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "bluesky"
ACTOR = "chriskenny.bsky.social"
DID = "did:plc:wpe35pganb6d4pg4ekmfy6u5"


def recorded_feed() -> list[dict]:
    return json.loads((FIXTURES / "f_autfeed.json").read_text(encoding="utf-8"))["feed"]


def recorded_id(item: dict) -> str:
    return item["post"]["uri"] + ("#repost" if item.get("reason") else "")


def ids_oldest_first(double: BlueskyDouble) -> list[str]:
    return [item.id for item in reversed(double.feed())]


@pytest.fixture
def double():
    return BlueskyDouble(FIXTURES)


@pytest.fixture
def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def source(server, **options) -> BlueskySource:
    return BlueskySource("bsky", {"actor": ACTOR, "base_url": server.url, **options})


def drain(src: BlueskySource, state):
    """All pages a poll yields, and the failure it ended with (or None)."""
    pages = []
    try:
        for page in src.poll(state):
            pages.append(page)
    except Failed as failed:
        return pages, failed.failure
    return pages, None


def ids_of(pages) -> list[str]:
    return [m.id for page in pages for m in page.messages]


def messages_by_id(pages) -> dict:
    return {m.id: m for page in pages for m in page.messages}


def full_poll(server, state=None, **options):
    pages, failure = drain(source(server, **options), state)
    assert failure is None, failure
    return pages


def feed_calls(double) -> list[dict]:
    return [r for r in double.requests if r["path"].endswith("getAuthorFeed")]
