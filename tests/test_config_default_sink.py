"""No sink configured: the archive sink is the embedded default (MDTO packages beside the store)."""
from __future__ import annotations

import shutil

import pytest

from connector.config import ConfigError, load_config
from connector.engine import Connector
from connector.sinks.archive.sip import MDTO_SUFFIX, packages

from .conftest import FIXTURES, ingest, make_message

CONFIG = """\
store: var/connector.db
mappings: mappings
{organisation}channels: []
"""


def write(tmp_path, organisation: str = "") -> str:
    shutil.copytree(FIXTURES / "e2e" / "mappings", tmp_path / "mappings")
    path = tmp_path / "connector.yaml"
    path.write_text(CONFIG.format(organisation=organisation))
    return path


def test_without_sinks_and_without_an_organisation_the_error_says_what_to_add(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path))
    [problem] = [str(p) for p in info.value.problems]
    assert problem.startswith(f"{tmp_path / 'connector.yaml'}:1: sinks: no sinks")
    assert "organisation: {naam: ...}" in problem and "archief/" in problem


@pytest.mark.parametrize("organisation,problem", [
    ("organisation: {kenmerk: gm9999, bron: TOOI}\n", "organisation.naam: Missing data for required field."),
    ("organisation: {naam: Gemeente Voorbeeld, kenmerk: gm9999}\n", "organisation: give kenmerk and bron together, or neither"),
])
def test_a_broken_organisation_is_reported_with_its_line(tmp_path, organisation, problem):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, organisation))
    assert [str(p) for p in info.value.problems] == [f"{tmp_path / 'connector.yaml'}:3: {problem}"]


def test_with_an_organisation_every_message_is_archived_as_an_mdto_package_beside_the_store(tmp_path):
    config = load_config(write(tmp_path, "organisation: {naam: Gemeente Voorbeeld, kenmerk: gm9999, bron: TOOI}\n"))
    [sink] = config.sinks
    assert (sink.name, sink.kind, sink.options["folder"]) == ("archief", "archive", str(tmp_path / "var" / "archief"))
    connector = Connector(config)
    try:
        ingest(connector, make_message("1"), make_message("2"))
        result = connector.deliver_due()
    finally:
        connector.close()
    assert result.delivered == 2
    found = [package for batch in (tmp_path / "var" / "archief").glob("sip-*") for package in packages(batch)]
    assert len(found) == 2
    metadata = (found[0] / f"{found[0].name}{MDTO_SUFFIX}").read_text()
    assert "Gemeente Voorbeeld" in metadata and "gm9999" in metadata
