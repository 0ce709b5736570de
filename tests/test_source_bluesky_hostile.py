"""Hostile Bluesky items through the engine into a real store and the ZGW double: the shared
checks of ``test_hostile_items.py`` (one defective item costs only itself, a bug while
normalising one item quarantines it, year 9999 never reaches the case system), run for the
Bluesky replay double with the variants in ``fixtures/hostile/bluesky/`` (see its ``derive.py``).
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

import pytest

from connector_doubles import bluesky

from . import test_hostile_items as shared
from .conftest import FIXTURES

world = shared.world  # the shared fixture: a Connector polling the kind's double into the ZGW double


class BlueskyKind:
    """The Bluesky replay double with the recorded feed of chriskenny.bsky.social (50 items)."""

    name = "bluesky"
    quiet_requests = 1  # a poll with nothing new: the top page, which serves the re-check too
    variants = {
        "lone-surrogate-text": (shared.QUARANTINE, "post.record.text: contains a lone surrogate"),
        "lone-surrogate-author-name": (shared.QUARANTINE, "post.author.displayName: contains a lone surrogate"),
        "lone-surrogate-tag": (shared.QUARANTINE, "post.record.facets[0].features[0].tag: contains a lone surrogate"),
        "invalid-utf8": (shared.QUARANTINE, "not valid UTF-8"),
        "year-9999": (shared.QUARANTINE, "created_at: 9999-12-31T23:59:59Z"),
        "year-0001-east-of-utc": (shared.QUARANTINE, "record.createdAt: '0001-01-01T00:00:00.000+01:00'"),
        "nul": (shared.QUARANTINE, "post.record.text: contains a NUL character"),
        "deeply-nested": (shared.QUARANTINE, "nested too deeply"),
        "wrong-types": (shared.QUARANTINE, "record: expected an object"),
        "huge-text": (shared.QUARANTINE, "bytes, more than"),
    }

    def __init__(self):
        self.double = bluesky.BlueskyDouble(FIXTURES / "bluesky")
        self.bad_id, self.served = "", b""

    def serve(self):
        return bluesky.serve(self.double)

    def options(self, url: str) -> dict:
        # no media hosts: the recorded media live on cdn.bsky.app, which tests must not ask
        return {"actor": "chriskenny.bsky.social", "base_url": url, "media_hosts": []}

    def requests(self) -> int:
        return len(self.double.requests)

    def publish_good(self) -> None:
        self.double.add_post(text="a good post")

    def publish(self, bad: bytes) -> bytes:
        """Good, bad, good on top of the recorded feed; returns the bytes served for the bad one.

        The bad item is published now, as the server serves it at the top of the feed: its recorded
        ``createdAt``/``indexedAt`` (years 20xx; a year 9999 or 0001 defect stays) become now.
        """
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()
        bad = re.sub(rb'"(createdAt|indexedAt)":"20\d\d-[^"]*"', lambda m: b'"%s":"%s"' % (m.group(1), now), bad)
        self.publish_good()
        self.bad_id = self.double.add_post(bad)
        self.served = bad.replace(b"{uri}", self.bad_id.encode())
        self.publish_good()
        return self.served

    def good_ids(self) -> set[str]:
        return {item.id for item in self.double.items if item.obj}  # the bad one is served as text only

    def bad_key(self) -> str:
        return self.bad_id

    def cursor_passed(self, state: dict) -> bool:
        unreadable = "sha256:" + hashlib.sha256(self.served).hexdigest()
        return state["descent"] is None and (self.bad_id in state["recent"] or unreadable in state["recent"])

    def break_normaliser(self, monkeypatch) -> None:
        from connector.sources import bluesky_post as module
        real, bad_id = module.post_to_message, self.bad_id

        def buggy(post, **kwargs):
            if post.get("uri") == bad_id:
                return {}["a bug"]  # KeyError, as a slip in the normaliser would raise
            return real(post, **kwargs)
        monkeypatch.setattr(module, "post_to_message", buggy)


@pytest.mark.parametrize("variant", list(BlueskyKind.variants))
def test_hostile_bluesky_item_costs_only_itself(world, variant):
    shared.test_hostile_item_costs_only_itself(world, BlueskyKind, variant)


def test_a_bug_while_normalising_one_bluesky_item_quarantines_it_as_internal_error(world, monkeypatch):
    shared.test_a_bug_while_normalising_one_item_quarantines_it_as_internal_error(world, monkeypatch, BlueskyKind)


@pytest.mark.slow  # delivers the 52 items into the ZGW double: about 9 s
def test_a_bluesky_year_9999_never_reaches_the_case_system(world):
    shared.test_year_9999_never_reaches_the_case_system(world, BlueskyKind)
