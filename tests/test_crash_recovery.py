"""Nothing lost, nothing doubled: the worker killed at random (SIGKILL) while the case system misbehaves.

A run of 300+ messages (recorded statuses plus clones posted on the local Mastodon, with replies
and quoted zaak numbers) is delivered by `connector worker` in a subprocess. Meanwhile the ZGW
double answers a share of calls with 500/502/503 (before or after doing the work), lets some time
out, slows some down, and goes down completely for a few seconds now and then; and the worker is
killed with SIGKILL at random moments and restarted each time.

Kills are measured, not assumed: a kill counts only when it hit a live worker that held claimed
deliveries (``in_progress``, claimed after it started) at the moment it died; the test goes on
killing until ``CRASH_TEST_KILLS`` (20) such kills happened.

Duplicates are counted client-side, per message, in what arrived at the double: one zaak per
intended zaak, one document per file (rendition, original), one link each. The test runs twice:

* ``strict``: the double refuses a second identificatie or link with 400, as Open Zaak 1.21.0
  does; the connector must recover from those answers and end with exactly one of each.
* ``lenient``: the double stores whatever arrives, as case systems without uniqueness rules do
  (many StUF systems); here only the connector itself can keep things single.

It prints its figures (``pytest tests/test_crash_recovery.py -s``). Below it, each crash window
on its own, in-process and deterministic, against a lenient double: a SIGKILL after each step's
create, an answer lost after the work, a zaak create held past the client's timeout; each retry
is first put back (the earlier POST may still be settling), then, later, finds what was created.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import yaml

from connector_doubles import mastodon, zgw
from connector_doubles.zgw.faults import Plan
from connector_doubles.zgw.validation import SPEC_FILES, load_api
from connector.failures import Failed
from connector.message import Message, iso, utcnow
from connector.sinks import MemorySteps
from connector.sinks.zgw import ZgwSink, document_identificatie, zaak_identificatie
from connector.store import Store

from .conftest import FIXTURES, ZGW_SECRET, assert_deferred, later

ACCOUNT = "schochastics"
KILLS = int(os.environ.get("CRASH_TEST_KILLS", "20"))
MAX_KILL_ATTEMPTS = 4 * KILLS   # a bound on the loop, so a worker that never claims cannot hang it
EXTRA_MESSAGES = 290
ROLES = ("rendition", "original")


class DuplicatesFound(AssertionError):
    """The connector created something twice (only a lenient case system lets that show)."""


# Closed: the ZGW sink marks each document and link create as sent before its POST, and a retry
# that finds the mark without a result looks the item up before creating it (ZgwSink._create_once).


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


def busy_channel_and_faults(double, rng: random.Random, errors: float, timeouts: float):
    """The replayed channel with over 300 posts (:func:`post_many`) and the case system's faults, drawn
    from ``rng``: a share ``errors`` of calls fail (some after the work), ``timeouts`` time out, 5% are slow."""
    masto = mastodon.MastodonDouble(data_dir=str(FIXTURES / "mastodon" / "replay"), rate_limit=100000)
    post_many(masto, rng)
    assert len(masto.statuses(ACCOUNT)) >= 300
    double.faults.error_rate(errors, after_ratio=0.5, cut_ratio=0.3, seed=rng.randrange(10**6))
    double.faults.timeout_rate(timeouts, seconds=1.5, seed=rng.randrange(10**6))
    double.faults.slow(0.05, seconds=0.3, seed=rng.randrange(10**6))
    return masto


def write_config(tmp_path, masto_url, server, store: str | None = None, **extra) -> str:
    """``connector.yaml`` for the crash tests: ``store`` (default ``crash.db`` in ``tmp_path``); ``extra``
    top-level sections added as they are (the PostgreSQL test's ``limits``)."""
    config = {
        "store": store or str(tmp_path / "crash.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "delivery": {"interval": 0.2, "batch_size": 20, "lease": 3, "max_attempts": 1000, "backoff_base": 0.2,
                     "backoff_max": 2, "pause_base": 0.5, "pause_max": 2, "breaker_threshold": 3,
                     "parent_grace": 0},  # the recorded replies answer other accounts' posts: no wait
        "channels": [{"name": "masto", "kind": "mastodon", "poll_interval": 0.5,
                      "options": {"base_url": masto_url, "account": ACCOUNT, "page_size": 40}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "parallel": 2, "options": {
            "zaken_url": server.zaken_url, "documenten_url": server.documenten_url,
            "catalogi_url": server.catalogi_url, "client_id": "connector", "secret": "${CRASH_ZGW_SECRET}",
            "bronorganisatie": "002220647", "timeout": 1.0}}],
        **extra,
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def start_worker(config: str, log, **more_env):
    """``connector worker`` in a subprocess, and the store-clock time just before it started; ``more_env``
    goes into its environment too (the PostgreSQL test's ``PGPASSWORD``)."""
    env = {"CRASH_ZGW_SECRET": ZGW_SECRET, "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", **more_env}
    started = iso(utcnow())
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "worker", "--config", config],
                            env=env, stdout=log, stderr=subprocess.STDOUT), started


def read_store(store_path, sql: str, params=()) -> list[dict]:
    store = Store(store_path)
    try:
        return store.query(sql, list(params))
    finally:
        store.close()


def held_claims(store_path, since: str) -> int:
    """Deliveries a dead worker held: still ``in_progress`` and last changed after it started.

    Called while no worker runs, so nothing can change them between the kill and this count;
    claims left by earlier workers (their lease not yet run out) changed before ``since``.
    """
    return read_store(store_path, "select count(*) as n from deliveries where state = 'in_progress'"
                      " and updated_at >= ?", [since])[0]["n"]


def delivered_count(store_path) -> tuple[int, int]:
    messages = read_store(store_path, "select count(*) as n from messages")[0]["n"]
    delivered = read_store(store_path, "select count(*) as n from deliveries where state = 'delivered'")[0]["n"]
    return messages, delivered


def kill_and_restart(config: str, tmp_path, store_path, expected: int, faults, rng, in_flight=lambda: 0):
    """Run ``connector worker`` on ``config``, SIGKILL it at random moments (now and then with an outage
    of the case system's ``faults``) and restart it, until ``KILLS`` kills hit a live worker holding
    claims; then wait (bounded) until all ``expected`` messages are delivered, and stop it with SIGTERM.

    Returns ``(exit code of the last worker, kills sent, outages, [(claims held, calls in flight)] per
    kill that counted, exit codes of workers that died on their own)``."""
    sent = outages = 0
    measured, unexpected_exits = [], []
    with open(tmp_path / "worker.log", "wb") as log:
        worker, started = start_worker(config, log)
        try:
            while len(measured) < KILLS and sent < MAX_KILL_ATTEMPTS:
                time.sleep(rng.uniform(0.5, 2.5))
                if rng.random() < 0.2:
                    faults.outage(rng.uniform(1.0, 3.0))
                    outages += 1
                alive = worker.poll() is None
                open_calls = in_flight()
                worker.send_signal(signal.SIGKILL)
                code = worker.wait(timeout=10)
                sent += 1
                if not alive or code != -signal.SIGKILL:
                    unexpected_exits.append(code)
                elif store_path.exists() and (claims := held_claims(store_path, started)):
                    measured.append((claims, open_calls))
                worker, started = start_worker(config, log)
            deadline = time.monotonic() + 300   # a bound on waiting, not an assertion on time
            while time.monotonic() < deadline:
                messages, delivered = delivered_count(store_path)
                if messages == expected and delivered == expected:
                    break
                time.sleep(0.5)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
    return code, sent, outages, measured, unexpected_exits


def duplicate_report(rows: list[dict], double) -> tuple[dict, list[str]]:
    """Count, per message, what arrived in the case system beyond one of each.

    ``rows``: the delivered messages with their zaak and documents as the connector recorded
    them; ``double``: the case system, read through :meth:`ZgwDouble.census` and its documents.
    Returns duplicates per kind (``zaken``, ``documents``, ``links``) and a readable line for
    each message or zaak that has any.
    """
    census = double.census()
    copies = {}   # document identificatie -> URLs of every copy that arrived
    for document in double.documents:
        copies.setdefault(document["identificatie"], set()).add(document["url"])
    links_per_document = Counter()
    for (_, document_url), count in census["links"].items():
        links_per_document[document_url] += count
    intended_zaken = {r["zaak_identificatie"] for r in rows if r["zaak_identificatie"].startswith("SOC-Z-")}
    duplicates = Counter(zaken=0, documents=0, links=0)
    findings = []
    for identificatie, count in census["zaken"].items():
        if identificatie.startswith("SOC-Z-") and (count > 1 or identificatie not in intended_zaken):
            extra = count - 1 if identificatie in intended_zaken else count
            duplicates["zaken"] += extra
            findings.append(f"zaak {identificatie}: arrived {count}x")
    for row in rows:
        message = Message.from_dict(json.loads(row["message_json"]))
        recorded = {d["role"]: d for d in json.loads(row["documents_json"])}
        for role in ROLES:
            identificatie = document_identificatie(message, role)
            arrived = census["documents"][identificatie]
            document = recorded[role]
            assert document["identificatie"] == identificatie, (message.id, role, document)
            if arrived != 1:
                duplicates["documents"] += arrived - 1
                findings.append(f"message {message.id}: {role} {identificatie} arrived {arrived}x")
            # the recorded copy is linked into the message's zaak; every link to any copy counts
            assert census["links"][(row["zaak_url"], document["url"])] >= 1, \
                f"message {message.id}: {role} not linked into its zaak"
            all_links = sum(links_per_document[url] for url in copies.get(identificatie, ()))
            if all_links != 1:
                duplicates["links"] += all_links - 1
                findings.append(f"message {message.id}: {role} linked {all_links}x")
    return dict(duplicates), findings


@pytest.fixture(params=[False, True], ids=["strict", "lenient"])
def case_system(request):
    """A ZGW double of its own for one crash test: strict (Open Zaak's uniqueness rules) or lenient."""
    double = zgw.ZgwDouble(secret=ZGW_SECRET, client_ids=("connector",),
                           seed=str(FIXTURES / "zgw" / "catalogus.yaml"), lenient=request.param)
    server = zgw.serve(double)
    yield double, server
    double.faults.clear()
    server.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_and_outages_lose_nothing_and_double_nothing(tmp_path, case_system, request):
    double, server = case_system
    mode = "lenient" if double.lenient else "strict"
    rng = random.Random(int(os.environ.get("CRASH_TEST_SEED", "20261122")))
    masto = busy_channel_and_faults(double, rng, errors=0.05, timeouts=0.02)
    expected = len(masto.statuses(ACCOUNT))
    store_path = tmp_path / "crash.db"
    with mastodon.serve(masto) as masto_server:
        config = write_config(tmp_path, masto_server.url, server)
        run = kill_and_restart(config, tmp_path, store_path, expected, double.faults, rng, lambda: double.in_flight)
    code, sent, outages, measured, unexpected_exits = run
    store = Store(store_path)
    rows = store.query("select m.platform_id, m.message_json, d.state, d.rule, d.zaak_url, d.zaak_identificatie,"
                       " d.documents_json from deliveries d join messages m on m.id = d.message_id")
    retries = store.query("select count(*) as n from events where kind = 'delivery.retry_wait'")[0]["n"]
    reclaims = store.query("select count(*) as n from events where kind = 'delivery.in_progress'"
                           " and detail_json like '%reclaimed%'")[0]["n"]
    pauses = store.query("select count(*) as n from events where kind = 'sink.paused'")[0]["n"]
    store.close()
    missing = [r["platform_id"] for r in rows if r["state"] != "delivered"]
    lost = expected - len(rows) + len(missing)
    duplicates, findings = duplicate_report([r for r in rows if r["state"] == "delivered"], double)
    print(f"\ncrash test ({mode} case system): {expected} messages; SIGKILLs sent {sent}, of which {len(measured)}"
          f" hit a live worker holding claimed deliveries ({sum(c for c, _ in measured)} claims in all;"
          f" {sum(1 for _, o in measured if o)} with ZGW calls open at the double); {outages} outages,"
          f" {retries} retries, {reclaims} reclaimed leases, {pauses} sink pauses;"
          f" injected faults {double.faults.injected}; lost {lost}; duplicates per kind {duplicates}")
    # creates the case system did although the connector never saw the answer (it gave up after 1 s)
    unseen = Counter(path.rsplit("/", 1)[-1] for method, path, kind in double.faults.events
                     if method == "POST" and kind in ("error_after", "cut_after", "timeout_after", "timeout_before"))
    print(f"  POSTs done by the case system but answered with a fault or too late: {dict(unseen)}")
    for line in findings[:20]:
        print(f"  duplicate: {line}")

    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert unexpected_exits == []
    assert len(measured) >= KILLS, f"only {len(measured)} of {sent} SIGKILLs hit a worker holding claims"
    # a worker holds no more than its sink's slots (parallel: 2), not a whole batch (batch_size: 20)
    assert max(claims for claims, _ in measured) <= 2, measured
    assert lost == 0, missing[:10]
    assert len(rows) == expected
    # a reply shares its parent's zaak
    zaak_of = {row["platform_id"]: row["zaak_url"] for row in rows}
    for row in rows:
        parent = json.loads(row["message_json"])["in_reply_to"]
        if row["rule"] == "replies" and parent in zaak_of:
            assert row["zaak_url"] == zaak_of[parent]
    assert double.violations == []
    if any(duplicates.values()):
        raise DuplicatesFound(f"{mode}: duplicates per kind {duplicates}; first: {findings[:5]}")
    # and nothing else arrived either: exactly two documents and two links per message
    assert len(double.documents) == 2 * expected
    assert len(double.zaakinformatieobjecten) == 2 * expected


# --- each crash window on its own, in-process, against a lenient case system ---------------------

@pytest.fixture
def lenient_sink():
    """A ZGW sink delivering into a lenient double of its own: ``(sink, double)``."""
    from tests.zgw_sink_support import base_options

    double = zgw.ZgwDouble(secret=ZGW_SECRET, client_ids=("connector",),
                           seed=str(FIXTURES / "zgw" / "catalogus.yaml"), lenient=True)
    server = zgw.serve(double)
    for base in SPEC_FILES:   # load the specs before the first call (a short timeout is tested below)
        load_api(base)
    options = base_options(zaken_url=server.zaken_url, documenten_url=server.documenten_url,
                           catalogi_url=server.catalogi_url)
    yield (lambda timeout=10.0: ZgwSink("zaaksysteem", {**options, "timeout": timeout})), double
    server.shutdown()


def assert_one_of_each(double, message, delivered) -> None:
    """Exactly one zaak, one document per role and one link per document arrived; else DuplicatesFound."""
    census = double.census()
    arrived = {"zaak": census["zaken"][zaak_identificatie(message)],
               **{role: census["documents"][document_identificatie(message, role)] for role in ROLES},
               "links": sum(census["links"].values())}
    if arrived != {"zaak": 1, "rendition": 1, "original": 1, "links": 2}:
        raise DuplicatesFound(f"arrived: {arrived}")
    assert {url for _, url in census["links"]} == {d.url for d in delivered.documents}
    assert double.violations == []


@pytest.mark.parametrize("crash_after", [
    "zaak",
    "document:rendition",
    "link:rendition",
    "document:original",
    "link:original",
])
def test_sigkill_between_a_create_and_saving_it_creates_nothing_twice(lenient_sink, crash_after):
    """The worker dies after the case system created something and before the step was saved."""
    from tests.test_rendition import load_message
    from tests.zgw_sink_support import CREATE, Crash, CrashingSteps

    new_sink, double = lenient_sink
    message, steps = load_message(), CrashingSteps(crash_after)
    with pytest.raises(Crash):
        new_sink().deliver(message, CREATE, steps)
    # an unsure create is looked up only once its POST has settled at the case system
    assert_deferred(lambda: new_sink().deliver(message, CREATE, steps))
    later(steps)
    delivered = new_sink().deliver(message, CREATE, steps)   # the next worker resumes
    assert_one_of_each(double, message, delivered)


@pytest.mark.parametrize("path", [
    "/zaken/api/v1/zaken",
    "/documenten/api/v1/enkelvoudiginformatieobjecten",
    "/zaken/api/v1/zaakinformatieobjecten",
])
def test_an_answer_lost_after_the_work_creates_nothing_twice(lenient_sink, path):
    """The case system created it, then answered 503 (a proxy, a restart): the sink retries."""
    from tests.test_rendition import load_message
    from tests.zgw_sink_support import CREATE

    new_sink, double = lenient_sink
    message, steps = load_message(), MemorySteps()
    original_plan = double.faults.plan
    double.faults.error_rate(1.0, statuses=(503,), methods=("POST",), after_ratio=1.0)

    def plan_for_one_path(method, request_path):   # the fault hits only the first POST to `path`
        if request_path != path or double.faults.injected:
            return Plan()
        return original_plan(method, request_path)

    double.faults.plan = plan_for_one_path
    with pytest.raises(Failed):
        new_sink().deliver(message, CREATE, steps)
    assert double.faults.injected == {"error_after": 1}
    assert_deferred(lambda: new_sink().deliver(message, CREATE, steps))
    later(steps)
    delivered = new_sink().deliver(message, CREATE, steps)
    assert_one_of_each(double, message, delivered)


def test_a_zaak_create_held_past_the_client_timeout_is_not_made_twice(lenient_sink):
    """The first POST /zaken waits in the case system longer than the sink's timeout. A lookup made
    at once could not see it yet (and the retry would create the zaak, then the held create lands
    too), so the retry waits until the earlier POST has settled, then looks it up."""
    from tests.test_rendition import load_message
    from tests.zgw_sink_support import CREATE

    new_sink, double = lenient_sink
    message, steps = load_message(), MemorySteps()
    held, release = threading.Event(), threading.Event()
    double.faults.timeout_rate(1.0, 5.0, methods=("POST",), after_ratio=0.0)
    double.sleep = lambda seconds: (held.set(), release.wait(10))
    with pytest.raises(Failed):
        new_sink(timeout=0.5).deliver(message, CREATE, steps)   # gives up while the create is held
    assert held.wait(10)
    double.faults.clear()
    assert_deferred(lambda: new_sink().deliver(message, CREATE, steps))   # too early: still held
    release.set()   # the held create goes ahead now
    deadline = time.monotonic() + 10   # a hang guard
    while double.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    later(steps)   # the retry, once the earlier POST has settled
    delivered = new_sink().deliver(message, CREATE, steps)
    assert_one_of_each(double, message, delivered)
