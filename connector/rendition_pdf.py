"""A PDF/A rendition of a :class:`~connector.message.Message`: the readable record for long-term archives.

This is the ``rendition`` file of every record (:mod:`connector.record`), what a case system and an archive
package keep: the message as PDF/A, the format archives accept (the HTML rendition, :mod:`connector.rendition`,
is kept for previews). PDF/A-3b with the platform's original bytes embedded as an associated
file (``AFRelationship /Source``), or PDF/A-2b when there is no original or ``attach_original=False``
(some archives accept PDF/A-2 only). Same Dutch labels, rows and title as the HTML rendition (imported
from it). It shows channel, account, author, date and time (Europe/Amsterdam and UTC), permalink, the
content warning, the text with its links, the images given (already downloaded: this module fetches
nothing), each attachment with what became of it (archived as which file with its checksum, or missing
and why: :func:`connector.rendition.media_states`, as in the HTML), the replied-to message quoted with its
own permalink, where the message came from, and on every page an "archived by" footer with the capture
time and the SHA-256 of the original.

Built with fpdf2 (pure Python) in its PDF/A mode: sRGB OutputIntent, XMP ``pdfaid`` metadata, every font
embedded (as a subset). Everything it needs ships in the package (``connector/pdfdata``): DejaVu Sans and
the ICC's sRGB2014 profile; nothing is read from the system.

Decisions:

* **Characters the font lacks** (emoji, scripts outside DejaVu Sans, control characters, unpaired
  surrogates) are drawn as U+FFFD (``�``): PDF/A forbids showing a glyph the font does not have, and a
  second font (a colour emoji font) would double the size and time of every document for a few
  characters. The document then says how many characters it could not show and that the exact text is
  in the original (embedded, with PDF/A-3). The text layer holds U+FFFD there too.
* **Right-to-left text** is drawn in logical order without shaping (that needs HarfBuzz, a binary
  dependency); the letters are all there and extractable, the exact text is in the original.
* **Determinism**: the same input gives the same bytes (a retried delivery uploads an identical file):
  dates in the file come from the message (``captured_at`` if given, else its edit or creation time),
  the document ID is a hash of the content, and the XMP is written here (fpdf2's own XMP would say now).
* **The original** is ``message.raw``, the bytes the record keeps next to the renditions: the checksum
  in the footer and the attachment can then never disagree with the record's original document.
* **Speed**: parsing and subsetting DejaVu Sans took most of a document's time: the font is prepared and
  parsed once per process, text in Latin script uses a cut of the font to that script
  (:mod:`connector.pdfdata`), and one font is embedded, not two: bold is drawn by stroking the outlines
  as well as filling them.
* **Images**: a JPEG in RGB or grey is embedded as it came (no re-encoding); PNG, GIF, WebP and other
  JPEGs are decoded and embedded as sRGB (with alpha where they have it). One that cannot be read (other
  formats such as SVG, broken, over :data:`MAX_PIXELS`) is not embedded; the document says so where it
  would be; so is one the caller did not read (:attr:`RenditionImage.omitted`, e.g. a file too large to
  read into memory: :mod:`connector.record`). Nothing in a message or its images makes rendering fail.
* **Links** are made for http(s) URLs of at most :data:`MAX_LINK` characters only; others stay text.
"""
from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import lxml.etree
import lxml.html
from fpdf import FPDF
from fpdf.enums import OutputIntentSubType, TextMode, XPos, YPos
from fpdf.output import PDFICCProfile
from PIL import Image

from . import __version__
from .htmltext import sanitize
from .message import Message
from .pdfdata import FAMILY, SRGB_PROFILE, covered, install_fonts
from .rendition import format_datetime, media_states, metadata_rows, provenance_rows, safe_url, title_of, who
from .rendition_pdf_support import xmp

MEDIA_TYPE = "application/pdf"
PRODUCER = f"midoffice-connector/{__version__}"
MAX_PIXELS = 40_000_000  # an image larger than this (40 megapixels) is not decoded
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
MISSING = "\ufffd"
MAX_LINK = 2048  # a longer URL is shown as text, not made a link (each line of a link repeats it in the file)
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_URL = re.compile(r"https?://[^\s<>\"]+")
_BLOCKS = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "figure",
           "ul", "ol", "table", "hr"}
_NEXT = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT, "align": "L"}  # next line, left aligned (not justified)
_GREY, _BLACK, _LINK = (90, 90, 90), (17, 17, 17), (0, 60, 160)
# fpdf2 subsets the font with fontTools, which logs each step at INFO: ~30 lines per document in the worker's log
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)


@dataclass(frozen=True)
class RenditionImage:
    """An image of the message, already downloaded: its bytes, media type and alternative text."""

    data: bytes
    media_type: str = ""
    description: str = ""
    #: why the image is not embedded although it was downloaded (e.g. too large to read); its bytes are then empty
    omitted: str = ""


class _Document(FPDF):
    footer_lines: tuple[str, ...] = ()

    def footer(self):
        mode, self.text_mode = self.text_mode, TextMode.FILL  # a page may break in bold text
        self.set_y(-14)
        self.set_font(FAMILY, "", 7)
        self.set_text_color(*_GREY)
        for line in self.footer_lines:
            self.cell(0, 3.4, line, **_NEXT)
        self.cell(0, 3.4, f"pagina {self.page_no()}", align="R")
        self.text_mode = mode


class _Writer:
    """Lays out one message; every string goes through :meth:`clean` (characters the font has)."""

    def __init__(self, pdf: FPDF):
        self.pdf = pdf
        self.missing = 0
        self.cmap = pdf.fonts[FAMILY].cmap

    def clean(self, text: str, single_line: bool = False) -> str:
        text = (text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
        text = text.replace("\u2028", "\n").replace("\u2029", "\n")
        if single_line:
            text = text.replace("\n", " ")
        cmap = self.cmap
        lacking = {c for c in set(text) if c != "\n" and ord(c) not in cmap}
        if not lacking:
            return text
        self.missing += sum(text.count(c) for c in lacking)
        return text.translate({ord(c): MISSING for c in lacking})

    def font(self, style: str = "", size: float = 10, colour=_BLACK):
        """DejaVu Sans at ``size``; ``style="B"``: bold drawn by stroking the outlines (one font embedded)."""
        self.pdf.set_font(FAMILY, "", size)
        self.pdf.set_text_color(*colour)
        self.pdf.text_mode = TextMode.FILL_STROKE if style == "B" else TextMode.FILL
        if style == "B":
            self.pdf.set_draw_color(*colour)
            self.pdf.set_line_width(size * 0.009)

    def heading(self, text: str, size: float = 11):
        self.pdf.ln(2)
        self.font("B", size)
        self.pdf.multi_cell(0, size * 0.5, self.clean(text, True), **_NEXT)
        self.pdf.ln(1)

    def line(self, width: float, height: float, text: str, link: str = ""):
        """``text`` from the current position, wrapped within ``width`` (a short one in a single cell)."""
        if "\n" not in text and self.pdf.get_string_width(text) < width - 2 * self.pdf.c_margin:
            self.pdf.cell(width, height, text, link=link, **_NEXT)
        else:
            self.pdf.multi_cell(width, height, text, link=link, **_NEXT)

    def rows(self, rows, label_width: float = 40):
        """(label, text, is_url) rows as two columns; a value may run over pages, a label never."""
        pdf = self.pdf
        for label, text, is_url in rows:
            if pdf.y + 10 > pdf.page_break_trigger:
                pdf.add_page()
            left, top, page = pdf.l_margin, pdf.y, pdf.page
            self.font("B", 8.5, _GREY)
            pdf.cell(label_width - 2, 4.6, self.clean(label, True))  # our own labels: short
            pdf.set_xy(left + label_width, top)
            url = _link(text) if is_url else None
            self.font("", 9, _LINK if url else _BLACK)
            self.line(pdf.w - pdf.r_margin - pdf.x, 4.6, self.clean(text, True), url or "")
            if pdf.page == page:
                pdf.y = max(pdf.y, top + 4.6)
            pdf.ln(0.6)

    def runs(self, paragraphs, size: float = 10):
        pdf = self.pdf
        height = size * 0.5
        for paragraph in paragraphs:
            for text, link in paragraph:
                self.font("", size, _LINK if link else _BLACK)
                pdf.write(height, self.clean(text), link=link or "")
            pdf.ln(height)
            pdf.ln(height * 0.6)

    def note(self, text: str, size: float = 8.5):
        self.font("", size, _GREY)
        self.line(self.pdf.epw, size * 0.5, self.clean(text))


def _link(url: str) -> str | None:
    return safe_url(url) if len(url) <= MAX_LINK else None


def _paragraphs(message: Message) -> list[list[tuple[str, str | None]]]:
    """The message body as paragraphs of (text, link) runs: from its sanitised HTML, else its text."""
    cleaned = sanitize(message.html) if message.html else ""
    if not cleaned.strip():
        return [_autolink(part) for part in (message.text or "").split("\n\n") if part.strip()]
    root = lxml.html.fragment_fromstring(cleaned, create_parent="div")
    paragraphs: list[list[tuple[str, str | None]]] = [[]]
    links: list[str | None] = [None]

    def add(text: str | None):
        if text:
            paragraphs[-1].append((re.sub(r"[ \t\r\n]+", " ", text), links[-1]))

    for event, element in lxml.etree.iterwalk(root, events=("start", "end")):  # no recursion: any depth
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _BLOCKS and paragraphs[-1]:
                paragraphs.append([])
            if tag == "li":
                add("• ")
            if tag == "br":
                paragraphs[-1].append(("\n", None))
            if tag == "a":
                links.append(_link(element.get("href") or ""))
            if tag == "img":
                add(f"[afbeelding: {element.get('alt') or element.get('title') or 'zonder beschrijving'}]")
            add(element.text)
        else:
            if tag == "a":
                links.pop()
            if tag in _BLOCKS and paragraphs[-1]:
                paragraphs.append([])
            if element is not root:
                add(element.tail)
    return [p for p in paragraphs if any(text.strip() for text, _ in p)]


def _autolink(text: str) -> list[tuple[str, str | None]]:
    runs, position = [], 0
    for found in _URL.finditer(text):
        runs += [(text[position:found.start()], None), (found.group(), _link(found.group()))]
        position = found.end()
    runs.append((text[position:], None))
    return [run for run in runs if run[0]]


def _image_source(image: RenditionImage):
    """What fpdf2 embeds for ``image`` (its JPEG bytes as they are, or a decoded image), or raise."""
    with Image.open(io.BytesIO(image.data), formats=IMAGE_FORMATS) as opened:
        if opened.width * opened.height > MAX_PIXELS:
            raise ValueError(f"{opened.width}x{opened.height} pixels")
        if opened.format == "JPEG" and opened.mode in ("RGB", "L"):
            return image.data, opened.size
        opened.seek(0)
        alpha = "A" in opened.getbands() or "transparency" in opened.info
        decoded = opened.convert("RGBA" if alpha else "RGB")  # CMYK, palette, 16-bit: all to sRGB
        return decoded, opened.size


def _images(writer: _Writer, images) -> None:
    pdf = writer.pdf
    width = pdf.epw
    for number, image in enumerate(images, 1):
        label = f"Afbeelding {number} van {len(images)}"
        if image.omitted:
            writer.note(f"{label}: niet in deze weergave opgenomen: {image.omitted}.")
            writer.note(f"{label}: {image.description}" if image.description else label)
            pdf.ln(2)
            continue
        try:
            source, (pixels_w, pixels_h) = _image_source(image)
            w = min(width, pixels_w * 0.35)  # about 72 dpi, never wider than the page
            h = w * pixels_h / pixels_w
            if h > 120:
                w, h = w * 120 / h, 120
            if pdf.y + h + 10 > pdf.page_break_trigger:
                pdf.add_page()
            pdf.image(source, x=pdf.l_margin, w=w, h=h)
            pdf.ln(1)
        except Exception as exc:  # noqa: BLE001 - hostile bytes: say so, never fail the document
            writer.note(f"{label}: kon niet in deze weergave worden opgenomen ({type(exc).__name__}).")
            label = None
        if label:
            writer.note(f"{label}: {image.description}" if image.description else label)
        pdf.ln(2)


def render_pdf(message: Message, *, parent: Message | None = None, images=(), captured_at: datetime | None = None,
               attach_original: bool = True) -> bytes:
    """The PDF/A document of ``message`` (see the module docstring), deterministic for the same input.

    ``parent``: the message it replies to, quoted; ``images``: :class:`RenditionImage` objects (anything
    with ``data``, ``media_type``, ``description``), embedded in order; ``captured_at``: when the connector
    archived it, shown in the footer and used as the document's date; ``attach_original``: embed
    ``message.raw`` (PDF/A-3b) rather than only naming its checksum (PDF/A-2b).
    """
    return _render(message, parent=parent, images=tuple(images), captured_at=captured_at,
                   attach_original=attach_original)


def _quote(writer: "_Writer", quote) -> None:
    """The quoted message: who, its permalink, and its text as the platform sent it along."""
    pdf = writer.pdf
    writer.heading(f"Citeert: {'@' + quote.handle if quote.handle else 'bericht ' + quote.id}")
    left = pdf.l_margin
    pdf.set_left_margin(left + 6)
    pdf.set_x(left + 6)
    writer.rows([("Bericht", quote.url or quote.id, bool(quote.url))], label_width=36)
    writer.runs([_autolink(part) for part in quote.text.split("\n\n") if part.strip()]
                or [[("(de tekst van het geciteerde bericht is niet meegestuurd)", None)]], size=9.5)
    pdf.set_left_margin(left)
    pdf.set_x(left)


def _render(message: Message, *, parent=None, images=(), captured_at=None, attach_original=True,
            pdfa: bool = True, fonts: str = "auto") -> bytes:
    """:func:`render_pdf`, and for tests: ``pdfa=False`` (the same document as plain PDF), ``fonts``
    ``"full"`` (the full cut whatever the text) or ``"fresh"`` (the full cut parsed afresh, not copied)."""
    if captured_at is not None and captured_at.tzinfo is None:
        raise ValueError("captured_at must be timezone-aware")
    raw = message.raw
    embed = attach_original and raw is not None and bool(raw.body)
    part = 3 if embed else 2
    pdf = _Document(enforce_compliance=f"PDF/A-{part}B" if pdfa else None)
    when = captured_at or message.edited_at or message.created_at
    pdf.creation_date = when
    pdf.str_alias_nb_pages = ""  # hostile text containing "{nb}" stays as it is
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, 20)
    texts = [message.to_dict(), parent.to_dict() if parent else None, [i.description for i in images],
             raw.page_url if raw else ""]
    full = fonts != "auto" or not covered(json.dumps(texts, ensure_ascii=False))
    install_fonts(pdf, full=full, cached=fonts != "fresh")
    writer = _Writer(pdf)
    title = writer.clean(title_of(message), True)
    pdf.set_title(title)
    pdf.set_author(writer.clean(who(message), True))
    pdf.set_subject(writer.clean(f"{message.channel} {message.id}", True))
    pdf.set_creator(PRODUCER)
    pdf.set_producer(PRODUCER)
    pdf.set_lang("nl")
    if pdfa:
        pdf.add_output_intent(OutputIntentSubType.PDFA, output_condition_identifier="sRGB",
                              output_condition="IEC 61966-2-1:1999", registry_name="http://www.color.org",
                              dest_output_profile=PDFICCProfile(contents=SRGB_PROFILE.read_bytes(), n=3,
                                                                alternate="DeviceRGB"),
                              info="sRGB2014 (v2)")
    sha = raw.sha256 if raw is not None else "geen origineel beschikbaar"
    stamp = (f"Gearchiveerd door {PRODUCER} op {format_datetime(captured_at)}" if captured_at
             else f"Weergave gemaakt door {PRODUCER}")
    pdf.footer_lines = (writer.clean(stamp, True), f"SHA-256 origineel: {sha}")
    pdf.add_page()
    writer.font("B", 14)
    pdf.multi_cell(0, 7, title, **_NEXT)
    pdf.ln(2)
    channel = [("Kanaal", message.channel, False)]
    writer.rows(channel + metadata_rows(message))
    if message.spoiler_text:
        pdf.ln(1)
        writer.font("B", 10, (120, 60, 0))
        pdf.multi_cell(0, 5, writer.clean(f"Inhoudswaarschuwing: {message.spoiler_text}"),
                       border=1, padding=2, **_NEXT)
    writer.heading("Inhoud")
    writer.runs(_paragraphs(message))
    if message.quote is not None:
        _quote(writer, message.quote)
    if images:
        writer.heading("Afbeeldingen")
        _images(writer, images)
    if message.attachments:
        writer.heading("Bijlagen (adressen)")
        for number, (item, (state, text)) in enumerate(zip(message.attachments, media_states(message)), 1):
            status = "" if not state else f"{state} {text}" if state == "gearchiveerd" else f"{state}: {text}"
            details = [("Soort", item.media_type, False), ("Beschrijving", item.description, False),
                       ("Status", status, False)]
            writer.rows([(f"Bijlage {number}", item.url, True)] + [row for row in details if row[1]])
    if parent is not None:
        writer.heading(f"Reactie op: {title_of(parent)}")
        left = pdf.l_margin
        pdf.set_left_margin(left + 6)
        pdf.set_x(left + 6)
        writer.rows(metadata_rows(parent), label_width=36)
        writer.runs(_paragraphs(parent), size=9.5)
        pdf.set_left_margin(left)
        pdf.set_x(left)
    writer.heading("Herkomst")
    rows = provenance_rows(message)
    if captured_at:
        rows.append(("Gearchiveerd op", format_datetime(captured_at), False))
    rows.append(("Gearchiveerd door", PRODUCER, False))
    writer.rows(rows)
    if embed:
        from .record import extension  # here: record imports the renditions
        name = f"origineel{extension(raw.media_type or '')}"
        dated = raw.fetched_at or message.created_at
        media_type = (raw.media_type or "").split(";")[0].strip().lower()
        if not _MEDIA_TYPE.fullmatch(media_type):
            media_type = "application/octet-stream"
        pdf.embed_file(bytes=raw.body, basename=name, associated_file_relationship="Source", mime_type=media_type,
                       creation_date=dated, modification_date=dated,
                       desc="Oorspronkelijk bericht zoals ontvangen, ongewijzigd")
        writer.note(f"Het oorspronkelijke bericht van het platform is ongewijzigd als bijlage ({name}) in dit "
                    "PDF-bestand opgenomen; de SHA-256 hierboven is die van de bijlage.")
    if writer.missing:
        where = ("; de exacte tekst staat in de bijlage met het origineel" if embed
                 else "; de exacte tekst staat in het origineel" if raw is not None else "")
        writer.note(f"{writer.missing} teken(s) kunnen in deze weergave niet worden getoond en staan er als "
                    f"{MISSING}{where}.")
    if pdfa:
        pdf.set_xmp_metadata(xmp(pdf, part, when))
    return bytes(pdf.output())
