"""Three workers on one PostgreSQL store, killed at random (SIGKILL): nothing lost, nothing doubled.

The PostgreSQL counterpart of ``tests/test_crash_recovery.py`` (whose helpers it imports): 300+ messages
from a replayed Mastodon channel (recorded statuses plus clones) are delivered into the ZGW double in its
lenient mode (it stores whatever arrives, so only the connector can keep things single) by three
``connector worker`` processes sharing one PostgreSQL database (``pg_url``; the password reaches them
through ``PGPASSWORD`` only). The case system misbehaves a little (errors before and after the work, a few
timeouts, slow answers); meanwhile one of the workers, picked in a shuffled round so the kills are spread
over all three, is SIGKILLed and restarted, until ``CRASH_TEST_KILLS`` (20) kills hit a live worker.

What the kills may hit: a delivery claimed with ``FOR UPDATE SKIP LOCKED`` (another worker takes it over once
its ``delivery.lease`` runs out), a ZGW create whose answer never got saved, or the channel in the middle of
a page: the default ``limits.channel_lease`` (15 minutes) is kept, so the test also proves that it need not run
out: the next worker on this host sees the holder's process gone (``connector.leases.gone``) and polls the
channel at once from the saved cursor.

Then, counted at the doubles: exactly one zaak per intended zaak, one document per file and one link each,
every message delivered; and at the channel: each non-empty page of the cursor's chain (``min_id=0``, then
each page's newest id) was asked for, no other ``min_id`` was (a cursor that skipped or went back would ask
for one outside the chain), and a page was asked for again only after a kill of the worker polling it: the
repeats are at most the kills that hit the channel's lease holder. (Two pollers killed one after the other on
the same page make three requests of it, legitimately: a fixed "at most twice" failed one run in two.)
"""
from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import pytest

from connector_doubles import mastodon, zgw
from connector.store import Store

from .conftest import FIXTURES, ZGW_SECRET
from . import pg_support
from .test_crash_recovery import (ACCOUNT, KILLS, busy_channel_and_faults, duplicate_report, read_store, start_worker,
                                  write_config)

pg_url = pg_support.pg_url  # the fixture

WORKERS = 3
STATUSES = "/api/v1/accounts/"


def cursor_chain(masto, requests: list[dict]) -> tuple[list[str], str]:
    """The ``min_id`` values a cursor walking the whole account asks for, page by page, as the double
    answers them (``min_id=0``, then each page's newest id); and the last one, whose page is empty (the
    cursor's watermark, asked for again on every later poll)."""
    first = next(r for r in requests if r["path"].startswith(STATUSES) and r["args"].get("min_id") == "0")
    account = masto.account_by_id(first["path"].split("/")[4])
    args = {k: v for k, v in first["args"].items() if k != "min_id"}
    chain, mark = [], "0"
    while True:
        page, _ = masto.page(account, {**args, "min_id": mark})
        if not page:
            return chain, mark
        chain.append(mark)
        mark = page[0].id   # newest first: the next page starts above it


def holds_channel(store_url: str, pid: int) -> bool:
    """Whether the worker with process id ``pid`` holds the channel's lease (worker ids are ``host:pid:random``)."""
    rows = read_store(store_url, "select lease_holder from channels where lease_holder is not null")
    return any(f":{pid}:" in row["lease_holder"] for row in rows)


def run_workers(config: str, tmp_path, store_url: str, expected: int, rng) -> tuple[Counter, int, list, dict]:
    """Start ``WORKERS`` workers; SIGKILL one (a shuffled round over all) every 0.5 to 2 s and restart it,
    until ``KILLS`` kills hit a live worker; then wait (bounded) until all ``expected`` messages are delivered
    and stop them with SIGTERM. Returns ``(kills per worker slot, kills that hit the channel's poller (the
    lease holder), exit codes of the last ones, what was left undelivered when the wait ran out)``."""
    env = {"PGPASSWORD": os.environ["PGPASSWORD"]}
    logs = [open(tmp_path / f"worker{n}.log", "ab") for n in range(WORKERS)]
    workers = [start_worker(config, logs[n], **env)[0] for n in range(WORKERS)]
    kills = Counter()
    poller_kills = 0
    unexpected = []
    left: dict = {}
    try:
        round_ = []
        while sum(kills.values()) < KILLS and len(unexpected) < 3:
            if not round_:
                round_ = rng.sample(range(WORKERS), WORKERS)
            slot = round_.pop()
            time.sleep(rng.uniform(0.5, 2.0))
            alive = workers[slot].poll() is None
            polling = holds_channel(store_url, workers[slot].pid)
            workers[slot].send_signal(signal.SIGKILL)
            code = workers[slot].wait(timeout=10)
            if alive and code == -signal.SIGKILL:
                kills[slot] += 1
                poller_kills += polling
            else:
                unexpected.append(code)
            workers[slot] = start_worker(config, logs[slot], **env)[0]
        deadline = time.monotonic() + (0 if unexpected else 180)   # a bound on waiting, not on time
        while True:
            left = undelivered(store_url, expected)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=60) for worker in workers]
        for log in logs:
            log.close()
    assert unexpected == [], f"workers that died on their own: {unexpected}"
    return kills, poller_kills, codes, left


def undelivered(store_url: str, expected: int) -> dict:
    """Platform id -> delivery state of every message not delivered yet, plus ``"(not polled)"`` -> how many
    of the ``expected`` messages are not in the store at all."""
    store = Store(store_url)
    try:
        rows = store.query("select m.platform_id, d.state from messages m left join deliveries d"
                           " on d.message_id = m.id")
    finally:
        store.close()
    left = {r["platform_id"]: r["state"] for r in rows if r["state"] != "delivered"}
    if len(rows) < expected:
        left["(not polled)"] = expected - len(rows)
    return left


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_three_workers_on_postgresql_killed_at_random_lose_nothing_and_double_nothing(tmp_path, pg_url):
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "20261126")))
    double = zgw.ZgwDouble(secret=ZGW_SECRET, client_ids=("connector",),
                           seed=str(FIXTURES / "zgw" / "catalogus.yaml"), lenient=True)
    server = zgw.serve(double)
    masto = busy_channel_and_faults(double, rng, errors=0.03, timeouts=0.01)
    expected = len(masto.statuses(ACCOUNT))
    try:
        with mastodon.serve(masto) as masto_server:
            config = write_config(tmp_path, masto_server.url, server, store=pg_url)
            kills, poller_kills, codes, left = run_workers(config, tmp_path, pg_url, expected, rng)
    finally:
        double.faults.clear()
        server.shutdown()
    logs = "\n".join((tmp_path / f"worker{n}.log").read_text(errors="replace")[-1500:] for n in range(WORKERS))
    assert not left, f"{len(left)} of {expected} messages not delivered in time: {dict(list(left.items())[:20])}"

    store = Store(pg_url)
    try:
        rows = store.query("select m.platform_id, m.message_json, d.state, d.rule, d.zaak_url, d.zaak_identificatie,"
                           " d.documents_json from deliveries d join messages m on m.id = d.message_id")
        reclaims = store.query("select count(*) as n from events where kind = 'delivery.in_progress'"
                               " and detail_json like '%reclaimed%'")[0]["n"]
    finally:
        store.close()
    duplicates, findings = duplicate_report(rows, double)
    chain, last = cursor_chain(masto, masto.requests)
    asked = Counter(r["args"]["min_id"] for r in masto.requests
                    if r["path"].startswith(STATUSES) and "min_id" in r["args"])
    print(f"\nPostgreSQL crash test: {expected} messages, {WORKERS} workers; SIGKILLs per worker {dict(kills)},"
          f" {poller_kills} of them of the channel's poller;"
          f" {reclaims} reclaimed leases; injected faults {double.faults.injected}; duplicates {duplicates};"
          f" {len(chain)} pages, asked for {[asked[m] for m in chain]} times; the watermark {asked[last]} times")

    assert codes == [0] * WORKERS, logs
    assert sum(kills.values()) >= KILLS and len(kills) == WORKERS, kills
    assert len(rows) == expected and all(r["state"] == "delivered" for r in rows)
    assert double.violations == []
    assert not any(duplicates.values()), f"duplicates per kind {duplicates}; first: {findings[:5]}"
    assert len(double.documents) == 2 * expected
    assert len(double.zaakinformatieobjecten) == 2 * expected
    # the cursor: every page of the chain asked for, nothing outside the chain, and each page asked for again
    # only after a kill of the worker polling it (its lease held): once, plus at most one per such kill
    assert len(chain) >= expected // 40
    assert [m for m in chain if asked[m] < 1] == []
    repeats = sum(asked[m] - 1 for m in chain)
    assert repeats <= poller_kills, (repeats, poller_kills, [asked[m] for m in chain])
    assert set(asked) <= {*chain, last}, sorted(set(asked) - {*chain, last})
