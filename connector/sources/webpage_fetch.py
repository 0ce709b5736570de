"""Fetching for the web channel: every connection guarded, every hop checked, bytes and time bounded.

A web page's URL is pasted by a user and its resources are named by the page: both hostile input.

* **Which URLs.** :func:`check_target` refuses anything but ``http``/``https``, a user name or
  password in the URL (never sent anywhere: the user is told to remove it), blanks, control
  characters and backslashes, and an IP-literal host that is not a public address. With
  ``page_hosts`` set, only those hosts and the ``media_hosts`` are fetched from (pages, oEmbed
  and resources alike). A URL is checked as given and again as it is sent (``requests`` reads
  ``http://a.example\\@b.example/`` as host ``a.example``: the backslash is refused first).
* **Which addresses.** Connections go through :class:`connector.media.download.MediaSession`:
  the name is resolved once and the socket connects only to an address the policy allows
  (loopback, private, link-local such as 169.254.169.254, reserved: refused unless in the
  channel's ``trusted_networks``), so DNS rebinding gets nowhere. No proxy, no ``.netrc``.
* **Redirects** are followed here, hop by hop, at most ``max_redirects``, each hop checked
  like the first URL.
* **Bytes.** One capture may receive at most ``max_bytes`` (page, oEmbed and resources
  together, heads included), counted while streaming after decompression: the session's bound
  is set to what is left before each call, so a server sending gigabytes is cut off.
* **Time.** One deadline covers the whole capture; each call gets what is left of it (the
  session's watchdog shuts a dripping connection), each read ``timeout``.

Every exchange is recorded as received (:class:`connector.capture.Tap`, the same code that
writes the capture log) into a per-capture :class:`Collector`, which also hands each exchange on
to the channel's own capture log when there is one.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests

from .. import http
from ..capture import CaptureRef, Exchange
from ..failures import PERMANENT, RATE_LIMITED, RETRY, Failed, Failure, classify_exception, \
    retry_at_from_headers, verdict_for
from ..media.download import MediaSession
from ..media.policy import MediaPolicy, Refused, ip_literal, normal_host, split_url
from ..redact import redact_url

log = logging.getLogger(__name__)

HTML_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
ANY_ACCEPT = "*/*"
_NOT_PUBLIC = "media are fetched from public addresses only"
# a page's own HTTP errors: "not found" and "needs a login" cannot be helped by trying again
PAGE_ERRORS = {401: PERMANENT, 403: PERMANENT, 404: PERMANENT, 410: PERMANENT, 451: PERMANENT,
               408: RETRY, 425: RETRY, 429: RATE_LIMITED}
_STATUS_WORDS = {404: "page not found", 410: "page gone", 401: "the page needs a login",
                 403: "the page refuses access", 451: "the page is unavailable for legal reasons"}


@dataclass(frozen=True)
class WebPolicy(MediaPolicy):
    """A :class:`MediaPolicy` for web pages: any host (``any_host``), else only ``hosts``; http
    and https; public addresses unless in ``trusted_networks``."""

    any_host: bool = True

    def host_allowed(self, host: str) -> bool:
        if not self.any_host:
            return super().host_allowed(host)
        try:
            return bool(normal_host(host))
        except ValueError:
            return False

    def address_refusal(self, text: str) -> str | None:
        reason = super().address_refusal(text)
        if reason:
            reason = reason.replace(_NOT_PUBLIC, "pages and their resources are fetched from public addresses"
                                                 " only (add the network to the channel's trusted_networks if"
                                                 " it is an intranet site)")
        return reason


def tidy_pasted(url: str) -> str:
    """A pasted URL without surrounding blanks; ``https://`` put in front of a bare ``host/path``."""
    url = (url or "").strip() if isinstance(url, str) else ""
    if url and "://" not in url and not url.startswith("/") and re.match(r"^[A-Za-z0-9.-]+(:\d+)?(/|$)", url):
        url = "https://" + url
    return url


def prepared_url(url: str) -> str:
    """``url`` as ``requests`` will send it (an IDN host in its ``xn--`` form, unsafe characters
    percent-encoded), so the checks, the WARC's target URIs and the message's id all see one form;
    ``url`` itself when it cannot be prepared (the checks then say why)."""
    try:
        return requests.Request("GET", url).prepare().url
    except (requests.RequestException, ValueError, UnicodeError):
        return url


def check_target(url: str, policy: WebPolicy, what: str = "") -> str:
    """The normalised host of ``url`` when it may be fetched; :class:`Refused` (saying why) otherwise."""
    label = f"{what}: " if what else ""
    parts = split_url(url, label)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused(f"{label}only http and https pages can be captured, not {scheme + ':' if scheme else 'a URL'}"
                      f"{'' if scheme else ' without scheme'}")
    if "@" in parts.netloc:
        raise Refused(f"{label}the URL holds a user name or password ({redact_url(url)}); credentials are never"
                      " sent with a capture: remove them from the URL")
    try:
        host = normal_host(parts.hostname or "")
    except ValueError as exc:
        raise Refused(f"{label}{exc}") from None
    if not host:
        raise Refused(f"{label}the URL has no host")
    if not policy.host_allowed(host):
        raise Refused(f"{label}host {host!r} is not one of the channel's page_hosts or media_hosts"
                      f" ({policy.describe_hosts()})")
    if ip_literal(host) is not None:
        reason = policy.address_refusal(host)
        if reason:
            raise Refused(f"{label}{reason}")
    return host


class Collector:
    """The capture's exchanges in order (a :class:`connector.capture.CaptureLog` look-alike for
    :class:`connector.capture.Tap`), each also written to ``outer`` (the channel's capture log)."""

    def __init__(self, outer=None):
        self.exchanges: list[Exchange] = []
        self.outer = outer

    def write(self, exchange: Exchange) -> CaptureRef:
        self.exchanges.append(exchange)
        if self.outer is not None:
            try:
                return self.outer.write(exchange)
            except Exception:  # noqa: BLE001 - the capture log's trouble must not cost the capture
                log.exception("capture log: the exchange with %s could not be written", redact_url(exchange.target_uri))
        return CaptureRef("", f"<urn:uuid:{uuid.uuid4()}>", len(self.exchanges) - 1)


@dataclass
class Fetched:
    """One URL fetched to its final answer: the body decoded (``Content-Encoding`` undone), and
    every hop's exchange as received."""

    url: str
    final_url: str
    status: int
    headers: dict
    body: bytes
    exchanges: list[Exchange] = field(default_factory=list)
    capture_ref: CaptureRef | None = None

    @property
    def media_type(self) -> str:
        return (self.headers.get("content-type") or "").split(";")[0].strip().lower()

    @property
    def charset(self) -> str:
        found = re.search(r"charset\s*=\s*\"?([A-Za-z0-9._:-]+)", self.headers.get("content-type") or "", re.I)
        return found.group(1) if found else ""

    @property
    def size(self) -> int:
        return sum(len(e.request_head) + len(e.response_head) + len(e.response_body) for e in self.exchanges)


class Fetcher:
    """One capture's fetching (see the module docstring); one thread, one capture."""

    def __init__(self, policy: WebPolicy, *, user_agent: str, deadline: float, timeout: float, max_bytes: int,
                 max_redirects: int = 5, capture=None, label: str = ""):
        self.policy, self.max_redirects = policy, max_redirects
        self.collector = Collector(capture)
        self.session = MediaSession(policy)
        self.session.timeout = timeout
        self.session.headers["User-Agent"] = user_agent
        self.session.capture, self.session.capture_label = self.collector, label
        self.deadline, self.end = deadline, time.monotonic() + deadline
        self.budget = max_bytes

    def close(self) -> None:
        self.session.close()

    def left(self) -> float:
        return self.end - time.monotonic()

    def get(self, url: str, what: str, accept: str = ANY_ACCEPT, limit: int | None = None,
            errors: dict | None = None) -> Fetched:
        """GET ``url`` to its final answer (a 2xx), under the checks; :class:`Failed` otherwise.

        ``limit`` bounds this answer's body below the capture's remaining ``max_bytes``.
        Nothing is taken from the byte budget: :meth:`keep` does that for what is kept.
        """
        try:  # as given, before preparing it could hide what was given (a backslash, a password)
            check_target(url, self.policy, what)
        except Refused as exc:
            raise Failed(Failure(PERMANENT, f"refused: {exc}", url=url, detail={"reason": "refused"})) from None
        start, current = len(self.collector.exchanges), prepared_url(url)
        for _ in range(self.max_redirects + 1):
            try:
                check_target(current, self.policy, what if current == url else f"{what}: redirected to"
                                                                                  f" {redact_url(current)}")
            except Refused as exc:
                raise Failed(Failure(PERMANENT, f"refused: {exc}", url=url, detail={"reason": "refused"})) from None
            left = self.left()
            if left <= 0.05:
                raise Failed(Failure(RETRY, f"{what}: the capture's deadline of {self.deadline:g} s has passed",
                                     url=url, detail={"reason": "deadline"}))
            room = min(self.budget, limit) if limit is not None else self.budget
            if room <= 0:
                raise Failed(Failure(PERMANENT, f"{what}: max_bytes of the capture used up", url=url,
                                     detail={"reason": "oversize"}))
            self.session.deadline, self.session.max_body = left, room
            try:
                response = self.session.get(current, allow_redirects=False, headers={"Accept": accept})
            except Refused as exc:
                raise Failed(Failure(PERMANENT, f"refused: {what}: {exc}", url=url, detail={"reason": "refused"})) \
                    from None
            except http.ResponseTooLarge:
                raise Failed(Failure(PERMANENT, f"{what}: larger than the {room} bytes the capture may still take"
                                     " (max_bytes)", url=url, detail={"reason": "oversize"})) from None
            except http.DeadlineExceeded:
                raise Failed(Failure(RETRY, f"{what}: not complete within the capture's deadline of"
                                     f" {self.deadline:g} s", url=url, detail={"reason": "deadline"})) from None
            except requests.RequestException as exc:
                failure = classify_exception(exc, what)
                raise Failed(Failure(failure.verdict, failure.message, url=url, detail={"reason": "transport"})) \
                    from None
            if response.is_redirect:
                current = prepared_url(urljoin(current, response.headers["Location"]))
                continue
            if not 200 <= response.status_code < 300:
                raise Failed(_status_failure(response, what, url, errors))
            fetched = Fetched(url=url, final_url=current.split("#")[0], status=response.status_code,
                              headers={k.lower(): v for k, v in response.headers.items()}, body=response.content,
                              exchanges=self.collector.exchanges[start:], capture_ref=response.capture_ref)
            if fetched.size > self.budget:  # heads and chunked framing as received count too
                raise Failed(Failure(PERMANENT, f"{what}: {fetched.size} bytes as received (heads and framing"
                                     f" included), more than the {self.budget} the capture may still take"
                                     " (max_bytes)", url=url, detail={"reason": "oversize"}))
            return fetched
        raise Failed(Failure(PERMANENT, f"{what}: more than {self.max_redirects} redirects", url=url,
                             detail={"reason": "redirects"}))

    def keep(self, fetched: Fetched) -> None:
        """Take what ``fetched`` received from the capture's byte budget."""
        self.budget -= fetched.size


def _status_failure(response, what: str, url: str, errors: dict | None) -> Failure:
    status = response.status_code
    verdict = verdict_for(status, {**PAGE_ERRORS, **(errors or {})}) if status >= 400 else PERMANENT
    words = _STATUS_WORDS.get(status) or ("the server failed" if status >= 500 else "unexpected answer")
    retry_at = retry_at_from_headers(response.headers) if verdict in (RETRY, RATE_LIMITED) else None
    return Failure(verdict, f"{what}: {words} (HTTP {status})", status=status, retry_at=retry_at, url=url,
                   detail={"reason": "http_status", "status": status})
