"""The ZGW double, driven the way a client drives Open Zaak: plain requests + PyJWT."""
from __future__ import annotations

import base64
import re
import time

import pytest
import requests

from connector_doubles.zgw.validation import SPEC_DIR, SPEC_FILES


from .zgw_double_support import CRS, OTHER_RSIN, RSIN, SHARED_SPECS, auth, create_document, get_one, invalid_param, iot_url, link, seeded_zaak, token, zaaktype_url
from .zgw_double_support import double, running, server, specs_loaded  # noqa: F401 (fixtures)


# --- spec copies, seed ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SPEC_FILES.values()))
def test_spec_copies_are_byte_identical_to_shared(name):
    if not SHARED_SPECS.is_dir():
        pytest.skip(f"{SHARED_SPECS} not available (the shared specs beside the checkout)")
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


