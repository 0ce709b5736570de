"""The StUF-ZDS schemas, compiled with lxml despite StUF's several imports per namespace.

The trap: libxml2 honours only the *first* ``xs:import`` of a namespace in a whole schema set; later
imports of the same namespace from another file are skipped silently. StUF imports its own
namespace (``StUF0301``) and the sector namespaces (ZKN, BG) from several files, each adding types,
so loading ``zkn0310_msg_zs-dms.xsd`` as it is fails (``... does not resolve``).

The loader here:

1. reads every ``.xsd`` of the dialect's folder in ``connector/stufdata`` (the bundle holds exactly
   the closure of the message schemas) and groups the files by ``targetNamespace``;
2. serves, per namespace, an *aggregate* schema (generated with lxml) that ``xs:include``\\ s every
   file of that namespace;
3. rewrites, in memory, every ``xs:import`` in every file to point at the aggregate of the imported
   namespace, and every ``xs:include`` to the absolute address of the included file. Whichever
   import libxml2 meets first, it is the aggregate, so it sees all files of that namespace;
4. compiles one entry schema that imports every aggregate, through an ``etree.Resolver`` that
   serves the aggregates and the rewritten files (and nothing from the network).

The files on disk stay unchanged. Compiled schemas are cached per process and dialect; validating
goes through a lock per dialect (an lxml schema keeps its error log on itself).
"""
from __future__ import annotations

import threading
from collections import defaultdict
from importlib import resources
from pathlib import Path

from lxml import etree

XS = "http://www.w3.org/2001/XMLSchema"
FOLDERS = {"1.1": "zds1.1.02", "1.2": "zds1.2"}
DIALECTS = tuple(FOLDERS)
_SCHEME = "stuf-schema:"

_compiled: dict[str, etree.XMLSchema] = {}
_locks = {dialect: threading.Lock() for dialect in FOLDERS}
_compiling = threading.Lock()


def folder(dialect: str) -> Path:
    """The dialect's schema folder in the connector's package data."""
    if dialect not in FOLDERS:
        raise ValueError(f"unknown StUF-ZDS dialect {dialect!r}; known: {', '.join(FOLDERS)}")
    return Path(str(resources.files("connector.stufdata") / FOLDERS[dialect]))


class _Served(etree.Resolver):
    """Answers exactly the documents of one schema set; anything else is refused."""

    def __init__(self, documents: dict[str, bytes]):
        super().__init__()
        self.documents = documents

    def resolve(self, url, pubid, context):
        if url in self.documents:
            return self.resolve_string(self.documents[url], context, base_url=url)
        raise etree.XMLSchemaParseError(f"StUF schema loader: no document {url!r} in the bundle")


def _documents(base: Path) -> dict[str, bytes]:
    """URL -> schema bytes: every file under ``base`` rewritten, the aggregates and the entry."""
    trees = {path: etree.parse(str(path)) for path in sorted(base.rglob("*.xsd"))}
    by_namespace: dict[str, list[Path]] = defaultdict(list)
    for path, tree in trees.items():
        by_namespace[tree.getroot().get("targetNamespace") or ""].append(path)
    aggregate = {ns: f"{_SCHEME}aggregate/{i}.xsd" for i, ns in enumerate(by_namespace)}
    documents = {}
    for path, tree in trees.items():
        root = tree.getroot()
        for node in root.iter(f"{{{XS}}}import"):
            namespace = node.get("namespace") or ""
            if namespace not in aggregate:
                raise ValueError(f"{path}: imports {namespace!r}, which no schema in {base} defines")
            node.set("schemaLocation", aggregate[namespace])
        for node in root.iter(f"{{{XS}}}include", f"{{{XS}}}redefine"):
            node.set("schemaLocation", (path.parent / node.get("schemaLocation")).resolve().as_uri())
        documents[path.resolve().as_uri()] = etree.tostring(root)
    for namespace, paths in by_namespace.items():
        schema = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
        if namespace:
            schema.set("targetNamespace", namespace)
        for path in paths:
            etree.SubElement(schema, f"{{{XS}}}include", schemaLocation=path.resolve().as_uri())
        documents[aggregate[namespace]] = etree.tostring(schema)
    entry = etree.Element(f"{{{XS}}}schema", nsmap={"xs": XS})
    for namespace, url in aggregate.items():
        etree.SubElement(entry, f"{{{XS}}}import", namespace=namespace, schemaLocation=url)
    documents[f"{_SCHEME}entry.xsd"] = etree.tostring(entry)
    return documents


def schema(dialect: str) -> etree.XMLSchema:
    """The compiled schema set of ``dialect`` (``"1.1"`` or ``"1.2"``), compiled once per process."""
    if dialect in _compiled:
        return _compiled[dialect]
    with _compiling:
        if dialect not in _compiled:
            documents = _documents(folder(dialect))
            parser = etree.XMLParser(no_network=True, resolve_entities=False)
            parser.resolvers.add(_Served(documents))
            url = f"{_SCHEME}entry.xsd"
            entry = etree.fromstring(documents[url], parser, base_url=url)
            _compiled[dialect] = etree.XMLSchema(etree.ElementTree(entry))
    return _compiled[dialect]


def errors(element, dialect: str) -> list[str]:
    """Validation errors of ``element`` (a message root, e.g. the payload of a SOAP body) as
    ``line N: message``; empty when it is valid. The element is validated where it is, not copied."""
    compiled = schema(dialect)
    with _locks[dialect]:
        if compiled.validate(element):
            return []
        return [f"line {e.line}: {e.message}" for e in compiled.error_log]

