"""Hostile items: one defective item must cost that item only, on every channel kind.

For each channel kind (:data:`KINDS`; a new channel adds its own ``Kind`` and variant folder) and
each hostile variant in ``fixtures/hostile/<kind>/`` (see its README), the item is published
between good ones on the local replay server and polled for real, through the engine
(``Connector.poll``) into a real store. Then:

* the bad item is quarantined once, with the exact bytes served and a reason naming the defect,
  or, for the few variants a channel delivers (a stray Latin-1 byte in a feed), stored with the
  exact bytes served as its original;
* every good item around it is stored, and the poll reports no error (the channel is not backed off);
* the cursor moved past the bad item;
* a second poll, after one more good item is published, stores just that item and quarantines
  nothing; a third, with nothing new, asks the server no more than a quiet poll does.

``test_year_9999_never_reaches_the_case_system`` goes end to end into the ZGW double.
Expected values come from the fixture files and the servers' own state, never from the sources.
"""
from __future__ import annotations

import gzip
import json
import re

import pytest
import yaml

from connector.config import load_config
from connector_doubles import feeds, mastodon
from connector.engine import Connector

from .conftest import FIXTURES, ZGW_SECRET
from .rss_support import expected_entries

HOSTILE = FIXTURES / "hostile"
CHANNEL = "hostile"
QUARANTINE, DELIVER = "quarantine", "deliver"


def variant_bytes(kind: str, variant: str) -> bytes:
    folder = HOSTILE / kind
    plain = [p for p in folder.iterdir() if p.name.split(".")[0] == variant]
    assert len(plain) == 1, f"no single fixture for {kind}/{variant}"
    data = plain[0].read_bytes()
    return gzip.decompress(data) if plain[0].suffix == ".gz" else data


class MastodonKind:
    """The Mastodon replay server, the recorded account ``schochastics`` (20 statuses)."""

    name = "mastodon"
    account = "schochastics"
    recorded_id = b"114026814291152535"  # the status the variants were cut from (derive.py)
    quiet_requests = 2  # a poll with nothing new: the page above the watermark, the edit check
    variants = {
        "lone-surrogate-content": (QUARANTINE, "content: contains a lone surrogate"),
        "lone-surrogate-author-name": (QUARANTINE, "account.display_name: contains a lone surrogate"),
        "lone-surrogate-url": (QUARANTINE, "url: contains a lone surrogate"),
        "lone-surrogate-hashtag": (QUARANTINE, "tags[0].name: contains a lone surrogate"),
        "lone-surrogate-id": (QUARANTINE, "id: contains a lone surrogate"),
        "invalid-utf8": (QUARANTINE, "not valid UTF-8"),
        "year-9999": (QUARANTINE, "created_at: 9999-12-31T23:59:59Z"),
        "edited-year-9999": (QUARANTINE, "edited_at: 9999-12-31T23:59:59Z"),
        "year-0001-east-of-utc": (QUARANTINE, "created_at: '0001-01-01T00:00:00.000+01:00'"),
        "nul": (QUARANTINE, "content: contains a NUL character"),
        "deeply-nested": (QUARANTINE, "nested too deeply"),
        "wrong-types": (QUARANTINE, "media_attachments"),
        "huge-text": (QUARANTINE, "bytes, more than"),
    }

    def __init__(self):
        self.double = mastodon.MastodonDouble(FIXTURES / "mastodon" / "replay")
        self.bad_id = ""

    def serve(self):
        return mastodon.serve(self.double)

    def options(self, url: str) -> dict:
        return {"base_url": url, "account": self.account, "page_size": 4}

    def requests(self) -> int:
        return len(self.double.requests)

    def publish_good(self) -> None:
        self.double.add_status(self.double.statuses(self.account)[-1])  # a copy of the oldest recorded one

    def publish(self, bad: bytes) -> bytes:
        """Good, bad, good on top of the recorded history; returns the bytes served for the bad one."""
        self.publish_good()
        self.bad_id = self.double.add_status(self.double.statuses(self.account)[-1])
        served = bad.replace(self.recorded_id, self.bad_id.encode())  # its own id, as the server made it
        self.double.set_text(self.bad_id, served)
        self.publish_good()
        return served

    def good_ids(self) -> set[str]:
        return {s["id"] for s in self.double.statuses(self.account) if s}  # the bad one is served as text only

    def bad_key(self) -> str:
        return self.bad_id

    def cursor_passed(self, state: dict) -> bool:
        mark = state["watermark"]
        return (len(mark), mark) >= (len(self.bad_id), self.bad_id)

    def break_normaliser(self, monkeypatch) -> None:
        from connector.sources import mastodon_status as module
        real, bad_id = module.status_to_message, self.bad_id

        def buggy(status, **kwargs):
            if status.get("id") == bad_id:
                return {}["a bug"]  # KeyError, as a slip in the normaliser would raise
            return real(status, **kwargs)
        monkeypatch.setattr(module, "status_to_message", buggy)


class FeedKind:
    """The feed server with the recorded ``RSSWithComments.xml`` (30 items)."""

    name = "rss"
    fixture = "RSSWithComments.xml"
    quiet_requests = 1  # a conditional GET answered 304
    variants = {
        "lone-surrogate-title": (QUARANTINE, "&#xD800;"),
        "lone-surrogate-link": (QUARANTINE, "&#xDFFF;"),
        "invalid-utf8": (DELIVER, ""),
        "year-9999": (QUARANTINE, "created_at: 9999-12-31T23:59:59Z"),
        "year-0001": (QUARANTINE, "created_at"),
        "nul": (QUARANTINE, "title: contains a NUL character"),
        "deeply-nested": (DELIVER, ""),
        "missing-id": (QUARANTINE, "no guid, id, link, title or date"),
        "huge-text": (QUARANTINE, "bytes, more than"),
    }

    def __init__(self):
        self.double = feeds.FeedDouble()
        self.body = (FIXTURES / "rss" / self.fixture).read_bytes()
        self.good = set(expected_entries(self.fixture))
        self.bad = b""
        self.extra = 0

    def serve(self):
        return feeds.serve(self.double)

    def options(self, url: str) -> dict:
        return {"url": url + "/feed.xml"}

    def requests(self) -> int:
        return len(self.double.requests)

    def _insert(self, item: bytes, after: int) -> None:
        """Put ``item`` after the ``after``-th item of the served feed (0: at the top)."""
        at = self.body.index(b"<item>")
        for _ in range(after):
            at = self.body.index(b"</item>", at) + len(b"</item>")
        self.body = self.body[:at] + item + b"\n    " + self.body[at:]
        self.double.replace("/feed.xml", self.body)

    def publish_good(self) -> None:
        self.extra += 1
        link = f"https://example.org/news/{self.extra}"
        self._insert(f"<item><title>More news {self.extra}</title><link>{link}</link>"
                     f"<pubDate>Thu, 7 Apr 2022 10:0{self.extra}:00 +0000</pubDate></item>".encode(), 0)
        self.good.add(link)

    def publish(self, bad: bytes) -> bytes:
        self.bad = bad
        self._insert(bad, 1)  # between the first and the second recorded item
        return bad

    def good_ids(self) -> set[str]:
        return set(self.good)

    def bad_key(self) -> str:
        link = re.search(rb"<link>(.*?)</link>", self.bad)
        return link.group(1).decode() if link else ""

    def cursor_passed(self, state: dict) -> bool:
        key = self.bad_key()
        return key in state["seen"] if key and "&#" not in key else len(state["seen"]) == len(self.good) + 1

    def break_normaliser(self, monkeypatch) -> None:
        from connector.sources import rss as module
        real, bad_key = module.normalise, self.bad_key()

        def buggy(entry, key, *args):
            if key == bad_key:
                return {}["a bug"]
            return real(entry, key, *args)
        monkeypatch.setattr(module, "normalise", buggy)


KINDS = [MastodonKind, FeedKind]
CASES = [pytest.param(kind, variant, id=f"{kind.name}-{variant}") for kind in KINDS for variant in kind.variants]


@pytest.fixture
def world(tmp_path, zgw_server, monkeypatch):
    """``start(kind)`` serves that kind's replay server and builds a Connector polling it (ZGW double as sink)."""
    zgw_double, zgw_srv = zgw_server
    zgw_double.reset()
    monkeypatch.setenv("HOSTILE_ZGW_SECRET", ZGW_SECRET)
    running = []

    def start(kind):
        server = kind.serve()
        running.append(server)
        config = {
            "store": str(tmp_path / "connector.db"),
            "mappings": str(FIXTURES / "e2e" / "mappings"),
            # the recorded replies answer other accounts' posts, never archived: no wait for them
            "delivery": {"backoff_base": 1, "parent_grace": 0},
            "channels": [{"name": CHANNEL, "kind": kind.name, "options": kind.options(server.url)}],
            "sinks": [{"name": "zaken", "kind": "zgw", "options": {
                "zaken_url": zgw_srv.zaken_url, "documenten_url": zgw_srv.documenten_url,
                "catalogi_url": zgw_srv.catalogi_url, "client_id": "connector", "secret": "${HOSTILE_ZGW_SECRET}",
                "bronorganisatie": "002220647"}}],
        }
        path = tmp_path / "connector.yaml"
        path.write_text(yaml.safe_dump(config))
        connector = Connector(load_config(path))
        running.append(connector)
        return connector

    yield start, zgw_double
    for thing in reversed(running):
        thing.close() if isinstance(thing, Connector) else thing.shutdown()


def stored(connector) -> dict[str, bytes]:
    rows = connector.store.query("select platform_id, raw from messages where channel = ?", [CHANNEL])
    assert len(rows) == len({r["platform_id"] for r in rows}), "an item stored twice"
    return {r["platform_id"]: r["raw"] for r in rows}


def quarantine(connector) -> list[dict]:
    return connector.store.query("select item_id, reason, raw from quarantine where channel = ?", [CHANNEL])


@pytest.mark.parametrize("kind_class, variant", CASES)
def test_hostile_item_costs_only_itself(world, kind_class, variant):
    start, _ = world
    kind = kind_class()
    outcome, reason = kind.variants[variant]
    served = kind.publish(variant_bytes(kind.name, variant))
    connector = start(kind)

    result = connector.poll(CHANNEL)
    assert result.error is None, result.error
    held = quarantine(connector)
    messages = stored(connector)
    if outcome == QUARANTINE:
        assert [q["raw"] for q in held] == [served]
        assert reason in held[0]["reason"], held[0]["reason"]
        assert set(messages) == kind.good_ids()
    else:
        assert held == []
        assert set(messages) == kind.good_ids() | {kind.bad_key()}
        assert messages[kind.bad_key()] == served  # the original is the bytes received
    assert kind.cursor_passed(connector.store.channel_state(CHANNEL))

    kind.publish_good()
    again = connector.poll(CHANNEL)
    assert again.error is None and again.new == 1 and again.quarantined == 0
    assert len(stored(connector)) == len(messages) + 1 and set(messages) < set(stored(connector))

    before = kind.requests()
    quiet = connector.poll(CHANNEL)
    assert quiet.error is None and quiet.new == 0 and quiet.quarantined == 0
    assert kind.requests() - before <= kind.quiet_requests
    assert len(quarantine(connector)) == len(held)


@pytest.mark.parametrize("kind_class", KINDS, ids=[k.name for k in KINDS])
def test_a_bug_while_normalising_one_item_quarantines_it_as_internal_error(world, monkeypatch, kind_class):
    start, _ = world
    kind = kind_class()
    recorded = variant_bytes(kind.name, "year-9999")  # any item; the bug strikes on its id
    good = recorded.replace(b"9999-12-31T23:59:59.000Z", b"2025-02-18T20:38:26.738Z") \
        .replace(b"Fri, 31 Dec 9999 23:59:59 GMT", b"Wed, 6 Apr 2022 21:07:47 +0000")
    served = kind.publish(good)
    kind.break_normaliser(monkeypatch)
    connector = start(kind)

    result = connector.poll(CHANNEL)
    assert result.error is None, result.error
    [held] = quarantine(connector)
    assert held["raw"] == served and held["reason"].startswith("internal error: KeyError")
    assert set(stored(connector)) == kind.good_ids()


@pytest.mark.parametrize("kind_class", KINDS, ids=[k.name for k in KINDS])
def test_year_9999_never_reaches_the_case_system(world, kind_class):
    start, zgw = world
    kind = kind_class()
    served = kind.publish(variant_bytes(kind.name, "year-9999"))
    connector = start(kind)

    polls, delivered = connector.run_once()
    assert [p.error for p in polls] == [None]
    assert [q["raw"] for q in quarantine(connector)] == [served]
    rows = connector.store.query("select d.state, m.platform_id from deliveries d join messages m"
                                 " on m.id = d.message_id where m.channel = ?", [CHANNEL])
    assert {r["platform_id"] for r in rows} == kind.good_ids()
    assert {r["state"] for r in rows} == {"delivered"} and delivered.delivered == len(rows)
    # a rendition and the original for every good item, and nothing at all for the bad one
    assert len(zgw.documents) == 2 * len(rows)
    originals = [zgw.document_content(d["url"]) for d in zgw.documents]
    assert served not in originals
    # no date of year 9999 in any zaak (not the text "9999" anywhere: a random port or uuid may hold it)
    assert not [value for z in zgw.zaken for value in z.values() if isinstance(value, str) and value.startswith("9999-")]
    assert zgw.violations == []
