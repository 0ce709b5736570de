"""The options tables cannot drift: README.md's "Channel and sink options" table is exactly what
``connector config schema`` generates from the plugins' marshmallow schemas."""
from __future__ import annotations

import itertools
from pathlib import Path

import marshmallow
import pytest

from connector import sinks, sources
from connector.cli.schema import Undocumented, default_text, options_table
from connector.registry import Registry, discover
from connector.sinks import Delivered, Sink

from .conftest import run_cli

README = Path(__file__).resolve().parent.parent / "README.md"


def built_in_registries() -> tuple[Registry, Registry]:
    """Only the connector's own plugins, whatever else is installed in this environment."""
    def own(group):
        return [e for e in discover(group) if e.dist is not None and e.dist.name == "midoffice-connector"]
    return (sources.load_all(Registry("channel", sources.GROUP), own(sources.GROUP)),
            sinks.load_all(Registry("sink", sinks.GROUP), own(sinks.GROUP)))


def readme_table() -> str:
    """The first table under the "Channel and sink options" heading."""
    section = README.read_text(encoding="utf-8").split("### Channel and sink options\n", 1)[1]
    lines = itertools.dropwhile(lambda line: not line.startswith("|"), section.splitlines())
    return "".join(line + "\n" for line in itertools.takewhile(lambda line: line.startswith("|"), lines))


def test_the_readme_options_table_is_the_generated_one():
    assert readme_table() == options_table(*built_in_registries()), \
        "README.md is out of date: paste the output of 'connector config schema' under 'Channel and sink options'"


def test_every_option_of_every_built_in_plugin_is_in_the_table():
    table = options_table(*built_in_registries())
    for registry in built_in_registries():
        for kind, cls in registry.items():
            assert f"| `{kind}` |" in table
            for name in cls.options_schema().fields:
                assert f"| `{name}` |" in table, f"{kind} option {name} missing"


def test_the_command_prints_the_table(capsys):
    code, out, err = run_cli(capsys, "config", "schema")
    assert (code, err) == (0, "")
    assert out == options_table(sources.load_all(), sinks.load_all())


class Options(marshmallow.Schema):
    size = marshmallow.fields.Integer(load_default=3, metadata={"description": "how many | at most"})
    secret = marshmallow.fields.String(required=True, load_only=True, metadata={"description": "from `${ENV}`"})
    nothing = marshmallow.fields.String(load_default=None, allow_none=True, data_key="no-thing",
                                        metadata={"description": "a\n   wrapped text"})


class TableSink(Sink):
    kind = "table-test"
    options_schema = Options

    def deliver(self, message, routing, steps):
        return Delivered()


def test_a_plugins_options_become_rows_with_defaults_and_escaped_descriptions():
    registry = Registry("sink")
    registry.register(TableSink)
    assert options_table(registry).splitlines()[2:] == [
        "| `table-test` | `size` | `3` | how many \\| at most |",
        "| | `secret` | required | from `${ENV}` |",
        "| | `no-thing` | none | a wrapped text |",
    ]


def test_an_option_without_a_description_is_refused():
    class Bare(marshmallow.Schema):
        size = marshmallow.fields.Integer(load_default=3)

    class BareSink(TableSink):
        kind = "bare-test"
        options_schema = Bare

    registry = Registry("sink")
    registry.register(BareSink)
    with pytest.raises(Undocumented, match="bare-test option 'size' has no metadata description"):
        options_table(registry)


@pytest.mark.parametrize("field, option, text", [
    (marshmallow.fields.Bool(load_default=False), "x", "`false`"),
    (marshmallow.fields.Float(load_default=2.5), "x", "`2.5`"),
    (marshmallow.fields.Float(load_default=30.0), "x", "`30`"),
    (marshmallow.fields.Integer(load_default=2048), "max_bytes", "2 KiB"),
    (marshmallow.fields.Integer(load_default=1000), "max_bytes", "`1000`"),
    (marshmallow.fields.Integer(load_default=2048), "count", "`2048`"),
    (marshmallow.fields.List(marshmallow.fields.String(), load_default=list), "x", "`[]`"),
    (marshmallow.fields.String(), "x", "none"),
])
def test_default_text(field, option, text):
    assert default_text(field, option) == text
