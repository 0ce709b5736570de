"""The StUF-ZDS sink: deliver a message's record through the Zaak- en Documentservices (SOAP/XML).

For the case systems and DMSs that take documents only through StUF-ZDS (Decos JOIN, Suites, Corsa
gateways, ZDS-to-ZGW bridges such as Zaakbrug). Both dialects (``1.1``: ZKN roots, the default;
``1.2``: ZDS roots), both SOAP versions, the three services at their own endpoints
(:mod:`.messages`). Every body validates against the official XSDs of its dialect before it is
sent (:mod:`.schema`); answers are read leniently but never optimistically (:mod:`.soap`).

One delivery is these memoised steps (see :mod:`connector.sinks.base`)::

    zaak:number         genereerZaakIdentificatie_Di02 -> Du02 (rules that create a zaak)
    zaak                creeerZaak (-> Bv03), or geefZaakdetails (-> La01) for a zaak to attach to
    document:<role>:number  genereerDocumentIdentificatie_Di02 -> Du02, per file of the record
    document:<role>     voegZaakdocumentToe (-> Bv03): the file, base64, in the zaak

A reserved number is memoised the moment it arrives, so a retry never reserves a second one. A
create whose answer was lost (a ``<step>:sent`` marker without a result) is looked up before it
is sent again, once the earlier call has settled: the zaak with ``geefZaakdetails``, the
document in the zaak's ``geefLijstZaakdocumenten``. So a lenient system that stores duplicates
still gets one zaak and one document per file.

The document's content is streamed: the body is validated with a stand-in for ``inhoud`` and
sent as the part before it, the file base64-encoded chunk by chunk, and the part after it, so a
large medium never sits in memory (as base64 text or otherwise).
"""
from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timezone
from urllib.parse import quote, unquote

from ...checks import Check
from ...failures import CONFIGURATION, PERMANENT, Failed, Failure
from ...http import Session
from ...message import Message
from ...record import RecordFile, record_of
from ...rendition import AMSTERDAM, KIND_LABELS
from ...routing import ATTACH, CREATE, FOLLOW_THREAD, Routing
from ..base import SINKS, Delivered, Document, Sink, Steps, ZaakSummary, settled
from . import messages, schema, soap
from .messages import ZKN, DocumentFields, Envelope, ZaakFields
from .options import StufOptions
from .stream import StreamedEnvelope, session_for

__all__ = ["StufZdsSink"]

SETTLE_TIMEOUTS = 2
ZAAKTYPE_CODE_MAX = 10   # ZKN:Code
ZAAK_URN, DOCUMENT_URN = "urn:stuf-zds:zaak:", "urn:stuf-zds:document:"
VERTROUWELIJKHEID = {"openbaar": "OPENBAAR", "beperkt_openbaar": "BEPERKT OPENBAAR", "intern": "INTERN",
                     "zaakvertrouwelijk": "ZAAKVERTROUWELIJK", "vertrouwelijk": "VERTROUWELIJK",
                     "confidentieel": "CONFIDENTIEEL", "geheim": "GEHEIM", "zeer_geheim": "ZEER GEHEIM"}
# the root of the answer each operation expects, per dialect (1.2 names its La01 after the operation)
ANSWERS = {dialect: {"reserve_document": "genereerDocumentIdentificatie_Du02",
                     "reserve_zaak": "genereerZaakIdentificatie_Du02", "create_zaak": "Bv03Bericht",
                     "add_document": "Bv03Bericht",
                     "zaak_details": "zakLa01" if dialect == "1.1" else "geefZaakdetails_ZakLa01",
                     "zaak_documents": "zakLa01" if dialect == "1.1" else "geefLijstZaakdocumenten_ZakLa01"}
           for dialect in ("1.1", "1.2")}
NOT_FOUND = "StUF064"   # "object niet gevonden"


@SINKS.register
class StufZdsSink(Sink):
    """Zaak- en Documentservices (StUF-ZKN 3.10) over SOAP."""

    kind = "stuf-zds"
    options_schema = StufOptions

    def __init__(self, name: str, options: dict, session=None):
        super().__init__(name, options)
        self.session = session or Session()
        options = self.options
        if options["username"]:
            self.session.auth = (options["username"], options["password"])
        if options["client_certificate"]:
            self.session.cert = ((options["client_certificate"], options["client_key"]) if options["client_key"]
                                 else options["client_certificate"])
        if options["ca_bundle"]:
            self.session.verify = options["ca_bundle"]
        self.operations = messages.OPERATIONS[options["dialect"]]

    def __repr__(self) -> str:  # never the options: they hold secrets
        return f"<StufZdsSink {self.name!r} {self.options['dialect']} {self.options['ontvang_asynchroon_url']}>"

    # -- one call -----------------------------------------------------------------------------
    def _envelope(self, step: str, message: Message | None = None) -> Envelope:
        """Stuurgegevens for one message: a ``referentienummer`` (at most 40 characters) that is the
        same for every attempt of the same step of the same message and sink, so the system can
        recognise a resent message; ``tijdstipBericht`` is now."""
        key = f"{self.name}\0{message.channel}\0{message.id}\0{message.version}\0{step}" if message else \
            f"{self.name}\0{step}\0{os.urandom(8).hex()}"
        return Envelope(self.options["dialect"], self.options["zender"], self.options["ontvanger"],
                        "SOC" + hashlib.sha256(key.encode()).hexdigest()[:32], datetime.now(timezone.utc))

    def _url(self, operation: messages.Operation) -> str:
        return self.options[f"{operation.service}_url"]

    def _token(self):
        options = self.options
        return (options["ws_security_username"], options["ws_security_password"]) \
            if options["ws_security_username"] else None

    def _validated(self, body):
        """``body``, valid against the dialect's XSDs; else a permanent failure: a bug in the connector, not sent."""
        try:
            schema.validate(self.options["dialect"], body)
        except schema.SchemaError as exc:
            raise Failed(Failure(PERMANENT, f"not sent, a bug in the connector: {exc}")) from None
        return body

    def call(self, name: str, body, envelope: Envelope) -> soap.Answer:
        """Validate ``body`` (a bug if it does not), send it, and return the expected answer."""
        self._validated(body)
        operation = self.operations[name]
        return soap.post(self.session, self._url(operation), operation,
                         soap.envelope(body, self.options["soap_version"], self._token()),
                         self.options["soap_version"], timeout=self.options["timeout"],
                         expect=ANSWERS[self.options["dialect"]][name],
                         referentienummer=envelope.referentienummer)

    # -- entry points -------------------------------------------------------------------------
    def check(self) -> list[Check]:
        options = self.options
        checks = [Check("settings", True, f"dialect {options['dialect']}, SOAP {options['soap_version']},"
                                          f" ontvanger {options['ontvanger'].organisatie}/"
                                          f"{options['ontvanger'].applicatie}")]
        probe = "CONNECTOR-CHECK-0"
        try:
            self.call("zaak_details", messages.zaak_details(self._envelope("check"), probe), self._envelope("check"))
        except Failed as exc:
            failure = exc.failure
            if failure.verdict == CONFIGURATION:
                return [*checks, Check("connection", True), Check("credentials", False, failure.message)]
            if not (isinstance(failure.detail, dict) and failure.detail.get("code")):  # no StUF answer at all
                return [*checks, Check("connection", False, failure.message)]
        except Exception as exc:  # check() never raises
            return [*checks, Check("connection", False, f"{type(exc).__name__}: {exc}")]
        return [*checks, Check("connection", True, f"BeantwoordVraag answers at {options['beantwoord_vraag_url']}"),
                Check("credentials", True)]

    def validate_routing(self, routing: Routing) -> list[str]:
        if not routing.delivers:
            return []
        problems = []
        if routing.action == CREATE and not routing.zaaktype:
            problems.append("creates a zaak without a zaaktype (the zaaktype code in the StUF system)")
        elif routing.action == CREATE and routing.zaaktype is not None and len(routing.zaaktype) > ZAAKTYPE_CODE_MAX:
            problems.append(f"zaaktype {routing.zaaktype!r} is longer than {ZAAKTYPE_CODE_MAX} characters (a zaaktype"
                            " code in StUF-ZKN)")
        if routing.action == CREATE and self.options["dialect"] == "1.2" and not self.options["initiator"]:
            problems.append(f"creates a zaak, which StUF-ZDS 1.2 only accepts with an initiator: set option"
                            f" 'initiator: {{rsin, naam}}' of sink {self.name!r}")
        if routing.action == ATTACH and routing.zaak_identificatie is not None \
                and not 5 <= len(routing.zaak_identificatie) <= 40:
            problems.append(f"the zaak identificatie {routing.zaak_identificatie[:100]!r} is not 5 to 40"
                            " characters (StUF's limits)")
        return problems

    def deliver(self, message: Message, routing: Routing, steps: Steps) -> Delivered:
        zaak = steps.run("zaak", lambda: self._zaak(message, routing, steps))
        documents = [self._document(message, routing, file, zaak["identificatie"], steps)
                     for file in record_of(message).files]
        return Delivered(zaak_url=ZAAK_URN + quote(zaak["identificatie"], safe=""),
                         zaak_identificatie=zaak["identificatie"], documents=documents)

    # -- zaak ---------------------------------------------------------------------------------
    def _zaak(self, message: Message, routing: Routing, steps: Steps) -> dict:
        if routing.zaak_url:   # a reply following its thread: the zaak its parent went into
            if not routing.zaak_url.startswith(ZAAK_URN):
                raise Failed(Failure(PERMANENT, f"zaak {routing.zaak_url} is not a StUF-ZDS zaak of this sink"))
            return {"identificatie": unquote(routing.zaak_url[len(ZAAK_URN):]), "created": False}
        if routing.action == ATTACH or (routing.action == FOLLOW_THREAD and routing.zaak_identificatie):
            if not routing.zaak_identificatie:
                raise Failed(Failure(PERMANENT, f"rule {routing.rule!r} attaches without a zaak_identificatie"))
            if not self._zaak_exists(message, routing.zaak_identificatie, "attach"):
                raise Failed(Failure(PERMANENT, f"zaak {routing.zaak_identificatie} not found in the StUF system"))
            return {"identificatie": routing.zaak_identificatie, "created": False}
        if routing.action == CREATE:
            return self._create_zaak(message, routing, steps)
        raise Failed(Failure(PERMANENT, f"routing {routing.action!r} gives no zaak to deliver to"))

    def _zaak_exists(self, message: Message | None, identificatie: str, why: str) -> bool:
        return self._zaak_details(message, identificatie, why) is not None

    def _zaak_details(self, message: Message | None, identificatie: str, why: str):
        """The zaak's ``antwoord/object`` element from ``geefZaakdetails``, ``None`` when it is not there."""
        envelope = self._envelope(f"zaak_details:{why}:{identificatie}", message)
        try:
            answer = self.call("zaak_details", messages.zaak_details(envelope, identificatie), envelope)
        except Failed as exc:
            detail = exc.failure.detail
            if isinstance(detail, dict) and detail.get("berichtcode") in ("Fo02", "Fo01") \
                    and (detail.get("code") == NOT_FOUND or detail.get("plek") == "client"):
                return None   # "not found" is a Fo02: StUF064 (systems differ on its plek), or the client's fault
            raise
        found = answer.element.find(f"{{{ZKN}}}antwoord/{{{ZKN}}}object")
        same = found is not None and (found.findtext(f"{{{ZKN}}}identificatie") or "").strip() == identificatie
        return found if same else None

    def find_zaken(self, query: str, limit: int = 20) -> list[ZaakSummary]:
        """StUF-ZDS asks for one zaak by its identificatie (``geefZaakdetails``); systems differ too much
        in what else they let a client search on, so a query is an identificatie, exactly."""
        identificatie = " ".join(query.split())[:40]
        found = self._zaak_details(None, identificatie, "search") if identificatie else None
        if found is None:
            return []
        return [ZaakSummary(identificatie=identificatie, url=ZAAK_URN + quote(identificatie, safe=""),
                            omschrijving=(found.findtext(f"{{{ZKN}}}omschrijving") or "").strip(),
                            startdatum=(found.findtext(f"{{{ZKN}}}startdatum") or "").strip())][:limit]

    def _reserve(self, message: Message, step: str, operation: str, wanted: str) -> str:
        envelope = self._envelope(step, message)
        body = (messages.reserve_zaak if operation == "reserve_zaak" else messages.reserve_document)(envelope)
        answer = self.call(operation, body, envelope)
        number = (answer.element.findtext(f"{{*}}{wanted}/{{{ZKN}}}identificatie") or "").strip()
        if not number:
            raise Failed(Failure(PERMANENT, f"{self.operations[operation].label}: the answer carries no"
                                            f" {wanted} identificatie"))
        return number

    def _create_zaak(self, message: Message, routing: Routing, steps: Steps) -> dict:
        number = steps.run("zaak:number", lambda: {"identificatie": self._reserve(
            message, "zaak:number", "reserve_zaak", "zaak")})["identificatie"]
        if settled(steps, "zaak", SETTLE_TIMEOUTS * self.options["timeout"], "creeerZaak") \
                and self._zaak_exists(message, number, "created"):
            return {"identificatie": number, "created": True}
        if not routing.zaaktype:
            raise Failed(Failure(CONFIGURATION, f"rule {routing.rule!r} creates a zaak without a zaaktype"))
        initiator = self.options["initiator"] or {}
        fields = ZaakFields(
            identificatie=number, zaaktype_code=routing.zaaktype,
            omschrijving=str(routing.zaak.get("omschrijving") or f"Sociale media: {message.author.handle or message.channel}"),
            toelichting=str(routing.zaak.get("toelichting") or ""), startdatum=message.created_at.astimezone(AMSTERDAM),
            initiator_rsin=initiator.get("rsin", ""), initiator_naam=initiator.get("naam", ""))
        envelope = self._envelope("zaak", message)
        steps.save("zaak:sent", {"at": datetime.now(timezone.utc).isoformat()})
        self.call("create_zaak", messages.create_zaak(envelope, fields), envelope)
        return {"identificatie": number, "created": True}

    # -- documents ----------------------------------------------------------------------------
    def _titel(self, message: Message, routing: Routing, file: RecordFile) -> str:
        base = routing.titel or (f"{KIND_LABELS.get(message.kind, 'bericht').capitalize()} van"
                                 f" @{message.author.handle or message.author.name or message.channel} op"
                                 f" {message.created_at.astimezone(AMSTERDAM).date().isoformat()}")
        return f"{base} ({file.title.rsplit('(', 1)[1]}" if file.title.endswith(")") and "(" in file.title else base

    def _document(self, message: Message, routing: Routing, file: RecordFile, zaak: str, steps: Steps) -> Document:
        name = f"document:{file.role}"
        saved = steps.get(name)
        if saved is None:
            number = steps.run(f"{name}:number", lambda: {"identificatie": self._reserve(
                message, f"{name}:number", "reserve_document", "document")})["identificatie"]
            saved = steps.run(name, lambda: self._add(message, routing, file, zaak, number, steps, name))
        return Document(role=file.role, url=DOCUMENT_URN + quote(saved["identificatie"], safe=""),
                        identificatie=saved["identificatie"], titel=saved["titel"])

    def _add(self, message, routing, file: RecordFile, zaak: str, number: str, steps: Steps, name: str) -> dict:
        titel = self._titel(message, routing, file)
        if settled(steps, name, SETTLE_TIMEOUTS * self.options["timeout"], "voegZaakdocumentToe") \
                and number in self._documents_of(message, zaak):
            return {"identificatie": number, "titel": titel}
        fields = DocumentFields(
            identificatie=number, zaak_identificatie=zaak, titel=titel,
            omschrijving=routing.informatieobjecttype or self.options["documenttype"],
            beschrijving=file.description, formaat=file.format, bestandsnaam=f"{number}-{file.filename}",
            taal=_taal(message.language), auteur=self.options["auteur"],
            vertrouwelijkheid=VERTROUWELIJKHEID.get(routing.vertrouwelijkheidaanduiding, "OPENBAAR"),
            creatiedatum=message.created_at.astimezone(AMSTERDAM), link=message.url if len(message.url) <= 200 else "")
        envelope = self._envelope(name, message)
        stand_in = base64.b64encode(os.urandom(24)).decode("ascii")
        body = messages.add_document(envelope, fields, b"")
        body.find(f"{{{ZKN}}}object/{{{ZKN}}}inhoud").text = stand_in
        self._validated(body)
        operation = self.operations["add_document"]
        data = soap.envelope(body, self.options["soap_version"], self._token())
        session = session_for(self.session, file.size)
        steps.save(f"{name}:sent", {"at": datetime.now(timezone.utc).isoformat()})
        try:
            soap.post(session or self.session, self._url(operation), operation, StreamedEnvelope(data, stand_in, file),
                      self.options["soap_version"], timeout=self.options["timeout"], expect="Bv03Bericht",
                      referentienummer=envelope.referentienummer)
        finally:
            if session is not None:
                session.close()
        return {"identificatie": number, "titel": titel}

    def _documents_of(self, message: Message, zaak: str) -> set[str]:
        envelope = self._envelope(f"zaak_documents:{zaak}", message)
        try:
            answer = self.call("zaak_documents", messages.zaak_documents(envelope, zaak), envelope)
        except Failed as exc:
            if isinstance(exc.failure.detail, dict) and exc.failure.detail.get("code") == NOT_FOUND:
                raise Failed(Failure(PERMANENT, f"zaak {zaak} is gone from the StUF system (its documents could"
                                                f" not be listed): {exc.failure.message}")) from None
            raise
        return {(e.text or "").strip() for e in answer.element.iterfind(
            f".//{{{ZKN}}}heeftRelevant/{{{ZKN}}}gerelateerde/{{{ZKN}}}identificatie")}


_TAAL = {"nl": "nld", "en": "eng", "de": "deu", "fr": "fra", "fy": "fry", "es": "spa", "tr": "tur", "ar": "ara",
         "pl": "pol", "uk": "ukr"}


def _taal(language: str | None) -> str:
    """ISO 639-2/T as StUF systems use it (``nld``); ``nld`` when unknown."""
    primary = (language or "").strip().lower().split("-")[0]
    return _TAAL.get(primary, primary if len(primary) == 3 and primary.isalpha() and primary.isascii() else "nld")

