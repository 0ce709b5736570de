"""Midoffice connector: social media messages kept as records in case systems."""

__version__ = "0.1.0"
