"""The files the PDF/A rendition embeds (fonts, sRGB profile; see README.txt here) and a fast way to use the fonts.

fpdf2 parses a TrueType font when it is added to a document and cuts the subset it embeds out of it when the
document is written. For DejaVu Sans (6,000 glyphs) that took most of a rendition's time, so the fonts are
parsed once per process (:func:`install_fonts`):

* every document gets a *copy* of a parsed template font: the read-only tables (character map, glyph ids)
  are shared; the font file object (which fpdf2 subsets in place), subset map, width cache and font
  descriptor (which fpdf2 numbers when it writes it) are its own. Tests check the bytes equal those of
  fpdf2's own ``add_font``, and that documents rendered on several threads at once equal those rendered
  one by one.
* a document whose text the **common** repertoire covers (Latin, Latin-1, Latin Extended-A/B,
  punctuation, the euro sign; :data:`COMMON`: Dutch, Frisian, and most European languages) uses DejaVu Sans
  cut down to it once per process (300 rather than 6,000 glyphs, so its subset is cut four times as fast);
  any other text gets the full fonts. The glyphs, widths and names are DejaVu Sans's own either way.
"""
from __future__ import annotations

import copy
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


def _common_cut(data: bytes) -> bytes:
    """DejaVu Sans with the glyphs of :data:`COMMON` only: names and metrics kept; hinting and the kerning
    table dropped (PDF viewers hint themselves; fpdf2 applies no kerning without text shaping)."""
    font = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False)
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True,
                               name_IDs=["*"], name_languages=["*"], name_legacy=True, hinting=False)
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "kern"]  # fpdf2 drops all but kern anyway
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=sorted(COMMON))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


def templates(full: bool) -> dict[str, tuple[TTFFont, bytes]]:
    """Font key -> (parsed template, font file bytes), for the full fonts or the common cut."""
    with _lock:
        if full not in _templates:
            scratch = FPDF()
            made = {}
            for style, path in FONT_FILES.items():
                data = path.read_bytes() if full else _common_cut(path.read_bytes())
                key = FAMILY + style
                scratch.fonts[key] = TTFFont(scratch, io.BytesIO(data), key, style)
                made[key] = (scratch.fonts[key], data)
            _templates[full] = made
        return _templates[full]


def covered(text: str) -> bool:
    """Whether the common cut shows every character of ``text`` the full font has."""
    full = templates(True)[FAMILY][0].cmap
    return all(ord(c) in COMMON or ord(c) not in full for c in set(text))


def install_fonts(pdf: FPDF, full: bool = True, cached: bool = True) -> None:
    """Give ``pdf`` the fonts: copies of the parsed templates, or (``cached=False``) fpdf2's own ``add_font``."""
    if not cached:
        if not full:
            raise ValueError("the common cut has no file for add_font")
        for style, path in FONT_FILES.items():
            pdf.add_font(FAMILY, style, fname=path)
        return
    for key, (template, data) in templates(full).items():
        font = copy.copy(template)
        font.ttfont = ttLib.TTFont(io.BytesIO(data), recalcTimestamp=False, lazy=True)
        font.cw = copy.copy(template.cw)
        font.desc = copy.copy(template.desc)  # fpdf2 numbers it and points it at this document's font file
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.subset = SubsetMap(font)
        pdf.fonts[key] = font
