"""The archive sink: messages as MDTO SIP packages, checked against the official MDTO XSD, through the engine too."""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from lxml import etree

from connector import mdto
from connector.config import Config, SinkConfig
from connector.engine import Connector
from connector.failures import CONFIGURATION, PERMANENT, Failed
from connector.routing import Routing
from connector.sinks import MemorySteps
from connector.sinks.archive import ArchiveSink
from connector.sinks.archive.sip import BESTAND_SUFFIX, MDTO_SUFFIX, PAKBON, packages

from .conftest import SHARED, ingest, make_message
from .pdf_support import flat, flat_text
from .test_rendition import load_message

NS = {"m": "https://www.nationaalarchief.nl/mdto"}
OFFICIAL_XSD = SHARED / "specs" / "mdto" / "MDTO-XML1.0.1.xsd"
OPTIONS = {"archiefvormer": {"naam": "Gemeente Voorbeeld", "kenmerk": "gm9999", "bron": "TOOI"}}
CREATE = Routing("create", rule="r", zaaktype="SOCIAL-MELDING", titel="Melding via Mastodon")
ATTACH = Routing("attach", rule="r", zaak_identificatie="ZAAK-2026-0000000042", titel="Over de stoep")


def sink_in(folder: Path, **options) -> ArchiveSink:
    return ArchiveSink("archief", {"folder": str(folder), **OPTIONS, **options})


def official_schema():
    if not OFFICIAL_XSD.is_file():
        pytest.skip(f"{OFFICIAL_XSD} not available (the shared specs beside the checkout)")
    return etree.XMLSchema(etree.parse(str(OFFICIAL_XSD)))


def test_a_message_becomes_a_package_whose_metadata_the_official_xsd_accepts(tmp_path):
    message = load_message()
    delivered = sink_in(tmp_path).deliver(message, CREATE, MemorySteps())
    [package] = packages(next(tmp_path.glob("sip-*")))
    assert delivered.zaak_url == package.resolve().as_uri()
    schema = official_schema()
    names = sorted(p.name for p in package.iterdir())
    assert f"{package.name}{MDTO_SUFFIX}" in names
    for document in [p for p in package.iterdir() if p.name.endswith(MDTO_SUFFIX)]:
        assert schema.validate(etree.parse(str(document))), (document.name, schema.error_log)
    for document in delivered.documents:  # each file with its sidecar, its checksum the file's own
        path = Path(document.url.removeprefix("file://"))
        sidecar = etree.parse(str(path.with_name(path.name + BESTAND_SUFFIX)))
        assert sidecar.findtext(".//m:checksumWaarde", namespaces=NS) == hashlib.sha256(path.read_bytes()).hexdigest()
        assert sidecar.findtext(".//m:omvang", namespaces=NS) == str(path.stat().st_size)
    original = next(d for d in delivered.documents if d.role == "original")
    assert Path(original.url.removeprefix("file://")).read_bytes() == message.raw.body  # the platform's bytes
    pakbon = etree.parse(str(package.parent / PAKBON))
    assert pakbon.findtext("aantalInformatieobjecten") == "1" and pakbon.findtext("archiefvormer") == "Gemeente Voorbeeld"


def test_a_retry_writes_nothing_and_an_edit_is_a_new_package_beside_the_old(tmp_path):
    sink, message = sink_in(tmp_path), load_message()
    first = sink.deliver(message, CREATE, MemorySteps())
    package = Path(first.zaak_url.removeprefix("file://"))
    stamps = {p.name: p.stat().st_mtime_ns for p in package.iterdir()}
    assert sink.deliver(message, CREATE, MemorySteps()) == first
    assert {p.name: p.stat().st_mtime_ns for p in package.iterdir()} == stamps
    edited = dataclasses.replace(message, version="2026-03-02T10:00:00Z", text=message.text + " (bewerkt)")
    second = sink.deliver(edited, CREATE, MemorySteps())
    assert second.zaak_url != first.zaak_url
    assert sorted(p.name for p in packages(package.parent)) == sorted(
        {package.name, Path(second.zaak_url.removeprefix("file://")).name})
    assert {p.name: p.stat().st_mtime_ns for p in package.iterdir()} == stamps  # the old version untouched


def test_a_message_attached_to_a_zaak_is_part_of_that_zaak(tmp_path):
    delivered = sink_in(tmp_path).deliver(load_message(), ATTACH, MemorySteps())
    package = Path(delivered.zaak_url.removeprefix("file://"))
    document = etree.parse(str(package / f"{package.name}{MDTO_SUFFIX}"))
    onderdeel = document.find(".//m:isOnderdeelVan", namespaces=NS)
    assert onderdeel is not None and "ZAAK-2026-0000000042" in etree.tostring(onderdeel).decode()
    assert delivered.zaak_identificatie == "ZAAK-2026-0000000042"


def test_a_message_without_a_fetch_time_keeps_its_first_capture_time_for_retries(tmp_path):
    message = dataclasses.replace(make_message("7"), raw=None)
    steps = MemorySteps()
    sink = sink_in(tmp_path)
    first = sink.deliver(message, CREATE, steps)
    assert "captured" in steps.results
    assert sink.deliver(message, CREATE, steps) == first  # same capture time: the same package, no conflict


def test_a_changed_package_is_refused_permanently_and_left_alone(tmp_path):
    sink, message = sink_in(tmp_path), load_message()
    package = Path(sink.deliver(message, CREATE, MemorySteps()).zaak_url.removeprefix("file://"))
    rendition = next(p for p in package.iterdir() if p.name.endswith(".pdf"))
    rendition.write_bytes(b"%PDF-1.7 bewerkt met de hand")
    with pytest.raises(Failed) as caught:
        sink.deliver(message, CREATE, MemorySteps())
    assert caught.value.failure.verdict == PERMANENT and "other content" in caught.value.failure.message
    assert rendition.read_bytes() == b"%PDF-1.7 bewerkt met de hand"


def test_metadata_the_schema_refuses_is_a_permanent_failure_naming_a_bug(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise mdto.MdtoInvalid("Element 'waardering': missing")
    monkeypatch.setattr(mdto, "sidecars", refuse)
    with pytest.raises(Failed) as caught:
        sink_in(tmp_path).deliver(load_message(), CREATE, MemorySteps())
    assert caught.value.failure.verdict == PERMANENT and "connector bug" in caught.value.failure.message
    assert not list(tmp_path.rglob(f"*{MDTO_SUFFIX}"))  # nothing written


def test_a_folder_that_cannot_be_written_pauses_the_sink(tmp_path, monkeypatch):
    import connector.sinks.archive as module

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))
    monkeypatch.setattr(module, "write_package", denied)
    with pytest.raises(Failed) as caught:
        sink_in(tmp_path).deliver(load_message(), CREATE, MemorySteps())
    assert caught.value.failure.verdict == CONFIGURATION


def test_check_says_whether_the_folder_can_be_written(tmp_path):
    assert all(c.ok for c in sink_in(tmp_path / "new").check())
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    checks = sink_in(blocker / "sub").check()
    assert not checks[-1].ok and "cannot write" in checks[-1].message


@pytest.mark.parametrize("options, field", [({"archiefvormer": {"naam": ""}}, "archiefvormer"),
                                            ({"archiefvormer": {"naam": "G", "kenmerk": "gm1"}}, "archiefvormer"),
                                            ({"folder": ""}, "folder"), ({"colour": "blue"}, "colour")])
def test_invalid_options_are_refused(tmp_path, options, field):
    import marshmallow
    with pytest.raises(marshmallow.ValidationError) as caught:
        ArchiveSink("a", {"folder": str(tmp_path), **OPTIONS, **options})
    assert field in caught.value.messages


def test_through_the_engine_posts_and_replies_are_archived_without_any_case_system(tmp_path):
    """The embedded case: the archive sink as the only sink; a reply follows its parent's package."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "rules.yaml").write_text(
        "rules:\n  - name: replies\n    when: {kind: reply}\n    then: {follow_thread: {}}\n"
        "unmatched:\n  create: {zaaktype: SOCIAL-MELDING}\n")
    config = Config(path=tmp_path / "c.yaml", store=tmp_path / "c.db", mappings=folder, web={},
                    delivery={"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 30, "backoff_base": 10,
                              "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 3},
                    channels=[], sinks=[SinkConfig("archief", "archive", {"folder": str(tmp_path / "sip"), **OPTIONS})])
    connector = Connector(config)
    try:
        ingest(connector, make_message("p", created_minute=1, text="Eerst dit", url="https://social.example/@g/p"),
               make_message("r", in_reply_to="p", created_minute=2))
        result = connector.drain()
        assert result.delivered == 2, result.errors
        rows = connector.store.query("select m.platform_id, d.state, d.zaak_url from deliveries d"
                                     " join messages m on m.id = d.message_id order by m.platform_id")
    finally:
        connector.close()
    assert {r["state"] for r in rows} == {"delivered"}
    assert all(r["zaak_url"].startswith("file://") for r in rows)
    assert len(packages(next((tmp_path / "sip").glob("sip-*")))) == 2
    # the reply ("hello", no permalink of its own) quotes its parent, which the engine looked up in the store
    reply = flat_text(next(Path(rows[1]["zaak_url"].removeprefix("file://")).glob("*.pdf")).read_bytes())
    assert flat("Reactie op: Bericht van Gemeente") in reply
    assert flat("Eerst dit") in reply and flat("https://social.example/@g/p") in reply
