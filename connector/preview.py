"""``connector preview``: the exact requests a sink would send for some messages, and nothing sent.

An integration admin hands these to the receiving system's supplier ("this is what will arrive").
The configured sink runs as in a delivery, on the configured rules, but its HTTP session is a
:class:`PreviewSession`: every request is written to disk instead of sent, and answered with what a
cooperative system would say (a reserved number, a created object, a ``Bv03`` for the message, a
zaak found for a rule that attaches), so the sink goes on to its next request. Lookups that need
the remote system are shown as the request they would be.

Per message a folder ``<channel>-<id>[-<version>]`` holds one file per request, ``NN-<operation>``
with the exact body (``.xml`` for SOAP, ``.json`` for JSON, ``.bin`` for a file part), and
``index.jsonl`` has one line per request: message channel and id, method, URL, SOAPAction or
operation, the body's file name and media type. Secrets are redacted: URLs as everywhere, and in
the bodies every value the configuration took from the environment (a WS-Security password).
Sinks that write files instead of calling a system (``archive``) write them under the message's
folder.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from lxml import etree

from .message import Message
from .redact import redact_text, redact_url

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class PreviewSession(requests.Session):
    """Writes each request to ``folder`` and answers it as a cooperative system would."""

    def __init__(self, attach: bool = False):
        super().__init__()
        self.folder: Path | None = None
        self.index: list[dict] = []
        self.message: Message | None = None
        self.attach = attach   # the current routing attaches to an existing zaak: lookups find it
        self.count = 0

    def start(self, folder: Path, message: Message, attach: bool) -> None:
        self.folder, self.message, self.attach, self.count = folder, message, attach, 0
        folder.mkdir(parents=True, exist_ok=True)

    def send(self, request, **kwargs):
        self.count += 1
        content_type = request.headers.get("Content-Type", "")
        soap_action = request.headers.get("SOAPAction", "").strip('"') or \
            (re.search(r'action="([^"]+)"', content_type).group(1) if 'action="' in content_type else "")
        operation = soap_action.rsplit("/", 1)[-1] if soap_action else f"{request.method} {urlsplit(request.url).path}"
        kind = "xml" if "xml" in content_type else "json" if "json" in content_type else "bin"
        name = f"{self.count:02d}-{_SAFE.sub('-', operation.rsplit('/', 1)[-1] or request.method).strip('-')}.{kind}"
        body = self._write(self.folder / name, request.body, kind)
        self.index.append({"channel": self.message.channel, "id": self.message.id, "version": self.message.version,
                           "method": request.method, "url": redact_url(request.url),
                           **({"soap_action": soap_action} if soap_action else {"operation": operation}),
                           "file": f"{self.folder.name}/{name}", "media_type": content_type.split(";")[0].strip()})
        return self._answer(request, body, soap_action)

    @staticmethod
    def _write(path: Path, body, kind: str) -> bytes:
        """Write the body (redacted when it is text); return it when small enough to read an answer from."""
        if body is None:
            path.write_bytes(b"")
            return b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        if isinstance(body, bytes):
            path.write_bytes(_redacted(body) if kind != "bin" else body)
            return body
        # a streamed body (a document's content), written as it comes: only its first and last blocks are
        # text that can hold a secret (a SOAP header, the closing tags); the blocks between are the content
        text = _redacted if kind != "bin" else bytes
        blocks = iter(body)
        head, last = next(blocks, b""), None
        with open(path, "wb") as out:
            out.write(text(head))
            for block in blocks:
                if last is not None:
                    out.write(last)
                last = block
            if last is not None:
                out.write(text(last))
        return head[:1 << 16]

    def _answer(self, request, body: bytes, soap_action: str) -> requests.Response:
        response = requests.Response()
        response.url, response.request = request.url, request
        response.status_code, response.encoding = 200, "utf-8"
        if soap_action:
            response.headers["Content-Type"] = "text/xml; charset=utf-8"
            response._content = _soap_answer(body, soap_action, self.count, self.attach)
            return response
        response.headers["Content-Type"] = "application/json"
        payload = _json(body)
        path = urlsplit(request.url).path
        if request.method == "GET":
            response._content = json.dumps(self._listing(request.url, path)).encode()
        else:
            url = f"{request.url.split('?')[0].rstrip('/')}/preview-{self.count}"
            created = {**(payload if isinstance(payload, dict) else {}), "url": url}
            if request.method == "POST" and path.endswith("/enkelvoudiginformatieobjecten") and not created.get("inhoud") \
                    and created.get("bestandsomvang"):
                created.update(lock="preview-lock", locked=True, bestandsdelen=[
                    {"url": f"{url}/bestandsdelen/1".replace("/enkelvoudiginformatieobjecten/", "/bestandsdelen-of/"),
                     "volgnummer": 1, "omvang": created["bestandsomvang"], "lock": "preview-lock", "voltooid": False}])
            response.status_code = 201 if request.method == "POST" and not path.endswith(("/lock", "/unlock")) else 200
            if path.endswith("/unlock"):
                response.status_code, created = 204, None
            response._content = json.dumps(created).encode() if created is not None else b""
        return response

    def _listing(self, url: str, path: str) -> dict:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        base = url.split("?")[0]
        if path.endswith(("/zaaktypen", "/informatieobjecttypen")):
            name = query.get("identificatie") or query.get("omschrijving") or "preview"
            item = {"url": f"{base}/preview-{hashlib.sha256(name.encode()).hexdigest()[:8]}", "identificatie": name,
                    "omschrijving": name, "concept": False, "catalogus": "preview", "beginGeldigheid": "2000-01-01"}
            return {"count": 1, "next": None, "previous": None, "results": [item]}
        if path.endswith("/zaken") and self.attach and query.get("identificatie"):
            item = {"url": f"{base}/preview-zaak", "identificatie": query["identificatie"]}
            return {"count": 1, "next": None, "previous": None, "results": [item]}
        return {"count": 0, "next": None, "previous": None, "results": []}


def _redacted(data: bytes) -> bytes:
    return redact_text(data.decode("utf-8", "replace")).encode("utf-8")


def _json(body: bytes):
    try:
        return json.loads(body)
    except ValueError:
        return None


def _soap_answer(body: bytes, soap_action: str, number: int, attach: bool) -> bytes:
    """What a cooperative StUF-ZDS system answers to the request ``body``."""
    stuf, zkn = "http://www.egem.nl/StUF/StUF0301", "http://www.egem.nl/StUF/sector/zkn/0310"
    # our own request, maybe only its start (a streamed document): read what is there
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
    request = etree.fromstring(body, parser) if body.strip() else None
    reference = (request.findtext(f".//{{{stuf}}}referentienummer") if request is not None else None) or ""
    asked = (request.findtext(f".//{{{zkn}}}gelijk/{{{zkn}}}identificatie") if request is not None else None) or ""
    operation = soap_action.rsplit("/", 1)[-1]
    envelope = etree.Element("{http://schemas.xmlsoap.org/soap/envelope/}Envelope")
    payload = etree.SubElement(etree.SubElement(envelope, "{http://schemas.xmlsoap.org/soap/envelope/}Body"), "x")
    if operation.startswith("genereer"):
        payload.tag = f"{{{zkn}}}{operation.replace('_Di02', '_Du02')}"
        what = "zaak" if "Zaak" in operation else "document"
        etree.SubElement(etree.SubElement(payload, f"{{{zkn}}}{what}"), f"{{{zkn}}}identificatie").text = \
            f"PREVIEW-{what.upper()}-{number:04d}"
    elif "Lv01" in operation:
        payload.tag = f"{{{zkn}}}zakLa01"
        if attach and asked:
            answer = etree.SubElement(payload, f"{{{zkn}}}antwoord")
            etree.SubElement(etree.SubElement(answer, f"{{{zkn}}}object"), f"{{{zkn}}}identificatie").text = asked
    else:
        payload.tag = f"{{{stuf}}}Bv03Bericht"
        stuurgegevens = etree.SubElement(payload, f"{{{stuf}}}stuurgegevens")
        etree.SubElement(stuurgegevens, f"{{{stuf}}}berichtcode").text = "Bv03"
        etree.SubElement(stuurgegevens, f"{{{stuf}}}crossRefnummer").text = reference
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def message_folder(message: Message) -> str:
    version = f"-{hashlib.sha256(message.version.encode()).hexdigest()[:8]}" if message.version else ""
    return _SAFE.sub("-", f"{message.channel or 'bericht'}-{message.id}")[:80] + version
