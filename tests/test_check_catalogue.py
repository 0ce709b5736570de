"""`connector check` looks up every name the mapping rules use in the sink's case system.

Against the ZGW double: seeded with the names the shipped `mappings/` use, check passes; seeded
without them, check fails with one `file:line: rule ...` line per place a missing name is used.
"""
from __future__ import annotations

import pytest
import yaml

from connector_doubles import zgw
from connector.rules import load_rules

from .conftest import FIXTURES, ZGW_SECRET, run_cli

MAPPINGS = FIXTURES.parent / "mappings"
SEED = FIXTURES / "zgw" / "catalogus.yaml"


run = run_cli


def write_config(tmp_path, server, mappings=MAPPINGS, **options) -> str:
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(mappings),
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": server.zaken_url, "documenten_url": server.documenten_url,
            "catalogi_url": server.catalogi_url, "client_id": "connector", "secret": "${CHECK_ZGW_SECRET}",
            "bronorganisatie": "002220647", **options}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def secret(monkeypatch):
    monkeypatch.setenv("CHECK_ZGW_SECRET", ZGW_SECRET)


@pytest.fixture
def seeded(zgw_server, secret):
    """The session's double, seeded with the fixture catalogus (it has every name mappings/ uses)."""
    double, server = zgw_server
    double.reset()
    return server


@pytest.fixture
def bare(tmp_path, secret):
    """A double whose catalogus has no zaaktypen, no zaken and only the 'Bijlage' informatieobjecttype."""
    seed = yaml.safe_load(SEED.read_text())
    seed["zaaktypen"], seed["zaken"] = [], []
    seed["informatieobjecttypen"] = [t for t in seed["informatieobjecttypen"] if t["omschrijving"] == "Bijlage"]
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(seed))
    double = zgw.ZgwDouble(secret=ZGW_SECRET, client_ids=("connector",), seed=str(path))
    server = zgw.serve(double)
    yield server
    server.shutdown()


def sources(mappings=MAPPINGS) -> dict[str, str]:
    ruleset = load_rules(mappings)
    return {rule.name: rule.source for rule in [*ruleset.rules, ruleset.unmatched]}


def test_check_passes_when_the_case_system_has_every_name_the_rules_use(capsys, tmp_path, seeded):
    code, out, _ = run(capsys, "check", "--config", write_config(tmp_path, seeded))
    assert code == 0, out
    for name in ("zaaktype 'SOCIAL-MELDING'", "zaaktype 'SOCIAL-VRAAG'", "informatieobjecttype 'Sociale-mediabericht'"):
        assert f"sink zaken: [ok] catalogus: {name}: {seeded.catalogi_url}/" in out
    assert "FAIL" not in out


def test_check_says_a_templated_zaak_is_not_checked(capsys, tmp_path, seeded):
    _, out, _ = run(capsys, "check", "--config", write_config(tmp_path, seeded))
    where = sources()["zaaknummer-quoted"]
    assert f"rules: {where}: rule 'zaaknummer-quoted': zaak '{{match.zaaknummer|upper}}': not checked (templated)" \
        in out.splitlines()


def test_check_reports_each_missing_name_with_the_rules_file_and_line(capsys, tmp_path, bare):
    code, out, _ = run(capsys, "check", "--config", write_config(tmp_path, bare))
    assert code == 1
    where = sources()
    failed = {line for line in out.splitlines() if "[FAIL]" in line}
    expected = {
        ("melding-openbare-ruimte", "zaaktype 'SOCIAL-MELDING'"),
        ("unmatched", "zaaktype 'SOCIAL-MELDING'"),
        ("vraag-aan-gemeente", "zaaktype 'SOCIAL-VRAAG'"),
        *((rule, "informatieobjecttype 'Sociale-mediabericht'")
          for rule in ("zaaknummer-quoted", "reply-follows-parent", "melding-openbare-ruimte",
                       "vraag-aan-gemeente", "unmatched")),
    }
    for rule, name in expected:
        prefix = f"sink zaken: [FAIL] catalogus: {where[rule]}: rule {rule!r}: {name} not found"
        assert any(line.startswith(prefix) for line in failed), (prefix, out)
    assert len(failed) == len(expected), out
    assert "own-boosts" not in out  # ignores deliver nothing: no names to look up


def test_check_looks_up_a_fixed_zaak_and_the_sinks_default_informatieobjecttype(capsys, tmp_path, seeded):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "rules.yaml").write_text(yaml.safe_dump({
        "global_defaults": {"informatieobjecttype": "Sociale-mediabericht"},
        "rules": [
            {"name": "known", "when": {"hashtag": "a"}, "then": {"attach": "ZAAK-2026-0000000042"}},
            {"name": "gone", "when": {"hashtag": "b"}, "then": {"attach": "ZAAK-2026-0000009999"}},
        ],
        "unmatched": {"hold": "triage"},
    }, sort_keys=False))
    config = write_config(tmp_path, seeded, mappings=mappings, informatieobjecttype="Bestaat-niet")
    code, out, _ = run(capsys, "check", "--config", config)
    where = sources(mappings)
    assert code == 1
    assert "sink zaken: [ok] catalogus: zaak 'ZAAK-2026-0000000042': " in out
    assert f"sink zaken: [FAIL] catalogus: {where['gone']}: rule 'gone': zaak 'ZAAK-2026-0000009999' not found" in out
    assert ("sink zaken: [FAIL] catalogus: option 'informatieobjecttype' of sink 'zaken': "
            "informatieobjecttype 'Bestaat-niet' not found") in out


def test_check_does_not_look_up_names_with_rejected_credentials(capsys, tmp_path, seeded, monkeypatch):
    monkeypatch.setenv("CHECK_ZGW_SECRET", "not-the-secret-of-the-case-system-0123456789")
    code, out, _ = run(capsys, "check", "--config", write_config(tmp_path, seeded))
    assert code == 1
    assert "sink zaken: [FAIL] catalogus: not checked: fix the credentials first" in out
