"""Validation of every MDTO document against the MDTO-XML 1.0.1 schema bundled with the connector.

The schema is package data (``connector/mdto/MDTO-XML1.0.1.xsd``, a byte-identical copy of the
Nationaal Archief's, CC BY-SA): the connector never fetches it and never reads outside its package.
A document the builder made that the schema refuses is a bug in the connector, not in the message:
:func:`validate` raises :class:`MdtoInvalid` naming the schema's error, and nothing is written.
"""
from __future__ import annotations

import threading
from importlib import resources

from lxml import etree

XSD_NAME = "MDTO-XML1.0.1.xsd"
NAMESPACE = "https://www.nationaalarchief.nl/mdto"
SCHEMA_LOCATION = f"{NAMESPACE} {NAMESPACE}/{XSD_NAME}"


class MdtoInvalid(ValueError):
    """A document the MDTO schema refuses; ``errors`` are the schema's messages (line: message)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = "; ".join(errors[:5]) + (f" (and {len(errors) - 5} more)" if len(errors) > 5 else "")
        super().__init__(f"MDTO document invalid against {XSD_NAME}: {shown}")


def xsd_bytes() -> bytes:
    """The bundled schema, as shipped."""
    return resources.files(__package__).joinpath(XSD_NAME).read_bytes()


_local = threading.local()


def schema() -> etree.XMLSchema:
    """The compiled schema, one per thread (an lxml schema object keeps its error log: not shared)."""
    compiled = getattr(_local, "schema", None)
    if compiled is None:
        # no network, no entities: the schema imports nothing
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        compiled = _local.schema = etree.XMLSchema(etree.fromstring(xsd_bytes(), parser))
    return compiled


def validate(document: etree._Element | etree._ElementTree | bytes) -> None:
    """Raise :class:`MdtoInvalid` unless ``document`` (a tree, or serialised bytes) is valid MDTO."""
    if isinstance(document, bytes):
        try:
            document = etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            raise MdtoInvalid([f"not well-formed XML: {exc}"]) from None
    checker = schema()
    if not checker.validate(document):
        # the schema's own words, without the namespace in every element name; a line when parsed from bytes
        raise MdtoInvalid([(f"line {e.line}: " if e.line else "") + e.message.replace(f"{{{NAMESPACE}}}", "")
                           for e in checker.error_log])
