"""RSS and Atom feeds (feedparser reads both, and RSS 1.0/0.9x too).

Polling is one conditional GET: the cursor keeps the server's ``ETag`` and ``Last-Modified``, so an
unchanged feed costs a 304 and nothing else. A feed has no "since" parameter, so the cursor also
remembers which entries it has seen (``seen``: entry key -> its ``updated`` timestamp), bounded to
``keep_seen`` keys. Identity and date rules, decided here once:

* key = guid / atom:id; else the link; else ``sha256:`` + hash of title and published date (as
  written). An entry with none of those (no id, link, title or date) is quarantined.
* a new key is version ``""``; a known key whose ``updated`` changed is an edit, version = the new
  ``updated`` in ISO 8601. Feeds without ``updated`` (most RSS) therefore never produce edits.
* created_at = published, else updated, else the feed's own date (``updated``/``lastBuildDate``),
  else the time of the fetch. A date that is present but unreadable quarantines the entry:
  we do not invent a time for something that claims one.
* kind = "comment" only for Atom threading replies (``thr:in-reply-to``, RFC 4685). ``wfw:commentRss``
  and ``slash:comments`` only say that a *post* has comments, so they do not change the kind.
* the entry's title is part of what was said: text and html start with it.
* ``Raw.body`` is the entry element exactly as it stood in the response (``<item>`` ... ``</item>``,
  found by :mod:`.feedspans`), ``Raw.scope`` ``"item"``: the bytes received, never a
  re-serialisation. Where the spans cannot be found with certainty (a feed that is not well-formed
  XML, or when the elements found do not pair one to one with feedparser's entries) no entry can
  be cut out exactly, so each entry's original is the whole response as received, ``Raw.scope``
  ``"response"``; the record says so. (Such an entry's ``sha256:`` key, when it has no id, link,
  title or date, is then a hash of what feedparser read of it, not of the shared response.)
* a byte that is not valid UTF-8 in a UTF-8 feed (a stray Latin-1 ``é`` is common in real feeds)
  does not hold the entry back: the entry is delivered, its text reading such bytes as
  Windows-1252 (U+FFFD where that has no character), its original the exact bytes received. The
  other entries are read as the UTF-8 they are (feedparser alone would re-read the whole document
  as Windows-1252 and garble every one of them).
* every entry goes through :func:`.base.admit`: the shared checks (lone surrogates, NUL, dates
  before 1990 or more than a day after the fetch, size) and any error while normalising
  quarantine the entry, never the feed. A feed-level date outside that range is not used as the
  fallback date of undated entries.
* a character reference XML forbids (``&#xD800;``, beyond U+10FFFF; feedparser crashes on it)
  quarantines the entry holding it; the copy feedparser reads has U+FFFD there, so the rest of
  the feed is read. Only without entry spans can that entry not be told apart: it is then
  delivered with U+FFFD.
* a body that ends before its root element closes (``</rss>``, ``</feed>``) was cut off in transit:
  the poll fails as ``retry`` and stores nothing, because feedparser would still make an entry of
  the half-sent last item (no date, half a text) and remember its key, so the complete entry would
  never be delivered.

Normalising one entry lives in :mod:`.feedentry`, finding its exact bytes in :mod:`.feedspans`.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import replace
from datetime import datetime

import feedparser
import lxml.etree
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import CONFIGURATION, PERMANENT, RETRY, Failed, Failure, classify_exception, classify_response
from ..media import MediaOptions, MediaPolicy
from ..message import EARLIEST, FUTURE_SLACK, Message, Raw, storable, utcnow
from .base import SOURCES, Page, ParseError, Quarantined, Source, admit, captured
from .feedentry import MEDIA_NS, entry_date, normalise
from .feedspans import ENTRY_NAMESPACES, entry_spans, illegal_references, readable
from .rss_item import entry_page, entry_url

RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"
# what may precede the root element, and what may follow its end tag
_MISC = rb"(?:\s+|<\?.*?\?>|<!--.*?-->)"
_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:" + _MISC + rb"|<!DOCTYPE[^>\[]*(?:\[.*?\])?\s*>)*", re.S)
_START_TAG = re.compile(rb"<([^\s/>!?]+)")


class TruncatedFeed(ParseError):
    """The document ends before its root element is closed: cut off in transit."""


class FeedOptions(MediaOptions):
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     metadata={"description": "an RSS 2.0 or Atom feed"})
    max_bytes = fields.Integer(load_default=10 * 1024 * 1024, validate=validate.Range(min=1), metadata={
        "description": "larger responses are refused while streaming"})
    initial = fields.String(load_default="all", validate=validate.OneOf(["all", "latest"]), metadata={
        "description": "first poll: `all` entries in the feed, or `latest` (remember them, deliver none)"})
    keep_seen = fields.Integer(load_default=1000, validate=validate.Range(min=1), metadata={
        "description": "entry ids remembered for dedupe and edit detection"})


class _Entry:
    """One parsed entry before versioning: its key, its message (or why not), its bytes."""

    def __init__(self, key: str, updated: str, message: Message | None, raw: bytes, reason: str = ""):
        self.key, self.updated, self.message, self.raw, self.reason = key, updated, message, raw, reason


@SOURCES.register
class FeedSource(Source):
    """An RSS or Atom feed at ``url``; see the module docstring for identity and date rules."""

    kind = "rss"
    options_schema = FeedOptions

    def poll(self, state: dict | None):
        state = state or {}
        url = self.options["url"]
        response, body = self._fetch(state)
        if response.status_code == 304:
            yield Page(messages=[], state=_copy_state(state), url=url)
            return
        entries = self._entries(response, body)
        seen = dict(state.get("seen") or {})
        first_poll = not state.get("seen") and "etag" not in state and "last_modified" not in state
        skip_backlog = first_poll and self.options["initial"] == "latest"
        messages, quarantined = [], []
        for entry in entries:
            known = entry.key in seen
            previous = seen.get(entry.key)
            seen.pop(entry.key, None)
            seen[entry.key] = entry.updated  # re-insert: dict order doubles as recency for trimming
            if entry.message is None:
                if not known:
                    quarantined.append(Quarantined(entry.reason, entry.raw, item_id=entry.key, page_url=url))
                continue
            if skip_backlog:
                continue
            if not known:
                messages.append(entry.message)
            elif entry.updated and entry.updated != previous:
                messages.append(_as_version(entry.message, entry.updated))
        # never forget an entry still in the feed, or it would come back as new next poll
        limit = max(self.options["keep_seen"], len(entries))
        seen = dict(list(seen.items())[-limit:])
        new_state = {"etag": response.headers.get("ETag"),
                     "last_modified": response.headers.get("Last-Modified"), "seen": seen}
        yield Page(messages=_oldest_first(captured(messages, response)), state=new_state, quarantined=quarantined,
                   url=url)

    def _entries(self, response: requests.Response, body: bytes) -> list[_Entry]:
        """The feed's entries; a cut-off feed is transient, what is no feed permanent."""
        url = self.options["url"]
        try:
            return _parse(body, self.name, url, utcnow(), response.headers.get("Content-Type", ""))
        except TruncatedFeed as exc:
            raise Failed(Failure(RETRY, f"GET {url}: incomplete response ({exc})", status=response.status_code,
                                 url=url)) from exc
        except ParseError as exc:
            raise Failed(Failure(PERMANENT, f"GET {url}: not a feed ({exc})", status=response.status_code,
                                 url=url)) from exc

    def _fetch(self, state: dict) -> tuple[requests.Response, bytes]:
        url, limit = self.options["url"], self.options["max_bytes"]
        headers = {"Accept": f"{ATOM_TYPE}, {RSS_TYPE}, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        try:
            response = self.session.get(url, headers=headers, timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise Failed(classify_exception(exc, f"GET {url}")) from exc
        with response:
            failure = classify_response(response, f"GET {url}")
            if failure:
                raise Failed(failure)
            if response.status_code == 304:
                return response, b""
            too_big = Failure(CONFIGURATION, f"GET {url}: feed larger than max_bytes={limit}; raise max_bytes "
                              "if this feed is really that big", status=response.status_code, url=url)
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise Failed(too_big)
            body = bytearray()
            try:
                # counted after decompression, so a small gzip bomb is refused too
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > limit:
                        raise Failed(too_big)
            except requests.RequestException as exc:
                raise Failed(classify_exception(exc, f"GET {url}")) from exc
        return response, bytes(body)

    def media_policy(self, **settings) -> MediaPolicy:
        """Media from this channel's own host and its ``media_hosts`` (see :mod:`connector.media`)."""
        return MediaPolicy.for_channel(self.options["url"], self.options, **settings)

    def check(self) -> list[Check]:
        checks = [Check("settings", True)]
        try:
            response, body = self._fetch({})
            entries = _parse(body, self.name, self.options["url"], utcnow(),
                             response.headers.get("Content-Type", ""))
        except Failed as exc:
            return checks + [Check("connection", False, str(exc))]
        except ParseError as exc:
            return checks + [Check("connection", False, f"not a feed: {exc}")]
        return checks + [Check("connection", True, f"{len(entries)} entries")]

    def item_id_for_url(self, url: str) -> str | None:
        return entry_url(self, url)  # see .rss_item

    def fetch_item(self, url: str) -> Page:
        asked = entry_url(self, url)
        if asked is None:
            raise Failed(Failure(PERMANENT, f"{str(url)[:200]!r} is not a link on the host of this channel's feed"))
        response, body = self._fetch({})  # unconditional: the cursor's ETag is the poll's business
        return entry_page(self._entries(response, body), asked, self.options["url"], response)

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = ""):
        entries = _parse(data, channel, "", utcnow())
        messages = [e.message for e in entries if e.message is not None]
        quarantined = [Quarantined(e.reason, e.raw, item_id=e.key) for e in entries if e.message is None]
        return _oldest_first(messages), quarantined


def _parse(data: bytes, channel: str, url: str, fetched_at: datetime, content_type: str = "") -> list[_Entry]:
    """Entries in document order, deduplicated on key. Raises ParseError when this is no feed."""
    headers = {"content-type": content_type} if content_type else {}
    # A file-like object, never bytes or str: given bytes that look like a path, feedparser would
    # open a local file, and given a str URL it would fetch it itself.
    readable_data, bad_refs = illegal_references(data, readable(data, content_type))
    parsed = feedparser.parse(io.BytesIO(readable_data), response_headers=headers, sanitize_html=False)
    if parsed.get("bozo"):
        _refuse_truncated(data)
    if not parsed.entries:
        if parsed.get("bozo"):
            exc = parsed.get("bozo_exception")
            line = getattr(exc, "getLineNumber", lambda: None)()
            column = getattr(exc, "getColumnNumber", lambda: None)()
            reason = exc.getMessage() if hasattr(exc, "getMessage") else str(exc) or type(exc).__name__
            position = f"line {line}" + (f" column {column}" if column is not None else "") if line else ""
            raise ParseError(reason, position)
        if not parsed.get("version"):
            raise ParseError("no RSS or Atom feed found", "line 1")
    media_type = ATOM_TYPE if parsed.get("version", "").startswith("atom") else RSS_TYPE
    elements = _ElementIndex(readable_data, len(parsed.entries))
    spans = entry_spans(data)
    if spans is not None and len(spans) != len(parsed.entries):
        spans = None  # they do not pair one to one: no entry can be cut out with certainty
    feed = parsed.feed
    feed_date = entry_date(feed, "updated") or entry_date(feed, "published")
    if feed_date is not None and not EARLIEST <= feed_date <= fetched_at + FUTURE_SLACK:
        feed_date = None  # no fallback for undated entries when the feed's own date is impossible
    result, keys = [], set()
    for position, entry in enumerate(parsed.entries):
        element = elements.find(entry, position)
        if spans is not None:
            raw, scope = data[slice(*spans[position])], Raw.ITEM
        else:  # the platform's bytes, exactly: all of them, since this entry's own cannot be told
            raw, scope = data, Raw.RESPONSE
        raw_obj = Raw(body=raw, media_type=media_type, page_url=url, fetched_at=fetched_at, scope=scope)
        given = _key(entry)
        key = storable(given)  # the key goes into the cursor even when the entry is quarantined
        if not key:
            # every entry shares the whole response: then what feedparser read tells them apart
            own = raw if spans is not None else json.dumps(entry, sort_keys=True, default=str).encode()
            key = "sha256:" + hashlib.sha256(own).hexdigest()[:32]
            result.append(_Entry(key, "", None, raw, "entry has no guid, id, link, title or date"))
            continue
        if key in keys:
            continue
        keys.add(key)
        bad = [(offset, ref) for offset, ref in bad_refs if spans and spans[position][0] <= offset < spans[position][1]]
        if bad:
            reason = f"character reference {bad[0][1].decode()} is no Unicode character: not valid XML"
            result.append(_Entry(key, "", None, raw, reason))
            continue
        outcome = admit(lambda: normalise(entry, given, feed, channel, feed_date or fetched_at, raw_obj,
                                           elements.media_descriptions(element)),
                        raw, item_id=key, page_url=url, now=fetched_at)
        if isinstance(outcome, Quarantined):
            result.append(_Entry(key, "", None, raw, outcome.reason))
        else:
            result.append(_Entry(key, outcome.version, replace(outcome, version=""), raw))
    return result


def _refuse_truncated(data: bytes) -> None:
    """Raise TruncatedFeed when the root element's end tag is missing (trailing comments allowed)."""
    start = _START_TAG.match(data, _PROLOG.match(data).end())
    if start is None:
        return  # no element at all (or not UTF-8/ASCII-compatible): the other checks decide
    name = start.group(1)
    if re.search(rb"</" + re.escape(name) + rb"\s*>" + _MISC + rb"*\Z", data, re.S):
        return
    line = data.count(b"\n") + 1
    raise TruncatedFeed(f"the document ends before </{name.decode('utf-8', 'replace')}>: truncated", f"line {line}")


def _key(entry) -> str:
    if entry.get("id"):
        return entry["id"].strip()
    if entry.get("link"):
        return entry["link"].strip()
    title, published = entry.get("title") or "", dict.get(entry, "published") or ""
    if not title.strip() and not published.strip():
        return ""
    return "sha256:" + hashlib.sha256(f"{title}\n{published}".encode()).hexdigest()[:32]


def _oldest_first(messages: list[Message]) -> list[Message]:
    # feeds list newest first; reversing first keeps undated ties in publication order
    return sorted(reversed(messages), key=lambda m: m.created_at)


def _as_version(message: Message, updated: str) -> Message:
    return replace(message, version=updated)


def _copy_state(state: dict) -> dict:
    return {"etag": state.get("etag"), "last_modified": state.get("last_modified"),
            "seen": dict(state.get("seen") or {})}


class _ElementIndex:
    """The feed's <item>/<entry> elements, found again with lxml for what feedparser drops."""

    _parser = lxml.etree.XMLParser(recover=True, strip_cdata=False, resolve_entities=False,
                                   no_network=True, remove_comments=False)

    def __init__(self, data: bytes, expected: int):
        try:
            # lenient like feedparser: a stray blank line before <?xml ...?> is common in the wild
            root = lxml.etree.fromstring(data.lstrip(), self._parser)
        except lxml.etree.XMLSyntaxError:
            root = None
        self.elements = [] if root is None else [
            el for el in root.iter() if isinstance(el.tag, str)
            and lxml.etree.QName(el).localname in ("item", "entry")
            and lxml.etree.QName(el).namespace in ENTRY_NAMESPACES]
        self.by_id: dict[str, lxml.etree._Element] = {}
        for el in self.elements:
            for child in el:
                if isinstance(child.tag, str) and lxml.etree.QName(child).localname in ("guid", "id", "link"):
                    value = (child.text or child.get("href") or "").strip()
                    if value:
                        self.by_id.setdefault(value, el)
        self.positional = len(self.elements) == expected

    def find(self, entry, position: int) -> lxml.etree._Element | None:
        element = self.by_id.get((entry.get("id") or "").strip())
        if element is None:
            element = self.by_id.get((entry.get("link") or "").strip())
        if element is None and self.positional:
            element = self.elements[position]
        return element

    @staticmethod
    def media_descriptions(element: lxml.etree._Element | None) -> dict[str, str]:
        """media:content url -> its media:description (or media:title); feedparser drops these."""
        if element is None:
            return {}
        result = {}
        for media in element.iter(f"{{{MEDIA_NS}}}content"):
            text = media.findtext(f"{{{MEDIA_NS}}}description") or media.findtext(f"{{{MEDIA_NS}}}title") or ""
            if media.get("url"):
                result[media.get("url")] = text.strip()
        return result
