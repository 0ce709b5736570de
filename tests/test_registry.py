"""The plugin layer: built-in plugins come through entry points like a third party's, registries
are injectable, and a broken or conflicting plugin is reported by name without stopping the others."""
from __future__ import annotations

import ast
import logging
from importlib.metadata import EntryPoint
from pathlib import Path

import marshmallow
import pytest

from connector import sinks, sources
from connector.registry import Registry, discover
from connector.sinks import Sink
from connector.sources import Source

PACKAGE = Path(__file__).resolve().parent.parent / "connector"
SOURCE_GROUP, SINK_GROUP = "connector.sources", "connector.sinks"


# -- third-party plugins, as a package of someone else's would declare them -----------------------
class EchoOptions(marshmallow.Schema):
    greeting = marshmallow.fields.String(load_default="hello", metadata={"description": "what to say"})


class EchoSource(Source):
    kind = "echo"
    options_schema = EchoOptions

    def poll(self, state):
        return iter(())

    @classmethod
    def parse_payload(cls, data, channel=""):
        return [], []


class OtherEchoSource(EchoSource):
    """A second class claiming the kind ``echo``."""


class RivalFeedSource(EchoSource):
    """Someone else's ``rss``."""

    kind = "rss"


class NoPollSource(Source):
    kind = "nopoll"

    @classmethod
    def parse_payload(cls, data, channel=""):
        return [], []


class MisnamedSource(EchoSource):
    kind = "not-its-name"


def ep(name: str, target: str, group: str = SOURCE_GROUP) -> EntryPoint:
    return EntryPoint(name=name, value=target, group=group)


def third_party(*extra: EntryPoint) -> list[EntryPoint]:
    """The installed entry points plus ``extra``, as if another distribution were installed."""
    return [*discover(SOURCE_GROUP), *extra]


# -- built-ins registered like a third party's ----------------------------------------------------
def test_built_in_plugins_are_entry_points_of_the_connector_distribution():
    found = {(e.group, e.name): e for group in (SOURCE_GROUP, SINK_GROUP) for e in discover(group)}
    assert {(SOURCE_GROUP, "mastodon"), (SOURCE_GROUP, "rss"), (SINK_GROUP, "zgw")} <= set(found)
    assert {found[key].dist.name for key in found} == {"midoffice-connector"}


def test_load_all_registers_the_built_ins_from_their_entry_points():
    registry = sources.load_all(Registry("channel", SOURCE_GROUP))
    assert set(registry) >= {"mastodon", "rss"} and not registry.broken
    assert registry.get_class("rss").__module__ == "connector.sources.rss"
    assert "entry point 'rss = connector.sources.rss:FeedSource'" in registry.origins["rss"]
    assert "from midoffice-connector" in registry.origins["rss"]
    sink_registry = sinks.load_all(Registry("sink", SINK_GROUP))
    assert sorted(sink_registry) == ["archive", "stuf-zds", "zgw"] and sink_registry.get_class("zgw").__module__ == "connector.sinks.zgw"


def _imported_modules(path: Path, text: str | None = None) -> set[str]:
    """Every module ``path`` (or ``text`` as if it were ``path``) imports, anywhere (functions too):
    ``import``, ``from ... import`` with relative levels resolved, and ``importlib.import_module``
    / ``__import__`` with a literal name."""
    tree = ast.parse(path.read_text(encoding="utf-8") if text is None else text)
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(filter(None, [base, node.module or ""]))
            names |= {module} | {f"{module}.{alias.name}" for alias in node.names}
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__")):
            names.add(node.args[0].value)
    return names


def test_the_core_never_imports_a_plugin_by_name():
    plugins = {"connector.sources.mastodon": "sources/mastodon.py", "connector.sources.rss": "sources/rss.py",
               "connector.sinks.zgw": "sinks/zgw/"}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("doubles/") or any(relative.startswith(own) for own in plugins.values()):
            continue
        imported = _imported_modules(path)
        for module in plugins:
            assert not any(name == module or name.startswith(module + ".") for name in imported), \
                f"connector/{relative} imports the plugin {module} by name"


# -- injection ------------------------------------------------------------------------------------
def test_an_injected_registry_gets_a_third_party_plugin_and_the_global_one_does_not():
    registry = sources.load_all(Registry("channel", SOURCE_GROUP),
                                third_party(ep("echo", f"{__name__}:EchoSource")))
    assert registry.get_class("echo") is EchoSource and {"mastodon", "rss"} <= set(registry)
    source = registry.create("echo", "c", {})
    assert (source.name, source.options) == ("c", {"greeting": "hello"})
    assert "echo" not in sources.load_all()  # the process-wide registry only has what is installed


def test_create_validates_options_with_the_plugins_schema():
    registry = sources.load_all(Registry("channel", SOURCE_GROUP), [ep("echo", f"{__name__}:EchoSource")])
    with pytest.raises(marshmallow.ValidationError):
        registry.create("echo", "c", {"greeting": 3})


# -- broken and conflicting plugins ---------------------------------------------------------------
@pytest.mark.parametrize("target, reason", [
    ("tests.no_such_plugin_module:Thing", "cannot be loaded: ModuleNotFoundError"),
    (f"{__name__}:NoSuchName", "cannot be loaded: AttributeError"),
    (f"{__name__}:EchoOptions", "is not a subclass of connector.sources.base.Source"),
    (f"{__name__}:ep", "is not a subclass of connector.sources.base.Source"),
])
def test_a_broken_third_party_plugin_is_named_and_the_others_still_load(caplog, target, reason):
    registry = Registry("channel", SOURCE_GROUP)
    with caplog.at_level(logging.ERROR, logger="connector.registry"):
        sources.load_all(registry, third_party(ep("echo", target)))
    assert {"mastodon", "rss"} <= set(registry) and "echo" not in registry
    assert f"entry point 'echo = {target}' (group connector.sources)" in registry.broken["echo"]
    assert reason in registry.broken["echo"]
    assert [r.getMessage() for r in caplog.records] == [f"channel plugin 'echo' not registered: {registry.broken['echo']}"]
    with pytest.raises(KeyError) as caught:
        registry.get_class("echo")
    assert caught.value.args[0] == f"channel kind 'echo' is not available: {registry.broken['echo']}"


def test_a_broken_plugin_is_logged_once_however_often_the_plugins_are_loaded(caplog):
    registry, broken = Registry("channel", SOURCE_GROUP), [ep("echo", "tests.no_such_plugin_module:Thing")]
    with caplog.at_level(logging.ERROR, logger="connector.registry"):
        for _ in range(3):
            sources.load_all(registry, broken)
    assert len(caplog.records) == 1


def test_a_plugin_that_does_not_implement_the_abstract_methods_is_refused():
    registry = sources.load_all(Registry("channel", SOURCE_GROUP), [ep("nopoll", f"{__name__}:NoPollSource")])
    assert "nopoll" not in registry and "does not implement poll" in registry.broken["nopoll"]
    with pytest.raises(TypeError, match="abstract"):
        NoPollSource("c", {})


def test_a_plugin_whose_kind_differs_from_its_entry_point_name_is_refused():
    registry = sources.load_all(Registry("channel", SOURCE_GROUP), [ep("echo", f"{__name__}:MisnamedSource")])
    assert "echo" not in registry and "not-its-name" not in registry
    assert "has kind 'not-its-name', not the entry point's name 'echo'" in registry.broken["echo"]


def test_two_plugins_claiming_one_kind_are_both_refused_naming_both():
    registry = sources.load_all(Registry("channel", SOURCE_GROUP), third_party(
        ep("echo", f"{__name__}:EchoSource"), ep("echo", f"{__name__}:OtherEchoSource")))
    assert "echo" not in registry and {"mastodon", "rss"} <= set(registry)
    assert registry.broken["echo"].startswith("refused: claimed by entry point 'echo = tests.test_registry:EchoSource'")
    assert "and entry point 'echo = tests.test_registry:OtherEchoSource'" in registry.broken["echo"]


def test_a_third_party_plugin_cannot_take_over_a_built_in_kind():
    registry = sources.load_all(Registry("channel", SOURCE_GROUP), third_party(
        ep("rss", f"{__name__}:RivalFeedSource")))
    assert "rss" not in registry and "refused: claimed by" in registry.broken["rss"]
    assert "connector.sources.rss:FeedSource" in registry.broken["rss"]


def test_the_same_plugin_found_twice_is_not_a_duplicate():
    echo = ep("echo", f"{__name__}:EchoSource")
    registry = sources.load_all(Registry("channel", SOURCE_GROUP), [echo, echo])
    assert registry.get_class("echo") is EchoSource and not registry.broken
    sources.load_all(registry, [echo])  # loading again changes nothing
    assert registry.get_class("echo") is EchoSource and not registry.broken


def test_no_entry_points_at_all_says_the_connector_is_not_installed(caplog):
    registry = Registry("channel", "connector.no-such-group")
    with caplog.at_level(logging.ERROR, logger="connector.registry"):
        registry.load_entry_points()
    assert "is the connector installed" in registry.broken["*"]
    with pytest.raises(KeyError, match="unknown channel kind 'rss' \\(known: none\\)"):
        registry.get_class("rss")


def test_registering_a_second_class_for_a_kind_directly_raises_at_once():
    registry = Registry("channel")
    assert registry.register(EchoSource) is EchoSource
    assert registry.register(EchoSource) is EchoSource  # the same class again: no-op
    with pytest.raises(ValueError, match="channel kind 'echo' registered twice"):
        registry.register(OtherEchoSource)
    with pytest.raises(TypeError, match="does not implement poll"):
        registry.register(NoPollSource)


def test_a_sink_without_deliver_cannot_be_registered_or_built():
    class Half(Sink):
        kind = "half"

    with pytest.raises(TypeError, match="does not implement deliver"):
        Registry("sink").register(Half)
    with pytest.raises(TypeError, match="abstract"):
        Half("s", {})


CORE_PACKAGES = ("store", "rules", "mdto", "media")  # every module of these packages
CORE_MODULES = ("engine.py", "dispatch.py", "config.py", "record.py", "message.py", "routing.py", "fanout.py",
                "rulesholder.py", "registry.py", "rendition.py", "failures.py", "states.py", "http.py", "settings.py",
                "capture.py", "rendition_pdf.py")
NOT_FOR_THE_CORE = ("connector.sources", "connector.sinks", "connector_doubles", "connector.web", "connector.cli")


def _core_offenders(relative: str, text: str | None = None) -> list[str]:
    imported = _imported_modules(PACKAGE / relative, text)
    return sorted(name for name in imported
                  if any(name == banned or name.startswith(banned + ".") for banned in NOT_FOR_THE_CORE))


def test_core_modules_import_no_plugin_package_at_all():
    """The engine, config, store, rules, record, message, routing and fan-out work on models and the
    registries of :mod:`connector.registry` only: no sources, sinks, doubles, web or cli."""
    core = [*CORE_MODULES, *(p.relative_to(PACKAGE).as_posix()
                             for package in CORE_PACKAGES for p in sorted((PACKAGE / package).glob("*.py")))]
    assert {"store/__init__.py", "store/base.py", "store/outbox.py", "rules/engine.py"} <= set(core)  # the globs found them
    for relative in core:
        assert not _core_offenders(relative), f"connector/{relative} imports {_core_offenders(relative)}"


@pytest.mark.parametrize("code, offender", [
    ("from .sinks import load_all", "connector.sinks"),
    ("from . import web", "connector.web"),
    ("def f():\n    import connector_doubles.zgw\n", "connector_doubles.zgw"),
    ("def f():\n    from .cli.commands import main\n", "connector.cli.commands"),
    ("import importlib\nimportlib.import_module('connector.sources.rss')\n", "connector.sources.rss"),
    ("from .. import sinks", "connector.sinks"),  # as connector/store/outbox.py
])
def test_the_core_import_check_sees_every_form_of_import(code, offender):
    """The check above can fail: each way a core module could reach a plugin package is caught."""
    relative = "store/outbox.py" if code.startswith("from ..") else "engine.py"
    assert offender in _core_offenders(relative, code)


def test_the_core_import_check_leaves_look_alike_names_alone():
    code = "from .registry import SINKS, SOURCES\nfrom . import sinks_helpers\nimport connector.website\n"
    assert _core_offenders("engine.py", code) == []


def test_the_core_loads_plugins_through_the_process_wide_registries():
    """engine and config get SOURCES and SINKS from connector.registry; the plugin packages re-export them."""
    from connector import registry
    from connector.sinks import base as sink_base
    from connector.sources import base as source_base

    assert sources.SOURCES is source_base.SOURCES is registry.SOURCES
    assert sinks.SINKS is sink_base.SINKS is registry.SINKS
    assert registry.SOURCES.base_class() is Source and registry.SINKS.base_class() is Sink
    assert {"connector.registry.SOURCES", "connector.registry.SINKS"} <= _imported_modules(PACKAGE / "engine.py")
    assert {"connector.registry.SOURCES", "connector.registry.SINKS"} <= _imported_modules(PACKAGE / "config.py")


def test_a_registry_checks_plugins_against_its_base_named_as_a_string():
    registry = Registry("channel", SOURCE_GROUP, base="connector.sources.base:Source")
    registry.load_entry_points([ep("echo", f"{__name__}:EchoSource"), ep("bad", f"{__name__}:EchoOptions")])
    assert registry.base is Source  # imported when the entry points were loaded
    assert registry.get_class("echo") is EchoSource
    assert "is not a subclass of connector.sources.base.Source" in registry.broken["bad"]
