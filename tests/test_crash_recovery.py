"""Nothing lost, nothing doubled: the worker killed at random (SIGKILL) while the case system misbehaves.

A run of 300+ messages (recorded statuses plus clones posted on the local Mastodon, with replies
and quoted zaak numbers) is delivered by `connector worker` in a subprocess. Meanwhile the ZGW
double answers a share of calls with 500/502/503 (before or after doing the work), lets some time
out, slows some down, and goes down completely for a few seconds now and then; and the worker is
killed with SIGKILL at random moments, at least 20 times, and restarted each time. At the end the
case system must hold exactly one rendition, one original and one link each per message, in the
zaak the rules chose, and the test prints its figures.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import yaml

from connector.doubles import mastodon
from connector.store import Store

from .conftest import FIXTURES, ZGW_SECRET

ACCOUNT = "schochastics"
KILLS = int(os.environ.get("CRASH_TEST_KILLS", "20"))
EXTRA_MESSAGES = 290


def post_many(masto, rng: random.Random) -> None:
    """Clone recorded statuses into new posts: a third reply to an earlier one, some quote a zaak."""
    templates = [s for s in masto.statuses(ACCOUNT) if not s.get("reblog")]
    posted = []
    for n in range(EXTRA_MESSAGES):
        status = dict(rng.choice(templates), in_reply_to_id=None, in_reply_to_account_id=None, edited_at=None)
        if posted and n % 3 == 0:
            status["in_reply_to_id"] = rng.choice(posted[-30:])
            status["content"] = f"<p>Reactie {n}</p>"
        elif n % 10 == 1:
            status["content"] = f"<p>Over ZAAK-2026-0000000042, bericht {n}</p>"
        else:
            status["content"] = f"<p>Bericht {n}: de stoep ligt open</p>"
        posted.append(masto.add_status(status))


def write_config(tmp_path, masto_url, server) -> str:
    config = {
        "store": str(tmp_path / "crash.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "delivery": {"interval": 0.2, "batch_size": 20, "lease": 3, "max_attempts": 1000, "backoff_base": 0.2,
                     "backoff_max": 2, "pause_base": 0.5, "pause_max": 2, "breaker_threshold": 3},
        "channels": [{"name": "masto", "kind": "mastodon", "poll_interval": 0.5,
                      "options": {"base_url": masto_url, "account": ACCOUNT, "page_size": 40}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "parallel": 2, "options": {
            "zaken_url": server.zaken_url, "documenten_url": server.documenten_url,
            "catalogi_url": server.catalogi_url, "client_id": "connector", "secret": "${CRASH_ZGW_SECRET}",
            "bronorganisatie": "002220647", "timeout": 1.0}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def start_worker(config: str, log):
    env = {"CRASH_ZGW_SECRET": ZGW_SECRET, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "worker", "--config", config],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def delivered_count(store_path) -> tuple[int, int]:
    store = Store(store_path)
    try:
        messages = store.query("select count(*) as n from messages")[0]["n"]
        delivered = store.delivery_counts()["delivered"]
    finally:
        store.close()
    return messages, delivered


@pytest.fixture
def faulty_zgw(zgw_server):
    double, server = zgw_server
    double.reset()
    yield double, server
    double.faults.clear()
    double.reset()


@pytest.mark.timeout(900)
def test_sigkill_and_outages_lose_nothing_and_double_nothing(tmp_path, faulty_zgw):
    double, server = faulty_zgw
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "20261122")))
    masto = mastodon.MastodonDouble(data_dir=str(FIXTURES / "mastodon" / "replay"), rate_limit=100000)
    post_many(masto, rng)
    expected = len(masto.statuses(ACCOUNT))
    assert expected >= 300
    double.faults.error_rate(0.05, after_ratio=0.5, cut_ratio=0.3, seed=rng.randrange(10**6))
    double.faults.timeout_rate(0.02, seconds=1.5, seed=rng.randrange(10**6))
    double.faults.slow(0.05, seconds=0.3, seed=rng.randrange(10**6))
    kills = outages = 0
    with mastodon.serve(masto) as masto_server, open(tmp_path / "worker.log", "wb") as log:
        config = write_config(tmp_path, masto_server.url, server)
        worker = start_worker(config, log)
        try:
            while kills < KILLS:
                time.sleep(rng.uniform(0.3, 2.0))
                if rng.random() < 0.2:
                    double.faults.outage(rng.uniform(1.0, 3.0))
                    outages += 1
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
                kills += 1
                worker = start_worker(config, log)
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                messages, delivered = delivered_count(tmp_path / "crash.db")
                if messages == expected and delivered == expected:
                    break
                time.sleep(0.5)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
    store = Store(tmp_path / "crash.db")
    rows = store.query("select m.platform_id, m.message_json, d.state, d.rule, d.zaak_url, d.documents_json"
                       " from deliveries d join messages m on m.id = d.message_id")
    retries = store.query("select count(*) as n from events where kind = 'delivery.retry_wait'")[0]["n"]
    reclaims = store.query("select count(*) as n from events where kind = 'delivery.in_progress'"
                           " and detail_json like '%reclaimed%'")[0]["n"]
    pauses = store.query("select count(*) as n from events where kind = 'sink.paused'")[0]["n"]
    store.close()

    by_document = {}
    for link in double.zaakinformatieobjecten:
        by_document.setdefault(link["informatieobject"], []).append(link["zaak"])
    identificaties = [d["identificatie"] for d in double.documents]
    duplicates = (len(identificaties) - len(set(identificaties))) + sum(len(z) - 1 for z in by_document.values())
    missing = [r["platform_id"] for r in rows if r["state"] != "delivered"]
    lost = expected - len(rows) + len(missing)
    print(f"\ncrash test: {expected} messages, {kills} SIGKILLs, {outages} outages, {retries} retries,"
          f" {reclaims} reclaimed leases, {pauses} sink pauses, injected faults {double.faults.injected},"
          f" duplicates {duplicates}, lost {lost}")

    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert kills >= 20
    assert lost == 0, missing[:10]
    assert duplicates == 0
    assert len(rows) == expected
    assert len(double.documents) == 2 * expected
    assert len(double.zaakinformatieobjecten) == 2 * expected
    # every document of a message sits in that message's zaak; a reply shares its parent's zaak
    zaak_of = {}
    for row in rows:
        documents = json.loads(row["documents_json"])
        assert sorted(d["role"] for d in documents) == ["original", "rendition"]
        assert {z for d in documents for z in by_document[d["url"]]} == {row["zaak_url"]}
        zaak_of[row["platform_id"]] = row["zaak_url"]
    for row in rows:
        parent = json.loads(row["message_json"])["in_reply_to"]
        if row["rule"] == "replies" and parent in zaak_of:
            assert row["zaak_url"] == zaak_of[parent]
    # no zaak was created twice for one message (each created zaak holds documents)
    created = [z for z in double.zaken if z["identificatie"].startswith("SOC-Z-")]
    assert len(created) == len({z["identificatie"] for z in created})
    assert all(any(z["url"] == row["zaak_url"] for row in rows) for z in created)
    assert double.violations == []
