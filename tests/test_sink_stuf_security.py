"""The StUF sink's transport security against the StUF double: HTTP Basic, mutual TLS; and real answers parsed."""
from __future__ import annotations

import re
import ssl

import pytest

from connector.failures import CONFIGURATION, RETRY, Failed
from connector.sinks import MemorySteps
from connector.sinks.stuf import StufZdsSink
from connector_doubles.stuf import StufDouble, serve

from .conftest import SHARED
from .test_rendition import load_message
from .test_sink_stuf import CREATE
from .test_stuf_double_modes import certificate  # noqa: F401 (fixture)


def options(server, **changes) -> dict:
    return {"beantwoord_vraag_url": server.endpoints["BeantwoordVraag"],
            "vrije_berichten_url": server.endpoints["VrijeBerichten"],
            "ontvang_asynchroon_url": server.endpoints["OntvangAsynchroon"],
            "zender": {"organisatie": "0392", "applicatie": "CONNECTOR"},
            "ontvanger": {"organisatie": "0392", "applicatie": "ZSH"}, **changes}


def test_http_basic_is_sent_and_a_wrong_password_pauses_the_sink():
    double = StufDouble(basic_auth=("connector", "b-geheim"))
    with serve(double) as server:
        delivered = StufZdsSink("s", options(server, username="connector", password="b-geheim")).deliver(
            load_message(), CREATE, MemorySteps())
        assert delivered.zaak_identificatie and double.violations == []
        with pytest.raises(Failed) as info:
            StufZdsSink("s", options(server, username="connector", password="fout")).deliver(
                load_message(), CREATE, MemorySteps())
        assert info.value.failure.verdict == CONFIGURATION and "401" in info.value.failure.message


def test_mutual_tls_with_a_client_certificate_and_a_ca_bundle(certificate):  # noqa: F811
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cert)
    double = StufDouble(dialect="1.2")
    with serve(double, ssl_context=context) as server:
        tls = options(server, dialect="1.2", initiator={"rsin": "002220647"}, ca_bundle=cert)
        delivered = StufZdsSink("s", {**tls, "client_certificate": cert, "client_key": key}).deliver(
            load_message(), CREATE, MemorySteps())
        assert delivered.documents and double.violations == []
        with pytest.raises(Failed) as info:   # without the client certificate the handshake fails
            StufZdsSink("s", tls).deliver(load_message(), CREATE, MemorySteps())
        assert info.value.failure.verdict == RETRY and "SSL" in info.value.failure.message


@pytest.mark.skipif(not (SHARED / "examples" / "stuf").is_dir(), reason="needs ../shared")
@pytest.mark.parametrize("template,operation,wanted", [
    ("genereerDocumentIdentificatie_Du02.orig.xml", "reserve_document", "document"),
    ("genereerZaakIdentificatie_Du02_02.orig.xml", "reserve_zaak", "zaak")])
def test_the_reserved_number_is_read_from_real_du02_answers(template, operation, wanted, monkeypatch):
    """The StUF-Testplatform's Du02 templates (ZDS 1.2), filled, as the answer: the number is what the sink keeps."""
    text = (SHARED / "examples" / "stuf" / "stp_zds1.2_templates" / template).read_text()
    filled = re.sub(r"\$\{[^}]*identificatie[^}]*\}", "0392-REAL-123", text)
    filled = re.sub(r"\$\{[^}]*\}", "0392", filled)
    envelope = ('<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                + re.sub(r"^<\?xml[^>]*>", "", filled.strip()) + "</s:Body></s:Envelope>").encode()

    class Answering:
        def post(self, url, data, headers, timeout):
            class Response:
                status_code, content, url, headers = 200, envelope, "http://stuf", {}
            return Response()

    sink = StufZdsSink("s", {**options(type("S", (), {"endpoints": {k: f"http://stuf/{k}" for k in
                                                                     ("BeantwoordVraag", "VrijeBerichten",
                                                                      "OntvangAsynchroon")}})()),
                             "dialect": "1.2"}, session=Answering())
    assert sink._reserve(load_message(), "test", operation, wanted) == "0392-REAL-123"
