"""Sinks, one module per target system. Importing this package registers them all."""
from .base import SINKS, Delivered, Document, MemorySteps, Sink, Steps  # noqa: F401


def load_all():
    from . import zgw  # noqa: F401
    return SINKS
