"""The bytes of a feed: where each entry stands in them, and a copy feedparser can read.

feedparser and lxml give parsed entries, not bytes, and re-serialising an element changes them
(quoting, namespace declarations, character references, and U+FFFD for a byte that was not valid
UTF-8). The original kept in the case system must be what the feed sent, so :func:`entry_spans`
finds each entry element's start and end in the document itself. A small tokenizer walks the
markup: it skips comments, CDATA sections, processing instructions and the DOCTYPE (so an
``<item>`` written inside them is not one), reads quoted attribute values (a ``>`` in them does
not end the tag), tracks namespace declarations and nesting, and takes the *outermost*
``item``/``entry`` elements in a feed namespace, whatever their prefix, self-closing ones too.
It works on the bytes of any ASCII-compatible encoding; a byte that is not valid UTF-8 does not
disturb it.

It gives up, returning ``None``, on anything it cannot read with certainty: a ``<`` that starts
no markup, an end tag that does not match its start tag, an element never closed, a document in
UTF-16. The caller then keeps the whole response as each entry's original (see
:mod:`connector.sources.rss`).

:func:`readable` and :func:`illegal_references` prepare the copy given to feedparser: stray bytes
that are not UTF-8 read as Windows-1252 in that entry only, and character references XML forbids
(``&#xD800;``, on which feedparser crashes) made U+FFFD, with their offsets so that the entries
holding them can be quarantined.
"""
from __future__ import annotations

import codecs
import re

# the namespaces whose item/entry elements are feed entries (None: no namespace, RSS 0.9x/2.0)
ENTRY_NAMESPACES = {None, "http://www.w3.org/2005/Atom", "http://purl.org/atom/ns#",
                    "http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"}
_ENTRY_NAMES = {b"item", b"entry"}

_MARKUP = re.compile(rb"""<(?:
      !--.*?-->                                 # comment
    | !\[CDATA\[.*?\]\]>                        # CDATA section
    | \?.*?\?>                                  # processing instruction, XML declaration
    | !DOCTYPE[^\[>]*(?:\[.*?\])?\s*>           # document type, with an internal subset
    | (?P<end>/)?(?P<name>[^\s/>!?"'<=]+)       # a start or end tag ...
      (?P<attrs>(?:[^>"']|"[^"]*"|'[^']*')*)>   # ... its attributes, quoted values may hold '>'
    )""", re.S | re.X)
_XMLNS = re.compile(rb"""xmlns(?::([^\s=]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XML_ENCODING = re.compile(rb"""\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", re.I)
_STRAY = "connector.stray-cp1252"
_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _stray_bytes(exc: UnicodeDecodeError) -> tuple[str, int]:
    # a byte that is not UTF-8 in a UTF-8 feed is nearly always Windows-1252 (Latin-1) text
    chunk = exc.object[exc.start:exc.end]
    return bytes(chunk).decode("cp1252", "replace"), exc.end


codecs.register_error(_STRAY, _stray_bytes)


def entry_spans(data: bytes) -> list[tuple[int, int]] | None:
    """``(start, end)`` byte offsets of every feed entry element in document order, or ``None``.

    ``data[start:end]`` is the element from its ``<`` to the ``>`` of its end tag.
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:64]:
        return None  # UTF-16/32: not ASCII-compatible
    spans: list[tuple[int, int]] = []
    # open elements: (qualified name, namespace map in force, is it the entry being read)
    stack: list[tuple[bytes, dict, bool]] = []
    entry_start = -1
    position = 0
    while True:
        lt = data.find(b"<", position)
        if lt < 0:
            break
        match = _MARKUP.match(data, lt)
        if match is None:
            return None
        position = match.end()
        name = match.group("name")
        if name is None:
            continue  # comment, CDATA, processing instruction, DOCTYPE
        if match.group("end"):
            if not stack or stack[-1][0] != name:
                return None
            _, _, is_entry = stack.pop()
            if is_entry:
                spans.append((entry_start, position))
                entry_start = -1
            continue
        attrs = match.group("attrs")
        namespaces = _declared(attrs, stack[-1][1] if stack else {})
        is_entry = entry_start < 0 and _is_entry(name, namespaces)
        if attrs.rstrip().endswith(b"/"):
            if is_entry:
                spans.append((lt, position))
            continue
        if is_entry:
            entry_start = lt
        stack.append((name, namespaces, is_entry))
    return spans if not stack else None


def _declared(attrs: bytes, inherited: dict) -> dict:
    """The namespace map in force inside an element with these attributes."""
    if b"xmlns" not in attrs:
        return inherited
    namespaces = dict(inherited)
    for prefix, double, single in _XMLNS.findall(attrs):
        uri = (double or single).decode("latin-1")
        namespaces[prefix or None] = uri or None
    return namespaces


def _is_entry(name: bytes, namespaces: dict) -> bool:
    prefix, _, local = name.rpartition(b":")
    if local not in _ENTRY_NAMES:
        return False
    return namespaces.get(prefix or None) in ENTRY_NAMESPACES


def illegal_references(data: bytes, copy: bytes) -> tuple[bytes, list[tuple[int, bytes]]]:
    """``copy`` (of ``data``) with character references to lone surrogates or beyond U+10FFFF made U+FFFD.

    XML forbids them (feedparser crashes on them), so the entries holding them are quarantined;
    the offsets (in ``data``) and texts of the references tell which. Replacing them lets the
    rest of the feed be read.
    """
    found = [(m.start(), m.group()) for m in _CHAR_REF.finditer(data) if not _is_char(m)]
    if not found:
        return copy, []
    return _CHAR_REF.sub(lambda m: m.group() if _is_char(m) else b"&#xFFFD;", copy), found


def _is_char(match: re.Match) -> bool:
    code = int(match.group(1), 16) if match.group(1) else int(match.group(2))
    return code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF


def readable(data: bytes, content_type: str) -> bytes:
    """The document as feedparser should read it: stray non-UTF-8 bytes of a UTF-8 feed made readable.

    Only for a document that is (or says nothing else than) UTF-8; the others are left alone.
    """
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data
    declared = _XML_ENCODING.match(data)
    charset = _CHARSET.search(content_type or "")
    for found in (declared and declared.group(1).decode("ascii"), charset and charset.group(1)):
        if found and found.lower().replace("_", "-") not in ("utf-8", "utf8"):
            return data
    return data.decode("utf-8", _STRAY).encode("utf-8")
