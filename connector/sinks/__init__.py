"""Sinks, one module per target system, found through the ``connector.sinks`` entry points.

This package never imports a sink module by name: :func:`load_all` loads whatever the installed
distributions declare (see :mod:`connector.registry`), the built-in ``zgw`` sink exactly like a
third party's. The process-wide registry ``SINKS`` lives in :mod:`connector.registry` (the core
loads it from there, ``SINKS.load()``); it is re-exported here for plugins and tests.
"""
from ..registry import Registry
from .base import SINKS, Delivered, Document, MemorySteps, Sink, Steps, ZaakSummary  # noqa: F401

GROUP = SINKS.group


def load_all(registry: Registry | None = None, entry_points=None) -> Registry:
    """Load every installed sink into ``registry`` (default: the process-wide ``SINKS``)."""
    registry = SINKS if registry is None else registry
    return registry.load_entry_points(entry_points, base=Sink)
