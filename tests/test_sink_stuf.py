"""The StUF-ZDS sink against the StUF double over HTTP, both dialects and both SOAP versions.

Every scenario ends with ``double.violations == []``: each body the sink sent (and each answer) validated
against the official XSDs of the dialect, at the double, independently of the sink's own validation.
"""
from __future__ import annotations

import dataclasses
import hashlib

import pytest

from connector.failures import CONFIGURATION, PERMANENT, RETRY, Failed
from connector.record import record_of
from connector.routing import Routing
from connector.sinks import MemorySteps
from connector.sinks.stuf import ZAAK_URN, StufZdsSink
from connector_doubles.stuf import StufDouble, serve

from .test_rendition import load_message
from .zgw_sink_support import Crash, CrashingSteps

CREATE = Routing("create", rule="r", zaaktype="SOCMELD", titel="Melding via Mastodon 🎉",
                 zaak={"omschrijving": "Melding van @schochastics 🚲", "toelichting": "uit sociale media"},
                 vertrouwelijkheidaanduiding="beperkt_openbaar")


@pytest.fixture(scope="module")
def servers():
    running = {}
    for dialect in ("1.1", "1.2"):
        for lenient in (False, True):
            double = StufDouble(dialect=dialect, lenient=lenient, username_token=("connector", "ws-geheim"))
            running[dialect, lenient] = (double, serve(double))
    yield running
    for _, server in running.values():
        server.shutdown()


def make_sink(server, dialect, soap="1.1", **changes) -> StufZdsSink:
    options = {"dialect": dialect, "soap_version": soap,
               "beantwoord_vraag_url": server.endpoints["BeantwoordVraag"],
               "vrije_berichten_url": server.endpoints["VrijeBerichten"],
               "ontvang_asynchroon_url": server.endpoints["OntvangAsynchroon"],
               "zender": {"organisatie": "0392", "applicatie": "CONNECTOR"},
               "ontvanger": {"organisatie": "0392", "applicatie": "ZSH"},
               "ws_security_username": "connector", "ws_security_password": "ws-geheim",
               "initiator": {"rsin": "002220647", "naam": "Gemeente Voorbeeld"}, **changes}
    return StufZdsSink("zaaksysteem", options)


@pytest.fixture(params=[("1.1", "1.1"), ("1.1", "1.2"), ("1.2", "1.1"), ("1.2", "1.2")], ids=lambda p: f"zds{p[0]}-soap{p[1]}")
def world(request, servers):
    dialect, soap = request.param
    double, server = servers[dialect, False]
    double.reset()
    yield double, make_sink(server, dialect, soap), server
    double.reset()


def test_a_message_becomes_one_zaak_and_one_document_per_file_with_exact_content(world):
    double, sink, _ = world
    message = load_message()
    delivered = sink.deliver(message, CREATE, MemorySteps())
    [zaak] = double.zaken
    assert delivered.zaak_identificatie == zaak["identificatie"] and delivered.zaak_url.startswith(ZAAK_URN)
    assert zaak["omschrijving"] == "Melding van @schochastics 🚲" and zaak["zaaktype_code"] == "SOCMELD"
    record = record_of(message)
    assert [d.role for d in delivered.documents] == [f.role for f in record.files]
    for document, file in zip(delivered.documents, record.files):
        stored = next(d for d in double.documents if d["identificatie"] == document.identificatie)
        content = double.document_content(document.identificatie)
        assert hashlib.sha256(content).hexdigest() == file.sha256 and stored["zaak"] == zaak["identificatie"]
        assert stored["contentType"] == file.format and stored["vertrouwelijkAanduiding"] == "BEPERKT OPENBAAR"
        assert "🎉" in stored["titel"]   # non-BMP characters survive, as characters
    assert double.census()["reservations"] == {"zaak": 1, "document": len(record.files)}
    assert double.violations == []


def test_attach_looks_the_zaak_up_and_an_unknown_one_is_a_clear_permanent_error(world):
    double, sink, _ = world
    first = sink.deliver(load_message(), CREATE, MemorySteps())
    attach = Routing("attach", rule="r", zaak_identificatie=first.zaak_identificatie)
    again = sink.deliver(dataclasses.replace(load_message(), id="2"), attach, MemorySteps())
    assert again.zaak_identificatie == first.zaak_identificatie and len(double.zaken) == 1
    with pytest.raises(Failed) as info:
        sink.deliver(dataclasses.replace(load_message(), id="3"), attach.evolve(zaak_identificatie="ZAAK-0000-404"),
                     MemorySteps())
    assert info.value.failure.verdict == PERMANENT and "ZAAK-0000-404 not found" in info.value.failure.message
    assert double.violations == []


def test_a_reply_following_its_thread_goes_into_the_parents_zaak(world):
    double, sink, _ = world
    parent = sink.deliver(load_message(), CREATE, MemorySteps())
    reply = sink.deliver(dataclasses.replace(load_message(), id="9", kind="reply"),
                         Routing("follow_thread", rule="r", zaak_url=parent.zaak_url), MemorySteps())
    assert reply.zaak_identificatie == parent.zaak_identificatie and len(double.zaken) == 1


@pytest.mark.parametrize("crash_after", ["zaak:number", "zaak", "document:rendition:number", "document:rendition",
                                         "document:original:number", "document:original"])
@pytest.mark.parametrize("dialect", ["1.1", "1.2"])
def test_a_crash_after_any_step_reserves_nothing_twice_and_stores_nothing_twice(servers, dialect, crash_after,
                                                                              monkeypatch):
    """Against the lenient double, which would keep a second zaak or document: only the sink keeps it single.

    A crash in the instant between a reservation's answer and saving it (``*:number``) costs one number (a
    gap in the numbering: nothing was made with it); no standard call can give it back or find it again.
    A crash anywhere else reserves nothing twice."""
    double, server = servers[dialect, True]
    double.reset()
    sink = make_sink(server, dialect)
    monkeypatch.setattr("connector.sinks.stuf.SETTLE_TIMEOUTS", 0)   # the later retry, without the wait
    steps = CrashingSteps(crash_after)
    with pytest.raises(Crash):
        sink.deliver(load_message(), CREATE, steps)
    delivered = sink.deliver(load_message(), CREATE, steps)
    census = double.census()
    files = len(record_of(load_message()).files)
    wasted = {"zaak": int(crash_after == "zaak:number"), "document": int(crash_after.endswith(":number")
                                                                         and crash_after != "zaak:number")}
    assert census["reservations"] == {"zaak": 1 + wasted["zaak"], "document": files + wasted["document"]}
    assert list(census["zaken"].values()) == [1] and sorted(census["documents"].values()) == [1] * files
    assert {d.identificatie for d in delivered.documents} == set(census["documents"])
    assert double.violations == []


def test_a_lost_answer_is_looked_up_before_the_document_is_sent_again(servers, monkeypatch):
    double, server = servers["1.1", True]
    double.reset()
    sink = make_sink(server, "1.1")
    monkeypatch.setattr("connector.sinks.stuf.SETTLE_TIMEOUTS", 0)
    # the document is stored, then the answer is lost (an empty 200, as a proxy that cut it would give)
    double.faults.bad_answer("empty", operations=("voegZaakdocumentToe_Lk01",), times=1)
    steps = MemorySteps()
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), CREATE, steps)
    assert info.value.failure.verdict == RETRY
    sink.deliver(load_message(), CREATE, steps)
    assert sorted(double.census()["documents"].values()) == [1, 1]   # the lost one was found, not resent
    assert [r["operation"] for r in double.requests].count("geefLijstZaakdocumenten_Lv01") == 1


def test_wrong_ws_security_credentials_are_a_configuration_error(servers):
    double, server = servers["1.1", False]
    double.reset()
    sink = make_sink(server, "1.1", ws_security_password="fout")
    with pytest.raises(Failed) as info:
        sink.deliver(load_message(), CREATE, MemorySteps())
    assert info.value.failure.verdict in (CONFIGURATION, PERMANENT) and "StUF052" in info.value.failure.message


def test_check_reports_connection_and_credentials(world, servers):
    double, sink, server = world
    assert all(check.ok for check in sink.check()), sink.check()
    broken = make_sink(server, sink.options["dialect"], beantwoord_vraag_url="http://127.0.0.1:9/BeantwoordVraag")
    assert [c.name for c in broken.check() if not c.ok] == ["connection"]


@pytest.mark.parametrize("dialect", ["1.1", "1.2"])
def test_an_unsure_first_document_in_an_empty_zaak_is_looked_up_then_sent(servers, dialect, monkeypatch):
    """An earlier attempt sent the first document and died without an answer; nothing had arrived."""
    double, server = servers[dialect, True]
    double.reset()
    sink = make_sink(server, dialect)
    monkeypatch.setattr("connector.sinks.stuf.SETTLE_TIMEOUTS", 0)
    double.state.zaken.append({"identificatie": "SZ-2026-1"})
    steps = MemorySteps({"zaak": {"identificatie": "SZ-2026-1", "created": True},
                         "document:rendition:number": {"identificatie": "DOC-2026-77"},
                         "document:rendition:sent": {"at": "2026-11-26T05:00:00+00:00"}})
    sink.deliver(load_message(), CREATE, steps)
    assert [r["operation"] for r in double.requests].count(sink.operations["zaak_documents"].label) == 1
    assert double.violations == [] and sorted(double.census()["documents"].values()) == [1, 1]
    assert double.census()["documents"]["DOC-2026-77"] == 1


def test_a_zaak_is_found_by_its_identificatie_exactly_and_nothing_else(world):
    """StUF-ZDS "Archiveer in zaak": geefZaakdetails by identificatie, validated by the double's XSDs."""
    double, sink, _ = world
    made = sink.deliver(load_message(), CREATE, MemorySteps())
    assert sink.searches_zaken
    [found] = sink.find_zaken(f"  {made.zaak_identificatie} ")
    assert (found.identificatie, found.url) == (made.zaak_identificatie, made.zaak_url)
    assert found.omschrijving == "Melding van @schochastics 🚲"
    assert sink.find_zaken("schochastics") == [] and sink.find_zaken("ZAAK-0000-404") == []
    assert sink.find_zaken(" ") == []
    assert double.violations == []
