"""``connector config schema``: the options of every installed channel and sink kind, as markdown.

The table is generated from each plugin's marshmallow ``options_schema``: the option's name, its
default (``required`` when it has none, ``none`` when it defaults to nothing) and the field's
``metadata={"description": ...}``. README.md's "Channel and sink options" table is this output,
and a test keeps the two equal, so the documentation cannot drift from the code.
"""
from __future__ import annotations

import sys

import marshmallow

from ..registry import SINKS, SOURCES, Registry

HEADER = ["| kind | option | default | meaning |", "|---|---|---|---|"]


class Undocumented(ValueError):
    """An option without ``metadata={"description": ...}``."""


def options_table(*registries: Registry) -> str:
    """The markdown table of every kind in ``registries`` (kinds sorted within each registry)."""
    rows = list(HEADER)
    for registry in registries:
        for kind in sorted(registry):
            rows += _rows(kind, registry[kind].options_schema())
    return "\n".join(rows) + "\n"


def _rows(kind: str, schema: marshmallow.Schema) -> list[str]:
    rows = []
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        description = field.metadata.get("description")
        if not description:
            raise Undocumented(f"{kind} option {name!r} has no metadata description")
        option = field.data_key or name
        cells = [f"`{kind}`" if not rows else "", f"`{option}`", default_text(field, option), _cell(description)]
        rows.append("|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|")
    return rows


def default_text(field: marshmallow.fields.Field, option: str = "") -> str:
    """``required``, ``none`` or the default as code (``true``, ``40``, ``all``); an option named
    ``*_bytes`` in KiB/MiB when it is a whole number of them (``10 MiB``)."""
    if field.required:
        return "required"
    value = field.load_default
    if callable(value):
        value = value()
    if value is None or value is marshmallow.missing:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if option.endswith("_bytes") and isinstance(value, int) and value >= 1024:
        for unit, size in (("MiB", 1024 * 1024), ("KiB", 1024)):
            if value % size == 0:
                return f"{value // size} {unit}"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def cmd_config_schema(args) -> int:
    """Print the options table of every installed channel and sink kind."""
    sources, sinks = SOURCES.load(), SINKS.load()
    try:
        print(options_table(sources, sinks), end="")
    except Undocumented as exc:
        print(f"connector: {exc}", file=sys.stderr)
        return 2
    for registry in (sources, sinks):  # a broken plugin has no table: say so, do not hide it
        for kind, reason in sorted(registry.broken.items()):
            print(f"{registry.what} kind {kind!r} is not available: {reason}", file=sys.stderr)
    return 0
