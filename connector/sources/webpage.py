"""Any web page (Prezi, and everything without an API): a URL captured as an authentic record.

The core is :func:`capture_url`, which the web UI's "save this" button and ``connector save URL
--channel NAME`` call with a URL a civil servant pasted; :class:`WebPageSource` is the channel
that recaptures its configured ``urls`` on every poll where ``recapture`` has passed.

A capture is the page, its oEmbed answer and its resources in **one WARC/1.1 file**, the
message's original (``Raw.media_type`` ``application/warc``, scope ``response``); see
:mod:`.webpage_capture` (what is fetched), :mod:`.webpage_fetch` (the guards: http(s) only, no
credentials in the URL, public addresses only unless ``trusted_networks``, every redirect and
resource checked, bytes and time bounded), :mod:`.webpage_warc` (the file) and
:mod:`.webpage_message` (id, version, dates, text).

Cursor state: ``{"pages": {configured URL: {"id", "version", "first", "at", "gone"}}}``: the
message id and version (hash) last captured, when first and last captured, and when the page was
found gone. A page is captured again once ``recapture`` has passed since ``at``; the same version
again yields no message, a changed one a new version. A page that was captured before and now
answers 404 or 410 is reported once as a :class:`~.base.Deletion`; the record stays.
"""
from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from urllib.parse import urlsplit

import marshmallow
import requests
from marshmallow import fields, validate

from .. import __version__
from ..checks import Check
from ..failures import PERMANENT, RETRY, Failed, Failure
from ..media import MediaOptions
from ..media.policy import Refused, _check_entry, valid_host_entry
from ..message import Message, Quarantined, Raw, iso, parse_iso, utcnow
from ..redact import redact_url
from ..settings import Duration, _network
from .base import SOURCES, Deletion, Page, ParseError, Source, admit
from .itemurl import web_url
from .webpage_capture import builtin_oembed, capture
from .webpage_fetch import HTML_ACCEPT, Fetcher, WebPolicy, check_target, prepared_url
from .webpage_message import is_html, normalise_url, page_info, page_message
from .webpage_warc import WARC_TYPE, read_warc

log = logging.getLogger(__name__)
MIB = 1024 * 1024
USER_AGENT = f"midoffice-connector/{__version__} (archiving a web page for a public body)"
GONE = (404, 410)


class WebPageOptions(MediaOptions):
    class Meta:
        unknown = marshmallow.RAISE

    urls = fields.List(fields.Url(schemes={"http", "https"}, require_tld=False), load_default=list,
                       validate=validate.Length(max=500), metadata={
                           "description": "pages to capture on every poll where `recapture` has passed (a channel"
                                          " for the \"save this\" button alone may list none)"})
    recapture = Duration(load_default=86400.0, metadata={
        "description": "capture a page again after this long (seconds, or 30m, 24h); a changed page is a new"
                       " version, an unchanged one gives nothing"})
    max_bytes = fields.Int(load_default=20 * MIB, validate=validate.Range(64 * 1024, 30 * MIB), metadata={
        "description": "bytes one capture may receive (page, oEmbed and resources together; at most 30 MiB, the"
                       " WARC must stay under 32 MiB)"})
    max_resources = fields.Int(load_default=50, validate=validate.Range(0, 500), metadata={
        "description": "images, stylesheets, scripts and icons requested with a page (fetched or failed); the rest"
                       " is listed as skipped"})
    timeout = Duration(load_default=30.0, metadata={"description": "seconds per connect / read"})
    deadline = Duration(load_default=120.0, metadata={
        "description": "seconds for one whole capture; resources not fetched by then are listed as skipped"})
    max_redirects = fields.Int(load_default=5, validate=validate.Range(0, 20), metadata={
        "description": "redirects followed per URL, each one checked like the first"})
    user_agent = fields.Str(load_default=USER_AGENT, validate=validate.Length(1, 300), metadata={
        "description": "the User-Agent the captures send"})
    page_hosts = fields.List(fields.Str(validate=_check_entry), load_default=list, metadata={
        "description": "only pages on these hosts may be captured (`www.gemeente.nl`, `*.prezi.com`); empty:"
                       " any public host"})
    @marshmallow.validates("urls")
    def no_credentials(self, value, **kwargs):
        for url in value:
            if "@" in urlsplit(url).netloc:
                raise marshmallow.ValidationError(f"{redact_url(url)}: a user name or password in a page's URL is"
                                                  " not sent with a capture; remove it")

    trusted_networks = fields.List(fields.Str(validate=_network), load_default=list, metadata={
        "description": "private networks pages may be captured from (an intranet site); none by default:"
                       " loopback, private and link-local addresses are refused"})


def web_policy(options: dict, trusted_networks=(), max_bytes: int | None = None) -> WebPolicy:
    """The fetch policy of a ``web`` channel with ``options`` (loaded): see :mod:`.webpage_fetch`."""
    page_hosts = tuple(options.get("page_hosts") or ())
    hosts = page_hosts + tuple(options.get("media_hosts") or ())
    if not hosts:
        hosts = tuple(dict.fromkeys(valid_host_entry(urlsplit(u).hostname or "") for u in options.get("urls") or ()))
    return WebPolicy(hosts=hosts or ("web.invalid",), any_host=not page_hosts, allow_http=True,
                     max_bytes=max_bytes or options.get("max_media_bytes") or MIB,
                     trusted_networks=tuple(dict.fromkeys((*options.get("trusted_networks", ()), *trusted_networks))),
                     max_redirects=options.get("max_redirects", 5), timeout=options.get("timeout", 30.0),
                     deadline=options.get("deadline", 120.0))


def capture_url(url: str, channel: str, *, session: requests.Session | None = None, options: dict,
                trusted_networks=()) -> Message | Quarantined:
    """Capture the page at ``url`` for ``channel`` (``options``: the channel's loaded options).

    Returns the message (its original the WARC file), or the capture quarantined when the message
    fails the shared checks. Raises :class:`~connector.failures.Failed`: ``permanent`` for a URL
    refused (not http(s), credentials in it, a private address, another host than ``page_hosts``)
    or a page not found, ``retry`` for a server error or a timeout. Connections are always made
    through a guarded session of the capture's own; of ``session`` only its capture log is used
    (every exchange is written there too). ``trusted_networks`` adds the configuration's
    ``media.trusted_networks`` to the channel's own.
    """
    if not _loaded(options):
        options = WebPageOptions().load(options)
    policy = web_policy(options, trusted_networks)
    return capture(url, channel, options, policy, capture_log=getattr(session, "capture", None))


def _loaded(options: dict) -> bool:
    """Are these options as :class:`WebPageOptions` loads them (every field there)?"""
    return set(WebPageOptions().fields) <= set(options)


@SOURCES.register
class WebPageSource(Source):
    """Web pages captured with their resources into WARC files; see the module docstring."""

    kind = "web"
    options_schema = WebPageOptions

    def __repr__(self) -> str:
        return f"<WebPageSource {self.name!r} {len(self.options['urls'])} url(s)>"

    def media_policy(self, **settings) -> WebPolicy:
        """The attachments (og:image, oEmbed thumbnails) come from the pages' hosts: any public host, or
        ``page_hosts`` and ``media_hosts``; ``trusted_networks`` from the configuration added."""
        return web_policy(self.options, settings.get("trusted_networks") or (),
                          max_bytes=self.options["max_media_bytes"])

    def capture(self, url: str, **kwargs) -> Message | Quarantined:
        """:func:`capture_url` with this channel's options and session (for ``connector save``)."""
        return capture(url, self.name, self.options, web_policy(self.options, kwargs.pop("trusted_networks", ())),
                       capture_log=getattr(self.session, "capture", None), **kwargs)

    # -- one page by its URL ("Archiveer in zaak" with a pasted link) ----------------------------
    trusted_networks: tuple = ()  # the configuration's media.trusted_networks, set by whoever builds the channel

    def item_id_for_url(self, url: str) -> str | None:
        """The page's id (its URL normalised as a message id) when this channel may capture it: http(s),
        no credentials, a host its policy allows (``page_hosts``, else any public host or a trusted
        network). No I/O: a page whose canonical link or redirect names another URL gets that as its
        id when captured, as a poll's capture does."""
        if web_url(url) is None:
            return None
        prepared = prepared_url(url.strip())
        try:
            check_target(prepared, web_policy(self.options, self.trusted_networks))
        except Refused:
            return None
        return normalise_url(prepared) or None

    def fetch_item(self, url: str) -> Page:
        """The page captured now, exactly as ``connector save URL`` and a poll capture it (its WARC the
        original); a 404 or 410 is a permanent failure, as is a URL the channel's policy refuses."""
        if self.item_id_for_url(url) is None:
            raise Failed(Failure(PERMANENT, f"{redact_url(str(url))[:200]!r} is not a page this channel may capture"
                                            " (not http(s), or a host or network its policy refuses)"))
        try:
            outcome = self.capture(url.strip(), trusted_networks=self.trusted_networks)
        except Refused as exc:  # a redirect to a refused host or address
            raise Failed(Failure(PERMANENT, str(exc), url=redact_url(url))) from None
        if isinstance(outcome, Quarantined):
            return Page([], {}, quarantined=[outcome], url=url)
        return Page([outcome], {}, url=url)

    def check(self) -> list[Check]:
        urls = self.options["urls"]
        checks = [Check("settings", True, f"{len(urls)} url(s), recapture every {self.options['recapture']:g} s")]
        if not urls:
            return checks
        policy = web_policy(self.options)
        fetcher = Fetcher(policy, user_agent=self.options["user_agent"], deadline=min(self.options["deadline"], 30.0),
                          timeout=self.options["timeout"], max_bytes=self.options["max_bytes"],
                          max_redirects=self.options["max_redirects"])
        try:
            page = fetcher.get(urls[0], f"GET {urls[0]}", HTML_ACCEPT)
        except Failed as exc:
            return checks + [Check("connection", False, exc.failure.message)]
        finally:
            fetcher.close()
        return checks + [Check("connection", True, f"HTTP {page.status} {page.media_type or 'no type'}"
                                                   f" from {page.final_url}")]

    def poll(self, state: dict | None):
        state = copy.deepcopy(state or {})
        pages = {url: entry for url, entry in (state.get("pages") or {}).items() if url in self.options["urls"]}
        failure = None
        for url in self.options["urls"]:
            entry = dict(pages.get(url) or {})
            now = utcnow()
            if entry.get("at") and now - parse_iso(entry["at"]) < timedelta(seconds=self.options["recapture"]):
                continue
            try:
                outcome = self.capture(url, first_seen=parse_iso(entry["first"]) if entry.get("first") else None,
                                       changed_from=entry.get("version"))
            except Exception as exc:  # noqa: BLE001 - a bug costs this page, never the channel's other pages
                if not isinstance(exc, Failed):
                    log.exception("channel %s: capturing %s failed", self.name, url)
                    failure = failure or Failed(Failure(RETRY, f"internal error capturing {url}:"
                                                               f" {type(exc).__name__}: {exc}", url=url))
                    continue
                gone = exc.failure.status in GONE and entry.get("id")
                if not gone:
                    failure = failure or exc  # the other pages go on; the poll reports it at the end
                    continue
                deletions = [] if entry.get("gone") else [Deletion(entry["id"], f"{exc.failure.status} on re-check"
                                                                   f" ({exc.failure.message})", now, url)]
                pages[url] = {**entry, "gone": entry.get("gone") or iso(now), "at": iso(now)}
                yield Page([], {"pages": dict(pages)}, url=url, deletions=deletions)
                continue
            if isinstance(outcome, Quarantined):  # tried again at the next recapture
                pages[url] = {**entry, "at": iso(now)}
                yield Page([], {"pages": dict(pages)}, quarantined=[outcome], url=url)
                continue
            at = iso(outcome.raw.fetched_at) if outcome.raw and outcome.raw.fetched_at else iso(now)
            new = outcome.version != entry.get("version")
            pages[url] = {"id": outcome.id, "version": outcome.version, "first": entry.get("first") or at, "at": at,
                          "gone": None}
            yield Page([outcome] if new else [], {"pages": dict(pages)}, url=url)
        if failure is not None:
            raise failure

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved WARC -> one message per target URI's first HTML response (or, for a capture of
        this channel whose page is no HTML, that page); :class:`ParseError` for what is no WARC."""
        content = read_warc(data)
        page_uri = content.field("page")
        final_uri = content.field("final-url")
        by_uri = {}
        for response in content.responses:
            by_uri.setdefault(response.uri, response)
        chosen = []
        for response in content.responses:
            if not 200 <= response.status < 300 or response is not by_uri.get(response.uri):
                continue
            if is_html(response.media_type, response.body) or (final_uri and response.uri == final_uri):
                chosen.append(response)
        own = [r for r in chosen if page_uri and r.uri == final_uri]
        if own:  # this channel's own capture: the page only, never an HTML answer to a resource's URL
            chosen = own
        if not chosen:
            raise ParseError("no HTML page (a 2xx response record) in the WARC file")
        messages, quarantined = [], []
        for response in chosen:
            outcome = admit(lambda: _parsed(response, content, data, channel, page_uri), data, item_id=response.uri,
                            page_url=response.uri, now=response.date)
            (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
        return messages, quarantined


def _parsed(response, content, data: bytes, channel: str, page_uri: str) -> Message:
    """One page of a WARC as a message; the oEmbed answer is the JSON response its link names."""
    info = page_info(response.uri, response.body, response.media_type, response.charset)
    oembed_uri = info.oembed or builtin_oembed(response.uri)
    oembed = None
    for other in content.responses:
        if oembed_uri and other.uri == oembed_uri and 200 <= other.status < 300:
            try:
                oembed = json.loads(other.body)
            except ValueError:
                oembed = None
            break
    when = response.date
    if response.uri == content.field("final-url") and content.field("captured-at"):
        try:  # this channel's own capture: the capture's time, as the message was first made with
            when = parse_iso(content.field("captured-at"))
        except ValueError:
            pass
    when = when or utcnow()
    raw = Raw(body=data, media_type=WARC_TYPE, page_url=page_uri or response.uri, fetched_at=when,
              scope=Raw.RESPONSE)
    return page_message(channel=channel, final_url=response.uri, body=response.body, media_type=response.media_type,
                        charset=response.charset, headers=response.headers, oembed=oembed, fetched_at=when, raw=raw,
                        info=info)

