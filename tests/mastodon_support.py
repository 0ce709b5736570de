"""What the Mastodon source's and double's tests share: the replay double on a local port, and
polls against it (``drain`` keeps the failure a poll ended with).

Expected values are read from the fixture JSON (real recorded statuses), never copied in.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector_doubles.mastodon import MastodonDouble, serve
from connector.failures import Failed
from connector.sources.mastodon import MastodonSource

from .conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "mastodon"
REPLAY = FIXTURES / "replay"
RECORDINGS = SHARED / "recordings" / "mastodon"


def replay(acct: str) -> dict:
    return json.loads((REPLAY / f"{acct}.json").read_text(encoding="utf-8"))


def ids_oldest_first(acct: str) -> list[str]:
    return sorted((s["id"] for s in replay(acct)["statuses"]), key=int)


@pytest.fixture
def double():
    return MastodonDouble(REPLAY)


@pytest.fixture
def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def source(server, account="schochastics", **options) -> MastodonSource:
    return MastodonSource("social", {"base_url": server.url, "account": account, **options})


def drain(src: MastodonSource, state):
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


def full_poll(server, account="schochastics", **options):
    pages, failure = drain(source(server, account, **options), None)
    assert failure is None
    return pages
