"""Hostile LinkedIn posts cost only themselves: the shared checks of ``test_hostile_items.py`` (through
the engine into a real store, then the ZGW double), run for the LinkedIn replay double with the
variants in ``fixtures/hostile/linkedin/`` (see its README). The shared test module is reused, not
edited: its test functions are called with this channel's ``Kind``."""
from __future__ import annotations

import pytest

from connector_doubles import linkedin

from . import test_hostile_items as hostile
from .conftest import FIXTURES

world = hostile.world  # the fixture: a Connector on a replay server, the ZGW double as sink
Q = hostile.QUARANTINE


class LinkedInKind:
    """The LinkedIn replay double with the derived posts page (7 posts)."""

    name = "linkedin"
    recorded_id = b"urn:li:share:7262000000000000007"  # the post the variants were cut from
    recorded_modified = b'"lastModifiedAt":1731100000000'
    quiet_requests = 1  # a poll with nothing new: the page above the watermark
    variants = {
        "lone-surrogate-commentary": (Q, "commentary: contains a lone surrogate"),
        "lone-surrogate-author": (Q, "author: contains a lone surrogate"),
        "lone-surrogate-id": (Q, "id: contains a lone surrogate"),
        "invalid-utf8": (Q, "not valid UTF-8"),
        "year-9999": (Q, "created_at: 9999-12-31T23:59:59Z"),
        "year-0001": (Q, "created_at: 0001-01-01T00:00:00Z is before 1990"),
        "nul": (Q, "commentary: contains a NUL character"),
        "wrong-types": (Q, "content: expected an object"),
        "deeply-nested": (Q, "nested too deeply"),
        "huge-text": (Q, "bytes, more than"),
    }

    def __init__(self):
        self.double = linkedin.LinkedInDouble(FIXTURES / "linkedin")
        self.bad_id, self.bad_modified = "", 0

    def serve(self):
        return linkedin.serve(self.double)

    def options(self, url: str) -> dict:
        return {"organization": "2414183", "token": "${LINKEDIN_HOSTILE_TOKEN}", "base_url": url,
                "comments": False, "recheck_days": 0, "page_size": 4}

    def requests(self) -> int:
        return len(self.double.requests)

    def publish_good(self) -> None:
        self.double.add_post(commentary="Goed bericht")

    def publish(self, bad: bytes) -> bytes:
        """Good, bad, good on top of the derived history; returns the bytes served for the bad one."""
        self.publish_good()
        self.bad_id = "urn:li:share:7289999999999999999"
        self.bad_modified = self.double._stamp()
        served = bad.replace(self.recorded_id, self.bad_id.encode()) \
            .replace(self.recorded_modified, b'"lastModifiedAt":%d' % self.bad_modified)
        self.double.set_text(self.bad_id, served, self.bad_modified)
        self.publish_good()
        return served

    def good_ids(self) -> set[str]:
        return {urn for urn in self.double.posts if urn != self.bad_id}

    def bad_key(self) -> str:
        return self.bad_id

    def cursor_passed(self, state: dict) -> bool:
        return state["watermark"]["ms"] > self.bad_modified and state["walk"] is None

    def break_normaliser(self, monkeypatch) -> None:
        from connector.sources import linkedin_item as module
        real, bad_id = module.post_to_message, self.bad_id

        def buggy(post, **kwargs):
            if post.get("id") == bad_id:
                return {}["a bug"]  # KeyError, as a slip in the normaliser would raise
            return real(post, **kwargs)
        monkeypatch.setattr(module, "post_to_message", buggy)


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("LINKEDIN_HOSTILE_TOKEN", linkedin.TOKEN)


@pytest.mark.parametrize("variant", sorted(LinkedInKind.variants))
def test_hostile_linkedin_post_costs_only_itself(world, variant):
    hostile.test_hostile_item_costs_only_itself(world, LinkedInKind, variant)


def test_a_bug_while_normalising_one_post_quarantines_it_as_internal_error(world, monkeypatch):
    start, _ = world
    kind = LinkedInKind()
    good = hostile.variant_bytes("linkedin", "year-9999").replace(b"253402300799000", b"1731000000000")
    served = kind.publish(good)
    kind.break_normaliser(monkeypatch)
    connector = start(kind)
    result = connector.poll(hostile.CHANNEL)
    assert result.error is None, result.error
    [held] = hostile.quarantine(connector)
    assert held["raw"] == served and held["reason"].startswith("internal error: KeyError")
    assert set(hostile.stored(connector)) == kind.good_ids()


@pytest.mark.slow  # a full run_once into the ZGW double, about 3 s
def test_year_9999_never_reaches_the_case_system(world):
    hostile.test_year_9999_never_reaches_the_case_system(world, LinkedInKind)
