"""Channel resilience: polls through a real store while the replay servers misbehave.

Each scenario runs a few scheduled polls against a replay server whose content changes between
polls (new statuses/entries, malformed ones, edits). A fault is injected at one request position;
the test repeats the whole scenario for EVERY position in turn. Pages are saved as the engine
saves them (``Store.save_page``, one transaction per page); a failed poll keeps the stored cursor
and is simply polled again. At the end the store must hold exactly what the server held, each
(platform id, version) once, and the quarantine exactly the bad items, each once.

Expected values come from the servers' own state and the fixture files, never from the sources.
"""
from __future__ import annotations

import json
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from urllib.parse import urlsplit

import lxml.etree
import pytest
import requests

from connector_doubles.feeds import FeedDouble
from connector_doubles.feeds import serve as serve_feeds
from connector_doubles.mastodon import MastodonDouble
from connector_doubles.mastodon import serve as serve_mastodon
from connector.failures import RATE_LIMITED, RETRY, Failed
from connector.message import iso, parse_iso
from connector.sources.mastodon import MastodonSource
from connector.sources.rss import FeedSource
from connector.store import Store

from .rss_support import expected_entries

ROOT = Path(__file__).resolve().parents[1]
REPLAY = ROOT / "fixtures" / "mastodon" / "replay"
RSS = ROOT / "fixtures" / "rss"
CHANNEL = "resilience"
ACCOUNT = "schochastics"
PAGE_SIZE = 4
MAX_ATTEMPTS = 4  # polls of one scheduled step before the scenario gives up


@dataclass
class Outcome:
    failures: list = field(default_factory=list)  # Failure of every failed poll
    unfinished: list = field(default_factory=list)  # steps that never had a successful poll


def poll_until_done(source, store: Store, outcome: Outcome, step: int) -> None:
    """Poll like the engine: save each page with its cursor; on Failed keep the stored cursor and poll again."""
    for _ in range(MAX_ATTEMPTS):
        try:
            for page in source.poll(store.channel_state(CHANNEL)):
                store.save_page(CHANNEL, [(m, []) for m in page.messages], page.state, page.quarantined)
        except Failed as failed:
            outcome.failures.append(failed.failure)
            continue
        return
    outcome.unfinished.append(step)


def stored_versions(store: Store) -> list[tuple[str, str]]:
    rows = store.query("select platform_id, version from messages where channel = ?", [CHANNEL])
    return sorted((r["platform_id"], r["version"]) for r in rows)


@contextmanager
def fresh_store(folder: Path):
    store = Store(folder / "connector.db")
    try:
        yield store
    finally:
        store.close()


def quarantined(store: Store) -> list[dict]:
    return store.query("select item_id, reason, raw from quarantine where channel = ? order by id", [CHANNEL])


# -- Mastodon ------------------------------------------------------------------------------------

def status_version(status: dict) -> str:
    return iso(parse_iso(status["edited_at"])) if status.get("edited_at") else ""


def broken(double: MastodonDouble, how: str) -> bytes:
    """Publish a status, then serve it malformed under its own id; returns the bytes served."""
    status_id = double.add_status(double.statuses(ACCOUNT)[-1])  # a copy of the oldest recorded one
    status = dict(double.statuses(ACCOUNT)[0])  # as the server made it: its own id and date
    if how == "bad date":
        status["created_at"] = "not a date"
    elif how == "wrong type":
        status["account"] = "not an object"
    body = json.dumps(status, separators=(",", ":")).encode()
    if how == "not UTF-8":  # a Latin-1 byte: the page is not valid JSON, the other statuses are
        body = body.replace(b'"content":"', b'"content":"\xe9', 1)
    double.set_text(status_id, body)
    return body


def mastodon_steps(double: MastodonDouble) -> list:
    """Changes made to the server before each scheduled poll; each returns the bad bytes it served."""
    recorded = [s["id"] for s in double.statuses(ACCOUNT)]  # newest first

    def history(d):  # before the first poll: good, bad, good, bad, good on top of the recorded history
        d.add_status(d.statuses(ACCOUNT)[-1])
        bad = broken(d, "bad date")
        d.add_status(d.statuses(ACCOUNT)[-1])
        unreadable = broken(d, "not UTF-8")
        d.add_status(d.statuses(ACCOUNT)[-1])
        return [bad, unreadable]

    def news_and_an_edit(d):
        d.add_status(d.statuses(ACCOUNT)[-1])
        bad = broken(d, "wrong type")
        d.add_status(d.statuses(ACCOUNT)[-1])
        d.edit_status(recorded[2], "<p>Corrected once</p>")
        return [bad]

    def another_edit(d):
        d.edit_status(recorded[2], "<p>Corrected twice</p>")
        d.edit_status(recorded[5], "<p>Corrected as well</p>")
        return []

    def quiet(d):
        return []

    return [history, news_and_an_edit, another_edit, quiet]


def run_mastodon(folder: Path, fault: str | None, position: int | None, repeat_boundary: bool = False):
    """One scenario run; returns (outcome, expected versions, expected bad bytes, stored, quarantine, double)."""
    double = MastodonDouble(REPLAY)
    double.repeat_boundary = repeat_boundary
    if fault == "500":
        double.faults[position] = 500
    elif fault == "429":
        double.faults[position] = 429
    elif fault == "429 retry-after":
        double.faults[position] = (429, None, {"Retry-After": "120"})
    elif fault == "truncated":
        double.truncations[position] = 0.5
    expected: set[tuple[str, str]] = set()
    bad_bytes: list[bytes] = []
    outcome = Outcome()
    with serve_mastodon(double) as server, fresh_store(folder) as store:
        source = MastodonSource(CHANNEL, {"base_url": server.url, "account": ACCOUNT, "page_size": PAGE_SIZE})
        for step, change in enumerate(mastodon_steps(double)):
            bad_bytes += change(double)
            # what the server holds now is what this step must end up storing
            expected |= {(s["id"], status_version(s)) for s in double.statuses(ACCOUNT) if s}
            poll_until_done(source, store, outcome, step)
        return outcome, expected, bad_bytes, stored_versions(store), quarantined(store), double


def fault_fired(double: MastodonDouble, fault: str, position: int) -> bool:
    logged = double.requests[position - 1]
    if fault == "truncated":
        return logged.get("truncated", False)
    return logged["status"] == int(fault.split()[0])


def assert_converged(outcome, expected, bad_bytes, stored, quarantine, where=""):
    assert outcome.unfinished == [], f"{where}: a step never polled successfully"
    assert len(stored) == len(set(stored)), f"{where}: a version stored twice"
    assert set(stored) == expected, f"{where}: missing {sorted(expected - set(stored))}, " \
                                    f"unexpected {sorted(set(stored) - expected)}"
    assert sorted(q["raw"] for q in quarantine) == sorted(bad_bytes), f"{where}: quarantine differs"


SERVERS = pytest.mark.parametrize("repeat_boundary", [False, True], ids=["mastodon", "server-repeating-boundary"])


@SERVERS
def test_mastodon_scenario_without_faults_stores_everything_once(tmp_path, repeat_boundary):
    outcome, expected, bad_bytes, stored, quarantine, double = run_mastodon(tmp_path, None, None, repeat_boundary)
    assert outcome.failures == []
    assert_converged(outcome, expected, bad_bytes, stored, quarantine)
    assert len(bad_bytes) == 3 and all(q["reason"] for q in quarantine)
    assert any(b"\xe9" in q["raw"] and "UTF-8" in q["reason"] for q in quarantine)
    # the scenario really paginates, edits and quarantines
    assert len(double.statuses(ACCOUNT)) > 3 * PAGE_SIZE
    versions_per_status = Counter(status_id for status_id, _ in stored)
    assert max(versions_per_status.values()) >= 3, "the status edited twice does not have three versions"


@SERVERS
@pytest.mark.parametrize("fault, verdict", [("500", RETRY), ("429", RATE_LIMITED),
                                            ("429 retry-after", RATE_LIMITED), ("truncated", RETRY)])
def test_mastodon_fault_at_every_request_position(tmp_path, subtests, fault, verdict, repeat_boundary):
    *_, clean = run_mastodon(tmp_path / "clean", None, None, repeat_boundary)
    positions = range(1, len(clean.requests) + 1)
    assert len(positions) > 8  # lookup, several pages per poll, edit checks
    for position in positions:
        with subtests.test(position=position):
            outcome, expected, bad_bytes, stored, quarantine, double = run_mastodon(
                tmp_path / str(position), fault, position, repeat_boundary)
            assert fault_fired(double, fault, position)
            assert [f.verdict for f in outcome.failures] == [verdict]
            assert_converged(outcome, expected, bad_bytes, stored, quarantine, f"{fault} at request {position}")


def test_new_post_during_pagination_neither_skips_nor_repeats(tmp_path):
    # a status published between two page requests of one poll must not shift what the next page holds
    double = MastodonDouble(REPLAY)
    published = []

    def publish_after_second_page(response, *args, **kwargs):
        if urlsplit(response.url).path.endswith("/statuses") and len(double.requests) == 3 and not published:
            published.append(double.add_status(double.statuses(ACCOUNT)[-1]))
        return response

    with serve_mastodon(double) as server, fresh_store(tmp_path) as store:
        session = requests.Session()
        session.hooks["response"].append(publish_after_second_page)
        source = MastodonSource(CHANNEL, {"base_url": server.url, "account": ACCOUNT, "page_size": PAGE_SIZE},
                                session=session)
        outcome = Outcome()
        for step in range(2):
            poll_until_done(source, store, outcome, step)
        assert outcome.failures == [] and published
        expected = {(s["id"], status_version(s)) for s in double.statuses(ACCOUNT)}
        assert stored_versions(store) == sorted(expected)


# -- RSS -------------------------------------------------------------------------------------------

BAD_LINK = "https://example.org/a-broken-story"


def with_bad_entry(name: str) -> tuple[bytes, bytes]:
    """Fixture ``name`` with one more item at the top: a copy of its first, whose date cannot be read."""
    data = (RSS / name).read_bytes()
    start, end = data.index(b"<item>"), data.index(b"</item>") + len(b"</item>")
    item = data[start:end]
    element = lxml.etree.fromstring(item)
    bad = item.replace(element.findtext("link").encode(), BAD_LINK.encode()) \
              .replace(element.findtext("pubDate").encode(), b"the day after tomorrow")
    return data[:start] + bad + b"\n    " + data[start:], bad


# scenario -> the feeds served in turn: (fixture file whose entries must be stored, add a bad entry?)
RSS_SCENARIOS = {
    "new-and-bad-entry": [("RSSWithComments.xml", False), ("RSSWithComments-new-entry.xml", True),
                          ("RSSWithComments-new-entry.xml", True)],
    "edit": [("FeedBurnerXHTML.xml", False), ("FeedBurnerXHTML-edited.xml", False),
             ("FeedBurnerXHTML-edited.xml", False)],
}


def feed_versions(previous: dict, name: str) -> tuple[dict, set]:
    """Entries of fixture ``name`` (as lxml reads them) and the versions a poll of it must store."""
    entries = expected_entries(name)
    versions = set()
    for key, entry in entries.items():
        if key not in previous:
            versions.add((key, ""))
        elif entry["updated"] and entry["updated"] != previous[key]["updated"]:
            versions.add((key, iso(entry["updated"])))
    return {**previous, **entries}, versions


def run_rss(folder: Path, scenario: str, fault: str | None, position: int | None):
    double = FeedDouble()
    expected, bad_items, seen = set(), set(), {}
    outcome = Outcome()
    with serve_feeds(double) as server, fresh_store(folder) as store:
        source = FeedSource(CHANNEL, {"url": server.url + "/feed.xml"})
        for step, (name, bad_entry) in enumerate(RSS_SCENARIOS[scenario], start=1):
            if bad_entry:
                body, bad = with_bad_entry(name)
                bad_items.add(bad)
            else:
                body = (RSS / name).read_bytes()
            double.replace("/feed.xml", body)
            seen, versions = feed_versions(seen, name)
            expected |= versions
            if step == position:
                if fault == "500":
                    double.fail_next(500, body=b"upstream broke")
                elif fault == "429 retry-after":
                    double.fail_next(429, retry_after=120)
                elif fault == "truncated":
                    double.fail_next(200, body=body[:len(body) // 2])
            poll_until_done(source, store, outcome, step)
        return outcome, expected, bad_items, stored_versions(store), quarantined(store), double


@pytest.mark.parametrize("scenario", sorted(RSS_SCENARIOS))
@pytest.mark.parametrize("fault, verdict", [(None, None), ("500", RETRY), ("429 retry-after", RATE_LIMITED),
                                            ("truncated", RETRY)])
def test_rss_fault_at_every_poll(tmp_path, subtests, scenario, fault, verdict):
    for position in range(1, len(RSS_SCENARIOS[scenario]) + 1):
        with subtests.test(position=position):
            outcome, expected, bad_items, stored, quarantine, double = run_rss(
                tmp_path / str(position), scenario, fault, position)
            if fault:
                assert double.requests[position - 1].status == (200 if fault == "truncated" else int(fault[:3]))
            assert [f.verdict for f in outcome.failures] == ([verdict] if fault else [])
            assert outcome.unfinished == []
            assert len(stored) == len(set(stored)) and set(stored) == expected
            # the bad entry is quarantined once, with its bytes, however often the feed repeats it
            assert [q["item_id"] for q in quarantine] == [BAD_LINK] * len(bad_items)
            for row in quarantine:
                assert b"the day after tomorrow" in row["raw"] and "date" in row["reason"]
