"""MDTO 1.0.1 metadata of a record: one informatieobject per message, one bestand per file.

Built with lxml element by element (never from text templates) out of three things only:

* the :class:`~connector.record.Record` (the message, its files with checksums and sizes, the provenance);
* the :class:`~connector.routing.Routing`: its ``titel`` names the informatieobject, its ``archief``
  gives waardering, bewaartermijn and informatiecategorie (waardering ``N``, "nader te bepalen",
  when the rules set none, as MDTO prescribes for an unknown appraisal);
* the :class:`Organisatie`: what the organisation says of all its records (the archiefvormer, the
  beperkingGebruik, the source of the identifiers), from the archive sink's options.

Every document is validated against the bundled XSD before it is returned (:func:`serialise`); a
document the schema refuses raises :class:`~connector.mdto.validate.MdtoInvalid` and is never written.
Output is deterministic: no clock is read; times come from the record (publication: the platform's
``created_at``; capture and checksum: the provenance's ``fetched_at``, or ``captured_at`` given).

Text that XML cannot carry (control characters such as U+0000 or U+001B, lone surrogates, U+FFFE)
becomes U+FFFD in the metadata; the files themselves keep their exact bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePath

from lxml import etree

from ..record import Record, RecordFile
from ..routing import WAARDERINGEN, Routing
from .formats import identify
from .validate import NAMESPACE, SCHEMA_LOCATION, validate

XSI = "http://www.w3.org/2001/XMLSchema-instance"
CHECKSUM_ALGORITME = "SHA-256"
OMSCHRIJVING_MAX = 10000  # characters of the message text in <omschrijving>; the rendition has it all
SNIFF_BYTES = 1 << 20
# MDTO's own begrippenlijsten, named as the Nationaal Archief's examples name them
WAARDERINGEN_LIJST = "Begrippenlijst Waarderingen MDTO"
EVENTTYPE_LIJST = "Begrippenlijst EventTypeLijst MDTO"
AGGREGATIENIVEAU_LIJST = "Begrippenlijst Aggregatieniveaus MDTO"
CHECKSUM_LIJST = "Begrippenlijst ChecksumAlgoritme MDTO"
BEPERKINGEN_LIJST = "Begrippenlijst Beperkingen MDTO"
RELATIETYPEN_LIJST = "Begrippenlijst Relatietypen informatieobject MDTO"
# XML 1.0 Char: what an XML document can carry at all
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LANGUAGE = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*\Z")  # xsd:language


@dataclass(frozen=True)
class Verwijzing:
    """An MDTO verwijzing: a ``naam`` and, when known, an identificatie (``kenmerk`` from ``bron``)."""

    naam: str
    kenmerk: str = ""
    bron: str = ""

    def __post_init__(self):
        if not self.naam.strip():
            raise ValueError("a verwijzing needs a naam")
        if bool(self.kenmerk.strip()) != bool(self.bron.strip()):
            raise ValueError(f"verwijzing {self.naam!r}: give kenmerk and bron together, or neither")


@dataclass(frozen=True)
class Organisatie:
    """What the organisation says of every record it archives (the archive sink's options).

    ``archiefvormer``: the organisation(s) that formed the archive, e.g.
    ``Verwijzing("Gemeente Voorbeeld", "gm9999", "TOOI")``. ``beperking_gebruik``: the label of the
    beperkingGebruikType in ``beperking_begrippenlijst`` ("Geen beperking", "Nader te bepalen" of the
    MDTO list, or a label of the organisation's own list), ``beperking_toelichting`` its explanation.
    ``identificatie_bron``: the source named for the identifiers the connector gives (identificatieBron).
    """

    archiefvormer: tuple[Verwijzing, ...] | Verwijzing
    beperking_gebruik: str = "Nader te bepalen"
    beperking_begrippenlijst: str = BEPERKINGEN_LIJST
    beperking_toelichting: str = ""
    identificatie_bron: str = "midoffice-connector"

    def __post_init__(self):
        vormers = (self.archiefvormer,) if isinstance(self.archiefvormer, Verwijzing) else tuple(self.archiefvormer)
        if not vormers:
            raise ValueError("an organisatie needs at least one archiefvormer")
        object.__setattr__(self, "archiefvormer", vormers)
        for name in ("beperking_gebruik", "beperking_begrippenlijst", "identificatie_bron"):
            if not getattr(self, name).strip():
                raise ValueError(f"organisatie: {name} must not be empty")


@dataclass(frozen=True)
class Sidecar:
    """One MDTO document and the file name the MDTO SIP gives it (``<naam>.MDTO.xml``,
    ``<bestandsnaam>.bestand.MDTO.xml``, beside the file it describes)."""

    filename: str
    content: bytes = field(repr=False)


# -- the public API -----------------------------------------------------------------------------

def informatieobject(record: Record, routing: Routing, organisatie: Organisatie, *,
                     captured_at: datetime | None = None, onderdeel_van: Verwijzing | None = None) -> bytes:
    """The validated MDTO document of the message (one informatieobject)."""
    return serialise(informatieobject_tree(record, routing, organisatie, captured_at=captured_at,
                                           onderdeel_van=onderdeel_van))


def bestand(record: Record, file: RecordFile, routing: Routing, organisatie: Organisatie, *,
            captured_at: datetime | None = None) -> bytes:
    """The validated MDTO document of one file of the record (one bestand)."""
    return serialise(bestand_tree(record, file, routing, organisatie, captured_at=captured_at))


def sidecars(record: Record, routing: Routing, organisatie: Organisatie, *, captured_at: datetime | None = None,
             onderdeel_van: Verwijzing | None = None) -> list[Sidecar]:
    """All MDTO documents of a record, validated: the informatieobject's first, then one per file."""
    documents = [Sidecar(f"{object_name(record)}.MDTO.xml",
                         informatieobject(record, routing, organisatie, captured_at=captured_at,
                                          onderdeel_van=onderdeel_van))]
    documents += [Sidecar(f"{file.filename}.bestand.MDTO.xml",
                          bestand(record, file, routing, organisatie, captured_at=captured_at))
                  for file in record.files]
    return documents


def object_name(record: Record) -> str:
    """The informatieobject's name in a package: the stem its files share (safe on every file system)."""
    return PurePath(record.files[0].filename).stem


def kenmerk(record: Record) -> str:
    """The informatieobject's identificatieKenmerk: channel, platform id and version (stable, unique)."""
    message = record.message
    return "/".join(part for part in (message.channel, message.id, message.version) if part)


def naam(record: Record, routing: Routing) -> str:
    message = record.message
    return clean(routing.titel.strip() or record.titel.strip() or f"{message.channel}: {message.kind} {message.id}")


def serialise(tree: etree._Element) -> bytes:
    """``tree`` as UTF-8 XML, after the schema accepted it (else :class:`MdtoInvalid`, nothing returned)."""
    validate(tree)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def clean(text: str) -> str:
    """``text`` with every character XML cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


# -- the trees ----------------------------------------------------------------------------------

def informatieobject_tree(record: Record, routing: Routing, organisatie: Organisatie, *,
                          captured_at: datetime | None = None,
                          onderdeel_van: Verwijzing | None = None) -> etree._Element:
    """The informatieobject as an element tree, not yet validated (see :func:`informatieobject`)."""
    message, provenance = record.message, record.provenance
    captured = _captured(record, captured_at)
    root, io = _root("informatieobject")
    _identificatie(io, "identificatie", kenmerk(record), organisatie.identificatie_bron)
    _text(io, "naam", naam(record, routing))
    _begrip(io, "aggregatieniveau", "Archiefstuk", AGGREGATIENIVEAU_LIJST)
    for tag in message.hashtags:
        _text(io, "trefwoord", f"#{tag}")
    if message.text.strip():
        text = message.text.strip()
        _text(io, "omschrijving", text if len(text) <= OMSCHRIJVING_MAX else text[:OMSCHRIJVING_MAX - 1] + "…")
    if message.language and _LANGUAGE.match(message.language):
        _text(io, "taal", message.language)
    author = message.author
    actor = Verwijzing(f"{author.name} (@{author.handle})" if author.name.strip() else f"@{author.handle}",
                       author.id, f"account-id op kanaal {message.channel}") if author.id.strip() else \
        Verwijzing(f"@{author.handle}")
    _event(io, "Publicatie", message.created_at, actor, f"Gepubliceerd op {message.url}" if message.url else "")
    if message.edited_at is not None:
        _event(io, "Wijziging", message.edited_at, actor, f"Bewerkt op het platform; deze versie: {message.version}"
               if message.version else "Bewerkt op het platform")
    scope = " (het hele antwoord: het bericht kon er niet exact uit worden gesneden)" \
        if provenance.original_scope == "response" else ""
    fetched = f"Opgehaald van {provenance.fetched_from}{scope}" if provenance.fetched_from else "Opgehaald"
    original = f"; SHA-256 van het origineel: {provenance.original_sha256}" if provenance.original_sha256 else ""
    missing = "".join(f"; bijlage ontbreekt: {m.get('url', '')}"
                      + (f" (alt-tekst: {m['description']})" if m.get("description") else "")
                      + f": {m.get('reason', '')}" for m in provenance.missing_media)
    _event(io, "Opname", captured, Verwijzing(provenance.captured_by), fetched + original + missing)
    archief = routing.archief
    waardering = archief.waardering if archief else "N"
    _begrip(io, "waardering", WAARDERINGEN[waardering], WAARDERINGEN_LIJST, code=waardering)
    if archief and archief.bewaartermijn:
        termijn = etree.SubElement(io, _q("bewaartermijn"))
        _text(termijn, "termijnLooptijd", archief.bewaartermijn)
    if archief and archief.informatiecategorie:
        categorie = archief.informatiecategorie
        _begrip(io, "informatiecategorie", categorie.label, categorie.selectielijst, code=categorie.code or None)
    if onderdeel_van is not None:
        _verwijzing(io, "isOnderdeelVan", onderdeel_van)
    for file in record.files:
        _verwijzing(io, "heeftRepresentatie", Verwijzing(file.filename, file.filename, organisatie.identificatie_bron))
    if message.in_reply_to:
        parent = f"{message.channel}/{message.in_reply_to}"
        related = etree.SubElement(io, _q("gerelateerdInformatieobject"))
        _verwijzing(related, "gerelateerdInformatieobjectVerwijzing",
                    Verwijzing(f"Bericht {message.in_reply_to} op {message.channel} (waarop dit een reactie is)",
                               parent, organisatie.identificatie_bron))
        _begrip(related, "gerelateerdInformatieobjectTypeRelatie", "Refereert aan", RELATIETYPEN_LIJST)
    for vormer in organisatie.archiefvormer:
        _verwijzing(io, "archiefvormer", vormer)
    beperking = etree.SubElement(io, _q("beperkingGebruik"))
    _begrip(beperking, "beperkingGebruikType", organisatie.beperking_gebruik, organisatie.beperking_begrippenlijst)
    if organisatie.beperking_toelichting.strip():
        _text(beperking, "beperkingGebruikNadereBeschrijving", organisatie.beperking_toelichting)
    return root


def bestand_tree(record: Record, file: RecordFile, routing: Routing, organisatie: Organisatie, *,
                 captured_at: datetime | None = None) -> etree._Element:
    """One file's bestand as an element tree, not yet validated (see :func:`bestand`)."""
    root, element = _root("bestand")
    _identificatie(element, "identificatie", file.filename, organisatie.identificatie_bron)
    _text(element, "naam", file.filename)
    _text(element, "omvang", str(file.size))
    fmt = identify(file.media_type, _head(file))
    _begrip(element, "bestandsformaat", fmt.label, fmt.begrippenlijst, code=fmt.code)
    checksum = etree.SubElement(element, _q("checksum"))
    _begrip(checksum, "checksumAlgoritme", CHECKSUM_ALGORITME, CHECKSUM_LIJST)
    _text(checksum, "checksumWaarde", file.sha256)
    _text(checksum, "checksumDatum", _datetime(_captured(record, captured_at)))
    _verwijzing(element, "isRepresentatieVan",
                Verwijzing(naam(record, routing), kenmerk(record), organisatie.identificatie_bron))
    return root


# -- helpers ------------------------------------------------------------------------------------

def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _root(kind: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(_q("MDTO"), nsmap={None: NAMESPACE, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", SCHEMA_LOCATION)
    return root, etree.SubElement(root, _q(kind))


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, _q(tag))
    element.text = clean(text)
    return element


def _identificatie(parent, tag: str, kenmerk_: str, bron: str) -> None:
    element = etree.SubElement(parent, _q(tag))
    _text(element, "identificatieKenmerk", kenmerk_)
    _text(element, "identificatieBron", bron)


def _verwijzing(parent, tag: str, verwijzing: Verwijzing) -> None:
    element = etree.SubElement(parent, _q(tag))
    _text(element, "verwijzingNaam", verwijzing.naam)
    if verwijzing.kenmerk:
        _identificatie(element, "verwijzingIdentificatie", verwijzing.kenmerk, verwijzing.bron)


def _begrip(parent, tag: str, label: str, begrippenlijst: str, code: str | None = None) -> None:
    element = etree.SubElement(parent, _q(tag))
    _text(element, "begripLabel", label)
    if code:
        _text(element, "begripCode", code)
    _verwijzing(element, "begripBegrippenlijst", Verwijzing(begrippenlijst))


def _event(parent, kind: str, when: datetime, actor: Verwijzing, resultaat: str) -> None:
    event = etree.SubElement(parent, _q("event"))
    _begrip(event, "eventType", kind, EVENTTYPE_LIJST)
    _text(event, "eventTijd", _datetime(when))
    _verwijzing(event, "eventVerantwoordelijkeActor", actor)
    if resultaat:
        _text(event, "eventResultaat", resultaat)


def _datetime(when: datetime) -> str:
    """An xsd:dateTime in UTC to the second (``2026-03-02T09:15:30Z``)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _captured(record: Record, captured_at: datetime | None) -> datetime:
    if captured_at is not None:
        if captured_at.tzinfo is None:
            raise ValueError("captured_at must be timezone-aware")
        return captured_at
    fetched = record.provenance.fetched_at
    if not fetched:
        raise ValueError(f"record of {kenmerk(record)!r}: no fetch time in its provenance; give captured_at")
    return datetime.fromisoformat(fetched.replace("Z", "+00:00"))


def _head(file: RecordFile) -> bytes:
    """What :func:`identify` reads of ``file``: its first :data:`SNIFF_BYTES`, and of a PDF its last ones
    too (the XMP metadata that declares PDF/A may stand at the end: fpdf2 writes it there, after the
    images, so the PDF/A rendition of a message with a large photo declares it past the first MiB)."""
    tail = file.format == "application/pdf" and file.size > SNIFF_BYTES
    if file.data is not None:
        return file.data[:SNIFF_BYTES] + (file.data[-SNIFF_BYTES:] if tail else b"")
    with file.open() as handle:
        head = handle.read(SNIFF_BYTES)
        if tail:
            handle.seek(-SNIFF_BYTES, 2)
            head += handle.read(SNIFF_BYTES)
        return head
