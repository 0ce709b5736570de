"""What the Yammer source's tests share: the replay double on a local port, polls against it
(``drain`` keeps the failure a poll ended with) and a clock for call budgets.

Expected values are read from the fixture JSON (the recorded message and the derived group),
never copied in.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from connector_doubles.yammer import YammerDouble, serve
from connector.failures import Failed
from connector.sources.yammer import YammerSource

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "yammer"
REPLAY = FIXTURES / "replay"
TOKEN = "yammer-test-token"


def replay() -> dict:
    return json.loads((REPLAY / "group_7.json").read_text(encoding="utf-8"))


def recorded_ids() -> list[str]:
    """The replayed group's message ids, oldest first."""
    return sorted((str(m["id"]) for m in replay()["messages"]), key=int)


def by_id(message_id) -> dict:
    return next(m for m in replay()["messages"] if str(m["id"]) == str(message_id))


# fixtures: a test module takes them with ``double = pytest.fixture(yammer_support.double)`` (and server)

def double():
    return YammerDouble(REPLAY, token=TOKEN, rate_limit=1000)  # rate-limit tests lower it


def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def source(server, budget=None, **options) -> YammerSource:
    return YammerSource("engage", {"group_id": "7", "token": TOKEN, "base_url": server.url + "/api/v1", **options},
                        budget=budget)


def drain(src: YammerSource, state):
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


def full_poll(server, **options):
    pages, failure = drain(source(server, **options), None)
    assert failure is None
    return pages


def message_requests(double) -> list[dict]:
    return [r for r in double.requests if r["path"].startswith("/api/v1/messages/")]


class Clock:
    """A clock for :class:`CallBudget` that a test moves on."""

    def __init__(self):
        self.now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
