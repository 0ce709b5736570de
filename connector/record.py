"""The record of a message: the files to archive and where they came from, built once in the core.

A sink never composes what it archives; it takes the message's :class:`Record` (:func:`record_of`,
built once per message, shared by every sink the message fans out to) and uploads what it holds.
So a ZGW case system, a StUF case system and an archive package get the same bytes, descriptions
and checksums for one message. (A sink still decides what the target system needs on top: the
ZGW sink's titel from the rule, its identificaties and file names.)

A record holds, in this order:

``rendition``  the readable PDF/A document of the message (:func:`connector.rendition_pdf.render_pdf`):
               PDF/A-3b with the original embedded (PDF/A-2b without one), the images among its fetched
               media embedded, the replied-to message (``Message.parent``) quoted, and what became of
               each attachment; dated by the fetch (``Raw.fetched_at``). (The HTML rendition,
               :func:`connector.rendition.render_html`, is for previews, not in the record);
``original``   the platform's item exactly as received (``Message.raw.body``), when there is one;
               or, when the item could not be cut out of the response exactly, the whole response
               (``Raw.scope == "response"``): the provenance and both descriptions then say so;
``medium-N``   each attachment fetched before delivery (``Message.media``, :mod:`connector.media.stage`),
               a file on disk with its alt text in the description; an attachment that could not be
               fetched is listed in ``Provenance.missing_media`` and in the rendition instead;

Each :class:`RecordFile` carries its bytes (or a path on disk, for large files that are streamed),
media type, file name, title, description, SHA-256 and size. :class:`Provenance` says what was
fetched from where, when and by what; the fetched URL is redacted (credentials never reach an archive).

Building a record is deterministic: the same message (with the same raw payload, media and parent)
gives the same files, names and checksums, so a retried delivery uploads identical documents.

Images go into the rendition read from their files on disk, each at most :data:`MAX_EMBED_BYTES`: a
larger one is not read at all (the rendition says it is not embedded, and where it is archived), so a
huge medium never goes into memory. A record's rendition therefore holds at most that many bytes per
image; the cache of records (:func:`record_of`) is bounded in bytes as well as in number.
"""
from __future__ import annotations

import hashlib
import io
import mimetypes
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from . import __version__
from .media.retry import Missing
from .message import Message, iso
from .redact import redact_url
from .rendition import WHOLE_RESPONSE
from .rendition_pdf import MEDIA_TYPE as PDF, RenditionImage, render_pdf

RENDITION = "rendition"
ORIGINAL = "original"
MEDIUM = "medium"  # roles medium-1, medium-2, ...: the fetched attachments, in order
MEDIA_LABELS = {"image": "afbeelding", "video": "video", "audio": "geluid"}
CAPTURED_BY = f"midoffice-connector/{__version__}"
MAX_EMBED_BYTES = 25 * 1024 * 1024  # an image file larger than this is not read into the rendition
CACHE_RECORDS = 256  # records kept by record_of, at most ...
CACHE_BYTES = 64 * 1024 * 1024  # ... holding at most this many bytes in memory together


@dataclass(frozen=True)
class RecordFile:
    """One file of a record: bytes in memory (``data``) or a file on disk (``path``), never both."""

    role: str
    media_type: str
    filename: str
    title: str
    description: str
    sha256: str
    size: int
    data: bytes | None = None
    path: Path | None = None

    def __post_init__(self):
        if (self.data is None) == (self.path is None):
            raise ValueError(f"record file {self.role!r}: give data or a path, exactly one")

    @classmethod
    def from_bytes(cls, role: str, data: bytes, media_type: str, filename: str, title: str,
                   description: str) -> "RecordFile":
        return cls(role=role, media_type=media_type, filename=filename, title=title, description=description,
                   sha256=hashlib.sha256(data).hexdigest(), size=len(data), data=data)

    @classmethod
    def from_path(cls, role: str, path: Path, media_type: str, filename: str, title: str,
                  description: str, chunk: int = 1 << 20) -> "RecordFile":
        """A file on disk, hashed while streaming (never read into memory whole)."""
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                digest.update(block)
                size += len(block)
        return cls(role=role, media_type=media_type, filename=filename, title=title, description=description,
                   sha256=digest.hexdigest(), size=size, path=Path(path))

    def open(self) -> BinaryIO:
        """The content as a binary stream (a sink uploading in parts reads it chunk by chunk)."""
        return io.BytesIO(self.data) if self.data is not None else open(self.path, "rb")

    @property
    def format(self) -> str:
        """The media type without parameters (``text/html; charset=utf-8`` -> ``text/html``)."""
        return self.media_type.split(";")[0].strip() or "application/octet-stream"


@dataclass(frozen=True)
class Provenance:
    """What was fetched, from where, when, and by what (the URL without credentials)."""

    channel: str
    platform_id: str
    version: str
    permalink: str
    fetched_from: str
    fetched_at: str | None
    captured_by: str
    original_sha256: str | None
    #: ``"item"`` (the item's own bytes) or ``"response"`` (the whole response it came in); None without original
    original_scope: str | None = None
    #: the attachments that could not be archived: url (redacted), media type, alt text, why, attempts
    missing_media: tuple[dict, ...] = ()
    #: the capture log's WARC file and response record (id, byte offset) that carried the original; "" without
    warc_file: str = ""
    warc_record: str = ""
    warc_offset: int | None = None


@dataclass(frozen=True)
class Record:
    message: Message
    files: tuple[RecordFile, ...]
    provenance: Provenance
    titel: str = field(default="")

    def file(self, role: str) -> RecordFile | None:
        return next((f for f in self.files if f.role == role), None)


def extension(media_type: str) -> str:
    """A file name extension for a media type (``.json`` for any JSON, ``.xml`` for any XML)."""
    base = media_type.split(";")[0].strip().lower()
    if base == "application/json" or base.endswith("+json"):
        return ".json"
    if base.endswith("/xml") or base.endswith("+xml"):
        return ".xml"
    return mimetypes.guess_extension(base) or ".bin"


def _stem(message: Message) -> str:
    """A file name stem from channel, id and version: stable, and safe on every file system."""
    digest = hashlib.sha256(f"{message.channel}\x00{message.id}\x00{message.version}".encode()).hexdigest()[:16]
    channel = "".join(c if c.isalnum() or c in "-_" else "-" for c in message.channel)[:40] or "bericht"
    return f"{channel}-{digest}"


def record_of(message: Message) -> Record:
    """The record of ``message``, built once: every sink a message fans out to gets the same object.

    (A bounded cache keeps the records of a run. Its key is the message *and* its raw payload, media
    and parent: messages compare without them, and two copies of one version with different bytes
    must not share a record.)
    """
    return _CACHE.get((message, message.raw, message.media, message.parent), lambda: build_record(message))


class _RecordCache:
    """Least recently used records, at most :data:`CACHE_RECORDS` of them holding at most
    :data:`CACHE_BYTES` in memory (a record over that is built every time, not kept). Thread-safe;
    two threads asking for a record not yet kept may both build it (the same bytes either way)."""

    def __init__(self, records: int = CACHE_RECORDS, size: int = CACHE_BYTES):
        self.records, self.size, self.held = records, size, 0
        self.entries: OrderedDict[tuple, tuple[Record, int]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple, build) -> Record:
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key][0]
        record = build()
        size = sum(len(f.data) for f in record.files if f.data is not None)
        with self.lock:
            if key in self.entries:  # another thread kept it meanwhile: share that one
                return self.entries[key][0]
            if size <= self.size:
                self.entries[key] = (record, size)
                self.held += size
                while len(self.entries) > self.records or self.held > self.size:
                    self.held -= self.entries.popitem(last=False)[1][1]
        return record


_CACHE = _RecordCache()


def rendition_images(message: Message) -> list[RenditionImage]:
    """The fetched images of ``message`` (its media of type ``image/``), in order, for the rendition;
    a file over :data:`MAX_EMBED_BYTES` is not read, and the rendition says why it lacks it."""
    images, number = [], 0
    for item in message.media:
        if isinstance(item, Missing):
            continue
        number += 1  # the medium-N file it is archived as
        if not item.media_type.lower().startswith("image/"):
            continue
        data = None
        if item.size <= MAX_EMBED_BYTES:
            with open(item.path, "rb") as handle:
                data = handle.read(MAX_EMBED_BYTES + 1)  # bounded, whatever the file grew to
        if data is None or len(data) > MAX_EMBED_BYTES:
            images.append(RenditionImage(b"", item.media_type, item.description, omitted=(
                f"het bestand is groter dan {MAX_EMBED_BYTES // (1024 * 1024)} MiB; het is ongewijzigd"
                f" gearchiveerd als bijlage {number}")))
        else:
            images.append(RenditionImage(data, item.media_type, item.description))
    return images


def other_files(message: Message, titel: str = "") -> tuple[RecordFile, ...]:
    """The record's files besides the rendition (the original, the media), in order: cheap to make, so a
    sink can upload them while the rendition is still being rendered; :func:`build_record` uses them too."""
    stem = _stem(message)
    where = message.url or f"{message.channel} {message.id}"
    raw = message.raw
    note = WHOLE_RESPONSE[0].upper() + WHOLE_RESPONSE[1:]
    files = []
    if raw is not None:
        whole = raw.scope == raw.RESPONSE
        source = f" van {redact_url(raw.page_url)}" if raw.page_url else ""
        media_type = raw.media_type or "application/octet-stream"
        description = (f"{note}{source}, ongewijzigd." if whole
                       else f"Oorspronkelijk bericht zoals ontvangen{source}, ongewijzigd.")
        files.append(RecordFile.from_bytes(ORIGINAL, raw.body, media_type, f"{stem}{extension(media_type)}",
                                           f"{titel} (origineel)" if titel else "origineel", description))
    for number, item in enumerate((m for m in message.media if not isinstance(m, Missing)), 1):
        label = MEDIA_LABELS.get(item.media_type.split("/")[0], "bijlage")
        alt = f" Alt-tekst: {item.description}." if item.description.strip() else ""
        files.append(RecordFile(
            role=f"{MEDIUM}-{number}", media_type=item.media_type,
            filename=f"{stem}-{number}{extension(item.media_type)}",
            title=f"{titel} ({label} {number})" if titel else f"{label} {number}",
            description=f"{label.capitalize()} {number} bij {where}, opgehaald van {item.fetched_from}"
                        f" op {iso(item.fetched_at)}, ongewijzigd.{alt}",
            sha256=item.sha256, size=item.size, path=item.path))
    return tuple(files)


def build_record(message: Message, titel: str = "") -> Record:
    """The record of ``message`` (see the module docstring); ``titel`` is what the rules named it."""
    stem = _stem(message)
    where = message.url or f"{message.channel} {message.id}"
    raw = message.raw
    whole = raw is not None and raw.scope == raw.RESPONSE
    # the note first: a case system that clips a description cuts a long URL, not the note
    note = WHOLE_RESPONSE[0].upper() + WHOLE_RESPONSE[1:]
    captured_at = raw.fetched_at if raw is not None and isinstance(raw.fetched_at, datetime) else None
    pdf = render_pdf(message, parent=message.parent, images=rendition_images(message), captured_at=captured_at)
    files = [RecordFile.from_bytes(RENDITION, pdf, PDF, f"{stem}.pdf", titel,
                                   (f"{note}. " if whole else "") + f"Leesbare weergave (PDF/A) van {where}."),
             *other_files(message, titel)]
    provenance = Provenance(
        channel=message.channel, platform_id=message.id, version=message.version, permalink=message.url or "",
        fetched_from=redact_url(raw.page_url) if raw and raw.page_url else "",
        fetched_at=iso(raw.fetched_at) if raw and isinstance(raw.fetched_at, datetime) else None,
        captured_by=CAPTURED_BY, original_sha256=raw.sha256 if raw is not None else None,
        original_scope=raw.scope if raw is not None else None,
        missing_media=tuple(m.to_dict() for m in message.media if isinstance(m, Missing)),
        warc_file=raw.warc_file if raw else "", warc_record=raw.warc_record if raw else "",
        warc_offset=raw.warc_offset if raw else None)
    return Record(message=message, files=tuple(files), provenance=provenance, titel=titel)
