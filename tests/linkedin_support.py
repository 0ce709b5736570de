"""What the LinkedIn source's tests share: the replay double on a local port, sources against it,
and polls that keep the failure they ended with. Expected values come from the fixture files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector.failures import Failed
from connector.sources.linkedin import LinkedInSource
from connector_doubles.linkedin import COMMENTED, TOKEN, LinkedInDouble, serve

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "linkedin"
__all__ = ["COMMENTED", "FIXTURES", "TOKEN", "double", "drain", "ids_of", "posts_oldest_first", "server", "source"]


def posts_page() -> dict:
    return json.loads((FIXTURES / "posts_page.json").read_text("utf-8"))


def recorded_comments() -> list[dict]:
    return json.loads((FIXTURES / "comments_page.json").read_text("utf-8"))["elements"]


def posts_oldest_first() -> list[str]:
    return [p["id"] for p in sorted(posts_page()["elements"], key=lambda p: (p["lastModifiedAt"], p["id"]))]


@pytest.fixture
def double():
    return LinkedInDouble(FIXTURES)


@pytest.fixture
def server(double):
    served = serve(double)
    yield served
    served.shutdown()


def source(server, **options) -> LinkedInSource:
    """Posts only, unless a test asks for comments or re-checks."""
    settings = {"organization": "2414183", "token": TOKEN, "base_url": server.url, "comments": False,
                "recheck_days": 0, **options}
    return LinkedInSource("li", settings)


def drain(src, state):
    """All pages a poll yields, and the failure it ended with (or None)."""
    pages = []
    try:
        for page in src.poll(state):
            pages.append(page)
    except Failed as failed:
        return pages, failed.failure
    return pages, None


def ids_of(pages, kind: str | None = None) -> list[str]:
    return [m.id for page in pages for m in page.messages if kind is None or m.kind == kind]
