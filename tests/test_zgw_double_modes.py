"""The ZGW double's modes: lenient (duplicates accepted and counted), latency profiles, in-flight calls.

No test here measures time: pauses go through ``double.sleep``, which the tests replace by a
recorder (what pause was asked for) or a gate (a call held until the test lets it go).
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading

import pytest
import requests

from connector_doubles.zgw import PROFILES, LatencyProfile, ZgwDouble, serve
from connector_doubles.zgw.__main__ import build

from .zgw_double_support import (CRS, RSIN, SECRET, auth, create_document, link, seeded_zaak,  # noqa: F401
                                 specs_loaded, zaaktype_url)

GUARD = 10   # seconds a gate waits at most: a hang guard, never a measurement


@pytest.fixture
def make(specs_loaded):
    """Start doubles of one's own (``make(lenient=True, ...)``); all are shut down afterwards."""
    running = []

    def start(**options):
        double = ZgwDouble(secret=SECRET, client_ids=("connector",), **options)
        server = serve(double)
        running.append(server)
        return double, server

    yield start
    for server in running:
        server.shutdown()


def recorder(double) -> list[float]:
    """Replace the double's sleep by a list of the pauses asked for (returned)."""
    pauses = []
    double.sleep = pauses.append
    return pauses


def create_zaak(server, identificatie):
    return requests.post(f"{server.zaken_url}/zaken", headers=auth(**CRS), timeout=GUARD, json={
        "bronorganisatie": RSIN, "verantwoordelijkeOrganisatie": RSIN, "identificatie": identificatie,
        "zaaktype": zaaktype_url(server), "startdatum": "2026-02-01"})


# --- lenient --------------------------------------------------------------------------------

@pytest.mark.parametrize("lenient", [False, True], ids=["strict", "lenient"])
def test_a_second_zaak_document_and_link_are_refused_or_kept_and_counted(make, lenient):
    double, server = make(lenient=lenient)
    zaak = seeded_zaak(server)["url"]
    assert create_zaak(server, "SOC-Z-dup").status_code == 201
    assert create_document(server, identificatie="SOC-R-dup").status_code == 201
    document = double.documents[0]["url"]
    assert link(server, zaak, document).status_code == 201

    second = [create_zaak(server, "SOC-Z-dup"), create_document(server, identificatie="SOC-R-dup"),
              link(server, zaak, document)]

    census = double.census()
    if lenient:
        assert [r.status_code for r in second] == [201, 201, 201]
        assert census["zaken"]["SOC-Z-dup"] == 2
        assert census["documents"]["SOC-R-dup"] == 2
        assert census["links"][(zaak, document)] == 2
    else:
        assert [r.status_code for r in second] == [400, 400, 400]
        assert [r.json()["invalidParams"][0]["code"] for r in second] == [
            "identificatie-niet-uniek", "identificatie-niet-uniek", "unique"]
        assert census["zaken"]["SOC-Z-dup"] == 1
        assert census["documents"]["SOC-R-dup"] == 1
        assert census["links"][(zaak, document)] == 1
    assert double.violations == []


def test_lenient_lookups_list_every_copy(make):
    double, server = make(lenient=True)
    for _ in range(2):
        assert create_document(server, identificatie="SOC-O-twice").status_code == 201
    listed = requests.get(f"{server.documenten_url}/enkelvoudiginformatieobjecten", headers=auth(),
                          params={"identificatie": "SOC-O-twice", "bronorganisatie": RSIN}, timeout=GUARD)
    assert listed.json()["count"] == 2
    assert len({d["url"] for d in listed.json()["results"]}) == 2
    assert double.violations == []


def test_lenient_keeps_every_other_rule(make):
    double, server = make(lenient=True)
    refused = create_document(server, identificatie="SOC-R-x", bronorganisatie="123456789")
    assert refused.status_code == 400
    assert refused.json()["invalidParams"][0]["name"] == "bronorganisatie"
    assert double.census()["documents"] == {}


def test_census_of_the_seed_counts_each_seeded_zaak_once(make):
    double, _ = make()
    census = double.census()
    assert set(census["zaken"].values()) == {1} and census["documents"] == {} and census["links"] == {}
    assert set(census["zaken"]) == {z["identificatie"] for z in double.zaken}


# --- latency profile ------------------------------------------------------------------------

@pytest.mark.parametrize("method, path, seconds", [
    ("GET", "/zaken/api/v1/zaken", 0.055),
    ("POST", "/documenten/api/v1/enkelvoudiginformatieobjecten", 0.080),
    ("POST", "/zaken/api/v1/zaakinformatieobjecten", 0.125),
    ("GET", "/zaken/api/v1/zaken/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", 0.020),
    ("GET", "/catalogi/api/v1/zaaktypen", 0.040),
    ("DELETE", "/zaken/api/v1/zaken/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", 0.080),
])
def test_openzaak_profile_gives_each_call_its_time(method, path, seconds):
    assert LatencyProfile("openzaak").seconds(method, path) == seconds


def test_every_profile_time_is_within_what_open_zaak_was_measured_at():
    # ../shared/specs/zgw/README.md: reads 15-55 ms, writes 40-140 ms per call
    for method, _, seconds in PROFILES["openzaak"]:
        low, high = (0.015, 0.055) if method == "GET" else (0.040, 0.140)
        assert low <= seconds <= high, (method, seconds)


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="openzaak"):
        ZgwDouble(latency_profile="fast-as-light")


def test_the_double_pauses_each_call_by_its_profile_plus_latency(make):
    double, server = make(latency_profile="openzaak")
    pauses = recorder(double)
    zaak = seeded_zaak(server)["url"]                       # GET /zaken?identificatie=
    document = create_document(server).json()["url"]       # GET informatieobjecttypen, POST document
    assert link(server, zaak, document).status_code == 201  # POST link
    assert pauses == [0.055, 0.040, 0.080, 0.125]
    double.latency = 0.01
    seeded_zaak(server)
    assert pauses[-1] == pytest.approx(0.065)
    assert double.violations == []


def test_no_profile_and_no_latency_means_no_pause(make):
    double, server = make()
    pauses = recorder(double)
    seeded_zaak(server)
    assert pauses == []


# --- calls in flight, overlapping pauses ----------------------------------------------------

def test_in_flight_counts_the_calls_being_handled(make):
    double, server = make(latency=0.5)
    entered, release = threading.Semaphore(0), threading.Event()
    double.sleep = lambda seconds: (entered.release(), release.wait(GUARD))
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(seeded_zaak(server))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert entered.acquire(timeout=GUARD)
    assert double.in_flight == 3
    release.set()
    for thread in threads:
        thread.join(GUARD)
    assert len(answers) == 3 and double.in_flight == 0


def test_latency_pauses_of_concurrent_calls_overlap(make):
    # all four calls must be in their pause at the same moment for the barrier to open; a pause
    # taken under a lock would let one in at a time, break the barrier and fail the calls
    double, server = make(latency=0.2, validate=False)
    barrier = threading.Barrier(4)
    pauses = []
    double.sleep = lambda seconds: (pauses.append(seconds), barrier.wait(GUARD))
    codes = []
    threads = [threading.Thread(target=lambda: codes.append(requests.get(
        f"{server.catalogi_url}/zaaktypen", headers=auth(), timeout=GUARD).status_code)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD)
    assert codes == [200] * 4 and pauses == [0.2] * 4 and not barrier.broken


# --- command line ---------------------------------------------------------------------------

def test_command_line_builds_a_lenient_double_with_the_openzaak_profile(specs_loaded):
    double, _ = build(["--lenient", "--latency-profile", "openzaak", "--latency", "0.01", "--no-validate"])
    assert double.lenient and double.latency_profile.name == "openzaak"
    assert double.pause_for("POST", "/zaken/api/v1/zaakinformatieobjecten") == pytest.approx(0.135)
    plain, _ = build(["--no-validate"])
    assert not plain.lenient and plain.latency_profile is None
    assert plain.pause_for("POST", "/zaken/api/v1/zaakinformatieobjecten") == 0.0


def test_command_line_refuses_an_unknown_profile(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build(["--latency-profile", "slowest"])
    assert exit_info.value.code == 2
    assert "openzaak" in capsys.readouterr().err


@pytest.mark.slow
def test_standalone_lenient_double_accepts_a_duplicate(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "connector_doubles.zgw", "--port", "0", "--secret", SECRET,
         "--client-id", "connector", "--no-validate", "--lenient", "--latency-profile", "openzaak"],
        cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://\S+)", process.stdout.readline()).group(1)
        banner = "".join(process.stdout.readline() for _ in range(5))
        assert "latency profile openzaak" in banner and "lenient" in banner

        class Server:
            zaken_url = f"{url}/zaken/api/v1"
            documenten_url = f"{url}/documenten/api/v1"
            catalogi_url = f"{url}/catalogi/api/v1"

        statuses = [create_document(Server, identificatie="SOC-R-standalone").status_code for _ in range(2)]
        assert statuses == [201, 201]
    finally:
        process.terminate()
        process.wait(timeout=GUARD)
