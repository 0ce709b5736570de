"""The official StUF-ZDS schemas, for validating the SOAP bodies of a StUF sink (and the StUF test double).

Two dialects of the koppelvlak "Zaak- en Documentservices" (ZDS), each in its own folder with the
folder layout of its bundle, so that every relative ``schemaLocation`` resolves:

* ``zds1.1.02/``: ZDS 1.1.02 (body roots in the ZKN namespace, ``ZKN:edcLk01``, ...);
* ``zds1.2/``: ZDS 1.2, patch 2017 Q1 (body roots in the ZDS namespace, ``ZDS:voegZaakdocumentToe_EdcLk01``, ...).

Only the ``.xsd`` files the message schemas of each dialect reach through ``xs:import``/``xs:include``
(transitively) are here: the main message schema and, for 1.1, the two the zs-dms WSDLs import besides it
(in ZDS 1.1 ``zakLk01``, ``edcLk01``, ``zakLv01`` and ``zakLa01`` are not in the main schema, which holds
only the vrije berichten). They are copied unchanged by ``scripts/stufdata_copy.py`` from the KING/VNG bundles as
kept in wearefrank/zaakbrug (see ``SOURCES.md`` and the reference material's ``specs/stuf/README.md``).

Loading them with lxml takes care: libxml2 follows only the first ``xs:import`` of a namespace, and StUF
imports its namespaces from several files. Parse :data:`ZDS_1_1` or :data:`ZDS_1_2` directly and some
types do not resolve; see ``connector_doubles.stuf.schemas`` for a loader that works.

Licence: the StUF and ZDS schemas are the open standard of KING/VNG (published without a licence
header); GML 3.1.1 is OGC's (OGC document licence, see the files' headers), ``xml.xsd``, ``xlink.xsd``
and ``xmlmime.xsd`` are W3C's (W3C document licence).
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
# the main message schema of each dialect
ZDS_1_1 = HERE / "zds1.1.02" / "zkn0310" / "zs-dms" / "zkn0310_msg_zs-dms.xsd"
ZDS_1_2 = HERE / "zds1.2" / "zds0120" / "berichten" / "zds0120_msg_zs-dms.xsd"
# every message schema of each dialect: the main one first, then the others its WSDLs import
ENTRIES = {
    "1.1": (ZDS_1_1, HERE / "zds1.1.02" / "zkn0310" / "mutatie" / "zkn0310_msg_mutatie.xsd",
            HERE / "zds1.1.02" / "zkn0310" / "vraagAntwoord" / "zkn0310_msg_vraagAntwoord.xsd"),
    "1.2": (ZDS_1_2,),
}
