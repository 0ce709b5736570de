"""The record's rendition is the PDF/A document: identified as PDF/A, with the message's fetched images, the
replied-to message, every attachment's fate and the fetch time; the same message gives the same bytes; an
image file too large to read is not read but named; MDTO names the rendition's PDF/A PUID."""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from connector import mdto, record
from connector.media import MediaResult
from connector.media.retry import Missing
from connector.message import Attachment
from connector.mdto.validate import NAMESPACE
from connector.record import RENDITION, build_record, record_of
from connector.rendition import format_datetime
from connector.routing import Routing

from .conftest import make_message
from .pdf_support import flat, flat_text, identify
from .test_rendition_pdf import images_of, picture

FETCHED = datetime(2026, 1, 1, 13, tzinfo=timezone.utc)
PERMALINK = "https://social.example/@wethouder/6"
ORGANISATIE = mdto.Organisatie(mdto.Verwijzing("Gemeente Voorbeeld", "gm9999", "TOOI"))


def medium(path: Path, media_type: str = "image/jpeg", description: str = "een foto", size: int | None = None):
    data = path.read_bytes() if path.exists() else b""
    return MediaResult(path=path, size=len(data) if size is None else size, sha256=hashlib.sha256(data).hexdigest(),
                       media_type=media_type, description=description, source_url=f"https://files.example/{path.name}",
                       fetched_from=f"https://files.example/{path.name}", fetched_at=FETCHED)


def gone(url: str = "https://files.example/weg.png") -> Missing:
    return Missing(url=url, media_type="image/png", description="verdwenen foto", reason="HTTP 404 Not Found",
                   verdict="permanent", attempts=2, status=404)


def jpeg_file(tmp_path: Path, name: str = "foto.jpg", size=(400, 300)) -> Path:
    path = tmp_path / name
    path.write_bytes(picture(size=size))
    return path


def image_streams(data: bytes) -> list[bytes]:
    return [raw for *_, raw in images_of(data)]


def reply_with_parent():
    parent = make_message("6", text="Het oorspronkelijke bericht van de wethouder", url=PERMALINK)
    return make_message("7", in_reply_to="6", text="Een reactie"), parent


def test_the_rendition_is_pdfa_3b_with_the_original_and_2b_without(tmp_path):
    rendition = build_record(make_message("7")).file(RENDITION)
    assert (rendition.media_type, rendition.format) == ("application/pdf", "application/pdf")
    assert rendition.filename.endswith(".pdf") and rendition.data.startswith(b"%PDF-")
    assert identify(tmp_path, rendition.data) == "fmt/480"
    assert "Leesbare weergave (PDF/A)" in rendition.description
    bare = build_record(dataclasses.replace(make_message("7"), raw=None)).file(RENDITION)
    assert identify(tmp_path, bare.data) == "fmt/477"  # nothing to embed: PDF/A-2b


def test_the_fetch_time_dates_the_rendition():
    text = flat_text(build_record(make_message("7")).file(RENDITION).data)
    assert flat(f"Gearchiveerd door {record.CAPTURED_BY} op {format_datetime(FETCHED)}") in text


def test_a_fetched_image_is_embedded_as_it_came_and_other_media_are_not(tmp_path):
    photo, video = jpeg_file(tmp_path), tmp_path / "film.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"v" * 4000)
    message = dataclasses.replace(make_message("7"), media=(medium(video, "video/mp4"), gone(), medium(photo)))
    data = build_record(message).file(RENDITION).data
    assert image_streams(data) == [photo.read_bytes()]  # the JPEG's own bytes, the only image
    assert b"v" * 4000 not in data
    text = flat_text(data)
    assert flat("Afbeelding 1 van 1: een foto") in text


def test_each_attachment_says_whether_it_was_archived_or_is_missing(tmp_path):
    photo = jpeg_file(tmp_path)
    message = dataclasses.replace(make_message("7"), attachments=(
        Attachment("https://files.example/foto.jpg", "image/jpeg", "een foto"),
        Attachment("https://files.example/weg.png", "image/png", "verdwenen foto")),
        media=(medium(photo), gone()))
    text = flat_text(build_record(message).file(RENDITION).data)
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert flat(f"Status gearchiveerd als bijlage 1 (SHA-256 {sha})") in text
    assert flat("Status ontbreekt: HTTP 404 Not Found (na 2 poging(en))") in text


def test_the_replied_to_message_is_quoted_with_its_permalink():
    reply, parent = reply_with_parent()
    without = build_record(reply).file(RENDITION).data
    data = build_record(dataclasses.replace(reply, parent=parent)).file(RENDITION).data
    text = flat_text(data)
    assert flat("Het oorspronkelijke bericht van de wethouder") in text and flat(PERMALINK) in text
    assert flat("Het oorspronkelijke bericht van de wethouder") not in flat_text(without)
    assert PERMALINK.encode() in data  # a link annotation too


def test_the_cached_record_follows_the_parent():
    reply, parent = reply_with_parent()
    quoted = dataclasses.replace(reply, parent=parent)
    assert reply == quoted  # the parent is not part of the message's identity ...
    assert record_of(quoted) is record_of(dataclasses.replace(reply, parent=parent))
    assert record_of(quoted).file(RENDITION).data != record_of(reply).file(RENDITION).data  # ... but of the key


def test_the_same_message_gives_the_same_bytes(tmp_path):
    reply, parent = reply_with_parent()
    message = dataclasses.replace(reply, parent=parent, media=(medium(jpeg_file(tmp_path)), gone()))
    first, again = build_record(message), build_record(message)
    assert first.file(RENDITION).data == again.file(RENDITION).data and first.files == again.files


def test_an_image_file_over_the_limit_is_not_read_but_named(tmp_path):
    """Its recorded size is over the limit: the file is never opened (it does not even exist here)."""
    absent = tmp_path / "enorm.jpg"
    message = dataclasses.replace(make_message("7"), media=(
        medium(absent, size=record.MAX_EMBED_BYTES + 1, description="een enorme foto"),))
    data = build_record(message).file(RENDITION).data
    text = flat_text(data)
    assert flat("Afbeelding 1 van 1: niet in deze weergave opgenomen: het bestand is groter dan 25 MiB;") in text
    assert flat("gearchiveerd als bijlage 1") in text and flat("een enorme foto") in text
    assert image_streams(data) == []


def test_an_image_file_that_grew_past_the_limit_is_read_only_up_to_it(tmp_path, monkeypatch):
    photo = jpeg_file(tmp_path)
    monkeypatch.setattr(record, "MAX_EMBED_BYTES", photo.stat().st_size - 1)
    message = dataclasses.replace(make_message("7"), media=(medium(photo, size=10),))  # recorded smaller
    data = build_record(message).file(RENDITION).data
    assert image_streams(data) == [] and flat("niet in deze weergave opgenomen") in flat_text(data)


@pytest.mark.parametrize("size", [(400, 300), (1600, 1200)], ids=["small", "over-1-MiB"])
def test_mdto_names_the_renditions_pdfa_puid(tmp_path, size):
    """The XMP that declares PDF/A stands at the end of the file: past the first MiB with a large image."""
    message = dataclasses.replace(make_message("7"), media=(medium(jpeg_file(tmp_path, size=size)),))
    built = build_record(message)
    rendition = built.file(RENDITION)
    assert identify(tmp_path, rendition.data) == "fmt/480"
    sidecar = etree.fromstring(mdto.bestand(built, rendition, Routing("create", zaaktype="X"), ORGANISATIE))
    assert sidecar.findtext(".//m:bestandsformaat/m:begripCode", namespaces={"m": NAMESPACE}) == "fmt/480"
    assert size == (400, 300) or rendition.size > 1 << 20


def test_the_store_gives_the_newest_stored_version_of_a_parent_with_its_raw(fresh_store):
    first = make_message("6", text="eerst", url=PERMALINK)
    edited = make_message("6", version="2026-01-02T00:00:00Z", text="bewerkt", url=PERMALINK)
    fresh_store.save_page("test", [(first, []), (edited, []), (make_message("8", text="later"), [])], {})
    found = fresh_store.message_by_platform_id("test", "6")
    assert (found.text, found.version, found.url) == ("bewerkt", edited.version, PERMALINK)
    assert found.raw.body == edited.raw.body and found.raw.fetched_at == FETCHED
    assert fresh_store.message_by_platform_id("test", "7") is None
    assert fresh_store.message_by_platform_id("other", "6") is None


def test_the_record_cache_is_bounded_in_bytes_and_keeps_no_record_over_its_budget():
    one, two = make_message("c-1"), make_message("c-2")
    size = sum(f.size for f in build_record(one).files)
    cache = record._RecordCache(records=10, size=int(size * 1.5))
    first = cache.get(("k1",), lambda: build_record(one))
    assert cache.get(("k1",), lambda: build_record(one)) is first
    cache.get(("k2",), lambda: build_record(two))  # both would exceed the budget: the older one goes
    assert cache.get(("k1",), lambda: build_record(one)) is not first and cache.held <= cache.size
    small = record._RecordCache(records=10, size=size - 1)
    assert small.get(("k1",), lambda: build_record(one)) is not small.get(("k1",), lambda: build_record(one))
    assert small.held == 0 and not small.entries
