"""The ZGW sink: deliver a message into a case system through the Zaken/Documenten/Catalogi APIs.

One delivery is a zaak step and, per file of the message's record (:mod:`connector.record`:
rendition, original, media), a document step and a link step, each memoised (see
:mod:`connector.sinks.base`)::

    zaak               find (attach, follow_thread) or create the zaak
    document:<role>    POST the file as an enkelvoudiginformatieobject (large files in parts:
                       :mod:`.large`); for an edited message, a new version of the document its
                       first version made (:mod:`.versions`)
    link:<role>        POST /zaakinformatieobjecten

Every create is idempotent by itself too, for the crash between a successful POST and saving its
result: zaken and documents get a deterministic ``identificatie`` (:mod:`.identity`) that is
looked up (zaak) or collides with ``identificatie-niet-uniek`` (document); a second link of the
same pair is a 400 ``unique``, after which the existing link is looked up.
"""
from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from ...failures import CONFIGURATION, PERMANENT, Failed, Failure
from ...message import Message
from ...record import RENDITION, RecordFile, extension, other_files, record_of
from ...rendition import KIND_LABELS
from ...routing import ATTACH, CREATE, FOLLOW_THREAD, Routing
from ..base import SINKS, Delivered, Document, Sink, Steps, settled
from . import large, notices, search, versions
from .catalogus import CatalogusLookups
from .checks import run_checks
from .client import ZgwClient, has_code
from .fields import (CONTROLLED_ZAAK_FIELDS, IDENTIFICATIE_MAX, IOTYPE_MAX, OMSCHRIJVING_MAX, TITEL_MAX,
                     TOELICHTING_MAX, ZAAKTYPE_MAX, clip, is_url, link, local_date, title_suffix)
from .identity import document_identificatie, taal, zaak_identificatie
from .options import ZgwOptions, elfproef

__all__ = ["ZgwSink", "document_identificatie", "zaak_identificatie", "elfproef"]

# builds records beside the zaak step (see deliver); as many at once as deliveries run in parallel, at most
_RECORDS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="zgw-record")
ZAKEN_REMEMBERED = 10_000  # zaken a sink instance keeps looked up (then it starts afresh)
# A POST whose answer was lost is looked up only after this many client timeouts (see _settled).
SETTLE_TIMEOUTS = 2

@SINKS.register
class ZgwSink(CatalogusLookups, Sink):
    """Zaakgericht werken via the ZGW APIs (as served by Open Zaak)."""

    kind = "zgw"
    options_schema = ZgwOptions

    def __init__(self, name: str, options: dict, session=None):
        super().__init__(name, options)
        self.client = ZgwClient(self.options, session, name)
        self._zaaktypen: dict[str, str] = {}  # identificatie -> URL, per sink instance
        self._informatieobjecttypen: dict[str, str] = {}  # omschrijving -> URL
        # zaken found or created by this sink instance: identificatie or URL -> {url, identificatie}.
        # Saves a lookup per message (about 55 ms on Open Zaak) when many go into one zaak; an entry
        # is dropped when a delivery that used it fails, in case the zaak is gone.
        self._zaken_seen: dict[str, dict] = {}
        # one lookup per zaak at a time: parallel deliveries into one zaak wait for the first's answer
        self._lookups: dict[str, threading.Lock] = {}
        self._lookups_guard = threading.Lock()

    def __repr__(self) -> str:  # never the options: they hold the secret
        return f"<ZgwSink {self.name!r} {self.options['zaken_url']}>"

    # -- urls ---------------------------------------------------------------------------------
    def _zaken(self, path: str) -> str:
        return f"{self.options['zaken_url']}/{path}"

    def _documenten(self, path: str) -> str:
        return f"{self.options['documenten_url']}/{path}"

    def _catalogi(self, path: str) -> str:
        return f"{self.options['catalogi_url']}/{path}"

    # -- entry points -------------------------------------------------------------------------
    def check(self):
        return run_checks(self)

    def validate_routing(self, routing: Routing) -> list[str]:
        """What ZGW cannot take: a missing informatieobjecttype (none in the rule, no option), names
        longer than the Catalogi API allows, an attach identificatie over 40 characters. Texts
        (omschrijving, toelichting, titel) are cut to their ZGW lengths on delivery instead."""
        if not routing.delivers:
            return []
        problems = []
        iotype = routing.informatieobjecttype or self.options["informatieobjecttype"]
        if not iotype:
            problems.append("no informatieobjecttype: set one in the rule (or its defaults: or global_defaults:)"
                            f" or as option 'informatieobjecttype' of sink {self.name!r}")
        elif not is_url(iotype) and len(iotype) > IOTYPE_MAX:
            problems.append(f"informatieobjecttype {iotype!r} is longer than {IOTYPE_MAX} characters"
                            " (an omschrijving in the Catalogi API)")
        if routing.action == CREATE:
            if not routing.zaaktype:
                problems.append("creates a zaak without a zaaktype")
            elif not is_url(routing.zaaktype) and len(routing.zaaktype) > ZAAKTYPE_MAX:
                problems.append(f"zaaktype {routing.zaaktype!r} is longer than {ZAAKTYPE_MAX} characters"
                                " (an identificatie in the Catalogi API)")
        if routing.action == ATTACH and routing.zaak_identificatie is not None \
                and len(routing.zaak_identificatie) > IDENTIFICATIE_MAX:
            problems.append(f"the zaak identificatie {routing.zaak_identificatie[:100]!r} is longer than"
                            f" {IDENTIFICATIE_MAX} characters (the ZGW limit)")
        return problems

    def deliver(self, message: Message, routing: Routing, steps: Steps) -> Delivered:
        # the record is built (in the core: this sink uploads it, never renders) while the zaak is
        # looked up or made: its PDF/A rendition is tens of milliseconds of CPU, the zaak a round trip
        record = _RECORDS.submit(record_of, message)
        zaak = steps.run("zaak", lambda: self._zaak(message, routing, steps))
        try:
            return self._deliver_into(zaak, message, routing, steps, record)
        except Failed:
            self._forget_zaak(zaak)
            raise

    def _remember_zaak(self, zaak: dict) -> dict:
        if len(self._zaken_seen) > ZAKEN_REMEMBERED:
            self._zaken_seen.clear()
        entry = {"url": zaak["url"], "identificatie": zaak.get("identificatie", "")}
        self._zaken_seen[entry["url"]] = entry
        if entry["identificatie"]:
            self._zaken_seen[entry["identificatie"]] = entry
        return zaak

    def _forget_zaak(self, zaak: dict) -> None:
        self._zaken_seen.pop(zaak.get("url", ""), None)
        self._zaken_seen.pop(zaak.get("identificatie", ""), None)

    def _deliver_into(self, zaak: dict, message: Message, routing: Routing, steps: Steps, record) -> Delivered:
        """Upload the record's files: the original and the media first (cheap to make, :func:`other_files`),
        then the rendition, which ``record`` (a future) renders meanwhile; documents listed in record order."""
        iotype: dict = {}  # resolved lazily, once: a fully memoised retry needs no catalogus at all
        uploaded = [self._upload(zaak, message, routing, steps, file, iotype) for file in other_files(message)]
        rendition = record.result().file(RENDITION)
        documents = [self._upload(zaak, message, routing, steps, rendition, iotype), *uploaded]
        return Delivered(zaak_url=zaak["url"], zaak_identificatie=zaak.get("identificatie", ""),
                         documents=documents)

    def _upload(self, zaak: dict, message: Message, routing: Routing, steps: Steps, file: RecordFile,
                resolved: dict) -> Document:
        role = file.role
        name = f"document:{role}"
        if steps.get(name) is None and "iotype" not in resolved:
            resolved["iotype"] = self._informatieobjecttype(routing)
        iotype = resolved.get("iotype")
        earlier = {} if routing.late_version else self._earlier_version(message, steps, name)
        if earlier:   # an edit: the next version of the document the first version made
            doc = steps.run(name, lambda: versions.new_version(
                self, steps, name, file, self._fields(message, routing, file, iotype), earlier["url"]))
        # in parts, streamed (large.py); once begun so, a retry stays so whatever the threshold is now
        elif file.size > self.options["large_file_threshold"] or steps.get(f"{name}:created:sent"):
            doc = steps.run(name, lambda: large.upload(
                self, steps, name, file, self._fields(message, routing, file, iotype),
                lambda: self._find_document(message, role, whole=True, routing=routing)))
        else:
            doc = self._create_once(steps, name, lambda: self._document(message, routing, file, iotype),
                                    lambda: self._find_document(message, role, routing=routing))
        link = lambda: self._link(zaak["url"], doc["url"], doc.get("titel", ""))  # noqa: E731
        find_link = lambda: self._find_link(zaak["url"], doc["url"])  # noqa: E731
        if earlier:   # the first version linked it (to this zaak, unless the rules changed since)
            steps.run(f"link:{role}", lambda: find_link() or link())
        else:
            self._create_once(steps, f"link:{role}", link, find_link)
        return Document(role=role, url=doc["url"], identificatie=doc.get("identificatie", ""),
                        titel=doc.get("titel", ""))

    def _settled(self, steps: Steps, name: str) -> bool:
        """Was ``name`` sent before without a result saved? Then wait until that POST has settled
        (:func:`connector.sinks.base.settled`: :data:`SETTLE_TIMEOUTS` times the sink's timeout)."""
        return settled(steps, name, SETTLE_TIMEOUTS * self.options["timeout"], "POST")

    def _create_once(self, steps: Steps, name: str, create, find) -> dict:
        """Run the create step ``name`` so that it cannot create twice, even on a lenient case system.

        A marker ``<name>:sent`` is saved just before the POST. A retry that finds the marker but no
        result does not know whether the earlier POST succeeded (its answer was lost to a timeout, a
        cut connection, a 5xx after the work, or a SIGKILL before the result was saved), so it looks
        the item up first (``find``) and only creates it when it is not there. A strict server's
        uniqueness 400 stays the second line of defence. Normal deliveries make no extra call.
        """
        saved = steps.get(name)
        if saved is not None:
            return saved
        uncertain = self._settled(steps, name)

        def action():
            if uncertain:
                found = find()
                if found is not None:
                    return found
            steps.save(f"{name}:sent", {"at": datetime.now(timezone.utc).isoformat()})
            return create()

        return steps.run(name, action)

    def _find_document(self, message: Message, role: str, whole: bool = False,
                       routing: Routing | None = None) -> dict | None:
        """The document of ``role`` looked up by its identificatie (``whole``: as served)."""
        identificatie = self._identificatie(message, role, routing)
        params = {"identificatie": identificatie, "bronorganisatie": self.options["bronorganisatie"]}
        found = self.client.first(self._documenten("enkelvoudiginformatieobjecten"),
                                  "GET /enkelvoudiginformatieobjecten", params=params)
        if found is None or whole:
            return found
        return {"url": found["url"], "identificatie": identificatie, "titel": found.get("titel", "")}

    def _earlier_version(self, message: Message, steps: Steps, name: str) -> dict:
        """For an edited message: ``{url}`` of the document an earlier version made for ``name``
        (looked up once, memoised as ``<name>:found``), or ``{}`` (none: it is created)."""
        if not message.version or self.options["edits"] != "versions" or steps.get(name) is not None \
                or steps.get(f"{name}:sent") or steps.get(f"{name}:created:sent"):
            return {}
        role = name.split(":", 1)[1]
        return steps.run(f"{name}:found", lambda: {"url": found["url"]} if (
            found := self._find_document(message, role, whole=True)) is not None else {})

    # -- on demand (:mod:`.search`) ------------------------------------------------------------
    def find_zaken(self, query: str, limit: int = 20):
        return search.find_zaken(self, query, limit)

    def zaaktypen(self) -> list[tuple[str, str]]:
        return search.zaaktypen(self)

    def create_zaak(self, zaaktype: str, omschrijving: str, toelichting: str, key: str):
        return search.create_zaak(self, zaaktype, omschrijving, toelichting, key)

    def redo_on_reroute(self, step: str) -> bool:
        """A document can be linked to any zaak: only the zaak and link steps run again (the
        documents keep their identificatie, and the new zaak gets links to the same documents)."""
        return not step.startswith("document:")

    def report_deletion(self, message: Message, deletion: dict, delivered: dict) -> None:
        """A deletion on the platform, on each zaak-informatieobject (see :mod:`.notices`)."""
        notices.report_deletion(self, message, deletion, delivered)

    def _find_link(self, zaak_url: str, document_url: str) -> dict | None:
        found = self.client.first(self._zaken("zaakinformatieobjecten"), "GET /zaakinformatieobjecten",
                                  params={"zaak": zaak_url, "informatieobject": document_url})
        return {"url": found["url"]} if found is not None else None

    # -- zaak ---------------------------------------------------------------------------------
    def _zaak(self, message: Message, routing: Routing, steps: Steps) -> dict:
        if routing.zaak_url:
            return dict(self._looked_up(routing.zaak_url, lambda: self._read_zaak(routing.zaak_url)))
        if routing.action == ATTACH or (routing.action == FOLLOW_THREAD and routing.zaak_identificatie):
            if not routing.zaak_identificatie:
                raise Failed(Failure(PERMANENT, f"rule {routing.rule!r} attaches without a zaak_identificatie"))
            found = self._looked_up(routing.zaak_identificatie, lambda: self._find_zaak(routing.zaak_identificatie))
            if found is None:
                raise Failed(Failure(PERMANENT, f"zaak {routing.zaak_identificatie} not found "
                                     f"(bronorganisatie {self.options['bronorganisatie']})"))
            return found
        if routing.action == CREATE:
            return self._create_zaak(message, routing, steps)
        raise Failed(Failure(PERMANENT, f"routing {routing.action!r} gives no zaak to deliver to"))

    def _looked_up(self, key: str, lookup) -> dict | None:
        """The zaak remembered under ``key``, else ``lookup()``, run by one thread at a time per key
        (the others wait for its answer instead of asking the case system the same question)."""
        found = self._zaken_seen.get(key)
        if found is not None:
            return found
        with self._lookups_guard:
            if len(self._lookups) > ZAKEN_REMEMBERED:
                self._lookups.clear()
            lock = self._lookups.setdefault(key, threading.Lock())
        with lock:
            return self._zaken_seen.get(key) or lookup()

    def _read_zaak(self, zaak_url: str) -> dict:
        response = self.client.request("GET", zaak_url, "GET zaak", crs=True, accept=(404,))
        if response.status_code == 404:  # gone since the parent was delivered: not a config error
            raise Failed(Failure(PERMANENT, f"zaak {zaak_url} not found", status=404, url=zaak_url))
        data = self.client.body(response, "GET zaak")
        return self._remember_zaak({"url": data.get("url") or zaak_url, "identificatie": data.get("identificatie", "")})

    def _find_zaak(self, identificatie: str) -> dict | None:
        params = {"identificatie": identificatie, "bronorganisatie": self.options["bronorganisatie"]}
        found = self.client.first(self._zaken("zaken"), "GET /zaken", params=params, crs=True)
        if found is None:
            return None
        return self._remember_zaak({"url": found["url"], "identificatie": found.get("identificatie", identificatie)})

    def _create_zaak(self, message: Message, routing: Routing, steps: Steps) -> dict:
        identificatie = zaak_identificatie(message)
        self._settled(steps, "zaak")
        # a crashed earlier attempt, or another version of this message, may have created it
        existing = self._zaken_seen.get(identificatie) or self._find_zaak(identificatie)
        if existing is not None:
            return {**existing, "created": False}
        if not routing.zaaktype:
            raise Failed(Failure(CONFIGURATION, f"rule {routing.rule!r} creates a zaak without a zaaktype"))
        fields = dict(routing.zaak)
        fields.setdefault("omschrijving", f"Sociale media: {message.author.handle or message.channel}")
        fields["omschrijving"] = clip(str(fields["omschrijving"]), OMSCHRIJVING_MAX)
        if "toelichting" in fields:
            fields["toelichting"] = clip(str(fields["toelichting"]), TOELICHTING_MAX)
        for key in CONTROLLED_ZAAK_FIELDS:
            fields.pop(key, None)
        payload = {
            "startdatum": local_date(message.created_at),
            "verantwoordelijkeOrganisatie": self.options["bronorganisatie"],
            **fields,
            "identificatie": identificatie,
            "bronorganisatie": self.options["bronorganisatie"],
            "zaaktype": self._zaaktype(routing.zaaktype),
        }
        steps.save("zaak:sent", {"at": datetime.now(timezone.utc).isoformat()})
        response = self.client.post(self._zaken("zaken"), "POST /zaken", payload, crs=True, accept=(400,))
        if response.status_code == 400 and has_code(response, "identificatie-niet-uniek"):
            existing = self._find_zaak(identificatie)  # lost a race with another attempt
            if existing is not None:
                return {**existing, "created": False}
        data = self.client.created(response, "POST /zaken")
        self._remember_zaak({"url": data["url"], "identificatie": data.get("identificatie", identificatie)})
        return {"url": data["url"], "identificatie": data.get("identificatie", identificatie), "created": True}

    # -- documents ----------------------------------------------------------------------------
    def _titel(self, message: Message, routing: Routing) -> str:
        if routing.titel:
            return routing.titel
        who = message.author.handle or message.author.name or message.channel
        return f"{KIND_LABELS.get(message.kind, 'bericht').capitalize()} van @{who} op {local_date(message.created_at)}"

    def _identificatie(self, message: Message, role: str, routing: Routing | None = None) -> str:
        """Per message, or per version (option ``edits: documents``, or a version that arrived after a
        newer one: archived beside it, the newer stays the newest version of the documents)."""
        late = routing is not None and routing.late_version
        return document_identificatie(message, role, per_version=self.options["edits"] == "documents", late=late)

    def _fields(self, message: Message, routing: Routing, file: RecordFile, iotype: str) -> dict:
        """The document's fields, without its content (``inhoud``)."""
        identificatie = self._identificatie(message, file.role, routing)
        titel = clip(self._titel(message, routing), TITEL_MAX, title_suffix(file))
        formaat = file.format
        return {
            "identificatie": identificatie,
            "bronorganisatie": self.options["bronorganisatie"],
            "creatiedatum": local_date(message.created_at),
            "titel": titel,
            "vertrouwelijkheidaanduiding": routing.vertrouwelijkheidaanduiding,
            "auteur": self.options["auteur"],
            # received and fixed: only the connector adds a version, for an edited message (versions.py)
            "status": "definitief",
            "formaat": formaat[:255],
            "taal": taal(message.language),
            "bestandsnaam": identificatie + extension(formaat),
            "bestandsomvang": file.size,
            # the record's description (the fetched URL in it is redacted: credentials never reach an archive)
            "beschrijving": clip(file.description, 1000),
            "informatieobjecttype": iotype,
            **({"link": link(message.url)} if link(message.url) else {}),
            "integriteit": {
                "algoritme": "sha_256",
                "waarde": file.sha256,
                "datum": datetime.now(timezone.utc).date().isoformat(),
            },
        }

    def _document(self, message: Message, routing: Routing, file: RecordFile, iotype: str) -> dict:
        payload = self._fields(message, routing, file, iotype)
        identificatie, titel = payload["identificatie"], payload["titel"]
        with file.open() as stream:  # small: base64 in the JSON (large ones go up in parts: large.py)
            payload["inhoud"] = base64.b64encode(stream.read()).decode("ascii")
        url = self._documenten("enkelvoudiginformatieobjecten")
        response = self.client.post(url, "POST /enkelvoudiginformatieobjecten", payload, accept=(400,))
        if response.status_code == 400 and has_code(response, "identificatie-niet-uniek"):
            existing = self._find_document(message, file.role, routing=routing)
            if existing is not None:
                return {**existing, "titel": existing["titel"] or titel}
        data = self.client.created(response, "POST /enkelvoudiginformatieobjecten")
        return {"url": data["url"], "identificatie": identificatie, "titel": titel}

    def _link(self, zaak_url: str, document_url: str, titel: str) -> dict:
        url = self._zaken("zaakinformatieobjecten")
        payload = {"zaak": zaak_url, "informatieobject": document_url}
        if titel:
            payload["titel"] = titel
        response = self.client.post(url, "POST /zaakinformatieobjecten", payload, accept=(400,))
        if response.status_code == 400 and has_code(response, "unique"):
            existing = self._find_link(zaak_url, document_url)
            if existing is not None:
                return existing
        return {"url": self.client.created(response, "POST /zaakinformatieobjecten")["url"]}

