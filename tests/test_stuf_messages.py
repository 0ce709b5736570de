"""The StUF sink's messages, its schema loader and its reading of answers, without a server."""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone

import pytest
import requests
from lxml import etree

from connector.failures import PERMANENT, RETRY, Failed
from connector.record import RecordFile
from connector.sinks.stuf import messages as m
from connector.sinks.stuf import schema, soap
from connector.sinks.stuf.stream import StreamedEnvelope

from .conftest import SHARED

NOW = datetime(2026, 11, 26, 10, 0, 0, 123000, tzinfo=timezone.utc)
EMOJI = "Feest in de wijk 🎉👩🏽‍🚒 𝄞"


def envelope(dialect):
    return m.Envelope(dialect, m.Party("0392", "CONNECTOR", gebruiker="connector"), m.Party("0392", "ZSH"),
                      "SOC" + "a" * 32, NOW)


def zaak(**changes):
    fields = dict(identificatie="0392-2026-0000001", omschrijving=f"Sociale media: {EMOJI}", zaaktype_code="SOCIAL",
                  startdatum=NOW, toelichting="regel\x01met\x0bstuurtekens\ud800", initiator_rsin="002220647",
                  initiator_naam="Gemeente Voorbeeld")
    fields.update(changes)
    return m.ZaakFields(**fields)


def document():
    return m.DocumentFields("DOC-0392-1", "0392-2026-0000001", f"Bericht: {EMOJI}", "Sociale-mediabericht",
                            "Leesbare weergave", "application/pdf", "bericht.pdf", "nld", "connector",
                            "BEPERKT OPENBAAR", NOW, "https://social.example/@gemeente/1")


def all_messages(dialect):
    e = envelope(dialect)
    return {"reserve_document": m.reserve_document(e), "reserve_zaak": m.reserve_zaak(e),
            "create_zaak": m.create_zaak(e, zaak()), "add_document": m.add_document(e, document(), b"%PDF-1.7"),
            "zaak_details": m.zaak_details(e, "0392-2026-0000001"),
            "zaak_documents": m.zaak_documents(e, "0392-2026-0000001")}


@pytest.mark.parametrize("dialect", ["1.1", "1.2"])
def test_every_message_validates_against_the_official_schemas_of_its_dialect(dialect):
    for name, body in all_messages(dialect).items():
        schema.validate(dialect, body)
        assert body.tag == m.OPERATIONS[dialect][name].root


@pytest.mark.parametrize("dialect", ["1.1", "1.2"])
def test_the_loader_is_not_trivially_passing(dialect):
    body = all_messages(dialect)["add_document"]
    body.find(f"{{{m.ZKN}}}stuurgegevens/{{{m.STUF}}}berichtcode").text = "Lk02"
    with pytest.raises(schema.SchemaError, match="berichtcode"):
        schema.validate(dialect, body)
    body = all_messages(dialect)["create_zaak"]
    etree.SubElement(body.find(f"{{{m.ZKN}}}object"), f"{{{m.ZKN}}}verzonnenElement").text = "x"
    with pytest.raises(schema.SchemaError, match="verzonnenElement"):
        schema.validate(dialect, body)
    body = all_messages(dialect)["add_document"]
    body.remove(body.find(f"{{{m.ZKN}}}parameters"))   # required in every Lk01
    with pytest.raises(schema.SchemaError, match="parameters|object"):
        schema.validate(dialect, body)


def test_dialect_1_2_needs_the_initiator_1_1_does_not():
    schema.validate("1.1", m.create_zaak(envelope("1.1"), zaak(initiator_rsin="")))
    with pytest.raises(schema.SchemaError, match="heeftAlsInitiator"):
        schema.validate("1.2", m.create_zaak(envelope("1.2"), zaak(initiator_rsin="")))


@pytest.mark.skipif(not (SHARED / "examples" / "stuf").is_dir(), reason="needs ../shared")
@pytest.mark.parametrize("name,dialect", [("openforms_genereerDocumentIdentificatie_Di02", "1.1"),
                                          ("openforms_voegZaakdocumentToe_edcLk01", "1.1"),
                                          ("openforms_creeerZaak_zakLk01", "1.1"),
                                          ("haarlem_zds12_creeerZaak_ZakLk01", "1.2"),
                                          ("haarlem_zds12_voegZaakdocumentToe_EdcLk01", "1.2"),
                                          ("haarlem_zds12_geefZaakdetails_ZakLv01", "1.2")])
def test_real_requests_of_both_dialects_validate(name, dialect):
    root = etree.parse(str(SHARED / "examples" / "stuf" / f"{name}.request.xml")).getroot()
    body = next(child for child in root.find(f"{{{etree.QName(root).namespace}}}Body") if isinstance(child.tag, str))
    schema.validate(dialect, body)


def test_emoji_survive_and_characters_xml_cannot_carry_are_dropped():
    data = soap.envelope(all_messages("1.1")["create_zaak"], "1.1")
    text = data.decode("utf-8")
    assert "🎉👩🏽‍🚒 𝄞" in text   # as characters, not as character references
    parsed = etree.fromstring(data)
    toelichting = parsed.find(f".//{{{m.ZKN}}}toelichting").text
    assert toelichting == "regelmetstuurtekens"
    assert m.xml_text("a\ufffeb\uffffc\x7f") == "abc\x7f"


@pytest.mark.parametrize("version,content_type", [("1.1", "text/xml; charset=utf-8"),
                                                  ("1.2", "application/soap+xml; charset=utf-8; action=")])
def test_soap_versions_and_their_action_headers(version, content_type):
    operation = m.OPERATIONS["1.1"]["add_document"]
    headers = soap.headers(operation, version)
    assert headers["Content-Type"].startswith(content_type)
    assert operation.action == "http://www.egem.nl/StUF/sector/zkn/0310/voegZaakdocumentToe_Lk01"
    assert (headers.get("SOAPAction") == f'"{operation.action}"') == (version == "1.1")
    data = soap.envelope(etree.Element("x"), version, ("connector", "geheim"))
    assert (soap.SOAP12 if version == "1.2" else soap.SOAP11).encode() in data
    assert b"UsernameToken" in data and b"PasswordText" in data


def test_a_streamed_document_is_the_same_bytes_as_one_built_whole(tmp_path):
    content = bytes(range(256)) * 7000 + b"tail"   # not a multiple of 3 or of a chunk
    path = tmp_path / "medium.bin"
    path.write_bytes(content)
    file = RecordFile.from_path("medium-1", path, "application/octet-stream", "m.bin", "t", "d")
    stand_in = base64.b64encode(b"\x01" * 24).decode()
    body = m.add_document(envelope("1.1"), document(), b"")
    body.find(f"{{{m.ZKN}}}object/{{{m.ZKN}}}inhoud").text = stand_in
    streamed = StreamedEnvelope(soap.envelope(body, "1.1"), stand_in, file)
    sent = b"".join(streamed)
    assert len(sent) == len(streamed)
    whole = soap.envelope(m.add_document(envelope("1.1"), document(), content), "1.1")
    assert hashlib.sha256(sent).digest() == hashlib.sha256(whole).digest()


class FakeResponse:
    def __init__(self, status, content):
        self.status_code, self.content, self.url, self.headers = status, content, "http://stuf/x", {}

    def json(self):
        raise ValueError


class FakeSession:
    def __init__(self, status, content):
        self.response = FakeResponse(status, content)

    def post(self, url, data, headers, timeout):
        return self.response


def answer(status, body: bytes):
    operation = m.OPERATIONS["1.1"]["add_document"]
    return soap.post(FakeSession(status, body), "http://stuf/x", operation, b"", "1.1", timeout=1,
                     expect="Bv03Bericht", referentienummer="SOC1")


BV03 = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b'<StUF:Bv03Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:stuurgegevens>'
        b'<StUF:berichtcode>Bv03</StUF:berichtcode><StUF:crossRefnummer>%s</StUF:crossRefnummer>'
        b'</StUF:stuurgegevens></StUF:Bv03Bericht></s:Body></s:Envelope>')


def test_only_a_bv03_for_our_message_is_success():
    assert answer(200, BV03 % b"SOC1").element.tag == f"{{{m.STUF}}}Bv03Bericht"
    for body in (BV03 % b"SOC2", b"", b"<html>proxy says hi</html>", b"<s:Envelope xmlns:s='x'/>"):
        with pytest.raises(Failed) as info:
            answer(200, body)
        assert info.value.failure.verdict == RETRY and "not taken as success" in info.value.failure.message


@pytest.mark.skipif(not (SHARED / "examples" / "stuf").is_dir(), reason="needs ../shared")
def test_a_real_fo02_fault_becomes_a_clear_permanent_error():
    raw = (SHARED / "examples" / "stuf" / "openforms_soapfault_Fo02.response.xml").read_bytes()
    with pytest.raises(Failed) as info:
        answer(500, raw)
    failure = info.value.failure
    assert failure.verdict == PERMANENT
    assert "StUF055" in failure.message and "plek client" in failure.message
    assert "niet conform schema" in failure.message and "medewerkeridentificatie" in failure.message


def test_a_server_side_fault_is_retried_and_a_transport_error_too():
    raw = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code><s:Value>'
           b's:Receiver</s:Value></s:Code><s:Reason><s:Text>db down</s:Text></s:Reason><s:Detail>'
           b'<StUF:Fo03Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:stuurgegevens><StUF:berichtcode>'
           b'Fo03</StUF:berichtcode></StUF:stuurgegevens><StUF:body><StUF:code>StUF058</StUF:code><StUF:plek>server'
           b'</StUF:plek><StUF:omschrijving>Proces voor afhandelen bericht geeft fout</StUF:omschrijving></StUF:body>'
           b'</StUF:Fo03Bericht></s:Detail></s:Fault></s:Body></s:Envelope>')
    with pytest.raises(Failed) as info:
        answer(500, raw)
    assert info.value.failure.verdict == RETRY and "StUF058" in info.value.failure.message

    class Broken:
        def post(self, *args, **kwargs):
            raise requests.ConnectionError("refused")

    with pytest.raises(Failed) as info:
        soap.post(Broken(), "http://stuf/x", m.OPERATIONS["1.1"]["add_document"], b"", "1.1", timeout=1,
                  expect="Bv03Bericht")
    assert info.value.failure.verdict == RETRY


def test_an_answer_with_entities_is_never_expanded_nor_taken_as_success():
    """A hostile system (or a proxy) sends a DTD: a billion laughs, and a crossRefnummer that only matches once
    its entity is expanded. Nothing is expanded, nothing is fetched, and the answer is no success."""
    laughs = "".join(f'<!ENTITY l{n} "{"&l%d;" % (n - 1) * 10}">' for n in range(1, 10))
    raw = (f'<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY l0 "ha">{laughs}'
           '<!ENTITY ours "SOC1"><!ENTITY remote SYSTEM "http://127.0.0.1:9/secret">]>'
           '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
           '<StUF:Bv03Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:stuurgegevens>'
           '<StUF:berichtcode>Bv03&l9;&remote;</StUF:berichtcode><StUF:crossRefnummer>&ours;</StUF:crossRefnummer>'
           '</StUF:stuurgegevens></StUF:Bv03Bericht></s:Body></s:Envelope>').encode()
    with pytest.raises(Failed) as info:
        answer(200, raw)
    assert info.value.failure.verdict == RETRY and "not taken as success" in info.value.failure.message
    assert len(info.value.failure.message) < 2000   # no expanded laughter in what the operator reads
