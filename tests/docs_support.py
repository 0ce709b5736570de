"""What tests/test_docs*.py share: the README's sections and code blocks, the CLI's command tree and the
configuration's and rules' key paths, all walked from the parser and the marshmallow schemas (never a fixed
list), so a command or key another change adds is checked too."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import marshmallow
from marshmallow import fields

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAPPINGS_README = (ROOT / "mappings" / "README.md").read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (e.g. "## Commands") up to the next heading of the same or a higher level."""
    level = heading.split()[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    ends = [m.start() for m in re.finditer(r"^(#+) ", text[start:], re.M) if len(m.group(1)) <= len(level)]
    return text[start:start + ends[0]] if ends else text[start:]


def yaml_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, block)`` of every fenced ```yaml block, line numbers 1-based (the block's first line)."""
    return [(text[:m.start(1)].count("\n") + 1, m.group(1)) for m in re.finditer(r"```yaml\n(.*?)```", text, re.S)]


def commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], bool]]:
    """Every command path of the parser, ``(("users", "add"), is_leaf)``, groups and their subcommands."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                children = commands(sub, prefix + (name,))
                found.append((prefix + (name,), not children))
                found += children
    return found


def _schema_of(field):
    if isinstance(field, fields.Nested):
        nested = field.nested() if callable(field.nested) and not isinstance(field.nested, type) else field.nested
        return nested if isinstance(nested, marshmallow.Schema) else nested()
    if isinstance(field, fields.List):
        return _schema_of(field.inner)
    return None


def key_paths(schema: marshmallow.Schema, prefix: str = "", seen: frozenset = frozenset()) -> list[str]:
    """Dotted key paths of ``schema`` as written in YAML (``data_key``), nested schemas and lists of them
    included (a list adds no index: ``channels.poll_interval``); a recursive schema is walked once."""
    paths = []
    for name, field in schema.fields.items():
        key = field.data_key or name
        path = f"{prefix}{key}"
        paths.append(path)
        nested = _schema_of(field)
        if nested is not None and type(nested) not in seen:
            paths += key_paths(nested, path + ".", seen | {type(schema)})
    return paths


def yaml_key_paths(node, prefix: str = "") -> set[str]:
    """The dotted key paths a loaded YAML document holds (lists add no index)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}{key}"
            found.add(path)
            found |= yaml_key_paths(value, path + ".")
    elif isinstance(node, list):
        for item in node:
            found |= yaml_key_paths(item, prefix)
    return found
