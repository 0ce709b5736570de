"""What the ZGW double's tests share: tokens, headers, fixtures and small calls against the double."""
from __future__ import annotations

import base64
import time
from pathlib import Path

import jwt
import pytest
import requests

from connector_doubles.zgw.validation import SPEC_FILES, load_api

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


