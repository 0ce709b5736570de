"""The file format of a record file as MDTO ``bestandsformaat``: a PRONOM PUID where we know it.

MDTO asks for the format "preferably as PRONOM PUID" (begrippenlijst ``PRONOM-register``), and allows
the IANA media type (begrippenlijst ``IANA Media types``) where there is none. The PUIDs and names
below are those of The National Archives' PRONOM registry (https://www.nationalarchives.gov.uk/PRONOM/,
e.g. https://www.nationalarchives.gov.uk/PRONOM/fmt/477), one per format the connector produces or
downloads. Where PRONOM tells versions of one media type apart by a signature at the start of the file
(GIF 87a/89a, the three WebP encodings, JFIF 1.01 or another JPEG, PDF/A-2b or -3b), :func:`identify`
looks at the bytes the same way; where it cannot tell, it says no more than it knows (a PDF that does
not declare PDF/A conformance, a feed, an unknown type: the media type, not a guessed PUID).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

PRONOM = "PRONOM-register"
IANA = "IANA Media types"


@dataclass(frozen=True)
class Format:
    """A ``bestandsformaat`` begrip: ``code`` (a PUID or a media type), ``label``, ``begrippenlijst``."""

    code: str
    label: str
    begrippenlijst: str = PRONOM


# PRONOM entries (PUID: format name and version, as the registry names them)
HTML5 = Format("fmt/471", "Hypertext Markup Language 5")
JSON = Format("fmt/817", "JSON Data Interchange Format")
XML = Format("fmt/101", "Extensible Markup Language 1.0")
TEXT = Format("x-fmt/111", "Plain Text File")
PDFA_2B = Format("fmt/477", "Acrobat PDF/A - Portable Document Format 2b")
PDFA_3B = Format("fmt/480", "Acrobat PDF/A - Portable Document Format 3b")
JPEG_JFIF_101 = Format("fmt/43", "JPEG File Interchange Format 1.01")
JPEG_RAW = Format("fmt/41", "Raw JPEG Stream")
PNG = Format("fmt/13", "Portable Network Graphics 1.2")
GIF_87A = Format("fmt/3", "Graphics Interchange Format 87a")
GIF_89A = Format("fmt/4", "Graphics Interchange Format 89a")
WEBP_LOSSY = Format("fmt/566", "WebP (lossy)")
WEBP_LOSSLESS = Format("fmt/567", "WebP (lossless)")
WEBP_EXTENDED = Format("fmt/568", "WebP (extended)")
MP4 = Format("fmt/199", "MPEG-4 Media File")
MP3 = Format("fmt/134", "MPEG 1/2 Audio Layer 3")

# By media type, when the bytes say nothing more specific (see _refine).
BY_MEDIA_TYPE = {
    "text/html": HTML5,  # the HTML rendition (connector.rendition, for previews) is HTML5 (<!DOCTYPE html>)
    "application/json": JSON,
    "application/activity+json": JSON,
    "application/ld+json": JSON,
    "application/xml": XML,
    "text/xml": XML,
    "text/plain": TEXT,
    "image/png": PNG,
    "image/gif": GIF_89A,
    "image/jpeg": JPEG_RAW,
    "image/webp": WEBP_LOSSY,
    "video/mp4": MP4,
    "audio/mp4": MP4,
    "application/mp4": MP4,
    "audio/mpeg": MP3,
}
# RSS and Atom documents are XML 1.0 documents; PRONOM has no entry of its own we could cite for them.
XML_DIALECTS = ("application/rss+xml", "application/atom+xml", "application/rdf+xml")

_PDFA_PART = re.compile(rb"pdfaid:part(?:=[\"']|>)\s*([23])\s*[\"'<]")
_PDFA_CONFORMANCE = re.compile(rb"pdfaid:conformance(?:=[\"']|>)\s*([ABUabu])\s*[\"'<]")


def identify(media_type: str, head: bytes = b"") -> Format:
    """The format of a file of ``media_type`` (parameters ignored) whose content starts with ``head``.

    ``head`` is the start of the file (its first MiB is plenty); for a PDF, its end as well: the XMP
    metadata that declares PDF/A may stand anywhere in the file (fpdf2 writes it last).
    """
    base = media_type.split(";")[0].strip().lower()
    refined = _refine(base, head)
    if refined is not None:
        return refined
    if base in BY_MEDIA_TYPE:
        return BY_MEDIA_TYPE[base]
    if base in XML_DIALECTS or base.endswith("+xml"):
        return XML
    if base.endswith("+json"):
        return JSON
    return Format(base or "application/octet-stream", (base or "application/octet-stream").split("/")[-1], IANA)


def _refine(base: str, head: bytes) -> Format | None:
    if not head:
        return None
    if base == "image/gif":
        return {b"GIF87a": GIF_87A, b"GIF89a": GIF_89A}.get(head[:6])
    if base == "image/webp" and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return {b"VP8 ": WEBP_LOSSY, b"VP8L": WEBP_LOSSLESS, b"VP8X": WEBP_EXTENDED}.get(head[12:16])
    if base == "image/jpeg":
        # JFIF APP0 segment: FF D8 FF E0, length, "JFIF\0", version 1.01
        return JPEG_JFIF_101 if head[:4] == b"\xff\xd8\xff\xe0" and head[6:13] == b"JFIF\x00\x01\x01" else None
    if base == "application/pdf":
        part, conformance = _PDFA_PART.search(head), _PDFA_CONFORMANCE.search(head)
        if part and conformance and conformance.group(1).upper() == b"B":
            return {b"2": PDFA_2B, b"3": PDFA_3B}[part.group(1)]
        return Format("application/pdf", "pdf", IANA)  # a PDF that does not declare PDF/A-2b or -3b
    return None
