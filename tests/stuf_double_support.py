"""Shared fixtures and message builders for the StUF double's tests.

Messages are built with lxml, as a StUF client builds them, for either dialect: ``1.1`` (ZKN roots)
or ``1.2`` (ZDS roots). ``post`` sends one over real HTTP as SOAP 1.1 or 1.2.
"""
from __future__ import annotations

import base64
import uuid

import pytest
import requests
from lxml import etree

from connector_doubles.stuf import StufDouble, schemas, serve
from connector_doubles.stuf.catalogue import BG, STUF, XMIME, ZDS, ZKN
from connector_doubles.stuf.soap import ENVELOPES, SOAP11, SOAP12, WSSE

from .conftest import SHARED

EXAMPLES = SHARED / "examples" / "stuf"
NS = {"StUF": STUF, "ZKN": ZKN, "ZDS": ZDS, "s11": SOAP11, "s12": SOAP12}
# (dialect, operation name) -> service, as the double's catalogue has it
ACTION_BASE = {"1.1": ZKN, "1.2": ZDS}
OPS = {
    "1.1": {"doc_id": "genereerDocumentIdentificatie_Di02", "zaak_id": "genereerZaakIdentificatie_Di02",
            "zaak": "creeerZaak_Lk01", "document": "voegZaakdocumentToe_Lk01", "details": "geefZaakdetails_Lv01"},
    "1.2": {"doc_id": "genereerDocumentIdentificatie_Di02", "zaak_id": "genereerZaakIdentificatie_Di02",
            "zaak": "creeerZaak_ZakLk01", "document": "voegZaakdocumentToe_EdcLk01",
            "details": "geefZaakdetails_ZakLv01"},
}
SERVICE = {"doc_id": "VrijeBerichten", "zaak_id": "VrijeBerichten", "zaak": "OntvangAsynchroon",
           "document": "OntvangAsynchroon", "details": "BeantwoordVraag"}


@pytest.fixture(scope="module")
def servers():
    """One strict double per dialect for the module: {dialect: (double, server)}; reset per test."""
    running = {}
    for dialect in ("1.1", "1.2"):
        double = StufDouble(dialect=dialect)
        running[dialect] = (double, serve(double))
    yield running
    for _, server in running.values():
        server.shutdown()


@pytest.fixture(params=["1.1", "1.2"])
def stuf(request, servers):
    """(double, server) of each dialect in turn, reset."""
    double, server = servers[request.param]
    double.reset()
    yield double, server
    double.reset()


def el(parent, ns: str, name: str, text: str | None = None, **attributes):
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    for key, value in attributes.items():
        element.set(f"{{{STUF}}}{key}", value)
    if text is not None:
        element.text = text
    return element


def _stuurgegevens(root, ns, berichtcode, referentie=None, entiteittype=None, functie=None):
    sg = el(root, ns, "stuurgegevens")
    el(sg, STUF, "berichtcode", berichtcode)
    for name, applicatie in (("zender", "CONNECTOR"), ("ontvanger", "ZSH")):
        system = el(sg, STUF, name)
        el(system, STUF, "organisatie", "0392")
        el(system, STUF, "applicatie", applicatie)
    el(sg, STUF, "referentienummer", referentie or str(uuid.uuid4()))
    el(sg, STUF, "tijdstipBericht", "20260101120000")
    if entiteittype:
        el(sg, STUF, "entiteittype", entiteittype)
    if functie:
        el(sg, STUF, "functie", functie)
    return sg


def _root(dialect: str, kind: str):
    name = OPS[dialect][kind] if dialect == "1.2" or kind in ("doc_id", "zaak_id") else \
        {"zaak": "zakLk01", "document": "edcLk01", "details": "zakLv01"}[kind]
    ns = ZKN if dialect == "1.1" else ZDS
    return etree.Element(f"{{{ns}}}{name}", nsmap={"StUF": STUF, "ZKN": ZKN, "ZDS": ZDS, "BG": BG,
                                                    "xmime": XMIME})


def di02(dialect: str, what: str = "document", referentie: str | None = None):
    root = _root(dialect, "doc_id" if what == "document" else "zaak_id")
    ns = ZKN if dialect == "1.1" else ZDS
    _stuurgegevens(root, ns, "Di02", referentie,
                   functie="genereerDocumentidentificatie" if what == "document" else "genereerZaakidentificatie")
    return root


def zak_lk01(dialect: str, identificatie: str | None, omschrijving: str = "Bericht op Mastodon",
             zaaktype: str = "B1234", referentie: str | None = None):
    root = _root(dialect, "zaak")
    _stuurgegevens(root, ZKN, "Lk01", referentie, entiteittype="ZAK")
    parameters = el(root, ZKN, "parameters")
    el(parameters, STUF, "mutatiesoort", "T")
    el(parameters, STUF, "indicatorOvername", "V")
    obj = el(root, ZKN, "object", entiteittype="ZAK", verwerkingssoort="T")
    if identificatie is not None:
        el(obj, ZKN, "identificatie", identificatie)
    el(obj, ZKN, "omschrijving", omschrijving)
    el(obj, ZKN, "startdatum", "20260101")
    el(obj, ZKN, "registratiedatum", "20260101")
    el(obj, ZKN, "zaakniveau", "1")
    el(obj, ZKN, "deelzakenIndicatie", "N")
    is_van = el(obj, ZKN, "isVan", entiteittype="ZAKZKT", verwerkingssoort="T")
    el(el(is_van, ZKN, "gerelateerde", entiteittype="ZKT", verwerkingssoort="I"), ZKN, "code", zaaktype)
    initiator = el(obj, ZKN, "heeftAlsInitiator", entiteittype="ZAKBTRINI", verwerkingssoort="T")
    medewerker = el(el(initiator, ZKN, "gerelateerde"), ZKN, "medewerker", entiteittype="MDW",
                    verwerkingssoort="I")
    el(medewerker, ZKN, "identificatie", "socialmedia")
    return root


def edc_lk01(dialect: str, identificatie: str | None, zaak: str, content: bytes = b"%PDF-1.7 hello",
             titel: str = "Bericht", bestandsnaam: str = "bericht.pdf", content_type: str = "application/pdf",
             referentie: str | None = None, base64_text: str | None = None):
    root = _root(dialect, "document")
    _stuurgegevens(root, ZKN, "Lk01", referentie, entiteittype="EDC")
    parameters = el(root, ZKN, "parameters")
    el(parameters, STUF, "mutatiesoort", "T")
    el(parameters, STUF, "indicatorOvername", "V")
    obj = el(root, ZKN, "object", entiteittype="EDC", verwerkingssoort="T")
    if identificatie is not None:
        el(obj, ZKN, "identificatie", identificatie)
    el(obj, ZKN, "dct.omschrijving", "Sociale media bericht")
    el(obj, ZKN, "creatiedatum", "20260101")
    el(obj, ZKN, "ontvangstdatum", "20260101")
    el(obj, ZKN, "titel", titel)
    el(obj, ZKN, "formaat", content_type)
    el(obj, ZKN, "taal", "nld")
    el(obj, ZKN, "status", "definitief")
    el(obj, ZKN, "vertrouwelijkAanduiding", "OPENBAAR")
    el(obj, ZKN, "auteur", "Gemeente")
    inhoud = el(obj, ZKN, "inhoud", base64_text if base64_text is not None
                else base64.b64encode(content).decode(), bestandsnaam=bestandsnaam)
    inhoud.set(f"{{{XMIME}}}contentType", content_type)
    relevant = el(obj, ZKN, "isRelevantVoor", entiteittype="EDCZAK", verwerkingssoort="T")
    el(el(relevant, ZKN, "gerelateerde", entiteittype="ZAK", verwerkingssoort="I"), ZKN, "identificatie", zaak)
    return root


def zak_lv01(dialect: str, identificatie: str, referentie: str | None = None):
    root = _root(dialect, "details")
    _stuurgegevens(root, ZKN, "Lv01", referentie, entiteittype="ZAK")
    parameters = el(root, ZKN, "parameters")
    el(parameters, STUF, "sortering", "0")
    el(parameters, STUF, "indicatorVervolgvraag", "false")
    el(el(root, ZKN, "gelijk", entiteittype="ZAK"), ZKN, "identificatie", identificatie)
    el(el(root, ZKN, "scope"), ZKN, "object", entiteittype="ZAK", scope="alles")
    return root


def envelope(message, soap_version: str = "1.1", token: tuple[str, str] | None = None) -> bytes:
    ns = ENVELOPES[soap_version]
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    if token is not None:
        security = etree.SubElement(etree.SubElement(env, f"{{{ns}}}Header"), f"{{{WSSE}}}Security",
                                    nsmap={"wsse": WSSE})
        username = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(username, f"{{{WSSE}}}Username").text = token[0]
        password = etree.SubElement(username, f"{{{WSSE}}}Password")
        password.set("Type", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
                             "#PasswordText")
        password.text = token[1]
    etree.SubElement(env, f"{{{ns}}}Body").append(message)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def post(server, dialect: str, kind: str, message, soap_version: str = "1.1", action: str | None = None,
         service: str | None = None, token=None, **kwargs) -> requests.Response:
    """POST ``message`` (an element, or ready bytes) as operation ``kind`` (``doc_id``, ``zaak`` ...)."""
    body = message if isinstance(message, bytes) else envelope(message, soap_version, token)
    action = action if action is not None else f"{ACTION_BASE[dialect]}/{OPS[dialect][kind]}"
    if soap_version == "1.1":
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
    url = server.endpoints[service or SERVICE[kind]]
    return requests.post(url, data=body, headers=headers, timeout=kwargs.pop("timeout", 30), **kwargs)


def answer(response: requests.Response, soap_version: str = "1.1"):
    """The message in the answer's SOAP Body (the Fo0x Bericht for a fault)."""
    env = etree.fromstring(response.content)
    ns = ENVELOPES[soap_version]
    assert env.tag == f"{{{ns}}}Envelope", env.tag
    body = env.find(f"{{{ns}}}Body")
    fault = body.find(f"{{{ns}}}Fault")
    if fault is not None:
        detail = fault.find("detail") if soap_version == "1.1" else fault.find(f"{{{ns}}}Detail")
        return detail[0]
    return body[0]


def valid(message, dialect: str) -> bool:
    found = schemas.errors(message, dialect)
    assert found == [], found
    return True


def fout(response, soap_version: str = "1.1") -> tuple[str, str, str, str]:
    """(berichtcode, code, plek, omschrijving + details) of a fault answer."""
    message = answer(response, soap_version)
    return (message.findtext("StUF:stuurgegevens/StUF:berichtcode", namespaces=NS),
            message.findtext("StUF:body/StUF:code", namespaces=NS),
            message.findtext("StUF:body/StUF:plek", namespaces=NS),
            (message.findtext("StUF:body/StUF:omschrijving", namespaces=NS) or "") + " "
            + (message.findtext("StUF:body/StUF:details", namespaces=NS) or ""))


def identificatie(response, soap_version: str = "1.1") -> str:
    return answer(response, soap_version).findtext(".//ZKN:identificatie", namespaces=NS)


def make_zaak(server, dialect: str, number: str | None = None, soap_version: str = "1.1", **kw) -> str:
    """Reserve a zaak number (unless given) and create the zaak; returns its identificatie."""
    if number is None:
        number = identificatie(post(server, dialect, "zaak_id", di02(dialect, "zaak"), soap_version), soap_version)
    response = post(server, dialect, "zaak", zak_lk01(dialect, number, **kw), soap_version)
    assert response.status_code == 200, response.text
    return number

