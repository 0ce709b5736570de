"""The ZGW double refuses and records what the specs forbid; pagination, concurrency, latency, reset, standalone."""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import pytest
import requests

from connector_doubles.zgw import ZgwDouble, serve


from .zgw_double_support import CRS, RSIN, SECRET, auth, create_document, invalid_param
from .zgw_double_support import double, running, server, specs_loaded  # noqa: F401 (fixtures)


# --- spec validation ------------------------------------------------------------------------

@pytest.mark.parametrize("change, field, code", [
    ({"taal": "nederlands"}, "taal", "max_length"),
    ({"titel": None}, "titel", "required"),
    ({"vertrouwelijkheidaanduiding": "topgeheim"}, "vertrouwelijkheidaanduiding", "invalid_choice"),
])
def test_request_violating_spec_is_refused_and_recorded(server, double, change, field, code):
    param = invalid_param(create_document(server, **change))
    assert (param["name"], param["code"]) == (field, code)
    assert len(double.violations) == 1
    assert double.violations[0].startswith(
        "POST /documenten/api/v1/enkelvoudiginformatieobjecten: request:")
    assert field in double.violations[0]
    assert double.documents == []


def test_get_zaken_without_content_crs_violates_the_spec(server, double):
    # VNG Zaken 1.5.1 marks Content-Crs required even on GET /zaken (Open Zaak does not care)
    response = requests.get(f"{server.zaken_url}/zaken", headers=auth(**{"Accept-Crs": "EPSG:4326"}))
    assert invalid_param(response)["name"] == "Content-Crs"
    assert len(double.violations) == 1


def test_broken_response_of_the_double_is_recorded(server, double, monkeypatch):
    stored = next(iter(double.state.zaken.values()))
    monkeypatch.delitem(stored, "bronorganisatie")   # a required field of Zaak
    response = requests.get(f"{server.zaken_url}/zaken/{stored['uuid']}", headers=auth(**CRS))
    assert response.status_code == 200
    assert len(double.violations) == 1
    assert "response 200" in double.violations[0] and "bronorganisatie" in double.violations[0]


def test_operation_outside_the_double_is_refused_and_recorded(server, double):
    response = requests.delete(f"{server.zaken_url}/zaken", headers=auth(**CRS))
    assert response.status_code == 405
    assert double.violations == [
        "DELETE /zaken/api/v1/zaken: request: 405: no such operation in the specs, "
        "or not implemented by the double"]


def test_missing_token_is_also_a_spec_violation(server, double):
    requests.get(f"{server.catalogi_url}/catalogussen")
    assert len(double.violations) == 1 and "Authorization" in double.violations[0]


def test_without_validation_nothing_is_recorded(specs_loaded):
    double = ZgwDouble(secret=SECRET, validate=False)
    server = serve(double)
    try:
        response = requests.get(f"{server.zaken_url}/zaken", headers=auth(**{"Accept-Crs": "EPSG:4326"}))
        assert response.status_code == 200
        assert double.violations == []
    finally:
        server.shutdown()


# --- pagination, concurrency, latency, reset ------------------------------------------------

def test_pagination_follows_next_and_keeps_filters(specs_loaded):
    double = ZgwDouble(secret=SECRET, page_size=2)
    server = serve(double)
    try:
        first = requests.get(f"{server.zaken_url}/zaken", params={"bronorganisatie": RSIN},
                             headers=auth(**CRS)).json()
        assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
        assert "bronorganisatie=" + RSIN in first["next"]
        second = requests.get(first["next"], headers=auth(**CRS)).json()
        assert len(second["results"]) == 1 and second["next"] is None
        assert second["previous"] is not None
        identificaties = {z["identificatie"] for z in first["results"] + second["results"]}
        assert identificaties == {z["identificatie"] for z in double.zaken}
        beyond = requests.get(f"{server.zaken_url}/zaken", params={"page": 3}, headers=auth(**CRS))
        assert beyond.status_code == 404
    finally:
        server.shutdown()


def test_concurrent_posts_of_same_identificatie_create_one_document(server, double):
    statuses = []

    def post():
        statuses.append(create_document(server, identificatie="mastodon-race").status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [400] * 7
    assert len(double.documents) == 1
    assert double.violations == []


def test_latency_is_added_per_call(running, monkeypatch):
    double, server = running
    pauses = []
    monkeypatch.setattr(double, "sleep", pauses.append)   # recorded, not slept
    monkeypatch.setattr(double, "latency", 0.2)
    requests.get(f"{server.catalogi_url}/catalogussen", headers=auth())
    requests.get(f"{server.catalogi_url}/zaaktypen", headers=auth())
    assert pauses == [0.2, 0.2]


def test_pauses_are_real_sleeps_unless_a_test_says_otherwise():
    assert ZgwDouble().sleep is time.sleep


def test_reset_returns_to_seed(server, double):
    create_document(server)
    requests.get(f"{server.zaken_url}/zaken", headers=auth())  # a violation and a 412
    double.reset()
    assert double.documents == [] and double.violations == [] and double.requests == []
    assert "ZAAK-2026-0000000042" in {z["identificatie"] for z in double.zaken}


# --- standalone -----------------------------------------------------------------------------

@pytest.mark.slow
def test_module_runs_standalone_from_any_directory(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "connector_doubles.zgw", "--port", "0", "--secret", SECRET,
         "--client-id", "connector"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        url = re.search(r"(http://\S+)", first).group(1)
        lines = [process.stdout.readline() for _ in range(3)]
        assert f"{url}/zaken/api/v1" in "".join(lines)
        zaken = requests.get(f"{url}/zaken/api/v1/zaken", headers=auth(**CRS),
                             params={"identificatie": "ZAAK-2026-0000000042"}, timeout=10)
        assert zaken.status_code == 200 and zaken.json()["count"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
