"""A thin ZGW HTTP client: one session, a JWT per call, failures classified once.

Every call goes through :meth:`ZgwClient.request`; transport errors and non-2xx answers become
:class:`~connector.failures.Failed` via ``classify_exception``/``classify_response`` (the server's
problem+json lands in ``Failure.detail`` verbatim). The answers are classified through the sink
that owns the client (:meth:`connector.sinks.base.Sink.classify_response`, bound when the sink
assigns ``self.client``), so a sink can decide which of its server's errors are worth a retry;
on its own the client uses the shared classification. Callers that expect a particular 400 (an
``identificatie-niet-uniek`` on a retried create) ask for the raw response with ``accept=``.

A secret shorter than the 32 bytes HS256 wants is reported once, as one configuration warning
when the client is made; PyJWT's own ``InsecureKeyLengthWarning`` (which it would print for every
token) is silenced for our own ``encode`` calls only.
"""
from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import Callable, Iterator

import jwt
import requests

from ...failures import CONFIGURATION, Failed, Failure, classify_exception, classify_response
from ...http import Session

log = logging.getLogger(__name__)

CRS = "EPSG:4326"
MAX_PAGES = 20  # lookups are narrow filters; more pages than this means a filter was ignored
HS256_KEY_BYTES = 32  # RFC 7518 3.2: a key of the same size as the hash output (or larger)
# absent in PyJWT before 2.10, which did not warn either
_KEY_LENGTH_WARNING = getattr(jwt, "InsecureKeyLengthWarning", None)
# catch_warnings swaps process-wide state: deliveries run in threads, so one at a time
_QUIET_JWT = threading.Lock()


class ZgwClient:
    def __init__(self, options: dict, session: requests.Session | None = None, name: str = "",
                 classify: Callable | None = None):
        self.options = options
        self.session = session or Session()
        self.classify = classify or classify_response  # (response, what) -> Failure | None
        self.short_secret = len(options["secret"].encode("utf-8")) < HS256_KEY_BYTES
        if self.short_secret:
            log.warning("sink %s: the secret is shorter than the %d bytes HS256 wants; generate a longer one"
                        " (e.g. 'openssl rand -base64 32'), give it to this client_id in the case system and"
                        " to the connector's environment variable", name or "zgw", HS256_KEY_BYTES)

    def classify_through(self, sink) -> None:
        """Classify every answer with ``sink.classify_response`` (called by ``Sink.client``'s setter)."""
        self.classify = sink.classify_response

    def token(self) -> str:
        """A fresh HS256 JWT: servers reject tokens older than their expiry, so mint per call."""
        client_id = self.options["client_id"]
        claims = {
            "iss": client_id,
            "iat": int(time.time()),
            "client_id": client_id,
            "user_id": self.options["user_id"],
            "user_representation": self.options["user_representation"],
        }
        if not (self.short_secret and _KEY_LENGTH_WARNING):
            return jwt.encode(claims, self.options["secret"], algorithm="HS256")
        with _QUIET_JWT, warnings.catch_warnings():  # already said once, in __init__
            warnings.simplefilter("ignore", _KEY_LENGTH_WARNING)
            return jwt.encode(claims, self.options["secret"], algorithm="HS256")

    def request(self, method: str, url: str, what: str, *, params=None, json=None, crs: bool = False,
                accept: tuple[int, ...] = (), data=None, content_type: str | None = None,
                session: requests.Session | None = None, headers: dict | None = None) -> requests.Response:
        """Send one call; raise :class:`Failed` unless it succeeded or its status is in ``accept``.

        ``data`` with ``content_type`` sends a body other than JSON (a streamed multipart part);
        ``session`` replaces the client's own for this call (a part upload's longer deadline)."""
        headers = {**(headers or {}), "Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if crs:
            # Every /zaken call needs Accept-Crs (else 412). Zaken API 1.5.1 also declares
            # Content-Crs required on reads (Open Zaak only enforces it on writes): send both.
            headers["Accept-Crs"] = CRS
            headers["Content-Crs"] = CRS
        try:
            response = (session or self.session).request(method, url, params=params, json=json, data=data,
                                                         headers=headers, timeout=self.options["timeout"])
        except requests.RequestException as exc:
            # the exception text names the URL, never our headers: the token stays out of errors
            raise Failed(classify_exception(exc, what)) from None
        log.debug("%s %s -> %s", method, response.url, response.status_code)
        if response.status_code in accept:
            return response
        failure = self.classify(response, what)
        if failure is not None:
            raise Failed(failure)
        return response

    @staticmethod
    def body(response: requests.Response, what: str, kinds=(dict,)):
        """The JSON of a successful response; anything else means a misconfigured URL."""
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, kinds):
            raise Failed(Failure(CONFIGURATION, f"{what}: expected JSON from {response.url}, "
                                 f"got {response.headers.get('Content-Type', 'no content type')}",
                                 status=response.status_code, url=str(response.url)))
        return data

    def created(self, response: requests.Response, what: str) -> dict:
        """The body of a response to a create we let through with ``accept=(400,)`` but could
        not resolve ourselves: a remaining error is raised as its classified failure."""
        failure = self.classify(response, what)
        if failure is not None:
            raise Failed(failure)
        return self.body(response, what)

    def get(self, url: str, what: str, *, params=None, crs: bool = False) -> dict:
        return self.body(self.request("GET", url, what, params=params, crs=crs), what)

    def post(self, url: str, what: str, payload: dict, *, crs: bool = False, accept=()) -> requests.Response:
        return self.request("POST", url, what, json=payload, crs=crs, accept=accept)

    def results(self, url: str, what: str, *, params=None, crs: bool = False) -> Iterator[dict]:
        """Items of a list: paginated ``{count, next, results}``, following ``next``, or a plain
        JSON array (``/zaakinformatieobjecten`` in Zaken API 1.5.1 is not paginated)."""
        for _ in range(MAX_PAGES):
            page = self.body(self.request("GET", url, what, params=params, crs=crs), what, (dict, list))
            if isinstance(page, list):
                yield from page
                return
            yield from page.get("results") or []
            url, params = page.get("next"), None
            if not url:
                return

    def first(self, url: str, what: str, *, params=None, crs: bool = False) -> dict | None:
        return next(iter(self.results(url, what, params=params, crs=crs)), None)


def invalid_params(response: requests.Response) -> list[dict]:
    """``invalidParams`` of a problem+json 400 (empty list if there are none)."""
    try:
        data = response.json()
    except ValueError:
        return []
    params = data.get("invalidParams") if isinstance(data, dict) else None
    return [p for p in params or [] if isinstance(p, dict)]


def has_code(response: requests.Response, *codes: str) -> bool:
    return any(p.get("code") in codes for p in invalid_params(response))
