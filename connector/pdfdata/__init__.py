"""The files the PDF/A rendition embeds (fonts, sRGB profile; see README.txt here) and a fast way to use the fonts.

fpdf2 parses a TrueType font when it is added to a document and cuts the subset it embeds out of it when the
document is written. For DejaVu Sans (6,000 glyphs) that took most of a rendition's time, so:

* the font is prepared once per process, as two **cuts** made with fontTools: the *common* cut, the
  glyphs of :data:`COMMON` (Latin, Latin-1, Latin Extended-A/B, punctuation, the euro sign: Dutch, Frisian
  and most European languages; 300 glyphs, so a document's subset is cut four times as fast), and the
  *full* cut, every glyph. Both leave out what fpdf2 drops from every subset anyway (the OpenType layout
  tables) and what it does not use (the legacy kerning table: no kerning without text shaping; TrueType
  hinting: PDF viewers hint themselves). The outlines, widths and glyph names are DejaVu Sans's own.
  A document whose text :func:`covered` says the common cut shows uses it; any other the full cut.
* every document gets a *copy* of a parsed template font (:func:`install_fonts`): the read-only tables
  (character map, glyph ids) are shared; the font file object (which fpdf2 subsets in place), subset map,
  width cache and font descriptor (which fpdf2 numbers when it writes it) are its own. Tests check the
  bytes equal those of a font parsed afresh for the document, and that documents rendered on several
  threads at once equal those rendered one by one.
"""
from __future__ import annotations

import copy
import functools
import io
import threading
from pathlib import Path

from fontTools import subset as ftsubset
from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

HERE = Path(__file__).resolve().parent
FAMILY = "dejavu"
FONT_FILES = {"": HERE / "DejaVuSans.ttf"}  # one font: a second one doubles the time to embed fonts
SRGB_PROFILE = HERE / "sRGB2014.icc"
COMMON = frozenset([*range(0x20, 0x7F), *range(0xA0, 0x250), *range(0x2010, 0x2028), *range(0x2030, 0x203B),
                    0x20AC, 0x2122, 0xFFFD])

_lock = threading.Lock()
_templates: dict[bool, dict[str, tuple[TTFFont, bytes]]] = {}


def _cut(data: bytes, full: bool) -> bytes:
    """The full or the common cut of a font file (see the module docstring)."""
    font = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False)
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True,
                               name_IDs=["*"], name_languages=["*"], name_legacy=True, hinting=False)
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "kern"]  # fpdf2 drops all but kern anyway
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=sorted(font.getBestCmap() if full else COMMON))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def templates(full: bool) -> dict[str, tuple[TTFFont, bytes]]:
    """Font key -> (parsed template, font file bytes) of the full or the common cut."""
    with _lock:
        if full not in _templates:
            scratch = FPDF()
            made = {}
            for style, path in FONT_FILES.items():
                data = _cut(path.read_bytes(), full)
                key = FAMILY + style
                scratch.fonts[key] = TTFFont(scratch, io.BytesIO(data), key, style)
                made[key] = (scratch.fonts[key], data)
            _templates[full] = made
        return _templates[full]


@functools.lru_cache(maxsize=1)
def _full_repertoire() -> frozenset[int]:
    return frozenset(ttLib.TTFont(FONT_FILES[""], lazy=True).getBestCmap())


def covered(text: str) -> bool:
    """Whether the common cut shows every character of ``text`` that the full font has."""
    full = _full_repertoire()
    return all(ord(c) in COMMON or ord(c) not in full for c in set(text))


def install_fonts(pdf: FPDF, full: bool = True, cached: bool = True) -> None:
    """Give ``pdf`` the fonts: copies of the parsed templates, or (``cached=False``, for tests) the same
    cut parsed afresh, as fpdf2's ``add_font`` parses a font file."""
    made = templates(full)
    for style in FONT_FILES:
        key = FAMILY + style
        template, data = made[key]
        if not cached:
            pdf.fonts[key] = TTFFont(pdf, io.BytesIO(data), key, style)
            continue
        font = copy.copy(template)
        font.ttfont = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
        font.cw = copy.copy(template.cw)
        font.desc = copy.copy(template.desc)  # fpdf2 numbers it and points it at this document's font file
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.subset = SubsetMap(font)
        pdf.fonts[key] = font
