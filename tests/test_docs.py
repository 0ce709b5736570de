"""README.md stays true: every command, every configuration key, every example.

Walked from the code, never from a list kept here, so what another change adds is checked too:

* every command and subcommand of the CLI's parser is in README's "## Commands" table, and every command
  that table names exists;
* every key of the configuration (``ConfigSchema`` with its nested settings schemas and the channel and
  sink entries) is in one of README's YAML examples or named as ``dotted.key`` in its text (the plugins'
  own options are the generated table, see ``tests/test_config_schema.py``);
* every key of the mapping rules' schemas, nested ones included, is named in ``mappings/README.md`` (the
  top-level names, conditions and actions: ``tests/test_mappings_docs.py``);
* every YAML example in README that is a connector configuration loads with ``load_config`` (fragments
  completed with what they leave to the rest of the file, every ``${VAR}`` given a dummy value), and
  every one that is a mapping file validates; ``mappings/README.md``'s own examples are
  ``tests/test_mappings_docs.py``'s.
"""
from __future__ import annotations

import re

import pytest
import yaml

from connector.cli import build_parser
from connector.config import ENV_REF, ConfigSchema, load_config
from connector.rules import check_rules
from connector.rules.schema import FileSchema, RuleSchema

from .docs_support import MAPPINGS_README, README, commands, key_paths, section, yaml_blocks, yaml_key_paths

COMMANDS = section(README, "## Commands")
CONFIG_KEYS = {field.data_key or name for name, field in ConfigSchema().fields.items()}
RULE_FILE_KEYS = {field.data_key or name for name, field in FileSchema().fields.items()}
DUMMY = "dummy-value-for-a-docs-test-0123456789abcdef"


def _keys(block: str) -> set[str]:
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError:
        return set()
    return set(data) if isinstance(data, dict) else set()


CONFIG_BLOCKS = [(line, b) for line, b in yaml_blocks(README) if _keys(b) and _keys(b) <= CONFIG_KEYS]
RULE_BLOCKS = [(line, b) for line, b in yaml_blocks(README) if _keys(b) and _keys(b) <= RULE_FILE_KEYS]


# -- commands ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [p for p, leaf in commands(build_parser()) if leaf], ids=" ".join)
def test_every_command_is_in_the_commands_table(path):
    name = "connector " + " ".join(path)
    assert re.search(re.escape(f"`{name}") + r"[ `]", COMMANDS), f"`{name}` is not in README's ## Commands"


def test_every_command_the_table_names_exists():
    known = {" ".join(p) for p, _ in commands(build_parser())}
    named = re.findall(r"^\| `connector ([a-z][a-z ]*?)(?: [^a-z].*?)?`", COMMANDS, re.M)
    assert named, "no commands found in the table"
    assert not set(named) - known, set(named) - known


# -- configuration keys -----------------------------------------------------------------------------

def _documented_config_keys() -> set[str]:
    found = set()
    for _, block in yaml_blocks(README):
        try:
            found |= yaml_key_paths(yaml.safe_load(block))
        except yaml.YAMLError:
            continue
    return found


@pytest.mark.parametrize("path", key_paths(ConfigSchema()))
def test_every_configuration_key_is_documented(path):
    assert path in _documented_config_keys() or f"`{path}`" in README, \
        f"configuration key {path} is in no YAML example of README.md, nor named as `{path}`"


def test_the_key_walk_reaches_nested_settings():
    """The walk is what the tests above stand on: it must see nested and listed schemas."""
    paths = key_paths(ConfigSchema())
    assert {"web.oidc.roles", "limits.worker_stale_after", "channels.poll_interval", "sinks.receives",
            "organisation.naam"} <= set(paths)


# -- rule keys --------------------------------------------------------------------------------------

def _named_in_mappings_readme(name: str) -> bool:
    return any(f"`{name}{end}" in MAPPINGS_README for end in ("`", ":", "("))


@pytest.mark.parametrize("path", sorted({p for schema in (FileSchema(), RuleSchema()) for p in key_paths(schema)}))
def test_every_key_of_the_rules_is_documented(path):
    assert _named_in_mappings_readme(path.rsplit(".", 1)[-1]), f"rule key {path} is not in mappings/README.md"


# -- examples ---------------------------------------------------------------------------------------

def test_readme_has_configuration_examples():
    assert len(CONFIG_BLOCKS) >= 5  # the classifier below found them: the test that loads them is not empty


@pytest.mark.parametrize("line, block", CONFIG_BLOCKS, ids=[f"README.md:{line}" for line, _ in CONFIG_BLOCKS])
def test_every_configuration_example_loads(tmp_path, line, block):
    data = yaml.safe_load(block)
    if not data.get("sinks") and not data.get("organisation"):  # a fragment: the rest of the file names them
        block += "\norganisation: {naam: Gemeente Voorbeeld}\n"
    path = tmp_path / "connector.yaml"
    path.write_text(block, encoding="utf-8")
    environ = {match.group(1): DUMMY for match in ENV_REF.finditer(block)}
    load_config(path, environ=environ)  # raises ConfigError naming file:line and key


def test_every_mapping_example_in_the_readme_validates(tmp_path):
    """README.md shows rules inline today (the reference is mappings/README.md); a block added later is checked."""
    for line, block in RULE_BLOCKS:
        folder = tmp_path / str(line)
        folder.mkdir()
        (folder / "50-example.yaml").write_text(block, encoding="utf-8")
        if "unmatched" not in _keys(block):
            (folder / "90-unmatched.yaml").write_text("unmatched:\n  hold: triage\n", encoding="utf-8")
        assert check_rules(folder) == [], f"README.md:{line}"


def test_a_broken_configuration_example_would_be_caught(tmp_path):
    """The loader the examples go through refuses a wrong key: the example test can fail."""
    line, block = CONFIG_BLOCKS[0]
    path = tmp_path / "connector.yaml"
    path.write_text(block.replace("web:\n", "web:\n  no_such_setting: 1\n", 1), encoding="utf-8")
    with pytest.raises(Exception, match="no_such_setting"):
        load_config(path, environ={match.group(1): DUMMY for match in ENV_REF.finditer(block)})
