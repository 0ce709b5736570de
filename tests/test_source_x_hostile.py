"""Hostile items on the X channel: the shared checks of ``test_hostile_items.py`` (one defective
item costs that item only, polled for real through the engine into a store) run for X's kind.

The variants in ``fixtures/hostile/x/`` are the older post of the recorded tweepy page with one
defect each (``fixtures/x/derive.py``), served on the @Twitter timeline of the replay double.
The shared tests are called from here (under private names, so pytest collects them once) so
that this channel's kind lives in its own file.
"""
from __future__ import annotations

import json

import pytest

from connector_doubles import x as x_double

from . import test_hostile_items as shared
from .x_support import FIXTURES, TOKEN

QUARANTINE, world = shared.QUARANTINE, shared.world  # world: the shared pytest fixture
_costs_only_itself = shared.test_hostile_item_costs_only_itself
_bug = shared.test_a_bug_while_normalising_one_item_quarantines_it_as_internal_error
_year_9999 = shared.test_year_9999_never_reaches_the_case_system


def _id_key(value: str) -> tuple[int, str]:
    return (len(value), value)


class XKind:
    """The X replay double, the recorded @Twitter timeline (2 posts, no media)."""

    name = "x"
    user = "Twitter"
    recorded_id = b"1565318587736285184"  # the post the variants were cut from (fixtures/x/derive.py)
    quiet_requests = 2  # a poll with nothing new: the timeline above since_id, the re-check
    variants = {
        "lone-surrogate-text": (QUARANTINE, "text: contains a lone surrogate"),
        "lone-surrogate-id": (QUARANTINE, "id: contains a lone surrogate"),
        "invalid-utf8": (QUARANTINE, "not valid UTF-8"),
        "year-9999": (QUARANTINE, "created_at: 9999-12-31T23:59:59Z"),
        "nul": (QUARANTINE, "text: contains a NUL character"),
        "deeply-nested": (QUARANTINE, "nested too deeply"),
        "wrong-types": (QUARANTINE, "edit_history_tweet_ids: expected a list"),
        "huge-text": (QUARANTINE, "bytes, more than"),
    }

    def __init__(self):
        self.double = x_double.XDouble(FIXTURES, token=TOKEN)
        self.template = json.loads(self.double.posts[self.recorded_id.decode()].text)
        self.bad_id = ""

    def serve(self):
        return x_double.serve(self.double)

    def options(self, url: str) -> dict:
        return {"token": "${X_HOSTILE_TOKEN}", "user": self.user, "base_url": url, "page_size": 5}

    def requests(self) -> int:
        return len(self.double.requests)

    def publish_good(self) -> None:
        self.double.add(self.template, self.user)

    def publish(self, bad: bytes) -> bytes:
        """Good, bad, good on top of the recorded posts; returns the bytes served for the bad one."""
        self.publish_good()
        self.bad_id = self.double.add(self.template, self.user)
        served = bad.replace(self.recorded_id, self.bad_id.encode())  # its own id, as X made it
        self.double.set_text(self.bad_id, served)
        self.publish_good()
        return served

    def good_ids(self) -> set[str]:
        return {p.id for p in self.double.timeline("783214") if p.id != self.bad_id}

    def bad_key(self) -> str:
        return self.bad_id

    def cursor_passed(self, state: dict) -> bool:
        return _id_key(state["since_id"]) > _id_key(self.bad_id)

    def break_normaliser(self, monkeypatch) -> None:
        from connector.sources import x_tweet as module
        real, bad_id = module.tweet_to_message, self.bad_id

        def buggy(tweet, *args, **kwargs):
            if tweet.get("id") == bad_id:
                return {}["a bug"]  # KeyError, as a slip in the normaliser would raise
            return real(tweet, *args, **kwargs)
        monkeypatch.setattr(module, "tweet_to_message", buggy)


@pytest.fixture(autouse=True)
def token_in_environment(monkeypatch):
    monkeypatch.setenv("X_HOSTILE_TOKEN", TOKEN)  # secrets come from the environment only


@pytest.mark.parametrize("variant", XKind.variants)
def test_hostile_x_post_costs_only_itself(world, variant):
    _costs_only_itself(world, XKind, variant)


def test_a_bug_while_normalising_one_x_post_quarantines_it_as_internal_error(world, monkeypatch):
    recorded = (FIXTURES.parent / "hostile" / "x" / "year-9999.json").read_bytes()
    assert b"9999-12-31T23:59:59.000Z" in recorded  # the shared test makes it a good date again
    _bug(world, monkeypatch, XKind)


def test_year_9999_x_post_never_reaches_the_case_system(world):
    _year_9999(world, XKind)
