"""The ZGW sink's zaken on request ("Archiveer in zaak"): find by identificatie or omschrijving, the
zaaktypen a new zaak may have, and creating one exactly once per request key -- against the ZGW double,
which validates every request and response against the official OpenAPI specs."""
from __future__ import annotations

import pytest

from connector.failures import Failed
from connector.sinks import MemorySteps
from connector.sinks.zgw import search
from tests.test_rendition import load_message

from .zgw_sink_support import RSIN, ZAAK_42, by_identificatie, posts
from .zgw_sink_support import double, options, running, server, session, sink  # noqa: F401 (fixtures)


def test_an_identificatie_finds_its_zaak(sink, double):
    found = sink.find_zaken(ZAAK_42)
    assert [z.identificatie for z in found] == [ZAAK_42]
    assert found[0].omschrijving.startswith("Losliggende stoeptegels")
    assert found[0].url.endswith("/zaken/9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c01")
    assert found[0].startdatum == "2026-01-12"
    assert found[0].zaaktype == "SOCIAL-MELDING"  # as people know it, not its URL
    assert double.violations == []


def test_words_of_the_omschrijving_find_zaken_case_insensitively_newest_first(sink, double):
    assert [z.identificatie for z in sink.find_zaken("STOEPTEGELS dorpsstraat")] == [ZAAK_42]
    assert [z.identificatie for z in sink.find_zaken("2026")] == ["ZAAK-2026-0000000043", ZAAK_42]
    assert sink.find_zaken("bestaat niet") == []
    assert sink.find_zaken("   ") == []
    assert double.violations == []


def test_the_search_is_bounded_to_the_newest_pages(sink, double, monkeypatch):
    """An omschrijving is searched in the newest zaken only; older ones are found by identificatie."""
    monkeypatch.setattr(search, "SCAN_PAGES", 1)
    monkeypatch.setattr(search, "PAGE_SIZE", 2)
    assert sink.find_zaken("lantaarnpaal") == []  # the third of three
    assert [z.identificatie for z in sink.find_zaken("ZAAK-2025-0000000917")] == ["ZAAK-2025-0000000917"]
    assert [z.identificatie for z in sink.find_zaken("openingstijden")] == ["ZAAK-2026-0000000043"]


def test_at_most_limit_results(sink):
    assert len(sink.find_zaken("zaak", limit=2)) == 2


def test_the_published_zaaktypen_are_offered_and_a_concept_is_not(sink):
    assert sink.zaaktypen() == [("SOCIAL-MELDING", "Melding via sociale media"),
                                ("SOCIAL-VRAAG", "Vraag via sociale media")]


def test_a_zaak_on_request_is_created_once_per_key(sink, double):
    zaak = sink.create_zaak("SOCIAL-VRAAG", "  Vraag   over de kermis ", "Aangemaakt in de webinterface", "key-1")
    assert zaak.identificatie == search.request_identificatie("key-1") and len(zaak.identificatie) <= 40
    stored = by_identificatie(double.zaken, zaak.identificatie)
    assert len(stored) == 1
    assert stored[0]["omschrijving"] == "Vraag over de kermis"
    assert stored[0]["toelichting"] == "Aangemaakt in de webinterface"
    assert stored[0]["bronorganisatie"] == RSIN
    assert stored[0]["zaaktype"].endswith("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e02")
    again = sink.create_zaak("SOCIAL-VRAAG", "Vraag over de kermis", "", "key-1")  # a double submit
    assert again.url == zaak.url
    assert len(by_identificatie(double.zaken, zaak.identificatie)) == 1
    other = sink.create_zaak("SOCIAL-VRAAG", "Vraag over de kermis", "", "key-2")
    assert other.url != zaak.url
    assert double.violations == []


def test_a_lost_answer_is_no_second_zaak(sink, double):
    """The POST succeeded but its answer was lost: the retry with the same key finds the zaak."""
    double.lenient = False
    first = sink.create_zaak("SOCIAL-MELDING", "Eerste poging", "", "key-lost")
    sink._zaken_seen.clear()
    before = len(posts(double))
    assert sink.create_zaak("SOCIAL-MELDING", "Eerste poging", "", "key-lost").url == first.url
    assert len(posts(double)) == before


def test_a_concept_zaaktype_or_an_empty_omschrijving_is_refused_with_a_reason(sink, double):
    with pytest.raises(Failed) as caught:
        sink.create_zaak("SOCIAL-KLACHT", "Klacht", "", "key-3")
    assert "SOCIAL-KLACHT" in caught.value.failure.message
    with pytest.raises(Failed) as caught:
        sink.create_zaak("SOCIAL-MELDING", "   ", "", "key-4")
    assert "omschrijving" in caught.value.failure.message
    assert not [z for z in double.zaken if z["identificatie"].startswith("SOC-ZH-")]


def test_a_rerouted_delivery_keeps_its_documents_and_links_them_to_the_new_zaak(sink, double):
    """What redo_on_reroute keeps: the documents; the zaak and links are made again for the new zaak."""
    from dataclasses import replace

    from .zgw_sink_support import ATTACH

    message = load_message()
    steps = MemorySteps()
    first = sink.deliver(message, ATTACH, steps)
    documents = len(double.documents)
    kept = MemorySteps({k: v for k, v in steps.results.items() if not sink.redo_on_reroute(k)})
    assert set(kept.results) and all(k.startswith("document:") for k in kept.results)
    second = sink.deliver(message, replace(ATTACH, zaak_identificatie="ZAAK-2026-0000000043"), kept)
    assert len(double.documents) == documents
    assert [d.url for d in second.documents] == [d.url for d in first.documents]
    new_zaak = by_identificatie(double.zaken, "ZAAK-2026-0000000043")[0]["url"]
    path = new_zaak.split("/zaken/api/v1")[-1]
    linked = {z["informatieobject"] for z in double.zaakinformatieobjecten if z["zaak"].endswith(path)}
    assert len(linked) == len(first.documents)
    assert double.violations == []
