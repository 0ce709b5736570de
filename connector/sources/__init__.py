"""Channel sources, one module per platform, found through the ``connector.sources`` entry points.

This package never imports a platform module by name: :func:`load_all` loads whatever the
installed distributions declare (see :mod:`connector.registry`), the built-in ``mastodon`` and
``rss`` sources exactly like a third party's. The process-wide registry ``SOURCES`` lives in
:mod:`connector.registry` (the core loads it from there, ``SOURCES.load()``); it is re-exported
here for plugins and tests.
"""
from ..registry import Registry
from .base import SOURCES, Deletion, Page, ParseError, Quarantined, Source  # noqa: F401

GROUP = SOURCES.group


def load_all(registry: Registry | None = None, entry_points=None) -> Registry:
    """Load every installed source into ``registry`` (default: the process-wide ``SOURCES``).

    Tests pass a fresh ``Registry("channel", GROUP)`` and, to add or break plugins, their own
    ``entry_points``; the global registry is then left alone.
    """
    registry = SOURCES if registry is None else registry
    return registry.load_entry_points(entry_points, base=Source)
