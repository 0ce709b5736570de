"""The ZGW sink, unit parts and end to end against the ZGW double over HTTP (127.0.0.1 only).

Every scenario against the double ends with ``double.violations == []``: each request the sink
sent (and each answer) validated against the official VNG specs.
"""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timezone

import pytest

from connector.failures import CONFIGURATION, PERMANENT, Failed
from connector.message import Author, Message, parse_iso
from connector.record import RENDITION, build_record
from connector.routing import Routing
from connector.sinks import MemorySteps
from connector.sinks.zgw import ZgwSink, document_identificatie, zaak_identificatie
from tests.conftest import FIXTURES, assert_deferred, later
from tests.pdf_support import PDFA_PUIDS, identify
from tests.test_rendition import load_message
from .zgw_sink_support import ATTACH, CREATE, Crash, CrashingSteps, RSIN, STEP_NAMES, ZAAK_42, by_identificatie, posts, zaak_url
from .zgw_sink_support import double, options, running, server, session, sink  # noqa: F401 (fixtures)


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


@pytest.mark.parametrize("role,formaat,extension", [("rendition", "application/pdf", ".pdf"),
                                                    ("original", "application/json", ".json")])
def test_documents_carry_the_metadata_of_a_record(sink, double, role, formaat, extension, tmp_path):
    message = load_message()
    delivered = sink.deliver(message, ATTACH, MemorySteps())
    document = next(d for d in delivered.documents if d.role == role)
    stored = next(d for d in double.documents if d["url"] == document.url)
    content = double.document_content(document.url)
    # built afresh (not the cached record the sink used): the rendition's bytes depend on the message only
    expected_content = build_record(message).file(RENDITION).data if role == "rendition" else message.raw.body
    assert content == expected_content
    if role == "rendition":  # the PDF/A document, as the case system holds it
        assert content.startswith(b"%PDF-") and identify(tmp_path, content) in PDFA_PUIDS
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


def test_media_become_documents_of_their_own_with_titles_that_say_what_they_are(sink, double, tmp_path):
    """Each fetched medium is a document in the zaak, its checksum recomputed from what the case system holds;
    every document carries the permalink as its ``link``."""
    from connector.media import MediaResult

    message = load_message()
    png = tmp_path / "a.png"
    png.write_bytes(bytes.fromhex("89504e470d0a1a0a") + b"\x00" * 100)
    medium = MediaResult(path=png, size=png.stat().st_size, sha256=hashlib.sha256(png.read_bytes()).hexdigest(),
                         media_type="image/png", description="een losse tegel", source_url="https://files.example/a.png",
                         fetched_from="https://files.example/a.png", fetched_at=datetime(2025, 2, 18, tzinfo=timezone.utc))
    delivered = sink.deliver(dataclasses.replace(message, media=(medium,)), ATTACH, MemorySteps())
    assert [d.role for d in delivered.documents] == ["rendition", "original", "medium-1"]
    for document in delivered.documents:
        stored = next(d for d in double.documents if d["url"] == document.url)
        assert stored["integriteit"]["waarde"] == hashlib.sha256(double.document_content(document.url)).hexdigest()
        assert stored["link"] == message.url
    image = next(d for d in double.documents if d["url"] == delivered.documents[2].url)
    assert image["titel"].endswith("(afbeelding 1)") and "een losse tegel" in image["beschrijving"]
    assert double.document_content(image["url"]) == png.read_bytes() and image["formaat"] == "image/png"
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
    assert steps.ran == ["zaak", "document:original"]  # the document step stays saved for the retry
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


