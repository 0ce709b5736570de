"""SOAP over HTTP for the StUF sink: the envelope, the security header, the answer read leniently.

* **Envelope**: SOAP 1.1 (``text/xml``, a ``SOAPAction`` header) or SOAP 1.2
  (``application/soap+xml; action="..."``), chosen per sink; an optional WS-Security
  ``UsernameToken`` (PasswordText) in the header. The body is serialised once, UTF-8, with an
  XML declaration; characters beyond the BMP are written as they are.
* **Answers** are parsed with a parser that resolves no entities and fetches nothing, and read
  leniently (real systems send answers that are not quite schema-valid), but never optimistically:
  an answer is success only when it is the expected message (``Du02``, ``La01``, or a ``Bv03``
  whose ``crossRefnummer`` is our ``referentienummer``). Anything else, with HTTP 200 or not, is a
  failure that says what came back.
* **Faults**: a SOAP Fault whose detail holds ``StUF:Fo02Bericht`` / ``Fo03Bericht`` (or Fo01) becomes
  a :class:`~connector.failures.Failure` with the StUF code, plek and omschrijving. ``plek`` says
  whose fault it is: ``client`` (this request is wrong: permanent) or ``server`` (the system could
  not process it now: retried). A fault without StUF detail falls back to the SOAP fault code
  (``Client``/``Sender`` permanent, else retried); 401/403 are configuration errors (the sink
  pauses), other HTTP errors follow the shared table.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests
from lxml import etree

from ...failures import CONFIGURATION, PERMANENT, RETRY, Failed, Failure, classify_exception, classify_response
from .messages import STUF, Operation

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
                 "#PasswordText")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)


@dataclass(frozen=True)
class Answer:
    """A successful answer: its body element (the first child of ``soap:Body``) and raw bytes."""

    element: etree._Element
    raw: bytes


def envelope(body: etree._Element, soap_version: str, username_token: tuple[str, str] | None = None) -> bytes:
    ns = SOAP12 if soap_version == "1.2" else SOAP11
    root = etree.Element(f"{{{ns}}}Envelope", nsmap={"soapenv": ns})
    header = etree.SubElement(root, f"{{{ns}}}Header")
    if username_token:
        security = etree.SubElement(header, f"{{{WSSE}}}Security", {f"{{{ns}}}mustUnderstand": "1"},
                                    nsmap={"wsse": WSSE})
        token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = username_token[0]
        etree.SubElement(token, f"{{{WSSE}}}Password", Type=PASSWORD_TEXT).text = username_token[1]
    etree.SubElement(root, f"{{{ns}}}Body").append(body)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def headers(operation: Operation, soap_version: str) -> dict[str, str]:
    if soap_version == "1.2":
        return {"Content-Type": f'application/soap+xml; charset=utf-8; action="{operation.action}"'}
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{operation.action}"'}


def post(session: requests.Session, url: str, operation: Operation, data: bytes, soap_version: str, *,
         timeout: float, expect: str, referentienummer: str = "") -> Answer:
    """Send one message; return the expected answer or raise :class:`Failed` saying what came instead.

    ``expect``: the local name of the answer's root (``genereerDocumentIdentificatie_Du02``,
    ``zakLa01``, ...) or ``"Bv03Bericht"``, whose ``crossRefnummer`` must be ``referentienummer``."""
    what = f"{operation.label} ({url})"
    # the session's CA bundle per request: requests lets REQUESTS_CA_BUNDLE in the environment override a
    # session's own ``verify``, and the case system's CA is the sink's setting, not the machine's
    extra = {"verify": session.verify} if isinstance(session, requests.Session) else {}
    try:
        response = session.post(url, data=data, headers=headers(operation, soap_version), timeout=timeout, **extra)
    except requests.RequestException as exc:
        raise Failed(classify_exception(exc, operation.label)) from None
    body = _body(response.content)
    if body is not None and etree.QName(body).localname == "Fault":
        raise Failed(fault(body, operation.label, response))
    if response.status_code in (401, 403):
        raise Failed(Failure(CONFIGURATION, f"{what}: HTTP {response.status_code}: the system refuses the"
                                            " connector's credentials (Basic, WS-Security or client certificate)",
                             status=response.status_code, url=url))
    if response.status_code >= 300:
        failure = classify_response(response, operation.label)
        raise Failed(failure or Failure(RETRY, f"{what}: HTTP {response.status_code}", status=response.status_code))
    if body is None or etree.QName(body).localname != expect:
        got = "no SOAP body" if body is None else f"<{etree.QName(body).localname}>"
        raise Failed(Failure(RETRY, f"{what}: HTTP {response.status_code} but {got} instead of <{expect}>: not"
                                    " taken as success", status=response.status_code, url=url,
                             detail={"body": response.content[:2000].decode("utf-8", "replace")}))
    if expect == "Bv03Bericht":
        cross = body.findtext(f"{{{STUF}}}stuurgegevens/{{{STUF}}}crossRefnummer") or ""
        if cross.strip() != referentienummer:
            raise Failed(Failure(RETRY, f"{what}: a Bv03 for another message (crossRefnummer {cross[:60]!r},"
                                        f" ours {referentienummer!r}): not taken as success", url=url))
    return Answer(body, response.content)


def _body(raw: bytes) -> etree._Element | None:
    """The first element in the SOAP Body of ``raw`` (either SOAP version), or None."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    for ns in (SOAP11, SOAP12):
        body = root.find(f"{{{ns}}}Body")
        if body is not None:
            return next((child for child in body if isinstance(child.tag, str)), None)
    return None


def fault(element: etree._Element, what: str, response=None) -> Failure:
    """The :class:`Failure` a SOAP Fault means (see the module docstring)."""
    status = getattr(response, "status_code", None)
    url = str(getattr(response, "url", "") or "")
    stuf = next((e for e in element.iter() if isinstance(e.tag, str) and etree.QName(e).namespace == STUF
                 and etree.QName(e).localname in ("Fo01Bericht", "Fo02Bericht", "Fo03Bericht")), None)
    if stuf is not None:
        found = {name: (stuf.findtext(f".//{{{STUF}}}{name}") or "").strip()
                 for name in ("berichtcode", "code", "plek", "omschrijving", "details")}
        verdict = RETRY if found["plek"].lower() == "server" else PERMANENT
        message = (f"{what}: StUF fault {found['code'] or '?'} ({found['berichtcode'] or etree.QName(stuf).localname},"
                   f" plek {found['plek'] or '?'}): {found['omschrijving'] or 'no omschrijving'}")
        if found["details"]:
            message += f" [{' '.join(found['details'].split())[:500]}]"
        return Failure(verdict, message, status=status, url=url, detail=found)
    code = " ".join(element.xpath("string(./*[local-name()='faultcode' or local-name()='Code'])").split())
    reason = " ".join(element.xpath("string(./*[local-name()='faultstring' or local-name()='Reason'])").split())
    verdict = PERMANENT if any(word in code.lower() for word in ("client", "sender")) else RETRY
    return Failure(verdict, f"{what}: SOAP fault {code or '?'}: {reason[:500] or 'no reason given'}",
                   status=status, url=url)
