"""Where each entry of a feed stands in the bytes received: the exact span of every item/entry.

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
UTF-16. The caller then falls back (see :mod:`connector.sources.rss`).
"""
from __future__ import annotations

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
