"""Channel sources, one module per platform. Importing this package registers them all."""
from .base import SOURCES, Page, ParseError, Quarantined, Source  # noqa: F401


def load_all():
    """Import every source module so each registers itself."""
    from . import mastodon, rss  # noqa: F401
    return SOURCES
