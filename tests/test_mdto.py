"""MDTO 1.0.1 metadata: documents of real messages validate, the validation refuses broken ones,
hostile text still gives valid XML, and the output is deterministic."""
from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timezone

import pytest
from lxml import etree

from connector import mdto
from connector.mdto import build, formats
from connector.mdto.validate import NAMESPACE, XSD_NAME
from connector.message import Author
from connector.record import ORIGINAL, RENDITION, RecordFile, build_record
from connector.routing import Archief, Informatiecategorie, Routing
from connector.sources.mastodon import MastodonSource
from connector.sources.rss import FeedSource

from .conftest import FIXTURES, ROOT, SHARED, make_message

NS = {"m": NAMESPACE}
ORGANISATIE = mdto.Organisatie(mdto.Verwijzing("Gemeente Voorbeeld", "gm9999", "TOOI"),
                               beperking_gebruik="Geen beperking",
                               beperking_toelichting="Openbaar gepubliceerd op sociale media.")
CATEGORIE = Informatiecategorie("Meldingen over de openbare ruimte behandelen",
                                "Selectielijst gemeenten en intergemeentelijke organen 2020", "11.1.2")
TIJDELIJK = Routing("create", zaaktype="SOCIAL-MELDING", titel="Melding over afval",
                    archief=Archief("V", "P10Y", CATEGORIE))
FETCHED = datetime(2026, 1, 1, 13, tzinfo=timezone.utc)


def parse(document: bytes) -> etree._Element:
    return etree.fromstring(document)


def texts(tree, path: str) -> list[str]:
    return [e.text for e in tree.iterfind(path, NS)]


def check_all(record, routing, **kw) -> list[mdto.Sidecar]:
    """Every document of the record, each checked again from its bytes by the schema."""
    documents = mdto.sidecars(record, routing, ORGANISATIE, **kw)
    assert len(documents) == 1 + len(record.files)
    for document in documents:
        mdto.validate(document.content)  # raises when invalid
        assert document.content.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    return documents


# -- real messages ------------------------------------------------------------------------------

def test_the_informatieobject_of_a_message_carries_the_rule_s_appraisal_and_the_organisation():
    message = make_message("7", text="Veel zwerfafval", language="nl", hashtags=("afval",))
    record = build_record(message, titel="Melding over afval")
    documents = check_all(record, TIJDELIJK)
    assert [d.filename for d in documents] == [f"{mdto.object_name(record)}.MDTO.xml"] + [
        f"{f.filename}.bestand.MDTO.xml" for f in record.files]
    io = parse(documents[0].content).find("m:informatieobject", NS)
    assert texts(io, "m:identificatie/m:identificatieKenmerk") == ["test/7"]
    assert texts(io, "m:naam") == ["Melding over afval"]
    assert texts(io, "m:waardering/m:begripCode") == ["V"]
    assert texts(io, "m:waardering/m:begripLabel") == ["Tijdelijk te bewaren"]
    assert texts(io, "m:bewaartermijn/m:termijnLooptijd") == ["P10Y"]
    assert texts(io, "m:informatiecategorie/m:begripCode") == ["11.1.2"]
    assert texts(io, "m:informatiecategorie/m:begripBegrippenlijst/m:verwijzingNaam") == [CATEGORIE.selectielijst]
    assert texts(io, "m:archiefvormer/m:verwijzingIdentificatie/m:identificatieKenmerk") == ["gm9999"]
    assert texts(io, "m:beperkingGebruik/m:beperkingGebruikType/m:begripLabel") == ["Geen beperking"]
    assert texts(io, "m:taal") == ["nl"] and texts(io, "m:trefwoord") == ["#afval"]
    assert texts(io, "m:heeftRepresentatie/m:verwijzingNaam") == [f.filename for f in record.files]
    events = {e.findtext("m:eventType/m:begripLabel", namespaces=NS): e for e in io.iterfind("m:event", NS)}
    assert list(events) == ["Publicatie", "Opname"]
    assert events["Publicatie"].findtext("m:eventTijd", namespaces=NS) == "2026-01-01T12:00:00Z"  # platform time
    capture = events["Opname"]
    assert capture.findtext("m:eventTijd", namespaces=NS) == "2026-01-01T13:00:00Z"  # when the connector fetched
    assert capture.findtext("m:eventVerantwoordelijkeActor/m:verwijzingNaam", namespaces=NS) == \
        record.provenance.captured_by  # midoffice-connector/<version>
    assert "http://127.0.0.1/statuses" in capture.findtext("m:eventResultaat", namespaces=NS)  # the endpoint


def test_each_file_is_a_bestand_with_checksum_size_puid_and_its_informatieobject():
    record = build_record(make_message("7"), titel="Melding over afval")
    documents = check_all(record, TIJDELIJK)
    puids = {}
    for file, document in zip(record.files, documents[1:]):
        element = parse(document.content).find("m:bestand", NS)
        assert texts(element, "m:naam") == [file.filename]
        assert texts(element, "m:omvang") == [str(file.size)]
        assert texts(element, "m:checksum/m:checksumWaarde") == [hashlib.sha256(file.data).hexdigest()]
        assert texts(element, "m:checksum/m:checksumAlgoritme/m:begripLabel") == ["SHA-256"]
        assert texts(element, "m:checksum/m:checksumDatum") == ["2026-01-01T13:00:00Z"]
        assert texts(element, "m:isRepresentatieVan/m:verwijzingIdentificatie/m:identificatieKenmerk") == ["test/7"]
        puids[file.role] = texts(element, "m:bestandsformaat/m:begripCode")[0]
    assert puids == {RENDITION: "fmt/480", ORIGINAL: "fmt/817"}  # PDF/A-3b (the original embedded), JSON


def test_without_an_appraisal_the_waardering_is_nader_te_bepalen_and_nothing_else_is_claimed():
    record = build_record(make_message("8"))
    io = parse(mdto.informatieobject(record, Routing("create", zaaktype="X"), ORGANISATIE)).find(
        "m:informatieobject", NS)
    assert texts(io, "m:waardering/m:begripCode") == ["N"]
    assert io.find("m:bewaartermijn", NS) is None and io.find("m:informatiecategorie", NS) is None
    assert texts(io, "m:naam") == ["test: post 8"]  # no titel anywhere: channel, kind and id


def test_every_message_of_a_recorded_mastodon_page_gives_valid_documents():
    data = (FIXTURES / "mastodon" / "fosstodon_statuses_page1.json").read_bytes()
    messages, _ = MastodonSource.parse_payload(data, channel="fosstodon")
    assert len(messages) >= 20 and any(m.in_reply_to for m in messages) and any(m.edited_at for m in messages)
    for message in messages:
        record = build_record(message, titel=f"Bericht {message.id}")
        for routing in (TIJDELIJK, Routing("attach", zaak_identificatie="Z-1", archief=Archief("B"))):
            documents = check_all(record, routing, captured_at=FETCHED,
                                  onderdeel_van=mdto.Verwijzing("Zaak Z-1", "Z-1", "Zaaksysteem"))
            io = parse(documents[0].content).find("m:informatieobject", NS)
            if message.in_reply_to:  # a reply refers to the message it answers
                assert texts(io, "m:gerelateerdInformatieobject/m:gerelateerdInformatieobjectVerwijzing/"
                                 "m:verwijzingIdentificatie/m:identificatieKenmerk") == [
                    f"fosstodon/{message.in_reply_to}"]
            labels = texts(io, "m:event/m:eventType/m:begripLabel")
            assert labels == ["Publicatie", "Wijziging", "Opname"] if message.edited_at else \
                labels == ["Publicatie", "Opname"]


@pytest.mark.parametrize("name", ["rich.xml", "comments-atom.xml", "hostile.xml", "identity-and-dates.xml"])
def test_feed_entries_give_valid_documents(name):
    messages, _ = FeedSource.parse_payload((FIXTURES / "rss" / name).read_bytes(), channel="feed")
    assert messages
    for message in messages:
        documents = check_all(build_record(message), Routing("create", zaaktype="X"), captured_at=FETCHED)
        original = parse(documents[-1].content)
        assert texts(original, "m:bestand/m:bestandsformaat/m:begripCode") == ["fmt/101"]  # a feed entry is XML


def test_the_capture_time_must_be_known():
    record = build_record(dataclasses.replace(make_message("9"), raw=None))
    with pytest.raises(ValueError, match="give captured_at"):
        mdto.sidecars(record, TIJDELIJK, ORGANISATIE)
    assert check_all(record, TIJDELIJK, captured_at=FETCHED)
    with pytest.raises(ValueError, match="timezone-aware"):
        mdto.sidecars(record, TIJDELIJK, ORGANISATIE, captured_at=datetime(2026, 1, 1))


def test_an_organisation_needs_an_archiefvormer_and_complete_references():
    with pytest.raises(ValueError, match="archiefvormer"):
        mdto.Organisatie(())
    with pytest.raises(ValueError, match="kenmerk and bron together"):
        mdto.Verwijzing("Gemeente", kenmerk="gm9999")
    two = mdto.Organisatie((mdto.Verwijzing("Gemeente A"), mdto.Verwijzing("Gemeente B")))
    io = parse(mdto.informatieobject(build_record(make_message()), TIJDELIJK, two))
    assert texts(io, "m:informatieobject/m:archiefvormer/m:verwijzingNaam") == ["Gemeente A", "Gemeente B"]


# -- the validation refuses broken documents ------------------------------------------------------

def _tree():
    return mdto.informatieobject_tree(build_record(make_message("7")), TIJDELIJK, ORGANISATIE)


def test_the_unbroken_tree_is_valid():
    mdto.validate(_tree())


def test_a_missing_mandatory_element_is_refused_naming_it():
    tree = _tree()
    io = tree.find("m:informatieobject", NS)
    io.remove(io.find("m:waardering", NS))
    with pytest.raises(mdto.MdtoInvalid, match="waardering") as caught:
        mdto.serialise(tree)
    assert XSD_NAME in str(caught.value) and caught.value.errors


def test_a_missing_beperking_gebruik_is_refused():
    """Mandatory since 1.0.1 (the reason to use that version)."""
    tree = _tree()
    io = tree.find("m:informatieobject", NS)
    io.remove(io.find("m:beperkingGebruik", NS))
    with pytest.raises(mdto.MdtoInvalid, match="beperkingGebruik"):
        mdto.serialise(tree)


@pytest.mark.parametrize("value", ["2026-02-30T10:00:00Z", "2026-01-01", "gisteren", ""])
def test_a_bad_checksum_date_is_refused(value):
    record = build_record(make_message("7"))
    tree = mdto.bestand_tree(record, record.files[0], TIJDELIJK, ORGANISATIE)
    tree.find("m:bestand/m:checksum/m:checksumDatum", NS).text = value
    with pytest.raises(mdto.MdtoInvalid, match="checksumDatum"):
        mdto.serialise(tree)


def test_elements_out_of_order_or_unknown_are_refused():
    tree = _tree()
    io = tree.find("m:informatieobject", NS)
    io.append(io.find("m:naam", NS))  # naam after beperkingGebruik
    with pytest.raises(mdto.MdtoInvalid, match="naam"):
        mdto.validate(tree)
    with pytest.raises(mdto.MdtoInvalid, match="not well-formed"):
        mdto.validate(b"<MDTO><informatieobject>")


def test_a_builder_bug_is_an_exception_and_no_document(monkeypatch):
    """The builder validates what it made: a broken date helper cannot produce a file."""
    monkeypatch.setattr(build, "_datetime", lambda when: "yesterday")
    record = build_record(make_message("7"))
    with pytest.raises(mdto.MdtoInvalid, match="eventTijd"):
        mdto.informatieobject(record, TIJDELIJK, ORGANISATIE)
    with pytest.raises(mdto.MdtoInvalid, match="checksumDatum"):
        mdto.bestand(record, record.files[0], TIJDELIJK, ORGANISATIE)


# -- hostile text ---------------------------------------------------------------------------------

def test_hostile_text_gives_valid_xml():
    nasty = "a\x00b\x01c\x08d\x0be\x0cf\x1bg\x7fh\ufffei\uffffj <&>\"' ]]> 😀 𝔘𝔫𝔦 \u200b\u202e"
    message = make_message("h1", text="x", language="not a language!",
                           hashtags=("<b>&amp;", "😀"), in_reply_to="<parent>&")
    message = dataclasses.replace(message, text=nasty + "z" * 100_000, version="v\x01<1>",
                                  author=Author(id="\x1b[31m", handle="<evil>@x", name=nasty))
    record = build_record(message, titel="t")
    routing = dataclasses.replace(TIJDELIJK, titel=nasty + "\ud800" + "y" * 100_000)  # lone surrogate too
    documents = check_all(record, routing)
    io = parse(documents[0].content).find("m:informatieobject", NS)
    naam = texts(io, "m:naam")[0]
    assert len(naam) > 100_000 and naam.startswith("a\ufffdb\ufffdc") and "😀 𝔘𝔫𝔦" in naam  # non-BMP kept
    assert "<&>\"' ]]>" in naam and "\ufffd" + "y" in naam  # markup is text, the surrogate replaced
    omschrijving = texts(io, "m:omschrijving")[0]
    assert len(omschrijving) == build.OMSCHRIJVING_MAX and omschrijving.endswith("…")
    assert io.find("m:taal", NS) is None  # not an xsd:language: left out, not invented
    assert texts(io, "m:trefwoord") == ["#<b>&amp;", "#😀"]
    assert texts(io, "m:identificatie/m:identificatieKenmerk") == ["test/h1/v\ufffd<1>"]


def test_a_file_on_disk_is_described_from_a_bounded_read(tmp_path):
    path = tmp_path / "clip.gif"
    path.write_bytes(b"GIF87a" + b"\0" * 3_000_000)
    record = build_record(make_message("7"))
    record = dataclasses.replace(record, files=record.files + (
        RecordFile.from_path("media", path, "image/gif", "clip.gif", "clip", "a clip"),))
    documents = check_all(record, TIJDELIJK)
    element = parse(documents[-1].content).find("m:bestand", NS)
    assert texts(element, "m:omvang") == ["3000006"]
    assert texts(element, "m:bestandsformaat/m:begripCode") == ["fmt/3"]


# -- deterministic ------------------------------------------------------------------------------

def test_the_same_message_gives_the_same_bytes():
    first = mdto.sidecars(build_record(make_message("7"), titel="t"), TIJDELIJK, ORGANISATIE)
    again = mdto.sidecars(build_record(make_message("7"), titel="t"), TIJDELIJK, ORGANISATIE)
    assert first == again
    routing = Routing.from_dict(TIJDELIJK.to_dict())  # as stored with the delivery and read back
    assert mdto.sidecars(build_record(make_message("7"), titel="t"), routing, ORGANISATIE) == first


# -- bestandsformaat -----------------------------------------------------------------------------

XMP = b'<x:xmpmeta><rdf:Description xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" pdfaid:part="%s" ' \
      b'pdfaid:conformance="B"/></x:xmpmeta>'


@pytest.mark.parametrize("media_type, head, code", [
    ("text/html; charset=utf-8", b"<!DOCTYPE html>", "fmt/471"),
    ("application/json", b"{}", "fmt/817"),
    ("application/activity+json", b"{}", "fmt/817"),
    ("application/xml", b"<a/>", "fmt/101"),
    ("application/rss+xml", b"<rss/>", "fmt/101"),
    ("application/atom+xml", b"<feed/>", "fmt/101"),
    ("application/pdf", b"%PDF-1.7\n" + XMP % b"2", "fmt/477"),
    ("application/pdf", b"%PDF-1.7\n" + XMP % b"3", "fmt/480"),
    ("application/pdf", b"%PDF-1.7\n<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>",
     "fmt/477"),
    ("application/pdf", b"%PDF-1.7\n", "application/pdf"),  # not declared PDF/A: no PUID claimed
    ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00", "fmt/43"),
    ("image/jpeg", b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00", "fmt/41"),
    ("image/png", b"\x89PNG\r\n\x1a\n", "fmt/13"),
    ("image/gif", b"GIF87a", "fmt/3"),
    ("image/gif", b"GIF89a", "fmt/4"),
    ("image/webp", b"RIFF\0\0\0\0WEBPVP8 ", "fmt/566"),
    ("image/webp", b"RIFF\0\0\0\0WEBPVP8L", "fmt/567"),
    ("image/webp", b"RIFF\0\0\0\0WEBPVP8X", "fmt/568"),
    ("video/mp4", b"", "fmt/199"),
    ("audio/mpeg", b"ID3", "fmt/134"),
    ("text/plain", b"hi", "x-fmt/111"),
    ("application/x-unheard-of", b"", "application/x-unheard-of"),
    ("", b"", "application/octet-stream"),
])
def test_bestandsformaat_is_a_puid_where_pronom_has_one(media_type, head, code):
    found = formats.identify(media_type, head)
    assert found.code == code
    assert found.begrippenlijst == (formats.PRONOM if "fmt/" in code else formats.IANA)


# -- the bundled schema --------------------------------------------------------------------------

SHARED_XSD = SHARED / "specs" / "mdto" / XSD_NAME


@pytest.mark.skipif(not SHARED_XSD.exists(), reason=f"needs the shared specs folder ({SHARED_XSD.parent})")
def test_the_bundled_schema_is_the_nationaal_archief_s_byte_for_byte():
    assert mdto.xsd_bytes() == SHARED_XSD.read_bytes()


@pytest.mark.skipif(not SHARED_XSD.exists(), reason=f"needs the shared specs folder ({SHARED_XSD.parent})")
def test_the_official_examples_validate_with_the_bundled_schema():
    examples = sorted((SHARED_XSD.parent / "voorbeelden").glob("MDTO-XML 1.0.1 *.xml"))
    assert len(examples) == 4
    for example in examples:
        mdto.validate(example.read_bytes())


@pytest.mark.slow
def test_the_production_wheel_carries_the_schema(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("setup.cfg", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "connector", source / "connector", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(tmp_path),
                    str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("midoffice_connector-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(f"connector/mdto/{XSD_NAME}") == mdto.xsd_bytes()
