"""What the StUF double refuses: each refusal a SOAP Fault with the right Fo02/Fo03, code and plek,
and, where the client broke the contract, a violation."""
from __future__ import annotations

import pytest
import requests
from lxml import etree

from connector_doubles.stuf import StufDouble, serve
from connector_doubles.stuf.catalogue import ZKN

from .stuf_double_support import (ACTION_BASE, NS, answer, di02, edc_lk01, envelope, fout, make_zaak, post,  # noqa: F401
                                  servers, stuf, valid, zak_lk01, zak_lv01)

SOAP = pytest.mark.parametrize("soap_version", ["1.1", "1.2"])


def status_of_client_fault(soap_version: str) -> int:
    return 500 if soap_version == "1.1" else 400   # SOAP 1.2 HTTP binding: env:Sender -> 400


@SOAP
def test_an_invented_element_is_a_fo02_stuf055_and_a_violation(stuf, soap_version):
    double, server = stuf
    d = double.dialect
    message = di02(d)
    etree.SubElement(message, f"{{{ZKN}}}verzonnen").text = "x"
    response = post(server, d, "doc_id", message, soap_version)
    assert response.status_code == status_of_client_fault(soap_version)
    berichtcode, code, plek, text = fout(response, soap_version)
    assert (berichtcode, code, plek) == ("Fo02", "StUF055", "client") and "verzonnen" in text
    assert valid(answer(response, soap_version), d)
    assert len(double.violations) == 1 and "verzonnen" in double.violations[0]
    assert double.reservations == []


def test_the_fault_is_a_soap_fault_of_the_version_asked(stuf):
    double, server = stuf
    message = di02(double.dialect)
    message[0][0].text = "Lk01"   # wrong berichtcode
    for soap_version, ns, code in (("1.1", "http://schemas.xmlsoap.org/soap/envelope/", "soap:Client"),
                                   ("1.2", "http://www.w3.org/2003/05/soap-envelope", "soap:Sender")):
        response = post(server, double.dialect, "doc_id", message, soap_version)
        fault = etree.fromstring(response.content).find(f"{{{ns}}}Body/{{{ns}}}Fault")
        found = fault.findtext("faultcode") if soap_version == "1.1" else fault.findtext(f"{{{ns}}}Code/{{{ns}}}Value")
        assert found == code
        assert "berichtcode" in fout(response, soap_version)[3] or "Lk01" in fout(response, soap_version)[3]


@SOAP
def test_an_invalid_lk01_is_a_fo03_with_the_crossrefnummer(stuf, soap_version):
    double, server = stuf
    d = double.dialect
    message = zak_lk01(d, "ZAAK-00001", referentie="ref-bad")
    message.find("ZKN:object/ZKN:startdatum", NS).text = "1 januari"
    response = post(server, d, "zaak", message, soap_version)
    berichtcode, code, plek, text = fout(response, soap_version)
    assert (berichtcode, code, plek) == ("Fo03", "StUF055", "client") and "startdatum" in text
    fo03 = answer(response, soap_version)
    assert valid(fo03, d) and fo03.findtext(".//StUF:crossRefnummer", namespaces=NS) == "ref-bad"
    assert double.zaken == [] and len(double.violations) == 1


def test_a_missing_required_element_is_refused(stuf):
    double, server = stuf
    message = edc_lk01(double.dialect, "DOC-00001", "ZAAK-00001")
    parameters = message.find("ZKN:parameters", NS)
    message.remove(parameters)
    code = fout(post(server, double.dialect, "document", message))[1]
    assert code == "StUF055" and "parameters" in double.violations[0]


def test_a_zaak_without_identificatie_is_refused_although_the_schema_allows_it(stuf):
    double, server = stuf
    response = post(server, double.dialect, "zaak", zak_lk01(double.dialect, None))
    assert fout(response)[:3] == ("Fo03", "StUF055", "client")
    assert double.zaken == [] and "identificatie" in double.violations[0]


def test_a_document_for_an_unknown_zaak_is_fo03_stuf064(stuf):
    double, server = stuf
    response = post(server, double.dialect, "document", edc_lk01(double.dialect, "DOC-00001", "NO-SUCH-ZAAK"))
    assert fout(response)[:3] == ("Fo03", "StUF064", "server") and response.status_code == 500
    assert double.documents == [] and double.violations == []


def test_zaakdetails_of_an_unknown_zaak_is_fo02(stuf):
    double, server = stuf
    response = post(server, double.dialect, "details", zak_lv01(double.dialect, "NO-SUCH-ZAAK"))
    assert fout(response)[:3] == ("Fo02", "StUF064", "server")
    assert valid(answer(response), double.dialect) and double.violations == []


def test_duplicates_are_refused_when_strict(stuf):
    double, server = stuf
    d = double.dialect
    zaak = make_zaak(server, d, "ZAAK-00001")
    assert fout(post(server, d, "zaak", zak_lk01(d, zaak)))[:2] == ("Fo03", "StUF058")
    assert post(server, d, "document", edc_lk01(d, "DOC-00001", zaak)).status_code == 200
    assert fout(post(server, d, "document", edc_lk01(d, "DOC-00001", zaak)))[:2] == ("Fo03", "StUF058")
    assert double.census()["zaken"] == {"ZAAK-00001": 1} and double.census()["documents"] == {"DOC-00001": 1}


@pytest.mark.parametrize("dialect", ["1.1", "1.2"])
def test_duplicates_are_kept_when_lenient_so_a_test_can_count_them(dialect):
    double = StufDouble(dialect=dialect, lenient=True)
    with serve(double) as server:
        for _ in range(2):
            make_zaak(server, dialect, "ZAAK-00001")
            assert post(server, dialect, "document", edc_lk01(dialect, "DOC-00001", "ZAAK-00001")).status_code == 200
    assert double.census()["zaken"] == {"ZAAK-00001": 2} and double.census()["documents"] == {"DOC-00001": 2}
    assert double.violations == []


@SOAP
def test_a_soapaction_that_does_not_match_the_body_is_refused(stuf, soap_version):
    double, server = stuf
    d = double.dialect
    wrong = post(server, d, "doc_id", di02(d), soap_version,
                 action=ACTION_BASE[d] + "/genereerZaakIdentificatie_Di02")
    missing = post(server, d, "doc_id", di02(d), soap_version, action="")
    for response in (wrong, missing):
        assert fout(response, soap_version)[:3] == ("Fo02", "StUF022", "client")
    assert double.reservations == [] and len(double.violations) == 2


def test_an_operation_posted_to_another_service_is_refused(stuf):
    double, server = stuf
    response = post(server, double.dialect, "zaak", zak_lk01(double.dialect, "ZAAK-00001"), service="BeantwoordVraag")
    berichtcode, code, _, text = fout(response)
    assert (berichtcode, code) == ("Fo03", "StUF022") and "OntvangAsynchroon" in text
    assert double.zaken == [] and len(double.violations) == 1


def test_a_message_of_the_other_dialect_is_refused(servers):
    double, server = servers["1.1"]
    double.reset()
    response = post(server, "1.2", "doc_id", di02("1.2"), action="http://www.egem.nl/StUF/sector/zkn/0310/"
                    "genereerDocumentIdentificatie_Di02")
    assert fout(response)[1] == "StUF022" and "dialect 1.1" in double.violations[0]


@pytest.mark.parametrize("body", [b"<soap:Envelope xmlns:soap='x'><unclosed>", "<a>\x01</a>".encode(),
                                  b"<a>\xed\xa0\xbd</a>", b""])
def test_a_body_that_is_not_well_formed_is_a_fault(stuf, body):
    double, server = stuf
    response = post(server, double.dialect, "zaak", body)
    assert fout(response)[:3] == ("Fo03", "StUF055", "client")
    assert len(double.violations) == 1 and double.zaken == []


def test_a_dtd_with_entities_is_refused_and_nothing_is_expanded(stuf):
    double, server = stuf
    laughs = "".join(f'<!ENTITY l{i} "{"&l%d;" % (i - 1) * 10 if i else "lol"}">' for i in range(9))
    body = (f'<?xml version="1.0"?><!DOCTYPE soap:Envelope [{laughs}]>'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            '<a>&l8;</a></soap:Body></soap:Envelope>').encode()
    response = post(server, double.dialect, "doc_id", body)   # libxml2 stops the amplification itself
    assert fout(response)[:2] == ("Fo02", "StUF055") and "amplification" in double.violations[0]
    harmless = b'<!DOCTYPE soap:Envelope []>' + envelope(di02(double.dialect)).split(b"?>", 1)[1]
    response = post(server, double.dialect, "doc_id", harmless)
    assert fout(response)[:2] == ("Fo02", "StUF055") and "DTD" in double.violations[1]
    assert double.reservations == []


def test_a_soap_version_mismatch_and_an_unknown_content_type_are_refused(stuf):
    double, server = stuf
    d = double.dialect
    body = envelope(di02(d), "1.2")
    response = requests.post(server.endpoints["VrijeBerichten"], data=body, timeout=10,
                             headers={"Content-Type": "text/xml", "SOAPAction": "x"})
    assert fout(response)[1] == "StUF055" and "SOAP 1.2 envelope" in double.violations[0]
    response = requests.post(server.endpoints["VrijeBerichten"], data=body, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 415 and len(double.violations) == 2


def test_http_basic_is_required_when_configured():
    double = StufDouble(dialect="1.1", basic_auth=("connector", "geheim"))
    with serve(double) as server:
        assert post(server, "1.1", "doc_id", di02("1.1")).status_code == 401
        assert post(server, "1.1", "doc_id", di02("1.1"), auth=("connector", "fout")).status_code == 401
        assert post(server, "1.1", "doc_id", di02("1.1"), auth=("connector", "geheim")).status_code == 200
    assert len(double.reservations) == 1


@pytest.mark.parametrize("soap_version", ["1.1", "1.2"])
def test_a_ws_security_username_token_is_required_when_configured(soap_version):
    double = StufDouble(dialect="1.2", username_token=("connector", "geheim"))
    with serve(double) as server:
        for token in (None, ("connector", "fout"), ("ander", "geheim")):
            response = post(server, "1.2", "doc_id", di02("1.2"), soap_version, token=token)
            assert fout(response, soap_version)[:3] == ("Fo02", "StUF052", "client")
        assert post(server, "1.2", "doc_id", di02("1.2"), soap_version, token=("connector", "geheim")).ok
    assert len(double.reservations) == 1 and double.violations == []


def test_get_and_unknown_paths_are_not_soap(stuf):
    _, server = stuf
    assert requests.get(server.endpoints["VrijeBerichten"], timeout=10).status_code == 405
    assert requests.post(server.url + "/nothing", data=b"", timeout=10).status_code == 404
