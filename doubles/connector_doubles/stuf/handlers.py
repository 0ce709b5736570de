"""What the double does with each operation, and the answers it builds (schema-valid, checked in app.py).

Every handler takes a :class:`Call` and returns the answer's message element, or raises
:class:`~.soap.StufError` for a refusal. Handlers run under the state's lock.
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from lxml import etree

from .catalogue import STUF, XMIME, ZDS, ZKN, Operation
from .soap import Request, StufError, bv03, stuf, stuurgegevens
from .state import State


@dataclass
class Call:
    dialect: str
    operation: Operation
    message: etree._Element       # the body's payload element, schema-valid
    request: Request
    state: State
    lenient: bool


def zkn(parent: etree._Element, name: str, text: str | None = None, **attributes) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ZKN}}}{name}", **attributes)
    if text is not None:
        element.text = text
    return element


def _text(element: etree._Element | None, path: str) -> str | None:
    """Text at ``path`` (``ZKN:`` and ``StUF:`` prefixes), as received; None when absent or empty."""
    if element is None:
        return None
    found = element.find(path, {"ZKN": ZKN, "StUF": STUF})
    return found.text if found is not None and found.text else None


def _object(call: Call) -> etree._Element:
    return call.message.find(f"{{{ZKN}}}object")


def _answer_root(call: Call, name: str) -> tuple[etree._Element, str]:
    """The answer's root element and the namespace of its stuurgegevens and holders."""
    if call.dialect == "1.1":
        return etree.Element(f"{{{ZKN}}}{name}", nsmap={"ZKN": ZKN, "StUF": STUF}), ZKN
    own = ZDS if name.endswith("Du02") else ZKN   # ZDS 1.2: Du02 children are ZDS:, La01 children ZKN:
    return etree.Element(f"{{{ZDS}}}{name}", nsmap={"ZDS": ZDS, "ZKN": ZKN, "StUF": STUF}), own


# --- vrije berichten: reserve a number --------------------------------------------------------

def _identificatie(call: Call, kind: str, entity: str, entiteittype: str, functie: str) -> etree._Element:
    identificatie = call.state.reserve(kind, call.operation.name, call.request.referentienummer)
    name = call.operation.name.replace("_Di02", "_Du02")
    root, ns = _answer_root(call, name)
    stuurgegevens(root, f"{{{ns}}}stuurgegevens", "Du02", call.request, functie=functie)
    holder = etree.SubElement(root, f"{{{ns}}}{entity}")
    holder.set(f"{{{STUF}}}entiteittype", entiteittype)
    holder.set(f"{{{STUF}}}functie", "entiteit")
    zkn(holder, "identificatie", identificatie)
    return root


def document_identificatie(call: Call) -> etree._Element:
    return _identificatie(call, "document", "document", "EDC", "genereerDocumentidentificatie")


def zaak_identificatie(call: Call) -> etree._Element:
    return _identificatie(call, "zaak", "zaak", "ZAK", "genereerZaakidentificatie")


# --- kennisgevingen: store ----------------------------------------------------------------------

def _duplicate(call: Call, what: str, identificatie: str, existing) -> None:
    if existing is not None and not call.lenient:
        raise StufError("StUF058", "server", f"{what} {identificatie} bestaat al",
                        details=f"a second {what} with identificatie {identificatie!r} (strict double)")


def creeer_zaak(call: Call) -> etree._Element:
    obj = _object(call)
    identificatie = _text(obj, "ZKN:identificatie")
    if not identificatie:
        # the 1.1 schema makes it optional; the ZDS specification does not (a zaak without the
        # number the client reserved is a zaak nobody can find again)
        raise StufError("StUF055", "client", "Berichtbody is niet conform ZDS: ZKN:object/ZKN:identificatie"
                        " ontbreekt", violation=True)
    _duplicate(call, "zaak", identificatie, call.state.zaak(identificatie))
    initiator = obj.find(f"{{{ZKN}}}heeftAlsInitiator/{{{ZKN}}}gerelateerde")
    call.state.zaken.append({
        "identificatie": identificatie,
        "omschrijving": _text(obj, "ZKN:omschrijving"),
        "toelichting": _text(obj, "ZKN:toelichting"),
        "startdatum": _text(obj, "ZKN:startdatum"),
        "registratiedatum": _text(obj, "ZKN:registratiedatum"),
        "einddatumGepland": _text(obj, "ZKN:einddatumGepland"),
        "archiefnominatie": _text(obj, "ZKN:archiefnominatie"),
        "zaakniveau": _text(obj, "ZKN:zaakniveau"),
        "deelzakenIndicatie": _text(obj, "ZKN:deelzakenIndicatie"),
        "zaaktype_code": _text(obj, "ZKN:isVan/ZKN:gerelateerde/ZKN:code"),
        "zaaktype_omschrijving": _text(obj, "ZKN:isVan/ZKN:gerelateerde/ZKN:omschrijving"),
        "initiator": _initiator(initiator),
        "extraElementen": {e.get("naam"): e.text for e in obj.iterfind(
            f"{{{STUF}}}extraElementen/{{{STUF}}}extraElement")},
        "referentienummer": call.request.referentienummer,
        "operation": call.operation.name,
    })
    return bv03(call.request)


def _initiator(gerelateerde: etree._Element | None) -> dict | None:
    """The initiator's kind (``natuurlijkPersoon``, ``medewerker``, ...) and its leaf values."""
    if gerelateerde is None:
        return None
    who = next((c for c in gerelateerde if isinstance(c.tag, str)), None)
    if who is None:
        return None
    return {"kind": etree.QName(who).localname,
            **{etree.QName(e).localname: e.text for e in who.iter() if e is not who
               and isinstance(e.tag, str) and len(e) == 0 and e.text}}


def voeg_document_toe(call: Call) -> etree._Element:
    obj = _object(call)
    identificatie = _text(obj, "ZKN:identificatie")
    if not identificatie:
        raise StufError("StUF055", "client", "Berichtbody is niet conform ZDS: ZKN:object/ZKN:identificatie"
                        " ontbreekt", violation=True)
    zaak = _text(obj, "ZKN:isRelevantVoor/ZKN:gerelateerde/ZKN:identificatie")
    if not zaak or call.state.zaak(zaak) is None:
        raise StufError("StUF064", "server", f"Object niet gevonden: zaak {zaak}",
                        details="the document isRelevantVoor a zaak the double does not know")
    _duplicate(call, "document", identificatie, call.state.document(identificatie))
    inhoud = obj.find(f"{{{ZKN}}}inhoud")
    try:   # schema-valid base64Binary; the text is decoded once and not kept
        content = base64.b64decode(inhoud.text or "") if inhoud is not None else b""
    except (binascii.Error, ValueError) as exc:
        raise StufError("StUF055", "client", f"inhoud is geen base64: {exc}", violation=True)
    call.state.documents.append({
        "identificatie": identificatie,
        "zaak": zaak,
        "titel": _text(obj, "ZKN:titel"),
        "beschrijving": _text(obj, "ZKN:beschrijving"),
        "dct.omschrijving": _text(obj, "ZKN:dct.omschrijving"),
        "formaat": _text(obj, "ZKN:formaat"),
        "taal": _text(obj, "ZKN:taal"),
        "versie": _text(obj, "ZKN:versie"),
        "status": _text(obj, "ZKN:status"),
        "auteur": _text(obj, "ZKN:auteur"),
        "creatiedatum": _text(obj, "ZKN:creatiedatum"),
        "ontvangstdatum": _text(obj, "ZKN:ontvangstdatum"),
        "vertrouwelijkAanduiding": _text(obj, "ZKN:vertrouwelijkAanduiding"),
        "bestandsnaam": inhoud.get(f"{{{STUF}}}bestandsnaam") if inhoud is not None else None,
        "contentType": inhoud.get(f"{{{XMIME}}}contentType") if inhoud is not None else None,
        "inhoud": content,
        "size": len(content),
        "referentienummer": call.request.referentienummer,
        "operation": call.operation.name,
    })
    return bv03(call.request)


# --- vraag/antwoord -----------------------------------------------------------------------------

def geef_zaakdetails(call: Call) -> etree._Element:
    identificatie = _text(call.message, "ZKN:gelijk/ZKN:identificatie")
    zaak = call.state.zaak(identificatie) if identificatie else None
    if zaak is None:
        raise StufError("StUF064", "server", f"Object niet gevonden: zaak {identificatie}")
    name = "zakLa01" if call.dialect == "1.1" else "geefZaakdetails_ZakLa01"
    root, ns = _answer_root(call, name)
    stuurgegevens(root, f"{{{ns}}}stuurgegevens", "La01", call.request, entiteittype="ZAK")
    stuf(etree.SubElement(root, f"{{{ZKN}}}parameters"), "indicatorVervolgvraag", "false")
    obj = zkn(zkn(root, "antwoord"), "object")
    obj.set(f"{{{STUF}}}entiteittype", "ZAK")
    for field in ("identificatie", "omschrijving", "toelichting", "startdatum", "registratiedatum",
                  "einddatumGepland", "archiefnominatie", "zaakniveau", "deelzakenIndicatie"):
        if zaak.get(field):
            zkn(obj, field, zaak[field])
    if zaak.get("zaaktype_code") or zaak.get("zaaktype_omschrijving"):
        is_van = zkn(obj, "isVan")
        is_van.set(f"{{{STUF}}}entiteittype", "ZAKZKT")
        zaaktype = zkn(is_van, "gerelateerde")
        zaaktype.set(f"{{{STUF}}}entiteittype", "ZKT")
        for field, name in (("zaaktype_omschrijving", "omschrijving"), ("zaaktype_code", "code")):
            if zaak.get(field):
                zkn(zaaktype, name, zaak[field])
    return root


def geef_lijst_zaakdocumenten(call: Call) -> etree._Element:
    """The identificaties (and titels) of the documents stored for the zaak, duplicates included."""
    identificatie = _text(call.message, "ZKN:gelijk/ZKN:identificatie")
    if not identificatie or call.state.zaak(identificatie) is None:
        raise StufError("StUF064", "server", f"Object niet gevonden: zaak {identificatie}")
    name = "zakLa01" if call.dialect == "1.1" else "geefLijstZaakdocumenten_ZakLa01"
    root, ns = _answer_root(call, name)
    stuurgegevens(root, f"{{{ns}}}stuurgegevens", "La01", call.request, entiteittype="ZAK")
    stuf(etree.SubElement(root, f"{{{ZKN}}}parameters"), "indicatorVervolgvraag", "false")
    obj = zkn(zkn(root, "antwoord"), "object")
    obj.set(f"{{{STUF}}}entiteittype", "ZAK")
    zkn(obj, "identificatie", identificatie)
    with call.state.lock:
        documents = [d for d in call.state.documents if d["zaak"] == identificatie]
    for document in documents:
        relevant = zkn(obj, "heeftRelevant")
        relevant.set(f"{{{STUF}}}entiteittype", "ZAKEDC")
        gerelateerde = zkn(relevant, "gerelateerde")
        gerelateerde.set(f"{{{STUF}}}entiteittype", "EDC")
        zkn(gerelateerde, "identificatie", document["identificatie"])
        if call.dialect == "1.2":   # required in the relation there
            zkn(relevant, "registratiedatum", document.get("ontvangstdatum") or document.get("creatiedatum") or "")
    if not documents and call.dialect == "1.2":   # 1.2 requires the relation: no documents is a nil one
        empty = zkn(obj, "heeftRelevant")
        empty.set(f"{{{STUF}}}entiteittype", "ZAKEDC")
        empty.set(f"{{{STUF}}}noValue", "geenWaarde")
        empty.set("{http://www.w3.org/2001/XMLSchema-instance}nil", "true")
    return root


HANDLERS = {fn.__name__: fn for fn in (document_identificatie, zaak_identificatie, creeer_zaak,
                                       voeg_document_toe, geef_zaakdetails, geef_lijst_zaakdocumenten)}
