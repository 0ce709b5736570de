"""The StUF-ZDS messages the sink sends, built with lxml for both dialects.

``1.1`` (the default; Decos JOIN, Suites, Open Formulieren, Zaakbrug): body roots in the ZKN
namespace, SOAPAction ``http://www.egem.nl/StUF/sector/zkn/0310/<operation>``. ``1.2``: ZDS roots,
SOAPAction ``http://www.stufstandaarden.nl/koppelvlak/zds0120/<operation>``. Operation names and
the service each belongs to are those of the WSDLs in the bundles (:data:`OPERATIONS`).

Every builder returns the body's root element; :func:`connector.sinks.stuf.schema.validate`
checks it before it is sent. Text from a message passes :func:`xml_text` (characters XML cannot
carry are dropped; emoji and every other non-BMP character stay as they are).
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from lxml import etree

STUF = "http://www.egem.nl/StUF/StUF0301"
ZKN = "http://www.egem.nl/StUF/sector/zkn/0310"
ZDS = "http://www.stufstandaarden.nl/koppelvlak/zds0120"
BG = "http://www.egem.nl/StUF/sector/bg/0310"
XMIME = "http://www.w3.org/2005/05/xmlmime"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"StUF": STUF, "ZKN": ZKN, "BG": BG, "xmime": XMIME, "xsi": XSI}

BEANTWOORD_VRAAG, VRIJE_BERICHTEN, ONTVANG_ASYNCHROON = "beantwoord_vraag", "vrije_berichten", "ontvang_asynchroon"


@dataclass(frozen=True)
class Operation:
    """One operation in one dialect: its body root, SOAPAction and service (endpoint)."""

    name: str          # ours, the same in both dialects
    root: str          # the body root as a Clark name
    action: str        # SOAPAction
    service: str       # BEANTWOORD_VRAAG, VRIJE_BERICHTEN or ONTVANG_ASYNCHROON

    @property
    def label(self) -> str:
        return self.action.rsplit("/", 1)[1]


# ours, the body root and the SOAPAction's operation in 1.1, the same in 1.2 (ZDS roots named after the operation),
# and the service, as the WSDLs of the bundles have them
_TABLE = (
    ("reserve_document", "genereerDocumentIdentificatie_Di02", "genereerDocumentIdentificatie_Di02",
     "genereerDocumentIdentificatie_Di02", VRIJE_BERICHTEN),
    ("reserve_zaak", "genereerZaakIdentificatie_Di02", "genereerZaakIdentificatie_Di02",
     "genereerZaakIdentificatie_Di02", VRIJE_BERICHTEN),
    ("create_zaak", "zakLk01", "creeerZaak_Lk01", "creeerZaak_ZakLk01", ONTVANG_ASYNCHROON),
    ("add_document", "edcLk01", "voegZaakdocumentToe_Lk01", "voegZaakdocumentToe_EdcLk01", ONTVANG_ASYNCHROON),
    ("zaak_details", "zakLv01", "geefZaakdetails_Lv01", "geefZaakdetails_ZakLv01", BEANTWOORD_VRAAG),
    ("zaak_documents", "zakLv01", "geefLijstZaakdocumenten_Lv01", "geefLijstZaakdocumenten_ZakLv01", BEANTWOORD_VRAAG),
)


def _operations(dialect: str) -> dict[str, Operation]:
    if dialect == "1.1":
        return {name: Operation(name, f"{{{ZKN}}}{root}", f"{ZKN}/{action}", service)
                for name, root, action, _, service in _TABLE}
    return {name: Operation(name, f"{{{ZDS}}}{zds}", f"{ZDS}/{zds}", service) for name, _, _, zds, service in _TABLE}


OPERATIONS = {dialect: _operations(dialect) for dialect in ("1.1", "1.2")}

# XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str | None, limit: int | None = None) -> str:
    """``text`` without the characters XML 1.0 cannot carry (control characters, lone surrogates,
    U+FFFE/U+FFFF), cut to ``limit`` characters (never inside a surrogate pair: Python strings
    have none); emoji and other characters beyond the BMP stay."""
    cleaned = _NOT_XML.sub("", text or "")
    return cleaned[:limit] if limit else cleaned


def stuf_date(value: datetime) -> str:
    return value.strftime("%Y%m%d")


def stuf_timestamp(value: datetime) -> str:
    """StUF ``Tijdstip``: ``yyyymmddhhmmssfff`` (milliseconds), in UTC."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y%m%d%H%M%S") + f"{value.microsecond // 1000:03d}"


@dataclass(frozen=True)
class Party:
    """Zender or ontvanger of the stuurgegevens."""

    organisatie: str = ""
    applicatie: str = ""
    administratie: str = ""
    gebruiker: str = ""

    def element(self, tag: str) -> etree._Element:
        party = etree.Element(f"{{{STUF}}}{tag}", nsmap=NSMAP)
        for name in ("organisatie", "applicatie", "administratie", "gebruiker"):
            if getattr(self, name):
                _sub(party, STUF, name, getattr(self, name))
        return party


@dataclass(frozen=True)
class Envelope:
    """What every message's stuurgegevens carry."""

    dialect: str
    zender: Party
    ontvanger: Party
    referentienummer: str
    tijdstip: datetime


def _sub(parent, ns: str, tag: str, text: str | None = None, **attributes) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{tag}", {
        (f"{{{STUF}}}{key[5:]}" if key.startswith("stuf_") else f"{{{XMIME}}}{key[6:]}" if key.startswith("xmime_")
         else key): value for key, value in attributes.items()})
    if text is not None:
        element.text = text
    return element


def _root(envelope: Envelope, operation: str) -> etree._Element:
    return etree.Element(OPERATIONS[envelope.dialect][operation].root, nsmap=NSMAP)


def _stuurgegevens(parent, envelope: Envelope, berichtcode: str, *, entiteittype: str = "",
                   functie: str = "") -> etree._Element:
    ns = ZDS if envelope.dialect == "1.2" and berichtcode == "Di02" else ZKN
    stuurgegevens = _sub(parent, ns, "stuurgegevens")
    _sub(stuurgegevens, STUF, "berichtcode", berichtcode)
    stuurgegevens.append(envelope.zender.element("zender"))
    stuurgegevens.append(envelope.ontvanger.element("ontvanger"))
    _sub(stuurgegevens, STUF, "referentienummer", envelope.referentienummer)
    _sub(stuurgegevens, STUF, "tijdstipBericht", stuf_timestamp(envelope.tijdstip))
    if entiteittype:
        _sub(stuurgegevens, STUF, "entiteittype", entiteittype)
    if functie:
        _sub(stuurgegevens, STUF, "functie", functie)
    return stuurgegevens


def reserve_document(envelope: Envelope) -> etree._Element:
    root = _root(envelope, "reserve_document")
    _stuurgegevens(root, envelope, "Di02", functie="genereerDocumentidentificatie")
    return root


def reserve_zaak(envelope: Envelope) -> etree._Element:
    root = _root(envelope, "reserve_zaak")
    _stuurgegevens(root, envelope, "Di02", functie="genereerZaakidentificatie")
    return root


def _parameters(root, mutatiesoort: str = "T", indicator: str = "V") -> None:
    parameters = _sub(root, ZKN, "parameters")
    _sub(parameters, STUF, "mutatiesoort", mutatiesoort)
    _sub(parameters, STUF, "indicatorOvername", indicator)


@dataclass(frozen=True)
class ZaakFields:
    identificatie: str
    omschrijving: str
    zaaktype_code: str
    startdatum: datetime
    toelichting: str = ""
    zaaktype_omschrijving: str = ""
    #: 1.2 requires an initiator: the organisation itself (a niet-natuurlijk persoon by its RSIN/kvk)
    initiator_rsin: str = ""
    initiator_naam: str = ""


def create_zaak(envelope: Envelope, zaak: ZaakFields) -> etree._Element:
    root = _root(envelope, "create_zaak")
    _stuurgegevens(root, envelope, "Lk01", entiteittype="ZAK")
    _parameters(root)
    obj = _sub(root, ZKN, "object", stuf_entiteittype="ZAK", stuf_verwerkingssoort="T")
    _sub(obj, ZKN, "identificatie", zaak.identificatie)
    _sub(obj, ZKN, "omschrijving", xml_text(zaak.omschrijving, 80))
    if zaak.toelichting:
        _sub(obj, ZKN, "toelichting", xml_text(zaak.toelichting, 1000))
    _sub(obj, ZKN, "startdatum", stuf_date(zaak.startdatum))
    _sub(obj, ZKN, "registratiedatum", stuf_date(envelope.tijdstip))
    _sub(obj, ZKN, "zaakniveau", "1")
    _sub(obj, ZKN, "deelzakenIndicatie", "N")
    is_van = _sub(obj, ZKN, "isVan", stuf_entiteittype="ZAKZKT", stuf_verwerkingssoort="T")
    zaaktype = _sub(is_van, ZKN, "gerelateerde", stuf_entiteittype="ZKT", stuf_verwerkingssoort="I")
    if zaak.zaaktype_omschrijving:
        _sub(zaaktype, ZKN, "omschrijving", xml_text(zaak.zaaktype_omschrijving, 80))
    _sub(zaaktype, ZKN, "code", zaak.zaaktype_code)
    if zaak.initiator_rsin:
        initiator = _sub(obj, ZKN, "heeftAlsInitiator", stuf_entiteittype="ZAKBTRINI", stuf_verwerkingssoort="T")
        gerelateerde = _sub(initiator, ZKN, "gerelateerde")
        nnp = _sub(gerelateerde, ZKN, "nietNatuurlijkPersoon", stuf_entiteittype="NNP", stuf_verwerkingssoort="I")
        _sub(nnp, BG, "inn.nnpId", zaak.initiator_rsin)
        _sub(nnp, BG, "authentiek", "N", stuf_metagegeven="true")
        if zaak.initiator_naam:
            _sub(nnp, BG, "statutaireNaam", xml_text(zaak.initiator_naam, 200))
    return root


@dataclass(frozen=True)
class DocumentFields:
    identificatie: str
    zaak_identificatie: str
    titel: str
    omschrijving: str            # dct.omschrijving: the document type
    beschrijving: str
    formaat: str
    bestandsnaam: str
    taal: str
    auteur: str
    vertrouwelijkheid: str       # StUF's upper-case labels: OPENBAAR, BEPERKT OPENBAAR, ...
    creatiedatum: datetime
    link: str = ""


def add_document(envelope: Envelope, document: DocumentFields, content: bytes) -> etree._Element:
    """``voegZaakdocumentToe``: the document with its content (base64) in the zaak it isRelevantVoor."""
    root = _root(envelope, "add_document")
    _stuurgegevens(root, envelope, "Lk01", entiteittype="EDC")
    _parameters(root)
    obj = _sub(root, ZKN, "object", stuf_entiteittype="EDC", stuf_verwerkingssoort="T")
    _sub(obj, ZKN, "identificatie", document.identificatie)
    _sub(obj, ZKN, "dct.omschrijving", xml_text(document.omschrijving, 80))
    _sub(obj, ZKN, "creatiedatum", stuf_date(document.creatiedatum))
    _sub(obj, ZKN, "ontvangstdatum", stuf_date(envelope.tijdstip))
    _sub(obj, ZKN, "titel", xml_text(document.titel, 200))
    if document.beschrijving:
        _sub(obj, ZKN, "beschrijving", xml_text(document.beschrijving, 100))
    _sub(obj, ZKN, "formaat", xml_text(document.formaat, 85))
    _sub(obj, ZKN, "taal", document.taal)
    _sub(obj, ZKN, "status", "definitief")
    _sub(obj, ZKN, "vertrouwelijkAanduiding", document.vertrouwelijkheid)
    _sub(obj, ZKN, "auteur", xml_text(document.auteur, 200))
    if document.link:
        _sub(obj, ZKN, "link", document.link)
    _sub(obj, ZKN, "inhoud", base64.b64encode(content).decode("ascii"), xmime_contentType=document.formaat,
         stuf_bestandsnaam=xml_text(document.bestandsnaam, 255))
    relevant = _sub(obj, ZKN, "isRelevantVoor", stuf_entiteittype="EDCZAK", stuf_verwerkingssoort="T")
    zaak = _sub(relevant, ZKN, "gerelateerde", stuf_entiteittype="ZAK", stuf_verwerkingssoort="I")
    _sub(zaak, ZKN, "identificatie", document.zaak_identificatie)
    return root


def _lv01(envelope: Envelope, operation: str, identificatie: str) -> tuple[etree._Element, etree._Element]:
    """A question about the zaak ``identificatie``: the body root and the ``scope/object`` to fill in."""
    root = _root(envelope, operation)
    _stuurgegevens(root, envelope, "Lv01", entiteittype="ZAK")
    parameters = _sub(root, ZKN, "parameters")
    _sub(parameters, STUF, "sortering", "0")
    _sub(parameters, STUF, "indicatorVervolgvraag", "false")
    gelijk = _sub(root, ZKN, "gelijk", stuf_entiteittype="ZAK")
    _sub(gelijk, ZKN, "identificatie", identificatie)
    return root, _sub(_sub(root, ZKN, "scope"), ZKN, "object", stuf_entiteittype="ZAK")


def zaak_details(envelope: Envelope, identificatie: str) -> etree._Element:
    """``geefZaakdetails``: the zaak's identificatie and omschrijving (is it there?)."""
    root, wanted = _lv01(envelope, "zaak_details", identificatie)
    _sub(wanted, ZKN, "identificatie", **{f"{{{XSI}}}nil": "true"})
    _sub(wanted, ZKN, "omschrijving", **{f"{{{XSI}}}nil": "true"})
    return root


def zaak_documents(envelope: Envelope, identificatie: str) -> etree._Element:
    """``geefLijstZaakdocumenten``: the identificaties of the zaak's documents (was it added?)."""
    root, wanted = _lv01(envelope, "zaak_documents", identificatie)
    relevant = _sub(wanted, ZKN, "heeftRelevant", stuf_entiteittype="ZAKEDC")
    document = _sub(relevant, ZKN, "gerelateerde", stuf_entiteittype="EDC")
    _sub(document, ZKN, "identificatie", **{f"{{{XSI}}}nil": "true"})
    return root
