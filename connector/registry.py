"""Plugin registries: channel sources and sinks, found through setuptools entry points.

Every source and sink, the built-in ones included, is registered the way a third-party package
registers one: an entry point in its distribution's metadata, named after the plugin's ``kind``
and pointing at its class (Datasette style: the core never imports a plugin by name)::

    [options.entry_points]
    connector.sources =
        mastodon = connector.sources.mastodon:MastodonSource
    connector.sinks =
        zgw = connector.sinks.zgw:ZgwSink

:meth:`Registry.load_entry_points` loads one group into a registry. A registry is an ordinary
object (Open Formulieren style): the process-wide ones are ``SOURCES`` and ``SINKS``, defined
here, and tests build their own and hand them to whatever builds sources and sinks
(``load_all(registry)``, :meth:`Registry.create`) instead of writing into the global ones.

The process-wide registries live in this core module, not in the plugin packages, so that the
core (engine, config) loads plugins without importing ``connector.sources`` or
``connector.sinks``: each registry names its plugins' base class as ``"module:Class"`` and
imports it only when entry points are loaded (:meth:`Registry.load`). The plugin packages
re-export ``SOURCES`` and ``SINKS`` for ``@SOURCES.register`` and ``from connector.sinks
import SINKS``.

Decisions, so that one bad plugin cannot take the others down:

* A plugin whose entry point cannot be loaded (an ``ImportError`` in the third-party package, a
  name that is not a class, a class without the base class's methods, a ``kind`` that differs
  from the entry point's name) is *not* registered. It is logged once as an error naming the
  entry point and its distribution, kept in :attr:`Registry.broken`, and every other plugin loads.
  Only a channel or sink configured with that kind fails, and :meth:`Registry.get_class` says why.
* Two different classes claiming one kind are refused, both of them: which one would deliver is
  otherwise an accident of install order. The kind is removed and reported like a broken plugin,
  naming both entry points. The same class reached twice (a distribution found twice on
  ``sys.path``) is not a duplicate.
* :meth:`Registry.register` called directly (the class decorator) with a second class for a kind
  raises ``ValueError`` at once: that is a programming error in this process, not an install
  problem.
"""
from __future__ import annotations

import importlib
import inspect
import logging
from functools import lru_cache
from importlib import metadata
from typing import Iterable

log = logging.getLogger(__name__)


class Registry(dict):
    """``kind -> class`` for one plugin group; a class decorator that refuses duplicates."""

    def __init__(self, what: str, group: str = "", base: str | type | None = None):
        super().__init__()
        self.what = what  # "channel" or "sink", for messages
        self.group = group  # the entry point group, e.g. "connector.sources"
        self.base = base  # the plugins' base class, or "module:Class" imported when first needed
        self.broken: dict[str, str] = {}  # kind -> why it is not registered
        self.origins: dict[str, str] = {}  # kind -> the entry point it came from

    def register(self, cls, origin: str = ""):
        """Register ``cls`` under its ``kind`` (usable as a class decorator); returns ``cls``.

        Registering the same class again is a no-op; a different class for a registered kind
        raises ``ValueError``.
        """
        kind = getattr(cls, "kind", None)
        if not kind:
            raise TypeError(f"{cls.__name__} has no 'kind'")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(cls.__abstractmethods__))
            raise TypeError(f"{self.what} {cls.__name__} does not implement {missing}")
        if kind in self and self[kind] is not cls:
            raise ValueError(f"{self.what} kind {kind!r} registered twice ({_qualname(self[kind])}, {_qualname(cls)})")
        self[kind] = cls
        if origin:
            self.origins[kind] = origin
        return cls

    def get_class(self, kind: str):
        """The class of ``kind``; ``KeyError`` saying why when it is unknown or its plugin is broken."""
        try:
            return self[kind]
        except KeyError:
            pass
        if kind in self.broken:
            raise KeyError(f"{self.what} kind {kind!r} is not available: {self.broken[kind]}") from None
        known = ", ".join(sorted(self)) or "none"
        raise KeyError(f"unknown {self.what} kind {kind!r} (known: {known})") from None

    def create(self, kind: str, name: str, options: dict, **kwargs):
        """Build the ``kind`` plugin named ``name`` with ``options`` (validated by its schema)."""
        return self.get_class(kind)(name, options, **kwargs)

    def load(self) -> "Registry":
        """Register every installed plugin of :attr:`group`, checked against :attr:`base`; returns ``self``.

        Loading again registers nothing twice and logs a broken plugin only once.
        """
        return self.load_entry_points()

    def base_class(self) -> type | None:
        """:attr:`base` as a class, importing its module the first time (``None``: any class)."""
        if isinstance(self.base, str):
            module, _, name = self.base.partition(":")
            self.base = getattr(importlib.import_module(module), name)
        return self.base

    def load_entry_points(self, entry_points: Iterable[metadata.EntryPoint] | None = None,
                          base: type | None = None) -> "Registry":
        """Register every plugin of :attr:`group` (or the given ``entry_points``); returns ``self``.

        ``base`` is the class every plugin must derive from (default: :meth:`base_class`). Broken
        and conflicting plugins are recorded in :attr:`broken` and logged, never raised (see the
        module docstring).
        """
        base = self.base_class() if base is None else base
        if entry_points is None:
            entry_points = discover(self.group)
            if not entry_points:
                self._refuse("*", f"no {self.group!r} entry points at all: is the connector installed"
                                  " ('pip install -e .' or scripts/setup.sh)?")
        by_kind: dict[str, dict[str, metadata.EntryPoint]] = {}
        for entry_point in entry_points:  # the same entry point found twice counts once
            by_kind.setdefault(entry_point.name, {}).setdefault(entry_point.value, entry_point)
        for kind, found in by_kind.items():
            classes = {}
            for entry_point in found.values():
                cls = self._load(entry_point, base)
                if cls is not None:
                    classes.setdefault(cls, entry_point)
            if len(classes) > 1:
                self.pop(kind, None)
                self._refuse(kind, "refused: claimed by " + " and ".join(describe(e) for e in classes.values()))
                continue
            if len(classes) == 1 and kind not in self.broken:
                cls, entry_point = next(iter(classes.items()))
                try:
                    self.register(cls, origin=describe(entry_point))
                except (TypeError, ValueError) as exc:
                    self._refuse(kind, f"{describe(entry_point)}: {exc}")
        return self

    def _load(self, entry_point: metadata.EntryPoint, base: type | None):
        """The class behind ``entry_point``, or ``None`` after recording why it is unusable."""
        try:
            cls = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - a third party's bug must not stop the other plugins
            self._refuse(entry_point.name, f"{describe(entry_point)} cannot be loaded: {type(exc).__name__}: {exc}")
            return None
        if not inspect.isclass(cls) or (base is not None and not issubclass(cls, base)):
            expected = f"a subclass of {_qualname(base)}" if base else "a class"
            self._refuse(entry_point.name, f"{describe(entry_point)} is not {expected}")
            return None
        if getattr(cls, "kind", None) != entry_point.name:
            self._refuse(entry_point.name, f"{describe(entry_point)} has kind {getattr(cls, 'kind', None)!r},"
                                           f" not the entry point's name {entry_point.name!r}")
            return None
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(cls.__abstractmethods__))
            self._refuse(entry_point.name, f"{describe(entry_point)} does not implement {missing}")
            return None
        return cls

    def _refuse(self, kind: str, reason: str) -> None:
        if self.broken.get(kind) != reason:  # once per process for the global registries
            log.error("%s plugin %r not registered: %s", self.what, kind, reason)
        self.broken[kind] = reason


SOURCES = Registry("channel", "connector.sources", base="connector.sources.base:Source")
SINKS = Registry("sink", "connector.sinks", base="connector.sinks.base:Sink")


@lru_cache(maxsize=None)
def discover(group: str) -> tuple[metadata.EntryPoint, ...]:
    """The installed entry points of ``group`` (read from the metadata once per process)."""
    return tuple(metadata.entry_points(group=group))


def describe(entry_point: metadata.EntryPoint) -> str:
    """``entry point 'rss = pkg.mod:Cls' (group connector.sources, from dist 1.0)``."""
    dist = getattr(entry_point, "dist", None)
    source = f", from {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point '{entry_point.name} = {entry_point.value}' (group {entry_point.group}{source})"


def _qualname(cls) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
