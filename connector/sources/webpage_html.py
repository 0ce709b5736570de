"""Reading a captured HTML page with lxml: what it says about itself, what it links, its readable text.

The page is hostile input. lxml's HTML parser (libxml2) recovers from any markup and does not
fetch anything; comments and processing instructions are dropped. Nesting is flattened below
:data:`MAX_DEPTH` before the main content is sanitised (a page of 100,000 nested ``<div>`` would
otherwise keep the sanitiser busy for a minute), and text and HTML are bounded in size.
"""
from __future__ import annotations

import codecs
import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
from requests.utils import requote_uri

from ..htmltext import sanitize, to_text

MAX_DEPTH = 64
MAX_TEXT = 100_000          # characters of a message's text
MAX_HTML = 400_000          # characters of main content handed to the sanitiser
MAX_CANDIDATES = 2000       # resources a page may name (of which max_resources are fetched)
OEMBED_TYPES = ("application/json+oembed", "text/json+oembed")
_DROP = ("script", "style", "noscript", "template", "iframe", "object", "embed", "form", "svg", "math", "canvas",
         "nav", "button", "select", "textarea")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_BETWEEN_TAGS = re.compile(r">\s*\n\s*<")


@dataclass
class PageInfo:
    """What one HTML page says about itself; URLs are absolute (resolved against the page)."""

    title: str = ""
    description: str = ""
    site_name: str = ""
    author: str = ""
    canonical: str = ""
    published: str = ""
    modified: str = ""
    time: str = ""
    image: str = ""
    image_alt: str = ""
    oembed: str = ""
    language: str | None = None
    main_html: str = ""
    main_text: str = ""
    resources: list[tuple[str, str]] = field(default_factory=list)  # (url, what it is)


def decode(body: bytes, charset: str = "") -> str:
    """The page as text: the HTTP charset, else a BOM, else ``<meta charset>``, else UTF-8 when it
    is valid UTF-8, else Windows-1252 (what browsers assume)."""
    candidates = [charset]
    if body.startswith(codecs.BOM_UTF8):
        candidates.insert(0, "utf-8-sig")
    elif body[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        candidates.insert(0, "utf-16")
    found = _META_CHARSET.search(body[:4096])
    if found:
        candidates.append(found.group(1).decode("ascii", "replace"))
    for name in candidates:
        if not name:
            continue
        try:
            codecs.lookup(name)
            return body.decode(name, "replace")
        except LookupError:
            continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("windows-1252", "replace")


def parse_document(body: bytes, charset: str = ""):
    """The lxml root of ``body`` (``None`` for an empty document)."""
    text = _XML_DECL.sub("", decode(body, charset)).replace("\x00", "\ufffd")
    if not text.strip():
        return None
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, recover=True)
    try:
        return lxml.html.document_fromstring(text, parser=parser)
    except (lxml.etree.ParserError, ValueError):
        return None


def _meta(root, *names: str) -> str:
    """The first non-empty ``content`` of ``<meta name|property|itemprop=...>`` among ``names``."""
    wanted = [n.lower() for n in names]
    found: dict[str, str] = {}
    for meta in root.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        value = (meta.get("content") or "").strip()
        if key in wanted and value and key not in found:
            found[key] = value
    return next((found[n] for n in wanted if n in found), "")


def _http(url: str) -> str:
    return url if urlsplit(url).scheme.lower() in ("http", "https") else ""


def _absolute(base: str, href) -> str:
    """``href`` resolved against ``base``, as a browser would send it (unsafe characters
    percent-encoded); ``""`` for anything but http(s)."""
    if not isinstance(href, str) or not href.strip():
        return ""
    try:
        return _http(requote_uri(urljoin(base, href.strip()).split("#")[0]))
    except ValueError:
        return ""


def best_of_srcset(srcset: str) -> str:
    """The candidate with the largest width (``800w``) or density (``2x``) descriptor."""
    best, score = "", -1.0
    for candidate in (srcset or "").split(","):
        parts = candidate.strip().split()
        if not parts:
            continue
        value = 1.0
        if len(parts) > 1 and re.fullmatch(r"\d+(\.\d+)?[wx]", parts[1]):
            value = float(parts[1][:-1]) * (1 if parts[1].endswith("w") else 1000)
        if value > score:
            best, score = parts[0], value
    return best


def read_page(body: bytes, url: str, charset: str = "") -> PageInfo:
    """What the HTML page at ``url`` says; an unparseable page gives an empty :class:`PageInfo`."""
    root = parse_document(body, charset)
    info = PageInfo()
    if root is None:
        return info
    base = url
    for element in root.iter("base"):
        base = _absolute(url, element.get("href")) or url
        break
    info.title = " ".join((root.findtext(".//title") or "").split())
    info.title = info.title or _meta(root, "og:title", "twitter:title")
    info.description = _meta(root, "description", "og:description", "twitter:description")
    info.site_name = _meta(root, "og:site_name", "application-name")
    info.author = _meta(root, "author", "article:author", "dc.creator")
    if info.author.startswith(("http://", "https://")):
        info.author = ""  # article:author is often a profile URL, no name
    info.published = _meta(root, "article:published_time", "datepublished", "dc.date", "date", "pubdate")
    info.modified = _meta(root, "article:modified_time", "og:updated_time", "datemodified")
    info.image = _absolute(base, _meta(root, "og:image:secure_url", "og:image", "og:image:url", "twitter:image"))
    info.image_alt = _meta(root, "og:image:alt", "twitter:image:alt")
    lang = (root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or "").strip()
    info.language = lang.split("-")[0].lower()[:8] or None if re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9-]+)?", lang) \
        else None
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").strip().lower()
        if "canonical" in rel and not info.canonical:
            info.canonical = _absolute(base, link.get("href"))
        if "alternate" in rel and kind in OEMBED_TYPES and not info.oembed:
            info.oembed = _absolute(base, link.get("href"))
    info.resources = _resources(root, base, info.image)
    main = _main(root)
    if main is not None:
        for time in main.iter("time"):
            if time.get("datetime"):
                info.time = time.get("datetime").strip()
                break
        info.main_html, info.main_text = _content(main, base)
    return info


def _resources(root, base: str, image: str) -> list[tuple[str, str]]:
    """What the page needs to be seen as it was: og:image first, then styles, images, scripts, icons."""
    found: dict[str, str] = {}

    def add(href, what):
        absolute = _absolute(base, href) if len(found) < MAX_CANDIDATES else ""
        if absolute and absolute not in found:
            found[absolute] = what

    add(image, "og:image")
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        if "stylesheet" in rel:
            add(link.get("href"), "stylesheet")
    for img in root.iter("img"):
        add(best_of_srcset(img.get("srcset") or "") or img.get("src"), "image")
    for source in root.iter("source"):
        add(best_of_srcset(source.get("srcset") or ""), "image")
    for video in root.iter("video"):
        add(video.get("poster"), "image")
    for script in root.iter("script"):
        add(script.get("src"), "script")
    for link in root.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        if {"icon", "apple-touch-icon", "mask-icon"} & set(rel):
            add(link.get("href"), "icon")
    return list(found.items())


def _main(root):
    """The page's main content: ``<main>``, else ``<article>``, else ``role=main``, else ``<body>``."""
    for path in ("//main", "//article", "//*[@role='main']", "//body"):
        found = root.xpath(path)
        if found:
            return found[0]
    return root


def _flatten(element) -> None:
    """Unwrap every element nested deeper than :data:`MAX_DEPTH` (its text is kept)."""
    stack, deep = [(element, 0)], []
    while stack:
        node, depth = stack.pop()
        for child in node:
            if not isinstance(child.tag, str):
                continue
            if depth + 1 > MAX_DEPTH:
                deep.append(child)
            stack.append((child, depth + 1))
    for node in deep:
        node.drop_tag()


def _content(main, base: str) -> tuple[str, str]:
    """(sanitised HTML, plain text) of the main content, scripts, styles and forms dropped."""
    main = copy.deepcopy(main)  # the page itself stays whole
    for bad in [e for e in main.iter() if isinstance(e.tag, str) and e.tag.lower() in _DROP]:
        bad.drop_tree()
    _flatten(main)
    try:
        main.make_links_absolute(base, resolve_base_href=False, handle_failures="discard")
    except ValueError:
        pass
    html = lxml.html.tostring(main, encoding="unicode")
    clean = _BETWEEN_TAGS.sub(">\n<", sanitize(html[:MAX_HTML])).strip()  # indentation is no content
    return clean, to_text(clean)[:MAX_TEXT]


def parse_date(text: str) -> datetime | None:
    """An ISO 8601 date or date-time from a page (naive: UTC); ``None`` for anything else."""
    from ..message import parse_iso

    text = (text or "").strip()
    if not text or len(text) > 40:
        return None
    try:
        return parse_iso(text)
    except ValueError:
        return None
