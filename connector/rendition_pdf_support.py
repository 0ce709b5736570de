"""The XMP metadata of a PDF/A rendition (:mod:`connector.rendition_pdf`), written here, not by fpdf2.

fpdf2's own XMP would carry the time of rendering; this one carries the document's own date (the capture
time, else the message's), so the same message gives the same bytes, and declares the PDF/A part
(``pdfaid:part`` 2 or 3, conformance B) that :func:`connector.mdto.formats.identify` reads back.
"""
from __future__ import annotations

import html as htmllib
from datetime import datetime, timezone

from fpdf import FPDF


def xmp(pdf: FPDF, part: int, when: datetime) -> str:
    def esc(value: str) -> str:
        return htmllib.escape(value, quote=True).replace("'", "&apos;")

    stamp = when.astimezone(timezone.utc).isoformat(timespec="seconds")
    return "\n".join([
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        '  <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        '    <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:pdf="http://ns.adobe.com/pdf/1.3/"'
        ' xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/"',
        f'      xmp:CreatorTool="{esc(pdf.creator)}" xmp:CreateDate="{stamp}" xmp:ModifyDate="{stamp}"'
        f' xmp:MetadataDate="{stamp}" pdf:Producer="{esc(pdf.producer)}">',
        f"      <pdfaid:part>{part}</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>",
        f'      <dc:title><rdf:Alt><rdf:li xml:lang="x-default">{esc(pdf.title)}</rdf:li></rdf:Alt></dc:title>',
        f"      <dc:creator><rdf:Seq><rdf:li>{esc(pdf.author)}</rdf:li></rdf:Seq></dc:creator>",
        f'      <dc:description><rdf:Alt><rdf:li xml:lang="x-default">{esc(pdf.subject)}</rdf:li></rdf:Alt>'
        "</dc:description>",
        "    </rdf:Description>",
        "  </rdf:RDF>",
        "</x:xmpmeta>",
    ])
