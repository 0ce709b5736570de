"""Nothing lost, nothing doubled through StUF-ZDS: `connector worker` killed at random while the StUF double misbehaves.

The same run as ``tests/test_crash_recovery.py`` (300+ messages from the local Mastodon, replies and quoted zaak
numbers, SIGKILLs counted only when they hit a live worker holding claims, 5xx before and after the work, cut
connections, timeouts, slow answers, outages), into the StUF double in each dialect, in its lenient mode: it
stores a second zaak or document with an identificatie it already has, as many StUF systems do, so only the
connector can keep things single. Counted at the double: one zaak per zaak the connector made, one document per
file of each message. A reservation whose answer was lost to a kill is a gap in the numbering, nothing more
(see ``tests/test_sink_stuf.py``); the figures printed say how many.
"""
from __future__ import annotations

import json
import os
import random

import pytest
import yaml

from connector.store import Store
from connector_doubles import mastodon
from connector_doubles.stuf import StufDouble, serve

from .conftest import FIXTURES
from .test_crash_recovery import ACCOUNT, KILLS, kill_and_restart, post_many

EXISTING = "ZAAK-2026-0000000042"   # the zaak the messages that quote it attach to


def write_config(tmp_path, masto_url, server, dialect: str) -> str:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    rules = (FIXTURES / "e2e" / "mappings" / "rules.yaml").read_text()
    (mappings / "rules.yaml").write_text(rules.replace("SOCIAL-MELDING", "SOCMELD").replace("SOCIAL-VRAAG", "SOCVRAAG"))
    config = {
        "store": str(tmp_path / "crash.db"), "mappings": str(mappings),
        "delivery": {"interval": 0.2, "batch_size": 20, "lease": 3, "max_attempts": 1000, "backoff_base": 0.2,
                     "backoff_max": 2, "pause_base": 0.5, "pause_max": 2, "breaker_threshold": 3,
                     "parent_grace": 0},  # the recorded replies answer other accounts' posts: no wait
        "channels": [{"name": "masto", "kind": "mastodon", "poll_interval": 0.5,
                      "options": {"base_url": masto_url, "account": ACCOUNT, "page_size": 40}}],
        "sinks": [{"name": "zaken", "kind": "stuf-zds", "parallel": 2, "options": {
            "dialect": dialect, "soap_version": "1.2" if dialect == "1.1" else "1.1", "timeout": 1.0,
            "beantwoord_vraag_url": server.endpoints["BeantwoordVraag"],
            "vrije_berichten_url": server.endpoints["VrijeBerichten"],
            "ontvang_asynchroon_url": server.endpoints["OntvangAsynchroon"],
            "zender": {"organisatie": "0392", "applicatie": "CONNECTOR"},
            "ontvanger": {"organisatie": "0392", "applicatie": "ZSH"},
            "initiator": {"rsin": "002220647", "naam": "Gemeente Voorbeeld"}}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("dialect", ["1.1", "1.2"])
def test_sigkill_and_outages_lose_nothing_and_double_nothing_through_stuf(tmp_path, dialect):
    double = StufDouble(dialect=dialect, lenient=True, zaak_prefix="SZ-")   # its numbers never meet EXISTING
    double.state.zaken.append({"identificatie": EXISTING, "omschrijving": "Losliggende tegels"})
    server = serve(double)
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "20261126")))
    masto = mastodon.MastodonDouble(data_dir=str(FIXTURES / "mastodon" / "replay"), rate_limit=100000)
    post_many(masto, rng)
    expected = len(masto.statuses(ACCOUNT))
    double.faults.error_rate(0.05, after_ratio=0.5, cut_ratio=0.3, seed=rng.randrange(10**6))
    double.faults.timeout_rate(0.02, seconds=1.5, seed=rng.randrange(10**6))
    double.faults.slow(0.05, seconds=0.3, seed=rng.randrange(10**6))
    store_path = tmp_path / "crash.db"
    try:
        with mastodon.serve(masto) as masto_server:
            config = write_config(tmp_path, masto_server.url, server, dialect)
            code, sent, _, kills, unexpected_exits = kill_and_restart(config, tmp_path, store_path, expected,
                                                                     double.faults, rng)
    finally:
        double.faults.clear()
        server.shutdown()
    measured = [claims for claims, _ in kills]
    store = Store(store_path)
    rows = store.query("select m.platform_id, m.message_json, d.state, d.rule, d.zaak_identificatie, d.documents_json"
                       " from deliveries d join messages m on m.id = d.message_id")
    store.close()
    census = double.census()
    delivered_rows = [r for r in rows if r["state"] == "delivered"]
    made = {r["zaak_identificatie"] for r in delivered_rows} - {EXISTING}
    documents = [d["identificatie"] for r in delivered_rows for d in json.loads(r["documents_json"])]
    doubled = {k: n for k, n in census["documents"].items() if n != 1}
    stray = set(census["documents"]) - set(documents)
    print(f"\nStUF {dialect} crash test (lenient double): {expected} messages; SIGKILLs sent {sent}, {len(measured)} hit"
          f" a worker holding claims ({sum(measured)} claims); injected faults {double.faults.injected};"
          f" lost {expected - len(delivered_rows)}; zaken made {len(made)} (arrived {sum(census['zaken'].values()) - 1});"
          f" documents {len(documents)} (arrived {sum(census['documents'].values())}, doubled {len(doubled)});"
          f" reservations {dict(census['reservations'])} (unused numbers are gaps)")
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert unexpected_exits == []
    assert len(measured) >= KILLS, f"only {len(measured)} of {sent} SIGKILLs hit a worker holding claims"
    assert len(rows) == expected and len(delivered_rows) == expected, [r["platform_id"] for r in rows
                                                                      if r["state"] != "delivered"][:10]
    assert all(census["zaken"][z] == 1 for z in made | {EXISTING}) and set(census["zaken"]) == made | {EXISTING}
    assert doubled == {} and stray == set() and len(documents) == len(set(documents)) == 2 * expected
    assert double.violations == []
