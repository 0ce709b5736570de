"""The ZGW double, driven the way a client drives Open Zaak: plain requests + PyJWT."""
from __future__ import annotations

import base64
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import jwt
import pytest
import requests

from connector_doubles.zgw import ZgwDouble, serve
from connector_doubles.zgw.validation import SPEC_DIR, SPEC_FILES, load_api

from .conftest import SHARED, ZGW_SECRET

REPO = Path(__file__).resolve().parents[1]
SHARED_SPECS = SHARED / "specs" / "zgw"
SECRET = ZGW_SECRET  # the shared double in conftest signs with this one
RSIN = "002220647"
OTHER_RSIN = "123456782"
CRS = {"Accept-Crs": "EPSG:4326", "Content-Crs": "EPSG:4326"}


def token(secret=SECRET, client_id="connector", iat=None, **claims):
    payload = {"iss": client_id, "iat": int(time.time()) if iat is None else iat,
               "client_id": client_id, "user_id": "connector", "user_representation": "Connector",
               **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def auth(**extra):
    return {"Authorization": f"Bearer {token()}", **extra}


@pytest.fixture(scope="session")
def specs_loaded():
    for base in SPEC_FILES:
        load_api(base)


@pytest.fixture
def running(zgw_server, specs_loaded):
    """The session's ZGW double (tests/conftest.py), reset before each test."""
    zgw_server[0].reset()
    return zgw_server


@pytest.fixture
def double(running):
    running[0].reset()
    return running[0]


@pytest.fixture
def server(running, double):
    return running[1]


def get_one(url, **params):
    response = requests.get(url, params=params, headers=auth())
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 1, results
    return results[0]


def zaaktype_url(server, identificatie="SOCIAL-MELDING"):
    return get_one(f"{server.catalogi_url}/zaaktypen", identificatie=identificatie)["url"]


def iot_url(server, omschrijving="Sociale-mediabericht"):
    return get_one(f"{server.catalogi_url}/informatieobjecttypen", omschrijving=omschrijving)["url"]


def seeded_zaak(server, identificatie="ZAAK-2026-0000000042"):
    response = requests.get(f"{server.zaken_url}/zaken", headers=auth(**CRS),
                            params={"identificatie": identificatie, "bronorganisatie": RSIN})
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


def create_document(server, **fields):
    body = {"bronorganisatie": RSIN, "creatiedatum": "2026-02-01", "titel": "Toot van @inwoner",
            "auteur": "@inwoner@mastodon.example", "taal": "nld",
            "informatieobjecttype": iot_url(server),
            "inhoud": base64.b64encode(b"Er ligt een tegel los.").decode(), **fields}
    body = {k: v for k, v in body.items() if v is not None}
    return requests.post(f"{server.documenten_url}/enkelvoudiginformatieobjecten",
                         json=body, headers=auth())


def link(server, zaak, document):
    return requests.post(f"{server.zaken_url}/zaakinformatieobjecten", headers=auth(),
                         json={"zaak": zaak, "informatieobject": document})


def invalid_param(response):
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400 and body["code"] == "invalid"
    return body["invalidParams"][0]


# --- spec copies, seed ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SPEC_FILES.values()))
def test_spec_copies_are_byte_identical_to_shared(name):
    if not SHARED_SPECS.is_dir():
        pytest.skip("/work/shared not available")
    assert (SPEC_DIR / name).read_bytes() == (SHARED_SPECS / name).read_bytes()


def test_seed_catalogus_is_served(server, double):
    catalogus = get_one(f"{server.catalogi_url}/catalogussen", domein="SOCM")
    assert catalogus["rsin"] == RSIN
    zaaktypen = requests.get(f"{server.catalogi_url}/zaaktypen", headers=auth(),
                             params={"catalogus": catalogus["url"]}).json()["results"]
    assert {"SOCIAL-MELDING", "SOCIAL-VRAAG"} <= {z["identificatie"] for z in zaaktypen}
    assert all(z["concept"] is False for z in zaaktypen)
    names = {i["omschrijving"] for i in requests.get(
        f"{server.catalogi_url}/informatieobjecttypen", headers=auth()).json()["results"]}
    assert {"Sociale-mediabericht", "Bijlage"} <= names
    relations = requests.get(f"{server.catalogi_url}/zaaktype-informatieobjecttypen",
                             params={"zaaktype": zaaktype_url(server)}, headers=auth()).json()
    assert {r["informatieobjecttype"] for r in relations["results"]} == {
        iot_url(server), iot_url(server, "Bijlage")}
    assert seeded_zaak(server)["zaaktype"] == zaaktype_url(server)
    assert double.violations == []


@pytest.mark.parametrize("status, expected", [(None, False), ("concept", True), ("alles", True)])
def test_concept_zaaktype_listed_only_when_asked(server, double, status, expected):
    params = {"identificatie": "SOCIAL-KLACHT", **({"status": status} if status else {})}
    count = requests.get(f"{server.catalogi_url}/zaaktypen", params=params,
                         headers=auth()).json()["count"]
    assert count == (1 if expected else 0)


# --- happy path -----------------------------------------------------------------------------

def test_happy_path_zaak_document_link_download(server, double):
    zaak = requests.post(f"{server.zaken_url}/zaken", headers=auth(**CRS), json={
        "bronorganisatie": RSIN, "verantwoordelijkeOrganisatie": RSIN,
        "zaaktype": zaaktype_url(server), "startdatum": "2026-02-01",
        "omschrijving": "Melding via Mastodon"})
    assert zaak.status_code == 201, zaak.text
    assert zaak.headers["Location"] == zaak.json()["url"]
    assert zaak.json()["url"].startswith(server.zaken_url + "/zaken/")
    assert re.fullmatch(r"ZAAK-2026-\d{10}", zaak.json()["identificatie"])

    content = "Er ligt een tegel los 🧱".encode()
    document = create_document(server, identificatie="mastodon-109", inhoud=base64.b64encode(
        content).decode(), integriteit={"algoritme": "sha_256", "waarde": "ab" * 32,
                                        "datum": "2026-02-01"})
    assert document.status_code == 201, document.text
    assert document.json()["integriteit"]["algoritme"] == "sha_256"
    assert document.json()["bestandsomvang"] == len(content)

    relation = link(server, zaak.json()["url"], document.json()["url"])
    assert relation.status_code == 201, relation.text

    listed = requests.get(f"{server.zaken_url}/zaakinformatieobjecten", headers=auth(),
                          params={"zaak": zaak.json()["url"]}).json()
    assert [r["informatieobject"] for r in listed] == [document.json()["url"]]

    download = requests.get(document.json()["inhoud"], headers=auth(Accept="*/*"))
    assert download.status_code == 200 and download.content == content
    assert double.document_content(document.json()["url"]) == content
    assert [d["identificatie"] for d in double.documents] == ["mastodon-109"]
    assert len(double.zaakinformatieobjecten) == 1
    assert double.violations == []


def test_generated_identificaties_are_new_and_unique(server, double):
    seen = {z["identificatie"] for z in double.zaken}
    for _ in range(3):
        response = requests.post(f"{server.zaken_url}/zaken", headers=auth(**CRS), json={
            "bronorganisatie": RSIN, "verantwoordelijkeOrganisatie": RSIN,
            "zaaktype": zaaktype_url(server), "startdatum": "2025-06-01",
            "registratiedatum": "2025-06-02"})
        identificatie = response.json()["identificatie"]
        assert re.fullmatch(r"ZAAK-2025-\d{10}", identificatie) and identificatie not in seen
        seen.add(identificatie)
    document = create_document(server)
    assert document.status_code == 201 and document.json()["identificatie"]
    assert double.violations == []


def test_requests_are_counted(server, double):
    zaaktype_url(server)
    assert double.requests == [("GET", "/catalogi/api/v1/zaaktypen")]


# --- how Open Zaak answers ------------------------------------------------------------------

def test_identificatie_niet_uniek_for_second_document(server, double):
    assert create_document(server, identificatie="mastodon-1").status_code == 201
    param = invalid_param(create_document(server, identificatie="mastodon-1"))
    assert (param["name"], param["code"]) == ("identificatie", "identificatie-niet-uniek")
    other = create_document(server, identificatie="mastodon-1", bronorganisatie=OTHER_RSIN)
    assert other.status_code == 201, other.text
    assert len(double.documents) == 2
    assert double.violations == []


def test_duplicate_link_is_non_field_error_unique(server, double):
    zaak = seeded_zaak(server)["url"]
    document = create_document(server).json()["url"]
    assert link(server, zaak, document).status_code == 201
    param = invalid_param(link(server, zaak, document))
    assert (param["name"], param["code"]) == ("nonFieldErrors", "unique")
    assert len(double.zaakinformatieobjecten) == 1
    assert double.violations == []


def test_link_refused_when_zaaktype_does_not_allow_informatieobjecttype(server, double):
    document = create_document(server, informatieobjecttype=iot_url(server, "Intern memo"))
    param = invalid_param(link(server, seeded_zaak(server)["url"], document.json()["url"]))
    assert (param["name"], param["code"]) == (
        "nonFieldErrors", "missing-zaaktype-informatieobjecttype-relation")


@pytest.mark.parametrize("header, code", [
    (lambda: f"Bearer {token(secret='wrong-secret-also-32-bytes-long!!')}", "invalid-jwt-signature"),
    (lambda: None, "not_authenticated"),
    (lambda: f"Bearer {token(client_id='stranger')}", "invalid-client-identifier"),
    (lambda: f"Bearer {token(iat=int(time.time()) - 3700)}", "jwt-expired"),
    (lambda: f"Bearer {token(iat=int(time.time()) + 600)}", "jwt-immature-signature"),
    (lambda: "Bearer not.a.jwt", "jwt-decode-error"),
])
def test_bad_or_missing_token_is_403(server, double, header, code):
    value = header()
    response = requests.get(f"{server.catalogi_url}/zaaktypen",
                            headers={"Authorization": value} if value else {})
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert not any("response" in v for v in double.violations)


def test_missing_accept_crs_is_412(server, double):
    response = requests.get(f"{server.zaken_url}/zaken", headers=auth())
    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"
    assert any("Accept-Crs" in v for v in double.violations)


def test_missing_content_crs_on_create_is_412(server, double):
    seeded = double.zaken
    response = requests.post(f"{server.zaken_url}/zaken", headers=auth(**{"Accept-Crs": "EPSG:4326"}),
                             json={"bronorganisatie": RSIN, "verantwoordelijkeOrganisatie": RSIN,
                                   "zaaktype": zaaktype_url(server), "startdatum": "2026-02-01"})
    assert response.status_code == 412
    assert len(double.zaken) == len(seeded)


def test_download_with_accept_json_is_406(server, double):
    document = create_document(server).json()
    response = requests.get(document["inhoud"], headers=auth(Accept="application/json"))
    assert response.status_code == 406
    assert double.violations == []


@pytest.mark.parametrize("change, field, code", [
    ({"bronorganisatie": "123456789"}, "bronorganisatie", "invalid"),
    ({"zaaktype": "SOCIAL-KLACHT"}, "zaaktype", "not-published"),
    ({"zaaktype": "missing"}, "zaaktype", "does_not_exist"),
])
def test_zaak_create_business_rules(server, double, change, field, code):
    body = {"bronorganisatie": RSIN, "verantwoordelijkeOrganisatie": RSIN,
            "zaaktype": zaaktype_url(server), "startdatum": "2026-02-01", **change}
    if change.get("zaaktype") == "SOCIAL-KLACHT":
        body["zaaktype"] = get_one(f"{server.catalogi_url}/zaaktypen", status="alles",
                                   identificatie="SOCIAL-KLACHT")["url"]
    elif change.get("zaaktype") == "missing":
        body["zaaktype"] = server.catalogi_url + "/zaaktypen/00000000-0000-4000-8000-000000000000"
    param = invalid_param(requests.post(f"{server.zaken_url}/zaken", json=body, headers=auth(**CRS)))
    assert (param["name"], param["code"]) == (field, code)
    assert len(double.zaken) == 3
    assert double.violations == []


def test_document_with_invalid_base64_is_refused(server, double):
    param = invalid_param(create_document(server, inhoud="not base64!"))
    assert param["name"] == "inhoud"
    assert double.documents == []


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
