"""What the ZGW sink tests share: options, a recording session, crash steps, the double's fixtures."""
from __future__ import annotations


import pytest
import requests

from connector.routing import Routing
from connector.sinks import MemorySteps
from connector.sinks.zgw import ZgwSink
from tests.conftest import ZGW_SECRET

SECRET = ZGW_SECRET  # the shared double in conftest signs with this one
RSIN = "002220647"
ZAAK_42 = "ZAAK-2026-0000000042"
# the original goes first, while the rendition is rendered (ZgwSink._deliver_into)
STEP_NAMES = ["zaak", "document:original", "link:original", "document:rendition", "link:rendition"]


def base_options(**changes) -> dict:
    options = {"zaken_url": "http://127.0.0.1:9/zaken/api/v1", "documenten_url": "http://127.0.0.1:9/documenten/api/v1",
               "catalogi_url": "http://127.0.0.1:9/catalogi/api/v1", "client_id": "connector", "secret": SECRET,
               "bronorganisatie": RSIN, "informatieobjecttype": "Sociale-mediabericht"}
    options.update(changes)
    return {k: v for k, v in options.items() if v is not None}


class RecordingSession(requests.Session):
    """A session that keeps every response, to compare failures with what the server said."""

    def __init__(self):
        super().__init__()
        self.responses: list[requests.Response] = []

    def request(self, *args, **kwargs):
        response = super().request(*args, **kwargs)
        self.responses.append(response)
        return response


class Crash(Exception):
    """The worker died after a remote call succeeded but before its result was saved."""


class CrashingSteps(MemorySteps):
    def __init__(self, crash_after: str):
        super().__init__()
        self.crash_after = crash_after

    def run(self, name, action):
        if name in self.results:
            return self.results[name]
        result = action()
        if name == self.crash_after:
            self.crash_after = None
            raise Crash(name)
        self.ran.append(name)
        self.save(name, result)
        return result


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture
def running(zgw_server):
    """The session's ZGW double (tests/conftest.py), reset before each test."""
    zgw_server[0].reset()
    return zgw_server


@pytest.fixture
def server(running):
    return running[1]


@pytest.fixture
def double(running):
    double = running[0]
    double.reset()
    return double


@pytest.fixture
def options(server):
    return base_options(zaken_url=server.zaken_url, documenten_url=server.documenten_url,
                        catalogi_url=server.catalogi_url)


@pytest.fixture
def session():
    return RecordingSession()


@pytest.fixture
def sink(options, session):
    return ZgwSink("zaaksysteem", options, session=session)


def posts(double, start=0) -> list[str]:
    return [path for method, path in double.requests[start:] if method == "POST"]


def by_identificatie(items, identificatie):
    return [item for item in items if item["identificatie"] == identificatie]


def zaak_url(double, identificatie):
    return by_identificatie(double.zaken, identificatie)[0]["url"]


ATTACH = Routing("attach", rule="r1", zaak_identificatie=ZAAK_42, titel="Melding losliggende tegels",
                 vertrouwelijkheidaanduiding="beperkt_openbaar")
CREATE = Routing("create", rule="r2", zaaktype="SOCIAL-MELDING", titel="Melding via Mastodon",
                 zaak={"omschrijving": "Melding van @schochastics", "toelichting": "Aangemaakt uit sociale media"})

