"""Mapping files edited while the connector runs: reloaded when valid, refused (old rules kept) when not."""
from __future__ import annotations

import os
import shutil

import pytest

from connector.rules import RulesError
from connector.rulesholder import RulesHolder

from .conftest import FIXTURES, make_message


@pytest.fixture
def mappings(tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(FIXTURES / "e2e" / "mappings", folder)
    return folder


def touch_later(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_valid_edit_is_picked_up(mappings):
    holder = RulesHolder(mappings)
    assert holder.current().resolve(make_message(text="ZAAK-2026-0000000042")).rule == "quoted-zaak"
    rules = mappings / "rules.yaml"
    rules.write_text(rules.read_text().replace("name: quoted-zaak", "name: zaak-in-text"))
    touch_later(rules)
    assert holder.refresh() is True
    assert holder.current().resolve(make_message(text="ZAAK-2026-0000000042")).rule == "zaak-in-text"


def test_broken_edit_keeps_the_last_valid_rules_and_reports_file_line(mappings):
    holder = RulesHolder(mappings)
    before = holder.current()
    rules = mappings / "rules.yaml"
    rules.write_text(rules.read_text().replace("attach:", "atach:"))
    touch_later(rules)
    assert holder.refresh() is False
    assert holder.current() is before
    assert holder.error and all(str(p).startswith(f"{rules}:") for p in holder.error)
    # fixing the file clears the error
    rules.write_text(rules.read_text().replace("atach:", "attach:"))
    touch_later(rules)
    assert holder.refresh() is True and holder.error is None


def test_broken_rules_at_start_refuse_to_start(mappings):
    (mappings / "rules.yaml").write_text("rules: [\n")
    with pytest.raises(RulesError):
        RulesHolder(mappings)


def test_rule_naming_an_unknown_sink_is_refused(mappings):
    rules = mappings / "rules.yaml"
    rules.write_text(rules.read_text().replace('      attach: "{match.nr}"', '      attach: "{match.nr}"\n      sink: elsewhere'))
    with pytest.raises(RulesError) as info:
        RulesHolder(mappings, sink_names=["zaken"])
    assert "sink 'elsewhere' is not configured" in str(info.value.problems[0])
    assert str(info.value.problems[0]).startswith(f"{rules}:")
