"""SOAP 1.1 and 1.2 envelopes and the StUF messages every operation shares (stuurgegevens, Bv03, Fo02/Fo03).

Everything is built with lxml. A SOAP 1.1 request is ``text/xml`` with a ``SOAPAction`` header; a
SOAP 1.2 request is ``application/soap+xml`` with the action in the content type's ``action``
parameter. The double answers in the version it was asked in. Faults: SOAP 1.1 ``soap:Client`` or
``soap:Server`` with HTTP 500; SOAP 1.2 ``env:Sender`` (HTTP 400) or ``env:Receiver`` (HTTP 500), as the
SOAP 1.2 HTTP binding prescribes; the detail holds a ``StUF:Fo02Bericht`` or ``StUF:Fo03Bericht``.
"""
from __future__ import annotations

import copy
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from werkzeug.http import parse_options_header

from .catalogue import STUF

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
ENVELOPES = {"1.1": SOAP11, "1.2": SOAP12}
CONTENT_TYPES = {"1.1": "text/xml", "1.2": "application/soap+xml"}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
                 "#PasswordText")
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_sequence = itertools.count(1)


class StufError(Exception):
    """Answer with a SOAP Fault whose detail is a Fo02 or Fo03 (chosen by the operation).

    ``plek`` ``client`` makes a Client/Sender fault, ``server`` a Server/Receiver one. ``violation``:
    the request broke the contract (recorded in ``double.violations``), not just a rule of the
    case system (an unknown zaak, a duplicate).
    """

    def __init__(self, code: str, plek: str, omschrijving: str, details: str = "", violation: bool = False):
        super().__init__(f"{code} ({plek}): {omschrijving}")
        self.code = code
        self.plek = plek
        self.omschrijving = omschrijving[:200]
        self.details = details[:1000]
        self.violation = violation


@dataclass
class Incoming:
    """What the HTTP layer says about a request before its body is parsed."""
    soap_version: str | None    # "1.1", "1.2", or None for an unknown content type
    action: str | None          # SOAPAction, unquoted


def incoming(content_type: str, soap_action_header: str | None) -> Incoming:
    mimetype, options = parse_options_header(content_type or "")
    if mimetype == "text/xml":
        action = soap_action_header.strip().strip('"') if soap_action_header is not None else None
        return Incoming("1.1", action)
    if mimetype == "application/soap+xml":
        action = options.get("action")
        return Incoming("1.2", action.strip('"') if action is not None else None)
    return Incoming(None, None)


def parser() -> etree.XMLParser:
    """The parser for request bodies: large text nodes (base64 documents), no entities, no network."""
    return etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True,
                           remove_blank_text=False)


def payload(envelope: etree._Element, version: str) -> tuple[etree._Element | None, etree._Element]:
    """(SOAP Header or None, the first element in Body); StufError if the envelope is not right."""
    ns = ENVELOPES[version]
    if envelope.tag != f"{{{ns}}}Envelope":
        other = "1.2" if version == "1.1" else "1.1"
        said = f"a SOAP {other} envelope" if envelope.tag == f"{{{ENVELOPES[other]}}}Envelope" \
            else f"root {envelope.tag}"
        raise StufError("StUF055", "client", f"SOAP {version} content type but {said}", violation=True)
    header = envelope.find(f"{{{ns}}}Header")
    body = envelope.find(f"{{{ns}}}Body")
    children = [c for c in body if isinstance(c.tag, str)] if body is not None else []
    if len(children) != 1:
        raise StufError("StUF055", "client", f"SOAP Body must hold one message, found {len(children)}",
                        violation=True)
    return header, children[0]


def username_token(header: etree._Element | None) -> tuple[str | None, str | None, str | None]:
    """(username, password, password Type) of a WS-Security UsernameToken, Nones if absent."""
    token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken") if header is not None else None
    if token is None:
        return None, None, None
    password = token.find(f"{{{WSSE}}}Password")
    return (token.findtext(f"{{{WSSE}}}Username"), password.text if password is not None else None,
            password.get("Type") if password is not None else None)


def envelope(version: str, message: etree._Element) -> bytes:
    ns = ENVELOPES[version]
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    etree.SubElement(env, f"{{{ns}}}Body").append(message)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_envelope(version: str, error: StufError, detail: etree._Element) -> bytes:
    ns = ENVELOPES[version]
    env = etree.Element(f"{{{ns}}}Envelope", nsmap={"soap": ns})
    fault = etree.SubElement(etree.SubElement(env, f"{{{ns}}}Body"), f"{{{ns}}}Fault")
    client = error.plek == "client"
    if version == "1.1":
        etree.SubElement(fault, "faultcode").text = f"soap:{'Client' if client else 'Server'}"
        etree.SubElement(fault, "faultstring").text = error.omschrijving
        etree.SubElement(fault, "detail").append(detail)
    else:
        code = etree.SubElement(fault, f"{{{ns}}}Code")
        etree.SubElement(code, f"{{{ns}}}Value").text = f"soap:{'Sender' if client else 'Receiver'}"
        reason = etree.SubElement(fault, f"{{{ns}}}Reason")
        text = etree.SubElement(reason, f"{{{ns}}}Text")
        text.set(XML_LANG, "nl")
        text.text = error.omschrijving
        etree.SubElement(fault, f"{{{ns}}}Detail").append(detail)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def fault_status(version: str, error: StufError) -> int:
    return 400 if version == "1.2" and error.plek == "client" else 500


# --- StUF parts ----------------------------------------------------------------------------------

def tijdstip() -> str:
    """Now as a StUF Tijdstip (yyyymmddhhmmss plus milliseconds)."""
    return datetime.now().strftime("%Y%m%d%H%M%S%f")[:17]


def referentienummer() -> str:
    return f"stufdouble-{next(_sequence)}-{uuid.uuid4().hex[:12]}"


@dataclass
class Request:
    """The stuurgegevens of a request the answer refers to (all optional: a bad request may lack them)."""
    zender: etree._Element | None = None
    ontvanger: etree._Element | None = None
    referentienummer: str | None = None

    @classmethod
    def of(cls, message: etree._Element | None) -> "Request":
        if message is None:
            return cls()
        stuurgegevens = next((c for c in message if isinstance(c.tag, str)
                              and etree.QName(c).localname == "stuurgegevens"), None)
        if stuurgegevens is None:
            return cls()
        return cls(stuurgegevens.find(f"{{{STUF}}}zender"), stuurgegevens.find(f"{{{STUF}}}ontvanger"),
                   (stuurgegevens.findtext(f"{{{STUF}}}referentienummer") or "").strip() or None)


def stuf(parent: etree._Element, name: str, text: str | None = None, **attributes) -> etree._Element:
    element = etree.SubElement(parent, f"{{{STUF}}}{name}", **attributes)
    if text is not None:
        element.text = text
    return element


def systeem(parent: etree._Element, name: str, source: etree._Element | None, default: str) -> None:
    """``StUF:zender``/``StUF:ontvanger``: a copy of the request's counterpart, or a default one."""
    element = stuf(parent, name)
    if source is not None and source.find(f"{{{STUF}}}applicatie") is not None:
        for child in source:
            if isinstance(child.tag, str) and child.tag.startswith(f"{{{STUF}}}"):
                part = copy.deepcopy(child)
                part.tail = None
                element.append(part)
    else:
        stuf(element, "applicatie", default)


def stuurgegevens(parent: etree._Element, tag: str, berichtcode: str, request: Request,
                  crossref: bool = True, entiteittype: str | None = None,
                  functie: str | None = None) -> etree._Element:
    """Answer stuurgegevens: zender and ontvanger swapped, own referentienummer, crossRefnummer."""
    element = etree.SubElement(parent, tag)
    stuf(element, "berichtcode", berichtcode)
    systeem(element, "zender", request.ontvanger, "STUFDOUBLE")
    systeem(element, "ontvanger", request.zender, "ONBEKEND")
    stuf(element, "referentienummer", referentienummer())
    stuf(element, "tijdstipBericht", tijdstip())
    if crossref and (request.referentienummer or berichtcode in ("Bv03", "Fo03")):
        stuf(element, "crossRefnummer", (request.referentienummer or "onbekend")[:40])
    if entiteittype:
        stuf(element, "entiteittype", entiteittype)
    if functie:
        stuf(element, "functie", functie)
    return element


def bv03(request: Request, crossref: str | None = None) -> etree._Element:
    message = etree.Element(f"{{{STUF}}}Bv03Bericht", nsmap={"StUF": STUF})
    if crossref is not None:
        request = Request(request.zender, request.ontvanger, crossref)
    stuurgegevens(message, f"{{{STUF}}}stuurgegevens", "Bv03", request)
    return message


def fout(berichtcode: str, request: Request, error: StufError) -> etree._Element:
    """``StUF:Fo02Bericht`` or ``StUF:Fo03Bericht`` for ``error``."""
    message = etree.Element(f"{{{STUF}}}{berichtcode}Bericht", nsmap={"StUF": STUF})
    if berichtcode == "Fo02":   # the schema restricts a Fo02's stuurgegevens to its berichtcode
        stuf(stuf(message, "stuurgegevens"), "berichtcode", "Fo02")
    else:
        stuurgegevens(message, f"{{{STUF}}}stuurgegevens", berichtcode, request)
    body = stuf(message, "body")
    stuf(body, "code", error.code)
    stuf(body, "plek", error.plek)
    stuf(body, "omschrijving", error.omschrijving)
    if error.details:
        stuf(body, "details", error.details)
    return message

