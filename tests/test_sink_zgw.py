"""The ZGW sink, unit parts and end to end against the ZGW double over HTTP (127.0.0.1 only).

Every scenario against the double ends with ``double.violations == []``: each request the sink
sent (and each answer) validated against the official VNG specs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import jwt
import marshmallow
import pytest
import requests

from connector.failures import CONFIGURATION, PERMANENT, RETRY, Failed
from connector.message import Author, Message, parse_iso
from connector.rendition import render_html
from connector.routing import Routing
from connector.sinks import SINKS, MemorySteps
from connector.sinks.zgw import ZgwSink, document_identificatie, elfproef, zaak_identificatie
from connector.sinks.zgw.identity import taal
from tests.conftest import FIXTURES, ZGW_SECRET, assert_deferred, later
from tests.test_rendition import load_message

SECRET = ZGW_SECRET  # the shared double in conftest signs with this one
RSIN = "002220647"
ZAAK_42 = "ZAAK-2026-0000000042"
STEP_NAMES = ["zaak", "document:rendition", "link:rendition", "document:original", "link:original"]


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


# --- unit: options, identities, token ----------------------------------------------------------

def test_sink_is_registered_as_zgw():
    assert SINKS.get_class("zgw") is ZgwSink


@pytest.mark.parametrize("rsin", ["002220647", "111222333", "123456782"])
def test_elfproef_accepts_valid_rsins(rsin):
    assert elfproef(rsin)


@pytest.mark.parametrize("rsin", ["002220648", "00222064", "0022206470", "00222064a", "000000000", ""])
def test_elfproef_rejects_invalid_rsins(rsin):
    assert not elfproef(rsin)


def test_options_defaults_and_trailing_slashes():
    sink = ZgwSink("z", base_options(zaken_url="http://openzaak.local/zaken/api/v1/"))
    assert sink.options["zaken_url"] == "http://openzaak.local/zaken/api/v1"
    assert sink.options["auteur"] == "midoffice-connector"
    assert sink.options["catalogus"] is None and sink.options["timeout"] > 0


@pytest.mark.parametrize("changes,key", [
    ({"bronorganisatie": "002220648"}, "bronorganisatie"),
    ({"zaken_url": "ftp://example.org/zaken"}, "zaken_url"),
    ({"documenten_url": None}, "documenten_url"),
    ({"secret": ""}, "secret"),
    ({"timeout": 0}, "timeout"),
    ({"catalogus": "not a url"}, "catalogus"),
    ({"unexpected": "x"}, "unexpected"),
])
def test_invalid_options_are_rejected(changes, key):
    with pytest.raises(marshmallow.ValidationError) as info:
        ZgwSink("z", base_options(**changes))
    assert key in info.value.messages


def test_secret_never_appears_in_errors_or_repr():
    with pytest.raises(marshmallow.ValidationError) as info:
        ZgwSink("z", base_options(bronorganisatie="bad"))
    assert SECRET not in str(info.value.messages)
    assert SECRET not in repr(ZgwSink("z", base_options()))


def test_token_is_hs256_with_the_claims_open_zaak_reads():
    sink = ZgwSink("z", base_options(user_id="u1", user_representation="Connector"))
    claims = jwt.decode(sink.client.token(), SECRET, algorithms=["HS256"])
    assert claims["iss"] == claims["client_id"] == "connector"
    assert claims["user_id"] == "u1" and claims["user_representation"] == "Connector"
    assert abs(claims["iat"] - datetime.now(timezone.utc).timestamp()) < 60
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(sink.client.token(), "another-secret-that-is-long-enough!!", algorithms=["HS256"])


def test_a_short_secret_gives_one_clear_warning_instead_of_pyjwts_on_every_token(caplog, recwarn):
    import warnings

    warnings.simplefilter("always")  # what PyJWT would print is not hidden by "once per location"
    sink = ZgwSink("openzaak", base_options(secret="short-secret"))
    tokens = [sink.client.token() for _ in range(3)]
    assert [str(w.message) for w in recwarn if w.category.__name__ == "InsecureKeyLengthWarning"] == []
    with warnings.catch_warnings():  # decoding with the short key warns too; that is the server's business
        warnings.simplefilter("ignore")
        assert [jwt.decode(t, "short-secret", algorithms=["HS256"])["iss"] for t in tokens] == ["connector"] * 3
    [record] = [r for r in caplog.records if r.name == "connector.sinks.zgw.client"]
    assert record.levelname == "WARNING"
    assert "sink openzaak: the secret is shorter than the 32 bytes HS256 wants" in record.getMessage()
    assert "short-secret" not in record.getMessage()


def test_a_long_enough_secret_gives_no_warning(caplog, recwarn):
    ZgwSink("openzaak", base_options()).client.token()
    assert [r for r in caplog.records if r.name == "connector.sinks.zgw.client" and r.levelno >= 30] == []
    assert [w for w in recwarn if w.category.__name__ == "InsecureKeyLengthWarning"] == []


@pytest.mark.parametrize("channel", ["m", "gemeente-voorbeeldstad-mastodon-hoofdaccount-met-een-heel-lange-naam",
                                     "ünïcødé kanaal / met tekens", ""])
@pytest.mark.parametrize("role", ["rendition", "original", "media"])
def test_document_identificatie_fits_in_40_characters(channel, role):
    message = dataclasses.replace(load_message(), channel=channel, id="9" * 60, version="2025-01-01T00:00:00Z")
    identificatie = document_identificatie(message, role)
    assert len(identificatie) <= 40 and identificatie.isascii()
    assert len(zaak_identificatie(message)) <= 40


def test_document_identificatie_is_stable_and_distinct_per_channel_id_version_and_role():
    message = load_message()
    assert document_identificatie(message, "rendition") == document_identificatie(load_message(), "rendition")
    variants = {
        document_identificatie(message, "rendition"),
        document_identificatie(message, "original"),
        document_identificatie(dataclasses.replace(message, version="2025-02-19T10:00:00Z"), "rendition"),
        document_identificatie(dataclasses.replace(message, id="114026814291152536"), "rendition"),
        document_identificatie(dataclasses.replace(message, channel="other"), "rendition"),
    }
    assert len(variants) == 5


def test_zaak_identificatie_ignores_the_version_but_not_the_message():
    message = load_message()
    edited = dataclasses.replace(message, version="2025-02-19T10:00:00Z")
    assert zaak_identificatie(edited) == zaak_identificatie(message)
    assert zaak_identificatie(dataclasses.replace(message, id="1")) != zaak_identificatie(message)
    assert zaak_identificatie(message) not in {document_identificatie(message, r) for r in ("rendition", "original")}


@pytest.mark.parametrize("language,expected", [("nl", "dut"), ("nl-BE", "dut"), ("nld", "dut"), ("en", "eng"),
                                               ("en_GB", "eng"), ("de", "ger"), ("fr", "fre"), ("fy", "fry"),
                                               (None, "dut"), ("", "dut"), ("x", "dut"), ("??", "dut")])
def test_taal_is_iso_639_2_b(language, expected):
    assert taal(language) == expected


# --- delivering --------------------------------------------------------------------------------

def test_attach_delivers_rendition_and_original_into_existing_zaak(sink, double):
    message = load_message()
    steps = MemorySteps()
    delivered = sink.deliver(message, ATTACH, steps)
    assert delivered.zaak_identificatie == ZAAK_42
    assert delivered.zaak_url == zaak_url(double, ZAAK_42)
    assert [d.role for d in delivered.documents] == ["rendition", "original"]
    assert steps.ran == STEP_NAMES
    assert {"url", "identificatie"} <= set(steps.get("zaak"))
    links = [z for z in double.zaakinformatieobjecten if z["zaak"] == delivered.zaak_url]
    assert sorted(z["informatieobject"] for z in links) == sorted(d.url for d in delivered.documents)
    assert posts(double) == ["/documenten/api/v1/enkelvoudiginformatieobjecten", "/zaken/api/v1/zaakinformatieobjecten"] * 2
    assert double.violations == []


@pytest.mark.parametrize("role,formaat,extension", [("rendition", "text/html", ".html"),
                                                    ("original", "application/json", ".json")])
def test_documents_carry_the_metadata_of_a_record(sink, double, role, formaat, extension):
    message = load_message()
    delivered = sink.deliver(message, ATTACH, MemorySteps())
    document = next(d for d in delivered.documents if d.role == role)
    stored = next(d for d in double.documents if d["url"] == document.url)
    content = double.document_content(document.url)
    expected_content = render_html(message) if role == "rendition" else message.raw.body
    assert content == expected_content
    assert stored["identificatie"] == document.identificatie == document_identificatie(message, role)
    assert stored["bronorganisatie"] == RSIN
    assert stored["creatiedatum"] == "2025-02-18"
    assert stored["taal"] == "eng"
    assert stored["vertrouwelijkheidaanduiding"] == "beperkt_openbaar"
    assert stored["status"] == "definitief"
    assert stored["auteur"] == "midoffice-connector"
    assert stored["formaat"] == formaat
    assert stored["bestandsnaam"].endswith(extension)
    assert stored["titel"].startswith("Melding losliggende tegels")
    assert stored["integriteit"]["algoritme"] == "sha_256"
    assert stored["integriteit"]["waarde"] == hashlib.sha256(content).hexdigest()
    assert stored["informatieobjecttype"].endswith("/informatieobjecttypen/7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c01")
    assert double.violations == []


def test_original_payload_is_stored_byte_for_byte(sink, double):
    message = load_message()
    delivered = sink.deliver(message, ATTACH, MemorySteps())
    original = next(d for d in delivered.documents if d.role == "original")
    assert double.document_content(original.url) == (FIXTURES / "messages" / "mastodon-status.raw.json").read_bytes()
    assert double.violations == []


def test_attach_to_unknown_zaak_is_a_permanent_failure(sink, double):
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), ATTACH.evolve(zaak_identificatie="ZAAK-1999-0000000001"), MemorySteps())
    assert info.value.failure.verdict == PERMANENT
    assert "zaak ZAAK-1999-0000000001 not found" in info.value.failure.message
    assert posts(double) == []
    assert double.violations == []


def test_create_makes_a_zaak_of_the_newest_published_zaaktype(sink, double):
    message = load_message()
    delivered = sink.deliver(message, CREATE, MemorySteps())
    zaak = by_identificatie(double.zaken, zaak_identificatie(message))
    assert len(zaak) == 1 and zaak[0]["url"] == delivered.zaak_url
    assert delivered.zaak_identificatie == zaak_identificatie(message)
    assert zaak[0]["zaaktype"].endswith("/zaaktypen/3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e01")
    assert zaak[0]["bronorganisatie"] == zaak[0]["verantwoordelijkeOrganisatie"] == RSIN
    assert zaak[0]["startdatum"] == "2025-02-18"
    assert zaak[0]["omschrijving"] == "Melding van @schochastics"
    assert zaak[0]["toelichting"] == "Aangemaakt uit sociale media"
    assert len(zaak[0]["zaakinformatieobjecten"]) == 2
    assert double.violations == []


def test_startdatum_is_the_dutch_calendar_day(sink, double):
    message = dataclasses.replace(load_message(), created_at=parse_iso("2025-12-31T23:30:00Z"))
    sink.deliver(message, CREATE, MemorySteps())
    assert by_identificatie(double.zaken, zaak_identificatie(message))[0]["startdatum"] == "2026-01-01"
    assert double.violations == []


def test_rules_cannot_override_the_zaak_identity_and_long_texts_are_clipped(sink, double):
    message = load_message()
    routing = CREATE.evolve(zaak={"identificatie": "HANDMATIG-1", "bronorganisatie": "111222333",
                                  "omschrijving": "x" * 300, "toelichting": "y" * 3000})
    sink.deliver(message, routing, MemorySteps())
    zaak = by_identificatie(double.zaken, zaak_identificatie(message))[0]
    assert zaak["bronorganisatie"] == RSIN and not by_identificatie(double.zaken, "HANDMATIG-1")
    assert len(zaak["omschrijving"]) <= 80 and len(zaak["toelichting"]) <= 1000
    assert double.violations == []


def test_unpublished_zaaktype_by_name_is_a_configuration_failure(sink, double):
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), CREATE.evolve(zaaktype="SOCIAL-KLACHT"), MemorySteps())
    assert info.value.failure.verdict == CONFIGURATION and "SOCIAL-KLACHT" in info.value.failure.message
    assert posts(double) == []
    assert double.violations == []


def test_permanent_400_surfaces_verbatim_with_invalid_params(sink, double, server, session):
    concept_url = f"{server.catalogi_url}/zaaktypen/3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e03"
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), CREATE.evolve(zaaktype=concept_url), MemorySteps())
    failure = info.value.failure
    answer = session.responses[-1]
    assert answer.status_code == 400 and answer.request.method == "POST"
    assert failure.verdict == PERMANENT and failure.status == 400
    assert failure.detail == answer.json()
    for param in answer.json()["invalidParams"]:
        assert param["name"] in failure.message and param["code"] in failure.message
    assert double.violations == []


def test_informatieobjecttype_not_allowed_by_zaaktype_fails_at_the_link(sink, double, session):
    steps = MemorySteps()
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), ATTACH.evolve(informatieobjecttype="Intern memo"), steps)
    assert info.value.failure.verdict == PERMANENT
    assert info.value.failure.detail == session.responses[-1].json()
    assert "nonFieldErrors" in info.value.failure.message
    assert steps.ran == ["zaak", "document:rendition"]  # the document step stays saved for the retry
    assert double.violations == []


def test_follow_thread_uses_the_zaak_url(sink, double):
    url = zaak_url(double, "ZAAK-2026-0000000043")
    delivered = sink.deliver(load_message(), Routing("follow_thread", zaak_url=url), MemorySteps())
    assert delivered.zaak_url == url and delivered.zaak_identificatie == "ZAAK-2026-0000000043"
    assert len([z for z in double.zaakinformatieobjecten if z["zaak"] == url]) == 2
    assert double.violations == []


def test_follow_thread_to_a_deleted_zaak_is_a_permanent_failure(sink, double, server):
    gone = f"{server.zaken_url}/zaken/00000000-0000-4000-8000-000000000000"
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), Routing("follow_thread", zaak_url=gone), MemorySteps())
    assert info.value.failure.verdict == PERMANENT and gone in info.value.failure.message
    assert posts(double) == []
    assert double.violations == []


@pytest.mark.parametrize("action", ["hold", "ignore"])
def test_routings_that_deliver_nothing_are_refused(sink, double, action):
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), Routing(action, reason="triage"), MemorySteps())
    assert info.value.failure.verdict == PERMANENT
    assert double.requests == []


def test_message_without_raw_gets_only_the_rendition(sink, double):
    message = Message(channel="gemeente", id="1", kind="post", author=Author("9", "gemeente@social.example"),
                      created_at=datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc), text="Hallo", language="nl")
    steps = MemorySteps()
    delivered = sink.deliver(message, ATTACH, steps)
    assert [d.role for d in delivered.documents] == ["rendition"]
    assert steps.ran == ["zaak", "document:rendition", "link:rendition"]
    stored = next(d for d in double.documents if d["url"] == delivered.documents[0].url)
    assert stored["taal"] == "dut"
    assert double.violations == []


def test_edited_version_gets_new_documents_in_the_same_zaak(sink, double):
    first = load_message()
    edit = dataclasses.replace(first, version="2025-02-19T08:00:00Z", edited_at=parse_iso("2025-02-19T08:00:00Z"))
    one = sink.deliver(first, CREATE, MemorySteps())
    two = sink.deliver(edit, CREATE, MemorySteps())
    assert one.zaak_url == two.zaak_url
    assert len(by_identificatie(double.zaken, zaak_identificatie(first))) == 1
    assert {d.url for d in one.documents}.isdisjoint(d.url for d in two.documents)
    assert len([z for z in double.zaakinformatieobjecten if z["zaak"] == one.zaak_url]) == 4
    assert double.violations == []


def test_catalogus_lookups_are_cached_per_sink(sink, double):
    for number in range(3):
        sink.deliver(dataclasses.replace(load_message(), id=f"10{number}"), CREATE, MemorySteps())
    gets = [path for method, path in double.requests if method == "GET" and path.startswith("/catalogi")]
    assert gets == ["/catalogi/api/v1/zaaktypen", "/catalogi/api/v1/informatieobjecttypen"]
    assert double.violations == []


@pytest.mark.parametrize("catalogus,works", [("5d2a3f8e-6b1c-4d7a-9e0f-1a2b3c4d5e01", True),
                                             ("00000000-0000-4000-8000-000000000000", False)])
def test_catalogus_option_restricts_the_lookup(options, double, server, catalogus, works):
    sink = ZgwSink("z", {**options, "catalogus": f"{server.catalogi_url}/catalogussen/{catalogus}"})
    if works:
        assert sink.deliver(load_message(), CREATE, MemorySteps()).zaak_url
    else:
        with pytest.raises(Failed) as info:
            sink.deliver(load_message(), CREATE, MemorySteps())
        assert info.value.failure.verdict == CONFIGURATION
    assert double.violations == []


# --- retries: memoised steps and idempotent creates --------------------------------------------

def test_retry_with_the_same_steps_sends_nothing(sink, double, options):
    steps = MemorySteps()
    first = sink.deliver(load_message(), CREATE, steps)
    before = len(double.requests)
    again = ZgwSink("zaaksysteem", options).deliver(load_message(), CREATE, steps)
    assert again == first
    assert double.requests[before:] == []
    assert double.violations == []


@pytest.mark.parametrize("saved", range(len(STEP_NAMES) + 1))
def test_resume_after_crash_with_first_steps_saved_creates_no_duplicates(sink, double, options, saved):
    message = load_message()
    complete = MemorySteps()
    first = sink.deliver(message, CREATE, complete)
    counts = (len(double.zaken), len(double.documents), len(double.zaakinformatieobjecten))
    # the crash lost the results after step `saved`, but the double holds every object already
    partial = MemorySteps({name: complete.results[name] for name in STEP_NAMES[:saved]})
    again = ZgwSink("zaaksysteem", options).deliver(message, CREATE, partial)
    assert again == first
    assert (len(double.zaken), len(double.documents), len(double.zaakinformatieobjecten)) == counts
    assert double.violations == []


@pytest.mark.parametrize("crash_after", STEP_NAMES)
def test_crash_between_remote_success_and_save_at_each_step(sink, double, crash_after):
    message = load_message()
    steps = CrashingSteps(crash_after)
    with pytest.raises(Crash):
        sink.deliver(message, CREATE, steps)
    # an unsure create is looked up only once its POST has settled at the case system
    assert_deferred(lambda: sink.deliver(message, CREATE, steps))
    later(steps)
    delivered = sink.deliver(message, CREATE, steps)
    assert len(by_identificatie(double.zaken, zaak_identificatie(message))) == 1
    for role in ("rendition", "original"):
        assert len(by_identificatie(double.documents, document_identificatie(message, role))) == 1
    links = [z for z in double.zaakinformatieobjecten if z["zaak"] == delivered.zaak_url]
    assert sorted(z["informatieobject"] for z in links) == sorted(d.url for d in delivered.documents)
    results = {name for name in steps.results if not name.endswith(":sent")}
    assert results == set(STEP_NAMES)
    # every create was marked as sent before its POST (what tells a retry to look it up first)
    assert {name for name in steps.results if name.endswith(":sent")} == {f"{name}:sent" for name in STEP_NAMES}
    assert double.violations == []


def test_retry_does_not_create_second_zaak(sink, double, options):
    """Open Formulieren's incident: a retry after a crash reserved a second zaak for one submission."""
    message = load_message()
    steps = CrashingSteps("zaak")  # POST /zaken succeeded, the worker died before saving the result
    with pytest.raises(Crash):
        sink.deliver(message, CREATE, steps)
    fresh_sink = ZgwSink("zaaksysteem", options)  # e.g. after a restart
    assert_deferred(lambda: fresh_sink.deliver(message, CREATE, steps))  # not before the POST has settled
    later(steps)
    delivered = fresh_sink.deliver(message, CREATE, steps)
    assert posts(double).count("/zaken/api/v1/zaken") == 1
    zaken = by_identificatie(double.zaken, zaak_identificatie(message))
    assert [z["url"] for z in zaken] == [delivered.zaak_url]
    assert double.violations == []


# --- failures of the connection ----------------------------------------------------------------

@pytest.mark.parametrize("changes,code", [({"secret": "wrong-secret-that-is-long-enough-to-sign!"}, "invalid-jwt-signature"),
                                          ({"client_id": "stranger"}, "invalid-client-identifier")])
def test_bad_credentials_are_a_configuration_failure(options, double, changes, code):
    sink = ZgwSink("z", {**options, **changes})
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), ATTACH, MemorySteps())
    failure = info.value.failure
    assert failure.verdict == CONFIGURATION and failure.status == 403
    assert failure.detail["code"] == code
    assert SECRET not in json.dumps(failure.to_dict()) and changes.get("secret", "§") not in json.dumps(failure.to_dict())
    assert double.violations == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_server_is_a_retry():
    port = closed_port()
    sink = ZgwSink("z", base_options(zaken_url=f"http://127.0.0.1:{port}/zaken/api/v1", timeout=2))
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), ATTACH, MemorySteps())
    assert info.value.failure.verdict == RETRY
    assert SECRET not in info.value.failure.message


# --- check() -----------------------------------------------------------------------------------

def test_check_passes_against_a_working_case_system(sink, double):
    checks = sink.check()
    assert [c.name for c in checks] == ["settings", "connection", "credentials", "catalogus"]
    assert all(c.ok for c in checks), checks
    assert posts(double) == []
    assert double.violations == []


def test_check_reports_rejected_credentials_clearly(options, double):
    checks = ZgwSink("z", {**options, "secret": "wrong-secret-that-is-long-enough-to-sign!"}).check()
    by_name = {c.name: c for c in checks}
    assert by_name["settings"].ok and by_name["connection"].ok
    assert not by_name["credentials"].ok
    assert "403" in by_name["credentials"].message and "secret" in by_name["credentials"].message
    assert "wrong-secret" not in by_name["credentials"].message
    assert double.violations == []


def test_check_reports_an_unreachable_server():
    port = closed_port()
    sink = ZgwSink("z", base_options(zaken_url=f"http://127.0.0.1:{port}/zaken/api/v1",
                                     documenten_url=f"http://127.0.0.1:{port}/documenten/api/v1",
                                     catalogi_url=f"http://127.0.0.1:{port}/catalogi/api/v1", timeout=2))
    checks = {c.name: c for c in sink.check()}
    assert checks["settings"].ok and not checks["connection"].ok and not checks["credentials"].ok
    assert "Zaken API" in checks["connection"].message


def test_check_reports_a_wrong_base_url(options, double):
    checks = {c.name: c for c in ZgwSink("z", {**options, "zaken_url": options["zaken_url"] + "/extra"}).check()}
    assert not checks["connection"].ok and "404" in checks["connection"].message
    assert "zaken_url" in checks["connection"].message


def test_the_original_documents_beschrijving_names_the_feed_without_credentials():
    message = dataclasses.replace(load_message(), raw=dataclasses.replace(
        load_message().raw, page_url="https://reader:pw-in-the-url@feeds.example.nl/news.rss?token=tok-in-the-url"))
    sent = []
    sink = ZgwSink("z", base_options())
    sink.client.post = lambda url, what, payload, **kw: sent.append(payload) or _created(payload)
    from connector.record import build_record

    sink._document(message, CREATE, build_record(message).file("original"), "http://t/iot")
    [payload] = sent
    assert payload["beschrijving"] == ("Oorspronkelijk bericht zoals ontvangen van"
                                       " https://***@feeds.example.nl/news.rss?token=***, ongewijzigd.")


def test_a_whole_response_original_says_so_in_the_beschrijving_even_behind_a_long_url():
    long_url = "https://feeds.example.nl/news.rss?" + "x" * 1500  # the description exceeds ZGW's 1000 characters
    message = dataclasses.replace(load_message(), raw=dataclasses.replace(
        load_message().raw, page_url=long_url, scope="response"))
    sent = []
    sink = ZgwSink("z", base_options())
    sink.client.post = lambda url, what, payload, **kw: sent.append(payload) or _created(payload)
    from connector.record import build_record

    record = build_record(message)
    for role in ("original", "rendition"):
        sink._document(message, CREATE, record.file(role), "http://t/iot")
    for payload in sent:
        assert len(payload["beschrijving"]) <= 1000
        assert payload["beschrijving"].startswith("Het bericht kon niet exact uit het antwoord van het platform"
                                                  " worden geknipt; het origineel is het hele antwoord zoals ontvangen")


def _created(payload):
    response = requests.Response()
    response.status_code = 201
    response._content = json.dumps({"url": "http://t/doc/1", **payload}).encode()
    return response


def test_the_sink_uploads_the_record_built_in_the_core(sink, double):
    """The sink never renders: what arrives is the core's record, bytes, checksum and description."""
    from connector.record import record_of

    message = load_message()
    record = record_of(message)
    assert record_of(message) is record  # fan-out to several sinks uses one record
    delivered = sink.deliver(message, ATTACH, MemorySteps())
    for document in delivered.documents:
        file = record.file(document.role)
        stored = next(d for d in double.documents if d["url"] == document.url)
        assert double.document_content(document.url) == file.data
        assert stored["integriteit"]["waarde"] == file.sha256 and stored["bestandsomvang"] == file.size
        assert stored["beschrijving"] == file.description and stored["formaat"] == file.format


def test_a_zaak_is_looked_up_once_for_many_messages_and_again_after_a_failure(sink, double):
    """Every message into one existing zaak used to cost a GET /zaken?identificatie= (~55 ms on Open Zaak)."""
    base = load_message()
    messages = [dataclasses.replace(base, id=f"{base.id}{n}") for n in range(5)]
    for message in messages[:4]:
        sink.deliver(message, ATTACH, MemorySteps())
    lookups = [path for method, path in double.requests if method == "GET" and path == "/zaken/api/v1/zaken"]
    assert len(lookups) == 1
    double.faults.error_rate(1.0, statuses=(500,), methods=("POST",), after_ratio=0.0)
    with pytest.raises(Failed):
        sink.deliver(messages[4], ATTACH, MemorySteps())   # the zaak may be gone: forget it
    double.faults.clear()
    sink.deliver(messages[4], ATTACH, MemorySteps())
    lookups = [path for method, path in double.requests if method == "GET" and path == "/zaken/api/v1/zaken"]
    assert len(lookups) == 2


def test_parallel_deliveries_into_one_zaak_ask_the_case_system_once(sink, double):
    """Four deliveries starting at once into an unknown zaak: one lookup, the others wait for it."""
    base = load_message()
    messages = [dataclasses.replace(base, id=f"{base.id}{n}") for n in range(8)]
    double.faults.slow(1.0, seconds=0.3, methods=("GET",))  # the lookup is slow, so all four meet it
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda m: sink.deliver(m, ATTACH, MemorySteps()), messages))
    lookups = [path for method, path in double.requests if method == "GET" and path == "/zaken/api/v1/zaken"]
    assert len(lookups) == 1
