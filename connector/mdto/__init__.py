"""MDTO (Metagegevens voor duurzaam toegankelijke overheidsinformatie) 1.0.1 metadata of records.

A core package: it works on the :class:`~connector.record.Record` and the
:class:`~connector.routing.Routing` only (no source, sink, web or cli import), so any sink can use it.

* :func:`sidecars`: every MDTO document of a record with its SIP file name: the informatieobject of
  the message (``<naam>.MDTO.xml``) and one bestand per file (``<bestandsnaam>.bestand.MDTO.xml``);
* :func:`informatieobject`, :func:`bestand`: one document each, as validated UTF-8 bytes;
* :class:`Organisatie`, :class:`Verwijzing`: what the organisation says of all its records;
* :func:`validate`, :class:`MdtoInvalid`: the check against the bundled MDTO-XML 1.0.1 schema that
  every document passes before it is returned;
* :func:`~connector.mdto.formats.identify`: a file's bestandsformaat (PRONOM PUID where known).
"""
from .build import (Organisatie, Sidecar, Verwijzing, bestand, bestand_tree, informatieobject,
                    informatieobject_tree, kenmerk, object_name, serialise, sidecars)
from .formats import Format, identify
from .validate import XSD_NAME, MdtoInvalid, validate, xsd_bytes

__all__ = ["Format", "MdtoInvalid", "Organisatie", "Sidecar", "Verwijzing", "XSD_NAME", "bestand", "bestand_tree",
           "identify", "informatieobject", "informatieobject_tree", "kenmerk", "object_name", "serialise",
           "sidecars", "validate", "xsd_bytes"]
