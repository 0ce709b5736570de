"""The bundled StUF-ZDS schemas (connector/stufdata) and the StUF double's loader for them.

The loader must not pass trivially: an invented element, a wrong berichtcode and a missing required
element are rejected, while the real messages in the reference material validate.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest
from lxml import etree

from connector import stufdata
from connector_doubles.stuf import schemas
from connector_doubles.stuf.catalogue import STUF, ZDS, ZKN

from .conftest import ROOT, SHARED

BUNDLES = SHARED / "specs" / "stuf"
EXAMPLES = SHARED / "examples" / "stuf"
needs_shared = pytest.mark.skipif(not BUNDLES.is_dir() or not EXAMPLES.is_dir(),
                                  reason="reference material (../shared) not present")
BUNDLED = sorted(p for p in (ROOT / "connector" / "stufdata").rglob("*.xsd"))
ENVELOPES = ("http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope")


def copy_script():
    spec = importlib.util.spec_from_file_location("stufdata_copy", ROOT / "scripts" / "stufdata_copy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_entry_schemas_are_in_the_bundle():
    assert stufdata.ZDS_1_1.is_file() and stufdata.ZDS_1_2.is_file()
    assert all(path.is_file() for paths in stufdata.ENTRIES.values() for path in paths)
    assert len(BUNDLED) > 100 and not [p for p in (ROOT / "connector" / "stufdata").rglob("*")
                                       if p.is_file() and p.suffix not in (".xsd", ".py", ".md", ".pyc")]


@needs_shared
def test_every_bundled_schema_is_byte_identical_to_its_original():
    for path in BUNDLED:
        relative = path.relative_to(ROOT / "connector" / "stufdata")
        assert path.read_bytes() == (BUNDLES / relative).read_bytes(), relative


@needs_shared
def test_the_bundle_is_exactly_the_closure_of_the_message_schemas():
    module = copy_script()
    expected = {f"{folder}/{name}" for folder, entry in module.ENTRIES.items()
                for name in module.closure(BUNDLES / folder, entry)}
    assert {p.relative_to(ROOT / "connector" / "stufdata").as_posix() for p in BUNDLED} == expected


@needs_shared
def test_loading_the_main_schema_as_it_is_falls_into_the_multi_import_trap():
    with pytest.raises(etree.XMLSchemaParseError, match="does not resolve"):
        etree.XMLSchema(etree.parse(str(stufdata.ZDS_1_1)))


def di02(dialect: str) -> etree._Element:
    ns = ZKN if dialect == "1.1" else ZDS
    root = etree.Element(f"{{{ns}}}genereerDocumentIdentificatie_Di02", nsmap={"StUF": STUF, "X": ns})
    sg = etree.SubElement(root, f"{{{ns}}}stuurgegevens")
    etree.SubElement(sg, f"{{{STUF}}}berichtcode").text = "Di02"
    for name in ("zender", "ontvanger"):
        etree.SubElement(etree.SubElement(sg, f"{{{STUF}}}{name}"), f"{{{STUF}}}applicatie").text = "APP"
    etree.SubElement(sg, f"{{{STUF}}}referentienummer").text = "ref-1"
    etree.SubElement(sg, f"{{{STUF}}}tijdstipBericht").text = "20260101120000"
    etree.SubElement(sg, f"{{{STUF}}}functie").text = "genereerDocumentidentificatie"
    return root


@pytest.mark.parametrize("dialect", schemas.DIALECTS)
def test_a_valid_message_passes_and_each_kind_of_damage_is_caught(dialect):
    assert schemas.errors(di02(dialect), dialect) == []
    invented = di02(dialect)
    etree.SubElement(invented[0], f"{{{STUF}}}verzonnen").text = "x"
    wrong_code = di02(dialect)
    wrong_code[0][0].text = "Lk01"
    missing = di02(dialect)
    missing[0].remove(missing[0].find(f"{{{STUF}}}functie"))
    unknown_root = etree.Element(f"{{{ZKN}}}bestaatNiet_Di02")
    for damaged, word in ((invented, "verzonnen"), (wrong_code, "berichtcode"), (missing, "functie"),
                          (unknown_root, "No matching global declaration")):
        found = schemas.errors(damaged, dialect)
        assert found and any(word in line for line in found), found


def test_the_compiled_schema_is_cached_per_process():
    assert schemas.schema("1.1") is schemas.schema("1.1") and schemas.schema("1.1") is not schemas.schema("1.2")


def payloads():
    if not EXAMPLES.is_dir():
        return []
    return sorted(EXAMPLES.glob("*.xml"))


def payload(path) -> etree._Element:
    envelope = etree.parse(str(path)).getroot()
    body = next(child for child in envelope if etree.QName(child).localname == "Body")
    message = next(child for child in body if isinstance(child.tag, str))
    if etree.QName(message).localname == "Fault":
        message = message.find(f".//{{{STUF}}}Fo02Bericht")
    return message


@needs_shared
@pytest.mark.parametrize("path", payloads(), ids=lambda p: p.name)
def test_the_real_example_messages_validate_in_their_dialect(path):
    # openforms_* are ZDS 1.1 style (ZKN roots), haarlem_* ZDS 1.2 style; every one is schema-valid
    # (the Fo02 of Open Forms' mock too: StUF namespace, valid in both)
    dialect = "1.2" if path.name.startswith("haarlem") else "1.1"
    assert schemas.errors(payload(path), dialect) == []


@needs_shared
def test_the_stp_templates_validate_once_filled():
    values = {"zenderOrganisatie": "0392", "zenderApplicatie": "CONNECTOR", "ontvangerOrganisatie": "0392",
              "ontvangerApplicatie": "ZSH", "tijdstipBericht": "20260101120000", "datumVandaag": "20260101",
              "datumEergisteren": "20251230", "tijdstipRegistratie": "20260101120000", "gemeentecode": "0392",
              "zds_zaaktype_code": "B1234", "zds_zaaktype_omschrijving": "Sociale media",
              "zds_zaaktype_datum": "20200101"}
    for path in sorted((EXAMPLES / "stp_zds1.2_templates").glob("*.xml")):
        text = path.read_text()
        for key, value in values.items():
            text = text.replace("${" + key + "}", value)
        text = text.replace("#{referentienummer}", "ref-1")
        text = re.sub(r"\$\{[a-z_]+_identificatie_\d\}", "00000001", text)
        message = etree.fromstring(text.encode())
        assert schemas.errors(message, "1.2") == [], path.name


def test_the_copy_script_runs_on_its_own(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "stufdata_copy.py"), str(tmp_path / "none")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0   # no bundles there: it says so rather than emptying the package
