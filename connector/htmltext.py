"""HTML from platforms: sanitised for display, flattened to plain text for rules and search.

Platform HTML is hostile input. :func:`sanitize` keeps a small allow-list of formatting tags
(nh3, the Rust ammonia sanitizer: maintained, fast, no regex games) and forces links to be
``rel="nofollow noopener noreferrer"``. :func:`to_text` turns HTML into readable plain text with
paragraph and line breaks preserved.
"""
from __future__ import annotations

import re

import lxml.html
import nh3

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "u", "ul", "img",
    "figure", "figcaption", "table", "thead", "tbody", "tr", "th", "td",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}
URL_SCHEMES = {"http", "https", "mailto"}

_BLOCK = {"p", "div", "li", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "figure",
          "ul", "ol", "table"}


def sanitize(html: str) -> str:
    """Safe HTML for display: allow-listed tags and attributes, no scripts, styles or handlers."""
    if not html:
        return ""
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes=URL_SCHEMES, link_rel="nofollow noopener noreferrer")


def to_text(html: str) -> str:
    """Plain text of an HTML fragment: block elements become line breaks, whitespace collapsed."""
    if not html or not html.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except Exception:  # lxml raises several types on garbage; fall back to tag stripping
        return _collapse(re.sub(r"<[^>]+>", " ", html))
    for bad in root.xpath("//script|//style"):
        bad.drop_tree()
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCK:
            element.tail = "\n\n" + (element.tail or "")
    return _collapse(root.text_content())


def _collapse(text: str) -> str:
    lines = [re.sub(r"[ \t\r\f\v\u00a0]+", " ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
