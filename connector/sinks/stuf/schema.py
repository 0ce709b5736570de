"""The official StUF-ZDS schemas, loaded with lxml despite their several imports per namespace.

Every body the StUF sink sends is validated against the XSDs of its dialect first; a body that
does not validate is a bug in the connector, reported as such and never sent.

The schemas ship with the connector (:mod:`connector.stufdata`, copied unchanged from the KING/VNG
bundles). They cannot be handed to libxml2 as they are: StUF imports one namespace (StUF0301,
ZKN, BG) from several files, and libxml2 follows only the first ``xs:import`` per namespace and
skips the others, so types defined in the skipped files "do not resolve". The loader therefore:

1. reads every file reachable from the dialect's message schemas (imports and includes);
2. serves each file, through an lxml :class:`~lxml.etree.Resolver`, with every ``xs:import``
   pointed at one *aggregate* schema per namespace, which ``xs:include`` s every file of that
   namespace (libxml2 includes each file once, however many times it is named);
3. compiles the aggregate of the message namespace.

Whichever import of a namespace libxml2 meets first, it gets all of it. Compiling takes about a
quarter of a second per dialect; it is done once per process and dialect, on first use.
"""
from __future__ import annotations

import functools
import threading
from collections import deque
from pathlib import Path
from urllib.parse import quote

from lxml import etree

from ... import stufdata

XS = "http://www.w3.org/2001/XMLSchema"
_IMPORT, _INCLUDE = f"{{{XS}}}import", f"{{{XS}}}include"

_LOCK = threading.Lock()


class SchemaError(RuntimeError):
    """A body does not validate: the connector built it wrong (a bug), so it is not sent."""


def _aggregate(namespace: str) -> str:
    return f"stuf-aggregate:{quote(namespace, safe='')}"


def _closure(entries) -> dict[Path, etree._ElementTree]:
    trees: dict[Path, etree._ElementTree] = {}
    queue = deque(path.resolve() for path in entries)
    while queue:
        path = queue.popleft()
        if path in trees:
            continue
        trees[path] = etree.parse(str(path))
        for element in trees[path].getroot():
            if element.tag in (_IMPORT, _INCLUDE) and element.get("schemaLocation"):
                queue.append((path.parent / element.get("schemaLocation")).resolve())
    return trees


class _Resolver(etree.Resolver):
    def __init__(self, served: dict[str, bytes]):
        super().__init__()
        self.served = served

    def resolve(self, url, pubid, context):
        if url in self.served:  # anything else (the network) is never fetched
            return self.resolve_string(self.served[url], context,
                                       base_url=url if url.startswith("file:") else None)
        return None


def compile_schemas(*entries: Path) -> etree.XMLSchema:
    """One :class:`~lxml.etree.XMLSchema` of the message schemas ``entries`` (first one's namespace)."""
    trees = _closure(entries)
    served: dict[str, bytes] = {}
    files_of: dict[str, list[Path]] = {}
    for path, tree in trees.items():
        root = tree.getroot()
        files_of.setdefault(root.get("targetNamespace") or "", []).append(path)
        for element in root:
            if element.tag == _IMPORT and element.get("namespace"):
                element.set("schemaLocation", _aggregate(element.get("namespace")))
        served[path.as_uri()] = etree.tostring(root)
    for namespace, paths in files_of.items():
        aggregate = etree.Element(f"{{{XS}}}schema", targetNamespace=namespace)
        for path in paths:
            etree.SubElement(aggregate, _INCLUDE, schemaLocation=path.as_uri())
        served[_aggregate(namespace)] = etree.tostring(aggregate)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    parser.resolvers.add(_Resolver(served))
    namespace = trees[Path(entries[0]).resolve()].getroot().get("targetNamespace")
    root = etree.fromstring(served[_aggregate(namespace)], parser, base_url="file:///stuf-entry.xsd")
    return etree.XMLSchema(etree.ElementTree(root))


@functools.lru_cache(maxsize=None)
def schema(dialect: str) -> etree.XMLSchema:
    """The compiled schemas of ``dialect`` (``"1.1"`` or ``"1.2"``), once per process."""
    with _LOCK:
        return compile_schemas(*stufdata.ENTRIES[dialect])


def validate(dialect: str, element: etree._Element) -> None:
    """Raise :class:`SchemaError` naming the first problems unless ``element`` is valid."""
    checker = schema(dialect)
    with _LOCK:  # an XMLSchema's error log is per object: one validation at a time
        if checker.validate(etree.ElementTree(element)):
            return
        errors = [f"line {e.line}: {e.message}" for e in list(checker.error_log)[:3]]
    raise SchemaError(f"{etree.QName(element).localname} does not validate against the StUF-ZDS {dialect}"
                      f" schemas: {'; '.join(errors)}")
