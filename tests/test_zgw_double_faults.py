"""Fault injection in the ZGW double: a case system under maintenance, on purpose.

No test here measures time. Pauses go through ``double.sleep``, replaced by a recorder (which
pause was asked for) or a gate (the call is held until the test lets it go); outages run on a
clock the test moves by hand. Waits have a generous guard against a hang, never a bound to prove.
"""
from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import time

import pytest
import requests

from connector_doubles.zgw import Faults
from connector_doubles.zgw.faults import InjectedFault
from connector_doubles.zgw.validation import SPEC_FILES, load_api

from .zgw_double_support import CRS, RSIN, SECRET, auth, iot_url

DOCUMENTS = "/enkelvoudiginformatieobjecten"


@pytest.fixture(scope="module", autouse=True)
def specs_loaded():
    for base in SPEC_FILES:   # keep spec loading out of the timings below
        load_api(base)


@pytest.fixture
def double(zgw_server):
    zgw_server[0].reset()
    yield zgw_server[0]
    zgw_server[0].reset()   # the session double must not keep injecting into other tests


@pytest.fixture
def server(zgw_server, double):
    return zgw_server[1]


def zaken(server, **params):
    return requests.get(f"{server.zaken_url}/zaken", headers=auth(**CRS),
                        params={"bronorganisatie": RSIN, **params}, timeout=10)


def post_document(server, body, timeout=10):
    return requests.post(f"{server.documenten_url}{DOCUMENTS}", json=body, headers=auth(),
                         timeout=timeout)


def identificaties(double):
    return [d["identificatie"] for d in double.documents]


GUARD = 10   # seconds: only ever a hang guard


def wait_for(condition, seconds=GUARD):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


class Gate:
    """A stand-in for ``double.sleep`` that holds each pause until :meth:`open` (at most GUARD s)."""

    def __init__(self):
        self.pauses = []
        self._open = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, seconds):
        self.pauses.append(seconds)
        self.entered.release()
        self._open.wait(GUARD)

    def open(self):
        self._open.set()


class Clock:
    """A clock for :class:`Faults` that moves only when told to."""

    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(double, monkeypatch):
    """The double's faults on a hand-moved clock (the original Faults come back afterwards)."""
    clock = Clock()
    monkeypatch.setattr(double, "faults", Faults(clock=clock))
    return clock


@pytest.fixture
def pauses(double, monkeypatch):
    """The pauses the double asks for, recorded instead of slept."""
    recorded = []
    monkeypatch.setattr(double, "sleep", recorded.append)
    return recorded


def assert_problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] and body["title"] and body["detail"]
    assert body["instance"].startswith("urn:uuid:")
    return body


# --- errors ---------------------------------------------------------------------------------

def test_error_before_the_handler_creates_nothing(server, double):
    body = create_body(server, "mastodon-1")
    double.faults.error_rate(1.0, statuses=(500,), methods=("POST",), after_ratio=0.0)
    response = post_document(server, body)
    body = assert_problem(response, 500)
    assert body["code"] == "error" and "Retry-After" not in response.headers
    assert response.headers["API-version"] == "1.4.3"
    assert double.documents == []
    assert double.faults.injected == {"error_before": 1}
    assert double.violations == []


def test_error_after_the_handler_created_the_object(server, double):
    body = create_body(server, "mastodon-2")
    double.faults.error_rate(1.0, statuses=(503,), methods=("POST",), after_ratio=1.0)
    response = post_document(server, body)
    assert_problem(response, 503)
    assert identificaties(double) == ["mastodon-2"]   # created, though the client saw a 503
    double.faults.clear()
    retry = post_document(server, body)   # a naive retry is refused
    assert retry.status_code == 400 and retry.json()["invalidParams"][0]["code"] == \
        "identificatie-niet-uniek"
    assert double.faults.injected == {"error_after": 1}
    assert double.violations == []


@pytest.mark.parametrize("status, retry_after", [(500, None), (502, None), (503, "1")])
def test_error_statuses_answer_spec_valid_problems(server, double, status, retry_after):
    # the specs declare 500 only; 502 and 503 bodies are checked as the operation's 500
    double.faults.error_rate(1.0, statuses=(status,))
    response = zaken(server)
    assert_problem(response, status)
    assert response.headers.get("Retry-After") == retry_after
    assert response.headers["API-version"] == "1.5.1"
    assert double.violations == []


def test_a_malformed_fault_body_is_still_a_violation(server, double, monkeypatch):
    # proves the injected answers really go through spec validation
    original = InjectedFault.body
    monkeypatch.setattr(InjectedFault, "body",
                        lambda self, root: {k: v for k, v in original(self, root).items()
                                            if k != "instance"})
    double.faults.error_rate(1.0, statuses=(503,))
    assert zaken(server).status_code == 503
    assert any("instance" in v for v in double.violations), double.violations


def test_error_rate_only_hits_the_given_methods(server, double):
    body = create_body(server, "mastodon-3")
    double.faults.error_rate(1.0, statuses=(502,), methods=("GET",))
    assert post_document(server, body).status_code == 201
    assert zaken(server).status_code == 502
    assert sum(double.faults.injected.values()) == 1


@pytest.mark.parametrize("after_ratio, created", [(0.0, []), (1.0, ["mastodon-4"])])
def test_cut_connection_before_or_after_the_handler(server, double, after_ratio, created):
    body = create_body(server, "mastodon-4")
    double.faults.error_rate(1.0, methods=("POST",), after_ratio=after_ratio, cut_ratio=1.0)
    with pytest.raises(requests.ConnectionError):
        post_document(server, body)
    assert identificaties(double) == created
    phase = "after" if after_ratio else "before"
    assert double.faults.injected == {f"cut_{phase}": 1}
    assert double.violations == []


def test_error_rate_splits_before_and_after(double):
    faults = Faults()
    faults.error_rate(0.5, after_ratio=0.25, seed=3)
    for _ in range(2000):
        faults.plan("POST", "/documenten/api/v1/enkelvoudiginformatieobjecten")
    counts = faults.injected
    failed = counts["error_before"] + counts["error_after"]
    assert 900 < failed < 1100
    assert 0.18 < counts["error_after"] / failed < 0.32


# --- timeouts, slowness ---------------------------------------------------------------------

def test_timeout_before_the_work_creates_the_object_late(server, double, monkeypatch):
    body = create_body(server, "mastodon-5")
    gate = Gate()
    monkeypatch.setattr(double, "sleep", gate)
    double.faults.timeout_rate(1.0, 0.6, methods=("POST",), after_ratio=0.0)
    with pytest.raises(requests.ReadTimeout):
        post_document(server, body, timeout=0.2)
    assert gate.entered.acquire(timeout=GUARD) and gate.pauses == [0.6]
    assert double.documents == []   # held before the work: the client gave up, nothing is done yet
    gate.open()
    assert wait_for(lambda: identificaties(double) == ["mastodon-5"])   # done after all, unseen
    assert double.faults.injected == {"timeout_before": 1}


def test_timeout_after_the_work_created_the_object_at_once(server, double, monkeypatch):
    body = create_body(server, "mastodon-6")
    gate = Gate()
    monkeypatch.setattr(double, "sleep", gate)
    double.faults.timeout_rate(1.0, 0.6, methods=("POST",), after_ratio=1.0)
    with pytest.raises(requests.ReadTimeout):
        post_document(server, body, timeout=0.2)
    assert gate.entered.acquire(timeout=GUARD) and gate.pauses == [0.6]
    assert identificaties(double) == ["mastodon-6"]   # held after the work: it is already there
    gate.open()
    assert double.faults.injected == {"timeout_after": 1}


def test_a_patient_client_gets_the_late_answer(server, double, pauses):
    double.faults.timeout_rate(1.0, 0.3)
    assert zaken(server).status_code == 200
    assert pauses == [0.3]
    assert double.faults.injected in ({"timeout_before": 1}, {"timeout_after": 1})
    assert double.violations == []


def test_slow_adds_latency_to_its_share_only(server, double, pauses):
    double.faults.slow(1.0, 0.3)
    assert zaken(server).status_code == 200
    assert pauses == [0.3]
    double.faults.slow(0.0, 5.0)
    assert zaken(server).status_code == 200
    assert pauses == [0.3]   # the second call was not slowed
    assert double.faults.injected == {"slow": 1}


# --- outage ---------------------------------------------------------------------------------

def test_outage_answers_503_until_it_ends(server, double, clock):
    body = create_body(server, "mastodon-7")
    double.faults.outage(0.4)
    assert double.faults.outage_active
    assert double.faults.outage_until == clock.now + 0.4
    during = zaken(server)
    assert_problem(during, 503)
    assert during.headers["Retry-After"] == "1"
    assert post_document(server, body).status_code == 503
    assert double.documents == []
    clock.now += 0.4
    assert not double.faults.outage_active
    assert zaken(server).status_code == 200
    assert post_document(server, body).status_code == 201
    assert double.faults.injected == {"outage": 2}
    assert double.violations == []


def test_outage_can_start_later_with_another_status(server, double, clock):
    double.faults.outage(5.0, status=500, start_in=0.3)
    assert zaken(server).status_code == 200 and not double.faults.outage_active
    clock.now += 0.35
    response = zaken(server)
    assert_problem(response, 500)
    assert response.headers["Retry-After"] == "5"   # 4.95 s left, rounded up
    clock.now += 5.0   # past its end
    assert zaken(server).status_code == 200


def test_outage_wins_over_routing(server, double):
    double.faults.outage(5.0)
    response = requests.get(f"{server.url}/no/such/api", headers=auth(), timeout=10)
    assert response.status_code == 503


# --- clear, reset, seed, arguments ----------------------------------------------------------

def test_clear_stops_faults_and_keeps_counters_reset_drops_both(server, double):
    double.faults.error_rate(1.0, statuses=(500,))
    double.faults.outage(60)
    assert zaken(server).status_code == 503
    double.faults.clear()
    assert zaken(server).status_code == 200
    assert double.faults.outage_until is None
    assert double.faults.injected == {"outage": 1}
    assert double.faults.events == [("GET", "/zaken/api/v1/zaken", "outage")]
    double.reset()
    assert double.faults.injected == {} and double.faults.events == []


def statuses(server, count=20):
    return [zaken(server).status_code for _ in range(count)]


def test_seed_makes_the_sequence_reproducible(server, double):
    double.faults.error_rate(0.5, seed=11)
    first = statuses(server)
    double.faults.error_rate(0.5, seed=11)
    assert statuses(server) == first
    double.faults.error_rate(0.5, seed=12)
    assert statuses(server) != first
    assert 200 in first and {500, 502, 503} & set(first)


def test_seeded_kinds_do_not_disturb_each_other(double):
    # adding a slow rule must not change which requests the error rule hits
    def errors(with_slow):
        faults = Faults()
        faults.error_rate(0.3, seed=5)
        if with_slow:
            faults.slow(0.5, 0.0, seed=9)
        plans = [faults.plan("GET", "/zaken/api/v1/zaken") for _ in range(50)]
        return [p.before or p.after for p in plans]
    assert [e and e.status for e in errors(False)] == [e and e.status for e in errors(True)]


@pytest.mark.parametrize("call", [
    lambda f: f.error_rate(1.5),
    lambda f: f.error_rate(0.5, statuses=(404,)),
    lambda f: f.error_rate(0.5, after_ratio=-0.1),
    lambda f: f.timeout_rate(2, 1.0),
])
def test_bad_settings_are_refused(call):
    with pytest.raises(ValueError):
        call(Faults())


# --- standalone -----------------------------------------------------------------------------

@pytest.mark.slow
def test_standalone_flags_inject_errors_and_an_outage():
    process = subprocess.Popen(
        [sys.executable, "-m", "connector_doubles.zgw", "--port", "0", "--secret", SECRET,
         "--client-id", "connector", "--no-validate", "--error-rate", "1", "--fault-seed", "1",
         "--outage-after", "1.5", "--outage-seconds", "60"], stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://\S+)", process.stdout.readline()).group(1)
        first = requests.get(f"{url}/zaken/api/v1/zaken", headers=auth(**CRS), timeout=10)
        assert first.status_code in (500, 502, 503)

        def in_outage():
            during = requests.get(f"{url}/zaken/api/v1/zaken", headers=auth(**CRS), timeout=10)
            return during.status_code == 503 and int(during.headers["Retry-After"]) > 50
        assert wait_for(in_outage)
    finally:
        process.terminate()
        process.wait(timeout=10)


def create_body(server, identificatie):
    """The JSON of a valid document create, for calls that need their own timeout."""
    return {"bronorganisatie": RSIN, "creatiedatum": "2026-02-01", "titel": "Toot",
            "auteur": "@inwoner@mastodon.example", "taal": "nld", "identificatie": identificatie,
            "informatieobjecttype": iot_url(server),
            "inhoud": base64.b64encode(b"Er ligt een tegel los.").decode()}
