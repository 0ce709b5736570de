"""The archive sink: every message as an MDTO SIP package on disk, with no case system at all.

For organisations without a case system, for an archive copy beside one (fan-out: ``receives: all``),
and for transfer to an e-Depot. What it writes (see :mod:`.sip` for the layout and its guarantees):
per message version a package folder holding the record's files (rendition, original, later media)
with their MDTO ``bestand`` sidecars and the message's MDTO ``informatieobject``
(:mod:`connector.mdto`), in a batch folder per publication day (Europe/Amsterdam) with a pakbon.

Decisions:

* **Deterministic, so retries write nothing twice.** The batch is the message's publication day,
  not the day of delivery; the package name is the record's file stem (channel and a hash of id and
  version); the MDTO documents read no clock (the capture time is the fetch time, or for a message
  without one the first attempt's time, memoised in the delivery's steps). A second attempt
  finds the package complete and identical, and reports it delivered.
* **An edit is a new version beside the old**: its package has its own name (the version is in it),
  the earlier one stays as it was.
* **Where the record belongs** (MDTO ``isOnderdeelVan``): the zaak the rule attaches to, when it
  names one (with ``zaak_bron`` as its identificatieBron), else the sink's ``onderdeel_van``.
* **"Zaak" of a delivery**: the package folder's ``file:`` URI. Replies that follow their thread
  find their parent's package there and are archived too (an archive has no zaak to miss).
* **Failures**: a document the MDTO schema refuses, or a package already there with other content,
  is permanent (a bug or a hand edit: an operator must look; retrying cannot help); a folder the
  process may not write is a configuration problem (the sink pauses); other disk errors are
  transient (a full disk recovers).
"""
from __future__ import annotations

import functools
from datetime import datetime, timezone
from pathlib import Path

import marshmallow
from marshmallow import fields, validate

from ... import mdto
from ...checks import Check
from ...failures import CONFIGURATION, PERMANENT, RETRY, Failed, Failure
from ...message import Message, parse_iso
from ...record import record_of
from ...rendition import AMSTERDAM
from ...routing import Routing
from ..base import SINKS, Delivered, Document, Sink, Steps
from .sip import PackageConflict, PackageFile, pakbon_xml, write_package

__all__ = ["ArchiveSink"]


class VerwijzingSchema(marshmallow.Schema):
    class Meta:
        unknown = marshmallow.RAISE

    naam = fields.String(required=True, validate=validate.Length(min=1))
    kenmerk = fields.String(load_default="")
    bron = fields.String(load_default="")

    @marshmallow.validates_schema
    def _together(self, data, **kwargs):
        if bool(data.get("kenmerk")) != bool(data.get("bron")):
            raise marshmallow.ValidationError("give kenmerk and bron together, or neither")

    @marshmallow.post_load
    def _make(self, data, **kwargs):
        return mdto.Verwijzing(**data)


class ArchiveOptions(marshmallow.Schema):
    class Meta:
        unknown = marshmallow.RAISE

    folder = fields.String(required=True, validate=validate.Length(min=1), metadata={
        "description": "where the SIP batches go (absolute, or relative to the working directory)"})
    archiefvormer = fields.Nested(VerwijzingSchema, required=True, metadata={
        "description": "MDTO archiefvormer: `{naam, kenmerk, bron}`, e.g. `{naam: Gemeente Voorbeeld,"
                       " kenmerk: gm9999, bron: TOOI}`"})
    beperking_gebruik = fields.String(load_default="Nader te bepalen", validate=validate.Length(min=1), metadata={
        "description": "MDTO beperkingGebruik: a label of the MDTO list (`Geen beperking`, `Nader te bepalen`)"})
    beperking_toelichting = fields.String(load_default="", metadata={
        "description": "explanation of the beperkingGebruik"})
    onderdeel_van = fields.Nested(VerwijzingSchema, load_default=None, allow_none=True, metadata={
        "description": "MDTO isOnderdeelVan when a rule names no zaak: the aggregation in the e-Depot"})
    zaak_bron = fields.String(load_default="Zaaksysteem", validate=validate.Length(min=1), metadata={
        "description": "identificatieBron of a zaak a rule attaches to (its isOnderdeelVan)"})
    locatie_doelsysteem = fields.String(load_default="", metadata={
        "description": "pakbon: where the receiving party places the SIP"})
    contactpersoon = fields.String(load_default="", metadata={"description": "pakbon: contact person or e-mail"})


@SINKS.register
class ArchiveSink(Sink):
    """MDTO SIP packages in a folder: one per message version, a pakbon per batch."""

    kind = "archive"
    options_schema = ArchiveOptions

    def __init__(self, name: str, options: dict):
        super().__init__(name, options)
        self.root = Path(self.options["folder"])
        self.organisatie = mdto.Organisatie(archiefvormer=self.options["archiefvormer"],
                                            beperking_gebruik=self.options["beperking_gebruik"],
                                            beperking_toelichting=self.options["beperking_toelichting"])
        self.pakbon = functools.partial(pakbon_xml, archiefvormer=self.options["archiefvormer"].naam,
                                        locatie_doelsysteem=self.options["locatie_doelsysteem"],
                                        contactpersoon=self.options["contactpersoon"])

    def __repr__(self) -> str:
        return f"<ArchiveSink {self.name!r} {self.root}>"

    def check(self) -> list[Check]:
        checks = [Check("settings", True)]
        probe = self.root / f".check-{self.name}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            return [*checks, Check("connection", False, f"cannot write in {self.root}: {exc.strerror or exc}")]
        return [*checks, Check("connection", True, f"writes packages in {self.root}")]

    def deliver(self, message: Message, routing: Routing, steps: Steps) -> Delivered:
        record = record_of(message)
        captured = None
        if record.provenance.fetched_at is None:  # no fetch time: the first attempt's, kept for retries
            captured = parse_iso(steps.run("captured", lambda: {"at": datetime.now(timezone.utc).isoformat()})["at"])
        onderdeel = self.options["onderdeel_van"]
        if routing.zaak_identificatie:
            onderdeel = mdto.Verwijzing(routing.zaak_identificatie, routing.zaak_identificatie,
                                        self.options["zaak_bron"])
        batch = self.root / f"sip-{message.created_at.astimezone(AMSTERDAM).date().isoformat()}"
        try:
            documents = mdto.sidecars(record, routing, self.organisatie, captured_at=captured,
                                      onderdeel_van=onderdeel)
            by_name = {document.filename: document.content for document in documents[1:]}
            files = [PackageFile(f.filename, by_name[f"{f.filename}.bestand.MDTO.xml"], data=f.data, path=f.path)
                     for f in record.files]
            written = write_package(batch, mdto.object_name(record), documents[0].content, files, self.pakbon)
        except mdto.MdtoInvalid as exc:
            raise Failed(Failure(PERMANENT, f"the MDTO metadata of this message does not validate (a connector"
                                            f" bug, please report it): {exc}")) from exc
        except PackageConflict as exc:
            raise Failed(Failure(PERMANENT, str(exc))) from exc
        except PermissionError as exc:
            raise Failed(Failure(CONFIGURATION, f"the archive folder cannot be written: {exc}")) from exc
        except OSError as exc:
            raise Failed(Failure(RETRY, f"writing the package failed: {type(exc).__name__}: {exc}")) from exc
        package = written.path
        return Delivered(zaak_url=package.resolve().as_uri(), zaak_identificatie=routing.zaak_identificatie or "",
                         documents=[Document(f.role, (package / f.filename).resolve().as_uri(), mdto.kenmerk(record),
                                             f.title) for f in record.files])
