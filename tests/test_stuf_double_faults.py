"""Fault injection in the StUF double, and the double started on its own."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests

from connector_doubles.stuf import StufDouble, serve
from connector_doubles.stuf.__main__ import build

from .conftest import ROOT
from .stuf_double_support import NS, answer, di02, edc_lk01, fout, make_zaak, post, valid, zak_lk01

DIALECT = "1.1"


@pytest.fixture(scope="module")
def running():
    double = StufDouble(dialect=DIALECT)
    server = serve(double)
    yield double, server
    server.shutdown()


@pytest.fixture
def double(running):
    running[0].reset()
    yield running[0]
    running[0].reset()


@pytest.fixture
def server(running, double):
    return running[1]


@pytest.fixture
def pauses(double, monkeypatch):
    recorded = []
    monkeypatch.setattr(double, "sleep", recorded.append)
    return recorded


def test_a_5xx_before_the_work_stores_nothing(server, double):
    double.faults.error_rate(1.0, statuses=(503,), after_ratio=0.0)
    response = post(server, DIALECT, "zaak", zak_lk01(DIALECT, "ZAAK-00001"))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "soap" not in response.headers["Content-Type"] and double.zaken == []
    assert double.faults.injected == {"error_before": 1} and double.violations == []


def test_a_500_after_the_work_is_a_soap_fault_yet_the_zaak_is_stored(server, double):
    double.faults.error_rate(1.0, statuses=(500,), after_ratio=1.0)
    response = post(server, DIALECT, "zaak", zak_lk01(DIALECT, "ZAAK-00001"))
    assert response.status_code == 500 and fout(response)[:3] == ("Fo03", "StUF058", "server")
    assert valid(answer(response), DIALECT)
    assert [z["identificatie"] for z in double.zaken] == ["ZAAK-00001"]
    assert double.faults.injected == {"error_after": 1}


@pytest.mark.parametrize("after_ratio, stored", [(0.0, 0), (1.0, 1)])
def test_a_cut_connection_before_or_after_the_work(server, double, after_ratio, stored):
    double.faults.error_rate(1.0, after_ratio=after_ratio, cut_ratio=1.0)
    with pytest.raises(requests.ConnectionError):
        post(server, DIALECT, "zaak", zak_lk01(DIALECT, "ZAAK-00001"))
    assert len(double.zaken) == stored


def test_an_outage_refuses_everything_for_a_while(server, double):
    double.faults.outage(30)
    response = post(server, DIALECT, "doc_id", di02(DIALECT))
    assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 29
    assert double.reservations == [] and double.faults.injected == {"outage": 1}
    double.faults.clear()
    assert post(server, DIALECT, "doc_id", di02(DIALECT)).status_code == 200


@pytest.mark.parametrize("after_ratio, expected", [(0.0, "timeout_before"), (1.0, "timeout_after")])
def test_a_timeout_pauses_before_or_after_the_work(server, double, pauses, after_ratio, expected):
    double.faults.timeout_rate(1.0, 40.0, after_ratio=after_ratio)
    assert post(server, DIALECT, "doc_id", di02(DIALECT)).status_code == 200
    assert pauses == [40.0] and double.faults.injected == {expected: 1}


def test_a_real_timeout_reaches_the_client_and_the_work_is_done_anyway(server, double):
    double.faults.timeout_rate(1.0, 1.0, after_ratio=1.0)
    with pytest.raises(requests.Timeout):
        post(server, DIALECT, "doc_id", di02(DIALECT), timeout=0.3)
    assert len(double.reservations) == 1


def test_slow_adds_latency(server, double, pauses):
    double.faults.slow(1.0, 0.25)
    post(server, DIALECT, "doc_id", di02(DIALECT))
    assert pauses == [0.25]


def test_an_injected_stuf_fault_is_answered_instead_of_the_work(server, double):
    double.faults.stuf_fault("StUF046", operations=("creeerZaak_Lk01",), times=1, omschrijving="Opslaan mislukt")
    assert post(server, DIALECT, "doc_id", di02(DIALECT)).status_code == 200   # another operation
    response = post(server, DIALECT, "zaak", zak_lk01(DIALECT, "ZAAK-00001", referentie="ref-z"))
    berichtcode, code, plek, text = fout(response)
    assert (berichtcode, code, plek) == ("Fo03", "StUF046", "server") and "Opslaan mislukt" in text
    assert answer(response).findtext(".//StUF:crossRefnummer", namespaces=NS) == "ref-z"
    assert double.zaken == [] and double.violations == []
    assert post(server, DIALECT, "zaak", zak_lk01(DIALECT, "ZAAK-00001")).status_code == 200   # times=1
    assert double.faults.events == [("POST", "/OntvangAsynchroon creeerZaak_Lk01", "stuf_fault")]


@pytest.mark.parametrize("kind", ["garbage", "empty", "html", "wrong_crossref"])
def test_a_bad_200_answer_comes_after_the_work(server, double, kind):
    make_zaak(server, DIALECT, "ZAAK-00001")
    double.faults.bad_answer(kind, operations=("voegZaakdocumentToe_Lk01",))
    response = post(server, DIALECT, "document", edc_lk01(DIALECT, "DOC-00001", "ZAAK-00001", referentie="ref-d"))
    assert response.status_code == 200 and double.census()["documents"] == {"DOC-00001": 1}
    if kind == "wrong_crossref":
        bv03 = answer(response)
        assert valid(bv03, DIALECT)
        assert bv03.findtext(".//StUF:crossRefnummer", namespaces=NS) not in (None, "ref-d")
    elif kind == "empty":
        assert response.content == b""
    else:
        with pytest.raises(Exception):
            answer(response)
    assert double.faults.injected == {"bad_answer": 1} and double.violations == []


def test_fault_settings_are_checked():
    double = StufDouble()
    with pytest.raises(ValueError):
        double.faults.bad_answer("nonsense")
    with pytest.raises(ValueError):
        double.faults.stuf_fault("StUF0550000")
    with pytest.raises(ValueError):
        StufDouble(dialect="2.0")
    with pytest.raises(ValueError):
        StufDouble(endpoints={"VrijeBerichten": "/same", "BeantwoordVraag": "/same"})


def test_the_command_line_builds_the_double_it_is_asked_for():
    double, args = build(["--dialect", "1.2", "--lenient", "--soap", "1.2", "--basic-auth", "u:p",
                          "--username-token", "t:q", "--error-rate", "0.5"])
    assert (double.dialect, double.lenient, double.basic_auth, double.username_token) == \
        ("1.2", True, ("u", "p"), ("t", "q"))
    assert args.soap == "1.2"


def test_the_double_runs_on_its_own(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "connector_doubles.stuf", "--port", "0", "--dialect", "1.2"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        line = process.stdout.readline()
        assert "StUF double (ZDS 1.2)" in line, line + process.stderr.read()
        url = line.rsplit(" ", 1)[1].strip()
        deadline = time.monotonic() + 10
        while True:
            try:
                response = requests.get(url + "/VrijeBerichten", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 405
    finally:
        process.terminate()
        process.wait(timeout=10)
