"""The PDF/A rendition: identified as PDF/A, readable, complete, deterministic, and unbreakable by its input."""
from __future__ import annotations

import dataclasses
import io
import random
import struct
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pikepdf
import pikepdf.pdfa
import pytest
from PIL import Image

from connector.message import Author, Message, Raw
from connector.rendition_pdf import RenditionImage, _render, render_pdf
from tests.conftest import ROOT
from tests.pdf_support import flat, identify, text_of
from tests.test_rendition import load_message, simple

CAPTURED = datetime(2025, 7, 17, 14, 5, 9, tzinfo=timezone.utc)
# pikepdf's validator approves only what it knows; these it does not (yet) check, so they are no verdict
NOT_CHECKED_BY_PIKEPDF = ("/OpenAction is not supported", "embedded files are not supported")


def picture(fmt: str = "JPEG", size=(400, 300), mode="RGB") -> bytes:
    """A photo-like image of random (but always the same) pixels: a 400x300 JPEG is about 100 KB."""
    pixels = random.Random(8).randbytes(size[0] * size[1] * 3)
    image = Image.frombytes("RGB", size, pixels).convert(mode)
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return out.getvalue()


def parent_message() -> Message:
    return Message(channel="gemeente", id="77", kind="post",
                   author=Author("5", "wethouder@social.example", "Wethouder"),
                   created_at=datetime(2025, 2, 18, 9, 0, tzinfo=timezone.utc), text="Het oorspronkelijke bericht.",
                   url="https://social.example/@wethouder/77")


def reply() -> Message:
    return dataclasses.replace(load_message(), kind="reply", in_reply_to="77", spoiler_text="Politiek gevoelig",
                               sensitive=True)


def full_document(**changes) -> bytes:
    options = {"parent": parent_message(), "images": [RenditionImage(picture(), "image/jpeg", "ruis")],
               "captured_at": CAPTURED} | changes
    return render_pdf(reply(), **options)


def verdict(data: bytes, flavour: str):
    report = pikepdf.pdfa.validate_written(io.BytesIO(data), flavour)
    unknown = [str(f) for f in report.unsupported if not any(n in str(f) for n in NOT_CHECKED_BY_PIKEPDF)]
    return [str(v) for v in report.violations], unknown


def test_with_the_original_it_is_identified_as_pdfa_3b(tmp_path):
    assert identify(tmp_path, full_document()) == "fmt/480"


def test_without_the_original_it_is_identified_as_pdfa_2b(tmp_path):
    assert identify(tmp_path, full_document(attach_original=False)) == "fmt/477"
    message = dataclasses.replace(simple(), raw=None)
    assert identify(tmp_path, render_pdf(message)) == "fmt/477"


def test_negative_control_the_same_document_without_the_pdfa_settings_is_plain_pdf(tmp_path):
    plain = _render(reply(), parent=parent_message(), captured_at=CAPTURED, pdfa=False)
    puid = identify(tmp_path, plain)
    assert puid.startswith("fmt/") and puid not in ("fmt/477", "fmt/480", "fmt/95", "fmt/354", "fmt/476",
                                                    "fmt/478", "fmt/479", "fmt/481"), puid
    violations, _ = verdict(plain, "2b")
    assert violations  # the validator below can fail too


@pytest.mark.parametrize("attach, flavour", [(True, "3b"), (False, "2b")])
def test_pikepdf_validator_finds_no_violation(attach, flavour):
    violations, unknown = verdict(full_document(attach_original=attach), flavour)
    assert violations == [] and unknown == []


def test_the_text_is_extractable_and_complete():
    text = text_of(full_document())
    flat_text = flat(text)
    for expected in ("David Schoch", "@schochastics@fosstodon.org", "fosstodon-schochastics",
                     "https://fosstodon.org/@schochastics/114026814291152535",
                     "dinsdag 18 februari 2025 21:38:26 (Europe/Amsterdam, CET)", "2025-02-18T20:38:26Z (UTC)",
                     "Inhoudswaarschuwing: Politiek gevoelig", "quarto html document",
                     "https://github.com/schochastics/quarto-url-peek",
                     "Reactie op", "Het oorspronkelijke bericht.", "https://social.example/@wethouder/77",
                     "Wethouder", "Gearchiveerd door midoffice-connector", "2025-07-17T14:05:09Z (UTC)",
                     load_message().raw.sha256, "Afbeelding 1 van 1: ruis"):
        assert flat(expected) in flat_text, expected


def test_links_are_annotations_for_http_urls_only():
    hostile = load_message("hostile")
    with pikepdf.open(io.BytesIO(render_pdf(load_message()))) as pdf:
        uris = {str(a.A.URI) for page in pdf.pages for a in page.get("/Annots", []) if "/A" in a}
    assert {"https://fosstodon.org/@schochastics/114026814291152535",
            "https://github.com/schochastics/quarto-url-peek", "https://fosstodon.org/tags/rstats"} <= uris
    with pikepdf.open(io.BytesIO(render_pdf(hostile))) as pdf:
        uris = {str(a.A.URI) for page in pdf.pages for a in page.get("/Annots", []) if "/A" in a}
    assert uris == {"https://ok.example/"}  # not javascript:, not data:, not the tracking pixel


def images_of(data: bytes) -> list[pikepdf.Object]:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        found = []
        for page in pdf.pages:
            for xobject in page.get_images().values():
                found.append((xobject.Filter, int(xobject.Width), int(xobject.Height), xobject.read_raw_bytes()))
        return found


def test_images_are_embedded_jpeg_as_it_came_png_decoded():
    jpeg, png = picture("JPEG"), picture("PNG", size=(200, 100))
    found = images_of(render_pdf(simple(), images=[RenditionImage(jpeg, "image/jpeg"),
                                                   RenditionImage(png, "image/png", "tweede")]))
    assert len(found) == 2
    assert found[0][0] == "/DCTDecode" and found[0][3] == jpeg and found[0][1:3] == (400, 300)
    assert found[1][0] == "/FlateDecode" and found[1][1:3] == (200, 100)


def test_the_original_is_embedded_unchanged_as_source():
    message = load_message()
    with pikepdf.open(io.BytesIO(full_document())) as pdf:
        [(name, spec)] = pdf.attachments.items()
        assert name == "origineel.json" and spec.get_file().read_bytes() == message.raw.body
        assert spec.obj.AFRelationship == "/Source" and spec.get_file().mime_type == "application/json"
        assert [str(f.F) for f in pdf.Root.AF] == ["origineel.json"]
    with pikepdf.open(io.BytesIO(full_document(attach_original=False))) as pdf:
        assert not pdf.attachments


def test_every_font_is_embedded():
    other_scripts = simple(text="שלום עולם مرحبا ελληνικά русский")
    for data in (full_document(), render_pdf(other_scripts)):
        with pikepdf.open(io.BytesIO(data)) as pdf:
            fonts = [font for page in pdf.pages for _, font in page.Resources.Font.items()]
            assert fonts
            for font in fonts:
                descriptor = font.DescendantFonts[0].FontDescriptor
                assert "/FontFile2" in descriptor, font.BaseFont


def difference(a: bytes, b: bytes) -> str:
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"first difference at byte {at}: {a[max(0, at - 120):at + 60]!r} vs {b[max(0, at - 120):at + 60]!r}"


def test_deterministic_bytes_in_this_process_and_another():
    first = full_document()
    assert full_document() == first
    script = ("import sys; from tests.test_rendition_pdf import full_document; "
              "sys.stdout.buffer.write(full_document())")
    other = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, check=True, timeout=120,
                           env={"PYTHONHASHSEED": "12345", "PATH": ""}).stdout
    assert other == first, difference(first, other)
    assert full_document(captured_at=datetime(2025, 7, 18, tzinfo=timezone.utc)) != first  # the date is in it


def test_fonts_parsed_once_give_the_bytes_a_font_parsed_afresh_gives():
    for message in (reply(), simple(text="שלום עולם")):
        assert _render(message, parent=parent_message(), fonts="full") == _render(
            message, parent=parent_message(), fonts="fresh")


def test_documents_rendered_on_threads_at_once_equal_those_rendered_one_by_one():
    messages = [simple(id=str(n), text=f"bericht {n} " * (n + 1) + ("ελληνικά" if n % 2 else ""))
                for n in range(12)]  # the common cut and the full one
    alone = [render_pdf(m, parent=parent_message()) for m in messages]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often: a state two documents share gets mixed up
    try:
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda m: render_pdf(m, parent=parent_message()), messages * 3))
    finally:
        sys.setswitchinterval(interval)
    assert together == alone * 3


def test_characters_the_font_lacks_become_u_fffd_and_the_document_says_so():
    message = dataclasses.replace(load_message(), text="", html="<p>doos \U0001F4E6 en \U00013000 klaar</p>")
    data = render_pdf(message)
    text = text_of(data)
    assert "doos \ufffd en \ufffd klaar" in text and "2 teken(s)" in text
    assert flat("de exacte tekst staat in de bijlage met het origineel") in flat(text)
    violations, unknown = verdict(data, "3b")
    assert violations == [] and unknown == []


def png_claiming(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b""))


def test_images_that_cannot_be_read_are_named_not_embedded():
    bad = [RenditionImage(b"not an image", "image/jpeg", "kapot"),
           RenditionImage(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "svg"),
           RenditionImage(png_claiming(100_000, 100_000), "image/png", "te groot"),
           RenditionImage(picture("PNG")[:200], "image/png", "afgekapt"),
           RenditionImage(picture("JPEG", mode="CMYK"), "image/jpeg", "cmyk")]
    data = render_pdf(simple(), images=bad)
    text = text_of(data)
    assert text.count("kon niet in deze weergave worden opgenomen") == 4
    assert len(images_of(data)) == 1  # the CMYK JPEG, converted to sRGB
    violations, unknown = verdict(data, "2b")
    assert violations == [] and unknown == []


HOSTILE = {
    "100 000 characters": "woord " * 16_667,
    "one long word": "x" * 20_000,
    "a long URL": "zie https://example.org/" + "a" * 20_000 + " einde",
    "right to left": "שלום עולם مرحبا بالعالم " * 20,
    "control characters": "a\x01\x02\x1b[31mrood\x7f\x85\u200e\u202e\ufeff\u2028b",
    "the page-count alias": "{nb} pagina's",
    "a NUL and a lone surrogate (filtered upstream, but not trusted here)": "a\x00b\ud800c",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_text_renders_a_valid_document(name):
    text = HOSTILE[name]
    message = simple(text=text, spoiler_text=text[:500], author=Author("1", text[:300], text[:300]),
                     url="https://example.org/" + "b" * 5000)
    data = render_pdf(message, parent=simple(text=text[:2000]))
    violations, unknown = verdict(data, "3b" if message.raw else "2b")
    assert violations == [] and unknown == []
    if name == "the page-count alias":
        assert "{nb} pagina's" in text_of(data)


def test_100_000_characters_are_all_there():
    text = text_of(render_pdf(simple(text="woord " * 16_666 + "EINDE")))
    assert flat(text).count("woord") == 16_666 and "EINDE" in text


def test_the_hostile_fixture_renders(tmp_path):
    data = render_pdf(load_message("hostile"), parent=load_message(), captured_at=CAPTURED)
    assert identify(tmp_path, data) == "fmt/480"
    violations, unknown = verdict(data, "3b")
    assert violations == [] and unknown == []


def test_an_original_with_a_hostile_media_type_is_attached_as_octet_stream():
    message = dataclasses.replace(simple(), raw=Raw(b"<b>x</b>", 'text/html"><script> /x#y'))
    data = render_pdf(message)
    with pikepdf.open(io.BytesIO(data)) as pdf:
        [(name, spec)] = pdf.attachments.items()
        assert spec.get_file().mime_type == "application/octet-stream" and spec.get_file().read_bytes() == b"<b>x</b>"
    violations, unknown = verdict(data, "3b")
    assert violations == [] and unknown == []


def test_the_package_carries_the_font_and_profile_with_their_licences():
    data = ROOT / "connector" / "pdfdata"
    for name in ("DejaVuSans.ttf", "DejaVu-LICENSE.txt", "sRGB2014.icc", "sRGB2014.icc.LICENSE"):
        assert (data / name).is_file(), name
    manifest = (ROOT / "MANIFEST.in").read_text()
    assert "connector/pdfdata/*.ttf" in manifest and "connector/pdfdata/*.icc" in manifest
    with pikepdf.open(io.BytesIO(full_document())) as pdf:
        [intent] = pdf.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1"
        assert intent.DestOutputProfile.read_bytes() == (data / "sRGB2014.icc").read_bytes()


def test_a_message_with_raw_none_names_no_original():
    message = Message(channel="c", id="1", kind="post", author=Author("1", "a@b"),
                      created_at=datetime(2026, 1, 1, tzinfo=timezone.utc), text="x")
    text = text_of(render_pdf(message))
    assert "geen origineel beschikbaar" in text and "niet beschikbaar" in text


def test_a_naive_capture_time_is_refused():  # it would be read in the machine's time zone
    with pytest.raises(ValueError, match="timezone-aware"):
        render_pdf(simple(), captured_at=datetime(2026, 1, 1))


def test_an_empty_original_is_not_attached():
    message = dataclasses.replace(simple(), raw=Raw(b"", "application/json"))
    with pikepdf.open(io.BytesIO(render_pdf(message))) as pdf:
        assert not pdf.attachments


@pytest.mark.parametrize("full", [False, True])
def test_the_font_cuts_keep_dejavu_sans_outlines_widths_and_names(full):
    from fontTools import ttLib

    from connector.pdfdata import FAMILY, FONT_FILES, templates

    original = ttLib.TTFont(FONT_FILES[""])
    cut = ttLib.TTFont(io.BytesIO(templates(full)[FAMILY][1]))
    cmap, cut_cmap = original.getBestCmap(), cut.getBestCmap()
    for char in "aéŁ€ñ?" + ("ω Ж א" if full else ""):
        name = cmap[ord(char)]
        assert cut_cmap[ord(char)] == name
        assert cut["hmtx"][name] == original["hmtx"][name]
        theirs, ours = original["glyf"][name], cut["glyf"][name]
        assert ours.getCoordinates(cut["glyf"])[0] == theirs.getCoordinates(original["glyf"])[0]
    assert ("GSUB" in original, "fpgm" in original) == (True, True)
    assert ("GSUB" in cut, "fpgm" in cut) == (False, False)  # what fpdf2 drops or does not use
    assert (ord("ω") in cut_cmap) == full
