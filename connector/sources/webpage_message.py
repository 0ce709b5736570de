"""A captured web page as a channel-neutral :class:`~connector.message.Message`.

* ``id`` and ``url``: the canonical URL (``<link rel=canonical>`` when it is on the same host,
  ``www.`` aside, under the same first path segment; else the final URL), normalised: lower-case scheme and host, no default port, no
  fragment, ``/`` for an empty path, tracking parameters (``utm_*``, ``fbclid``, ``gclid``) dropped.
* ``version``: the first 16 hex digits of the SHA-256 of the page's body (decoded), so an unchanged
  page is the same version and a changed one a new version.
* ``author``: oEmbed's ``author_name``/``author_url``, else ``<meta name=author>`` or
  ``og:site_name``; its ``handle`` is the site's host.
* ``created_at``: ``article:published_time`` (or a similar meta), oEmbed's ``upload_date``, the
  main content's first ``<time datetime>``, else the first capture's time. A date outside what a
  page can have published (before 1990, after the capture) is passed over, never a reason to
  quarantine the capture. ``edited_at``: ``article:modified_time`` where given, else for a changed
  page the capture's time.
* ``text``: oEmbed title, page title, description and the main content's text; ``html``: the main
  content sanitised; ``attachments``: ``og:image`` and oEmbed's ``thumbnail_url`` (or ``url`` of a
  ``photo``). A page that is no HTML (a PDF, an image) is described by its title or file name.
"""
from __future__ import annotations

import hashlib
import mimetypes
import re
from datetime import datetime
from html import escape
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ..htmltext import sanitize
from ..media.policy import normal_host
from ..message import EARLIEST, FUTURE_SLACK, Attachment, Author, Message, Raw
from .webpage_html import MAX_TEXT, PageInfo, parse_date, read_page

HTML_TYPES = ("text/html", "application/xhtml+xml")
_TRACKING = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|mc_cid|mc_eid)$", re.I)
_PDF_TITLE = re.compile(rb"/Title\s*\(((?:\\.|[^\\)]){1,300})\)")


def version_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


def normalise_url(url: str) -> str:
    """``url`` in the form used as a message id (see the module docstring); ``""`` if not http(s)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = normal_host(parts.hostname or "")
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return ""
    netloc = f"[{host}]" if ":" in host else host
    if port and port != {"http": 80, "https": 443}[scheme]:
        netloc += f":{port}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_TRACKING.match(name) for name, _ in pairs):
            query = urlencode([(name, value) for name, value in pairs if not _TRACKING.match(name)])
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))


def _site(url: str) -> tuple[str, str]:
    """(host without ``www.``, first path segment): what a canonical link must share with the page."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return host[4:] if host.startswith("www.") else host, parts.path.lstrip("/").split("/")[0].lower()


def canonical_id(canonical: str, final_url: str) -> str:
    """The page's identity: its canonical link when on the same site, else its final URL.

    "The same site" is the same host (``www.`` aside) *and* the same first path segment: on a
    shared host (``medium.com/@someone``) a page must not pass itself off as another account's.
    """
    final = normalise_url(final_url)
    wanted = normalise_url(canonical) if canonical else ""
    if wanted and _site(wanted) == _site(final):
        return wanted
    return final


def is_html(media_type: str, body: bytes) -> bool:
    if media_type in HTML_TYPES:
        return True
    if media_type in ("", "application/octet-stream", "text/plain"):
        return bool(re.search(rb"<(!doctype\s+html|html[\s>])", body[:2048], re.I))
    return False


def _plausible(value: datetime | None, fetched_at: datetime) -> datetime | None:
    if value is None or value < EARLIEST or value > fetched_at + FUTURE_SLACK:
        return None
    return value


def _text(value) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _http(value) -> str:
    return value if isinstance(value, str) and urlsplit(value).scheme.lower() in ("http", "https") else ""


def _image(url: str, description: str = "") -> Attachment:
    guessed = mimetypes.guess_type(urlsplit(url).path)[0] or ""
    return Attachment(url=url, media_type=guessed if guessed.startswith("image/") else "image/*",
                      description=description)


def page_message(*, channel: str, final_url: str, body: bytes, media_type: str, charset: str, headers: dict,
                 oembed: dict | None, fetched_at: datetime, raw: Raw | None, first_seen: datetime | None = None,
                 changed: bool = False, info: PageInfo | None = None) -> Message:
    """The message of one captured page (see the module docstring); ``info``: the page as read already."""
    oembed = oembed if isinstance(oembed, dict) else {}
    html_page = is_html(media_type, body)
    info = info or page_info(final_url, body, media_type, charset)
    message_id = canonical_id(info.canonical, final_url)
    if not message_id:
        raise ValueError(f"the page's URL {final_url[:200]!r} is not an http(s) URL")
    host = urlsplit(message_id).hostname or ""
    if not html_page:
        info.title = _file_title(body, media_type, headers, final_url)
    o_title, o_author, o_author_url = _text(oembed.get("title")), _text(oembed.get("author_name")), \
        _http(oembed.get("author_url"))
    if o_author:
        author = Author(id=o_author_url or o_author, handle=host, name=o_author)
    else:
        name = info.author or info.site_name or _text(oembed.get("provider_name")) or host
        author = Author(id=host, handle=host, name=name)
    created = None
    for candidate in (info.published, _text(oembed.get("upload_date")), info.time):
        created = _plausible(parse_date(candidate), fetched_at)
        if created:
            break
    created = created or first_seen or fetched_at
    edited = _plausible(parse_date(info.modified), fetched_at)
    if edited is not None and edited <= created:
        edited = None
    if edited is None and changed:
        edited = fetched_at
    parts: list[str] = []
    for part in (info.title, o_title, info.description):  # each once, and not when the main text has it
        if part and not any(part in other for other in (*parts, info.main_text)):
            parts.append(part)
    parts.append(info.main_text)
    text = "\n\n".join(p for p in parts if p)[:MAX_TEXT]
    pieces = []
    if o_title:
        provider = _text(oembed.get("provider_name"))
        pieces.append(f'<p><a href="{escape(message_id)}">{escape(o_title)}</a>'
                      + (f" ({escape(provider)})" if provider else "") + "</p>")
    if info.main_html.strip():
        pieces.append(info.main_html)
    else:
        pieces.append(f"<h1>{escape(info.title)}</h1>" if info.title else "")
        pieces.append(f"<p>{escape(info.description)}</p>" if info.description else "")
    attachments: list[Attachment] = []
    if info.image:
        attachments.append(_image(info.image, info.image_alt or info.title))
    for key in ("thumbnail_url",) + (("url",) if oembed.get("type") == "photo" else ()):
        found = _http(oembed.get(key))
        if found and found not in [a.url for a in attachments]:
            attachments.append(_image(found, o_title))
    if not html_page and media_type.startswith("image/"):
        attachments.append(Attachment(url=final_url, media_type=media_type, description=info.title))
    return Message(
        channel=channel, id=message_id, kind="post", author=author, created_at=created, edited_at=edited,
        text=text, html=sanitize("".join(pieces)), url=message_id, thread_id=message_id,
        language=info.language, attachments=tuple(attachments), version=version_of(body), raw=raw)


def _file_title(body: bytes, media_type: str, headers: dict, url: str) -> str:
    """A document's title (a PDF's ``/Title``), else its file name, else its host."""
    if media_type == "application/pdf":
        found = _PDF_TITLE.search(body[:4 * 1024 * 1024])
        if found:
            raw = found.group(1).replace(rb"\(", b"(").replace(rb"\)", b")")
            text = raw.decode("utf-16") if raw.startswith(b"\xfe\xff") else raw.decode("latin-1")
            text = " ".join(text.replace("\x00", "").split())
            if text:
                return text
    disposition = headers.get("content-disposition") or ""
    named = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)", disposition, re.I)
    name = unquote(named.group(1)) if named else unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    return " ".join(name.split()) or (urlsplit(url).hostname or "")


def page_info(final_url: str, body: bytes, media_type: str, charset: str) -> PageInfo:
    """The page's :class:`PageInfo` (empty for what is no HTML)."""
    return read_page(body, final_url, charset) if is_html(media_type, body) else PageInfo()
