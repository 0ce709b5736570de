"""What the X source's tests share: the replay double on a local port, polls against it (``drain``
keeps the failure a poll ended with), and the recorded posts read from the fixture files.

Expected values are read from the fixture JSON (recorded pages and the derived page), never
copied from the source's output.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.failures import Failed
from connector.sources.x import XSource
from connector_doubles.x import XDouble, serve

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "x"
TOKEN = "test-bearer-token"
DEV = "TwitterDev"


def page(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def dev_posts() -> list[dict]:
    """@TwitterDev's posts as the double serves them: the recorded page and the derived one."""
    return page("timeline_tweets.json")["data"] + page("derived/conversation.json")["data"]


def dev_ids_oldest_first() -> list[str]:
    return sorted((t["id"] for t in dev_posts()), key=int)


@pytest.fixture
def double():
    return XDouble(FIXTURES, token=TOKEN)


@pytest.fixture
def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def source(server, user: str = DEV, **options) -> XSource:
    return XSource("x", {"token": TOKEN, "user": user, "base_url": server.url, **options})


def drain(src: XSource, state):
    """All pages a poll yields, and the failure it ended with (or None)."""
    pages = []
    try:
        for found in src.poll(state):
            pages.append(found)
    except Failed as failed:
        return pages, failed.failure
    return pages, None


def ids_of(pages) -> list[str]:
    return [m.id for p in pages for m in p.messages]


def messages_by_id(pages) -> dict:
    return {(m.id, m.version): m for p in pages for m in p.messages}


def full_poll(server, user: str = DEV, **options):
    pages, failure = drain(source(server, user, **options), None)
    assert failure is None, failure
    return pages


def timeline_requests(double) -> list[dict]:
    return [r for r in double.requests if r["path"].endswith("/tweets") and "/users/" in r["path"]]
