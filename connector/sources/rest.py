"""A shared base for sources that read paged JSON APIs (Singer's ``RESTStream``, in our words).

A platform source built on :class:`RestSource` states only what differs per platform: the URL
of its listing, where the records are in a response (``records_path``), which
:class:`Paginator` walks the pages, its request headers and, optionally, a call budget and its
own status table. Requesting, spending the budget, classifying failures and walking pages live
here, once::

    class ExampleSource(RestSource):
        kind = "example"
        records_path = "data"                      # {"data": [...], "meta": {"next_token": "..."}}
        budget_calls, budget_period = 300, 900.0   # at most 300 calls per 15 minutes

        def url(self, state):
            return f"{self.options['base_url']}/users/{self.options['user']}/posts"

        def paginator(self, state):
            return JsonPathPaginator("meta.next_token", param="pagination_token")

        def poll(self, state): ...                 # records -> messages via admit(), with cursor
        @classmethod
        def parse_payload(cls, data, channel=""): ...

Paginators are small objects, one per walk: :meth:`Paginator.next` gets the last response and
its records and returns the next :class:`PageRequest` or ``None``. A paginator that hands out
the same request twice is stopped (a server ignoring our token would otherwise loop for ever),
and so is a walk longer than ``max_pages``.

A walk stays on the origin (scheme, host, port) of its first request: a next-page URL on
another origin is moved onto it, path and query kept. A reverse proxy may announce its internal
host in a ``Link`` header, and the credentials in :meth:`RestSource.headers` must never travel to
a host the channel was not configured with. A platform with two kinds of walk (newer pages for
the cursor, newest pages for an edit check, say) calls :meth:`RestSource.walk` with its own first
request and paginator; :meth:`RestSource.pages` is the walk the source's attributes describe.

The call budget is spent *before* a call (Airbyte's call-rate policy): with the budget used up,
:meth:`RestSource.request` raises ``rate_limited`` with ``retry_at`` instead of sending a call
that would only earn a 429. A successful answer saying that no calls remain
(``X-RateLimit-Remaining: 0``, or X's ``x-rate-limit-remaining``) pauses the source until the
reset it announces (``X-RateLimit-Reset`` as ISO 8601, epoch seconds or seconds from now). A
failed answer does not touch the pause: its own ``retry_at`` (``Retry-After`` first) is what the
scheduler waits for, and a proxy's 429 must not be outlived by a longer reset next to it.
The source never sleeps: the scheduler tries again at ``retry_at``.
"""
from __future__ import annotations

import abc
import collections
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, ClassVar, Iterator
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from ..checks import Check
from ..failures import RATE_LIMITED, RETRY, Failed, Failure, classify_exception, classify_response, \
    retry_at_from_headers
from .base import ParseError, Source
from .jsonitems import split_member, split_payload

MAX_PAGES = 100  # one poll's walk; the cursor lets the next poll go on


@dataclass(frozen=True)
class PageRequest:
    """One page's request: the URL and its query parameters."""

    url: str
    params: dict = field(default_factory=dict)

    def key(self) -> tuple:
        return self.url, tuple(sorted((k, str(v)) for k, v in self.params.items()))


@dataclass
class Record:
    """One record of a page: its JSON value and the bytes it came from (for quarantine).

    ``raw`` is the exact bytes when the records are the response's top-level array or the array
    of one of its top-level members (``records_path = "data"``), otherwise the record re-encoded
    as JSON. There, an item that is not readable JSON by
    itself comes as a :class:`~connector.sources.jsonitems.Unreadable` value: the subclass's
    normaliser (run through :func:`~connector.sources.base.admit`) quarantines it.
    """

    value: object
    raw: bytes


class Paginator(abc.ABC):
    """Decides the next request from the last response (stateful: one instance per walk)."""

    @abc.abstractmethod
    def next(self, response: requests.Response, records: list[Record], request: PageRequest) -> PageRequest | None:
        """The next page's request, or ``None`` when this was the last page."""


class SinglePage(Paginator):
    """No pagination: the first response is all there is."""

    def next(self, response, records, request):
        return None


class JsonPathPaginator(Paginator):
    """The next page's token (or URL) at a dotted path in the JSON body, e.g. ``meta.next_token``.

    With ``param`` the token goes into that query parameter of the first URL; without it the
    value is the next page's URL (relative ones are resolved against the response's URL).
    A missing or empty value ends the walk.
    """

    def __init__(self, path: str, param: str | None = None):
        self.path, self.param = path, param

    def next(self, response, records, request):
        value = json_path(_json(response), self.path)
        if value in (None, "") or not isinstance(value, (str, int)):
            return None
        if self.param:
            return PageRequest(request.url, {**request.params, self.param: value})
        return PageRequest(urljoin(response.url, str(value)))


class LinkHeaderPaginator(Paginator):
    """The ``Link: <url>; rel="next"`` header (RFC 8288), as Mastodon and GitHub send it."""

    def __init__(self, rel: str = "next"):
        self.rel = rel

    def next(self, response, records, request):
        link = response.links.get(self.rel, {}).get("url")
        return PageRequest(urljoin(response.url, link)) if link else None


class OffsetPaginator(Paginator):
    """``?offset=N&limit=size``: the offset grows by the records received; a short page is the last."""

    def __init__(self, size: int, param: str = "offset", size_param: str | None = "limit", start: int = 0):
        self.size, self.param, self.size_param, self.offset = size, param, size_param, start

    def first(self, request: PageRequest) -> PageRequest:
        params = {**request.params, self.param: self.offset}
        if self.size_param:
            params[self.size_param] = self.size
        return PageRequest(request.url, params)

    def next(self, response, records, request):
        if len(records) < self.size:
            return None
        self.offset += len(records)
        return PageRequest(request.url, {**request.params, self.param: self.offset})


class PageNumberPaginator(Paginator):
    """``?page=N``: counts up from ``start``; an empty page (or one shorter than ``size``) is the last."""

    def __init__(self, param: str = "page", start: int = 1, size: int | None = None):
        self.param, self.page, self.size = param, start, size

    def first(self, request: PageRequest) -> PageRequest:
        return PageRequest(request.url, {**request.params, self.param: self.page})

    def next(self, response, records, request):
        if not records or (self.size is not None and len(records) < self.size):
            return None
        self.page += 1
        return PageRequest(request.url, {**request.params, self.param: self.page})


class CallBudget:
    """At most ``calls`` calls per ``period`` seconds (a sliding window), spent before calling.

    ``now`` is the clock (tests pass their own). ``calls=None`` means no budget of our own; the
    server's ``X-RateLimit-Remaining: 0`` still pauses until the reset it announces.
    """

    def __init__(self, calls: int | None = None, period: float = 60.0,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.calls, self.period, self.now = calls, timedelta(seconds=period), now
        self.spent: collections.deque[datetime] = collections.deque()
        self.paused_until: datetime | None = None
        self._lock = threading.Lock()

    def spend(self, what: str, url: str = "") -> None:
        """Take one call from the budget, or raise ``rate_limited`` saying when there is one again."""
        with self._lock:
            now = self.now()
            if self.paused_until is not None and now < self.paused_until:
                raise Failed(Failure(RATE_LIMITED, f"{what}: the server's rate limit is used up until "
                                     f"{self.paused_until.isoformat()}", retry_at=self.paused_until, url=url))
            while self.spent and self.spent[0] <= now - self.period:
                self.spent.popleft()
            if self.calls is not None and len(self.spent) >= self.calls:
                again = self.spent[0] + self.period
                raise Failed(Failure(RATE_LIMITED, f"{what}: call budget of {self.calls} per "
                                     f"{self.period.total_seconds():g}s used up until {again.isoformat()}",
                                     retry_at=again, url=url))
            self.spent.append(now)

    def observe(self, response: requests.Response) -> None:
        """After a successful call: pause until the announced reset when the server says no calls remain."""
        headers = response.headers
        remaining = (headers.get("X-RateLimit-Remaining") or headers.get("X-Rate-Limit-Remaining") or "").strip()
        with self._lock:
            self.paused_until = retry_at_from_headers(response.headers, self.now()) if remaining == "0" else None


class RestSource(Source):
    """Base of sources that read a paged JSON API; subclasses still implement ``poll`` and
    ``parse_payload`` (messages and cursor are the platform's business)."""

    records_path: ClassVar[str] = ""  # dotted path to the list of records; "" = the body is the list
    budget_calls: ClassVar[int | None] = None  # our own call budget (None: only the server's)
    budget_period: ClassVar[float] = 60.0
    error_mapping: ClassVar[dict[int, str]] = {}  # status -> verdict on top of the shared table
    max_pages: ClassVar[int] = MAX_PAGES

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: CallBudget | None = None):
        super().__init__(name, options, session)
        self.budget = budget or CallBudget(self.budget_calls, self.budget_period)

    # -- what a platform states ---------------------------------------------------------------
    @abc.abstractmethod
    def url(self, state: dict | None) -> str:
        """The URL of the first page of the listing."""

    def params(self, state: dict | None) -> dict:
        """Query parameters of the first page (e.g. ``since_id`` from the cursor)."""
        return {}

    def headers(self) -> dict:
        """Request headers (``Authorization`` from the options, say)."""
        return {"Accept": "application/json"}

    def paginator(self, state: dict | None) -> Paginator:
        """A fresh paginator for one walk; the default reads one page."""
        return SinglePage()

    def classify_response(self, response: requests.Response, what: str):
        """The shared classification with this source's ``error_mapping`` on top."""
        return classify_response(response, what, mapping=self.error_mapping)

    # -- done once, here ----------------------------------------------------------------------
    def request(self, page: PageRequest, what: str) -> requests.Response:
        """Spend the budget, send one GET, classify the answer; raise :class:`Failed` unless it succeeded."""
        self.budget.spend(what, page.url)
        try:
            response = self.session.get(page.url, params=page.params, headers=self.headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            raise Failed(classify_exception(exc, what)) from exc
        failure = self.classify_response(response, what)
        if failure is not None:
            raise Failed(failure)
        self.budget.observe(response)
        return response

    def probe(self, page: PageRequest, what: str) -> tuple[list[Check], Failure | None]:
        """``check()``'s connection and credentials steps, on one GET of ``page``.

        Returns the checks so far and the call's failure, if any: a failed connection or refused
        credentials (401, 403) end with a failed check; any other failure is for the platform to
        name (say "account ... not found"). The credentials check is reported only when
        :meth:`headers` sends ``Authorization``. The budget is neither spent nor paused: an
        operator's check must not wait for, nor hold up, the polls.
        """
        checks, failure, _ = self.probe_response(page, what)
        return checks, failure

    def probe_response(self, page: PageRequest, what: str) -> tuple[list[Check], Failure | None,
                                                                    requests.Response | None]:
        """:meth:`probe`, and the response (``None`` when there was none) for a check that reads the
        account from it."""
        try:
            response = self.session.get(page.url, params=page.params, headers=self.headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            failure = classify_exception(exc)
            return [Check("connection", False, failure.message)], failure, None
        checks = [Check("connection", True, f"HTTP {response.status_code}")]
        failure = self.classify_response(response, what)
        if failure is not None and response.status_code in (401, 403):
            return checks + [Check("credentials", False, failure.message)], failure, response
        if "Authorization" in self.headers():
            checks.append(Check("credentials", True, "token accepted"))
        return checks, failure, response

    def records(self, response: requests.Response, what: str) -> list[Record]:
        """The records of one page; an unreadable page (a proxy's error page, say) is transient."""
        try:
            if not self.records_path:
                items, is_list = split_payload(response.content)
                if is_list:
                    return [Record(value, raw) for raw, value in items]
                raise ParseError("expected a JSON array")
            if "." not in self.records_path:  # a top-level member: each record's own bytes
                return [Record(value, raw) for raw, value in split_member(response.content, self.records_path)]
            found = json_path(_json(response), self.records_path)
            if not isinstance(found, list):
                raise ParseError(f"expected a list at {self.records_path!r}")
            return [Record(value, _encode(value)) for value in found]
        except (ParseError, ValueError) as exc:
            raise Failed(Failure(RETRY, f"{what}: unreadable response ({exc})", status=response.status_code,
                                 url=response.url)) from exc

    def pages(self, state: dict | None, what: str = "") -> Iterator[tuple[requests.Response, list[Record]]]:
        """Walk the listing: ``(response, records)`` per page, first page first."""
        request = PageRequest(self.url(state), dict(self.params(state)))
        return self.walk(request, self.paginator(state), what or f"GET {self.kind} {self.name}")

    def walk(self, request: PageRequest, paginator: Paginator,
             what: str) -> Iterator[tuple[requests.Response, list[Record]]]:
        """``(response, records)`` per page from ``request`` on, as ``paginator`` leads.

        Lazy: the next page is asked for only when the caller wants it, so a caller that has
        seen enough simply stops iterating. Every next request is kept on the first one's origin.
        """
        first = getattr(paginator, "first", None)
        request = first(request) if first else request
        origin = request.url
        seen = set()
        for _ in range(self.max_pages):
            seen.add(request.key())
            response = self.request(request, what)
            records = self.records(response, what)
            yield response, records
            request = paginator.next(response, records, request)
            if request is None:
                return
            request = PageRequest(same_origin(request.url, origin), request.params)
            if request.key() in seen:  # a repeated page means a token was ignored
                return


def same_origin(url: str, base: str) -> str:
    """``url`` moved onto the scheme, host and port of ``base`` (path and query kept; no fragment)."""
    target, home = urlsplit(url), urlsplit(base)
    if (target.scheme, target.netloc) == (home.scheme, home.netloc):
        return url
    return urlunsplit((home.scheme, home.netloc, target.path, target.query, ""))


def json_path(data, path: str):
    """The value at a dotted ``path`` (``meta.next_token``, ``links.0.href``), or ``None``."""
    for part in path.split(".") if path else []:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _json(response: requests.Response):
    try:
        return response.json()
    except (ValueError, RecursionError):  # a body nested deeper than the parser goes is no JSON to us
        return None


def _encode(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
