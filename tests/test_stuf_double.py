"""The StUF double's happy paths over real HTTP: every operation, both dialects, both SOAP versions.

Every answer is checked against the dialect's XSDs with the double's own loader, and the double must
not have found anything wrong (``violations == []``).
"""
from __future__ import annotations

import base64
import threading

import pytest
import requests
from lxml import etree

from connector_doubles.stuf import StufDouble, serve

from .stuf_double_support import (NS, answer, di02, edc_lk01, identificatie, make_zaak, post,
                                  servers, stuf, valid, zak_lk01, zak_lv01)  # noqa: F401  (fixtures)

SOAP = pytest.mark.parametrize("soap_version", ["1.1", "1.2"])


def dialect_of(double) -> str:
    return double.dialect


@SOAP
def test_genereer_identificaties_answer_du02_with_fresh_numbers_and_are_recorded(stuf, soap_version):
    double, server = stuf
    d = dialect_of(double)
    first = post(server, d, "doc_id", di02(d, "document", referentie="ref-1"), soap_version)
    second = post(server, d, "doc_id", di02(d, "document", referentie="ref-1"), soap_version)
    zaak = post(server, d, "zaak_id", di02(d, "zaak"), soap_version)
    for response in (first, second, zaak):
        assert response.status_code == 200, response.text
        message = answer(response, soap_version)
        assert etree.QName(message).localname.endswith("_Du02") and valid(message, d)
        assert message.findtext(".//StUF:berichtcode", namespaces=NS) == "Du02"
    numbers = [identificatie(r, soap_version) for r in (first, second, zaak)]
    assert numbers[0] != numbers[1] and numbers[0].startswith("DOCUMENT-") and numbers[2].startswith("ZAAK-")
    # a test can see that one message made a client reserve two document numbers
    assert [(r["kind"], r["identificatie"]) for r in double.reservations] == [
        ("document", numbers[0]), ("document", numbers[1]), ("zaak", numbers[2])]
    assert [r["referentienummer"] for r in double.reservations[:2]] == ["ref-1", "ref-1"]
    assert double.census()["reservations"] == {"document": 2, "zaak": 1}
    assert double.violations == []
    media = "text/xml" if soap_version == "1.1" else "application/soap+xml"
    assert first.headers["Content-Type"].startswith(media)


@SOAP
def test_creeer_zaak_answers_bv03_with_the_referentienummer_and_stores_the_zaak(stuf, soap_version):
    double, server = stuf
    d = dialect_of(double)
    response = post(server, d, "zaak", zak_lk01(d, "ZAAK-1", omschrijving="Post 42", referentie="ref-zaak"),
                    soap_version)
    assert response.status_code == 200, response.text
    bv03 = answer(response, soap_version)
    assert bv03.tag == f"{{{NS['StUF']}}}Bv03Bericht" and valid(bv03, d)
    assert bv03.findtext("StUF:stuurgegevens/StUF:crossRefnummer", namespaces=NS) == "ref-zaak"
    [zaak] = double.zaken
    assert (zaak["identificatie"], zaak["omschrijving"], zaak["zaaktype_code"], zaak["startdatum"]) == \
        ("ZAAK-1", "Post 42", "B1234", "20260101")
    assert zaak["initiator"] == {"kind": "medewerker", "identificatie": "socialmedia"}
    assert double.violations == []


@SOAP
def test_voeg_zaakdocument_toe_stores_the_document_and_its_content(stuf, soap_version):
    double, server = stuf
    d = dialect_of(double)
    zaak = make_zaak(server, d, soap_version=soap_version)
    content = bytes(range(256)) * 10
    response = post(server, d, "document", edc_lk01(d, "DOC-1", zaak, content=content, titel="Toot",
                                                    bestandsnaam="toot.pdf", referentie="ref-doc"), soap_version)
    assert response.status_code == 200, response.text
    bv03 = answer(response, soap_version)
    assert valid(bv03, d) and bv03.findtext(".//StUF:crossRefnummer", namespaces=NS) == "ref-doc"
    [document] = double.documents
    assert {k: document[k] for k in ("identificatie", "zaak", "titel", "formaat", "bestandsnaam", "contentType",
                                     "taal", "creatiedatum", "vertrouwelijkAanduiding", "size")} == {
        "identificatie": "DOC-1", "zaak": zaak, "titel": "Toot", "formaat": "application/pdf",
        "bestandsnaam": "toot.pdf", "contentType": "application/pdf", "taal": "nld",
        "creatiedatum": "20260101", "vertrouwelijkAanduiding": "OPENBAAR", "size": len(content)}
    assert "inhoud" not in document and double.document_content("DOC-1") == content
    assert double.violations == []


@SOAP
def test_geef_zaakdetails_answers_la01_with_the_zaak(stuf, soap_version):
    double, server = stuf
    d = dialect_of(double)
    zaak = make_zaak(server, d, omschrijving="Reactie op bericht", soap_version=soap_version)
    response = post(server, d, "details", zak_lv01(d, zaak), soap_version)
    assert response.status_code == 200, response.text
    la01 = answer(response, soap_version)
    assert valid(la01, d) and la01.findtext(".//StUF:berichtcode", namespaces=NS) == "La01"
    obj = la01.find("ZKN:antwoord/ZKN:object", NS)
    assert obj.findtext("ZKN:identificatie", namespaces=NS) == zaak
    assert obj.findtext("ZKN:omschrijving", namespaces=NS) == "Reactie op bericht"
    assert obj.findtext("ZKN:isVan/ZKN:gerelateerde/ZKN:code", namespaces=NS) == "B1234"
    assert double.violations == []


def test_requests_are_recorded_with_operation_action_endpoint_dialect_version_and_size(stuf):
    double, server = stuf
    d = dialect_of(double)
    response = post(server, d, "doc_id", di02(d), "1.2")
    [record] = double.requests
    assert record == {"operation": "genereerDocumentIdentificatie_Di02",
                      "soap_action": response.request.headers["Content-Type"].split('action="')[1][:-1],
                      "endpoint": "/VrijeBerichten", "dialect": d, "soap_version": "1.2",
                      "size": len(response.request.body), "status": 200}


@SOAP
def test_emoji_and_other_non_bmp_characters_round_trip_intact(stuf, soap_version):
    double, server = stuf
    d = dialect_of(double)
    text = "Feest 🎉 in de 𝕘𝕖𝕞𝕖𝕖𝕟𝕥𝕖 👩🏽‍💻"
    zaak = make_zaak(server, d, omschrijving=text, soap_version=soap_version)
    post(server, d, "document", edc_lk01(d, "DOC-E", zaak, titel=text), soap_version)
    assert double.zaken[0]["omschrijving"] == text and double.documents[0]["titel"] == text
    la01 = answer(post(server, d, "details", zak_lv01(d, zaak), soap_version), soap_version)
    assert la01.findtext(".//ZKN:omschrijving", namespaces=NS) == text
    assert double.violations == []


def test_custom_endpoints_are_served_and_the_defaults_are_not():
    double = StufDouble(dialect="1.1", endpoints={"VrijeBerichten": "/zds/vrij",
                                                  "OntvangAsynchroon": "/zds/ontvang",
                                                  "BeantwoordVraag": "/zds/vraag"})
    with serve(double) as server:
        assert server.endpoints["VrijeBerichten"].endswith("/zds/vrij")
        assert post(server, "1.1", "doc_id", di02("1.1")).status_code == 200
        assert requests.post(server.url + "/VrijeBerichten", data=b"", timeout=10).status_code == 404
    assert double.violations == []


def test_large_documents_arrive_whole(servers):
    double, server = servers["1.1"]
    double.reset()
    zaak = make_zaak(server, "1.1")
    content = bytes(range(256)) * (24 * 4096)   # 24 MiB, 32 MiB of base64
    text = base64.b64encode(content).decode()
    response = post(server, "1.1", "document", edc_lk01("1.1", "DOC-BIG", zaak, base64_text=text), timeout=120)
    assert response.status_code == 200, response.text[:500]
    assert double.document_content("DOC-BIG") == content
    assert double.requests[-1]["size"] > 32 << 20 and double.violations == []


def test_concurrent_clients_get_distinct_numbers(servers):
    double, server = servers["1.2"]
    double.reset()
    numbers, lock = [], threading.Lock()

    def reserve():
        for _ in range(5):
            number = identificatie(post(server, "1.2", "doc_id", di02("1.2")))
            with lock:
                numbers.append(number)

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(numbers) == 20 == len(set(numbers)) == len(double.reservations)
