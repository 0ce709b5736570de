"""Meta's Graph API, shared by the Facebook Page and Instagram sources: errors, usage, paging.

**Errors.** Graph answers a failed call (mostly HTTP 400, whatever went wrong) with
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``; the verdict is the
error code's, not the status's (:func:`classify_graph`):

* ``190``/``102`` (token expired, revoked or invalid) and ``10``/``200``-``299`` (a permission
  missing) -> ``configuration``: an operator must renew the token or grant the permission;
* ``4``, ``17``, ``32``, ``613`` (application, user, page and custom rate limits) and
  ``80000``-``80014`` (Business Use Case limits) -> ``rate_limited``, ``retry_at`` from the usage
  headers' ``estimated_time_to_regain_access``, else ``Retry-After``, else :data:`THROTTLE_PAUSE`;
* ``1``, ``2`` (unknown error, service unavailable), and any error Graph marks ``is_transient``
  -> ``retry``;
* ``100`` (invalid parameter; "object does not exist, cannot be loaded due to missing
  permission") -> ``configuration``. With subcode ``33`` on a single object it means the object
  is gone: the re-check's confirmation of a deletion (:meth:`GraphSource.gone`).

Every message names Graph's own words: ``GET posts of page 123: Graph API error #190
(OAuthException): Error validating access token: Session has expired ... [fbtrace_id ...]``.

**Usage.** Graph reports how much of its rate limits a caller has used in JSON headers:
``X-App-Usage`` and ``X-Page-Usage`` (``{"call_count": 28, "total_time": 25, "total_cputime": 25}``,
percentages) and ``X-Business-Use-Case-Usage`` (``{"<id>": [{"type": "pages", "call_count": 100,
..., "estimated_time_to_regain_access": 19}]}``, minutes). After every successful call
:class:`GraphUsage` pauses the source when any percentage reaches ``usage_threshold`` (default 90),
before Graph starts refusing: until the regain time Graph announces, or for :data:`USAGE_PAUSE`
when it announces none. The source never sleeps: the next call in the poll raises
``rate_limited`` with ``retry_at`` and the scheduler comes back then.

**Paging.** Listings are ``{"data": [...], "paging": {"cursors": {...}, "next": URL}}``; the
``next`` URL is followed (kept on the configured origin by :class:`~.rest.RestSource`). The
token travels as ``Authorization: Bearer``, never in a URL.

What to list and how to read an item is the platform's (:mod:`.facebook`, :mod:`.instagram`);
the cursor, the re-check window, edits and deletions are :mod:`.graph_cursor`'s.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Callable, ClassVar

import marshmallow
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import CONFIGURATION, RATE_LIMITED, RETRY, Failed, Failure, classify_response, \
    retry_at_from_headers, verdict_for
from ..media import MediaOptions, MediaPolicy
from .base import ParseError
from .graph_cursor import GraphCursor, GraphPaginator
from .graph_text import member_object
from .jsonitems import member_start, split_member, split_payload
from .rest import CallBudget, PageRequest, Record, RestSource

TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
RATE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
GONE = (100, 33)  # "Object with ID ... does not exist"
USAGE_HEADERS = ("X-App-Usage", "X-Page-Usage", "X-Ad-Account-Usage", "X-Business-Use-Case-Usage")
USAGE_PAUSE = timedelta(minutes=10)      # usage over the threshold, no regain time announced
THROTTLE_PAUSE = timedelta(minutes=10)   # a rate-limit error without any hint of when it ends
MAX_REGAIN = timedelta(hours=24)         # a header is hostile input: no pause beyond this
MAX_HEADER = 16 * 1024                   # characters of a usage header read


def graph_error(body) -> dict | None:
    """The ``error`` object of a Graph error body, or None."""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) and isinstance(error.get("code"), int) else None


def error_codes(failure: Failure) -> tuple[int | None, int | None]:
    """(code, subcode) of the Graph error a failure carries, or (None, None)."""
    error = graph_error(failure.detail) or {}
    subcode = error.get("error_subcode")
    return error.get("code"), subcode if isinstance(subcode, int) else None


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else 0.0


def usage(headers) -> tuple[float, float]:
    """(the highest percentage used, the longest regain time in minutes) over Graph's usage headers.

    Unreadable headers count as nothing used; values are capped (a header is hostile input).
    """
    level = regain = 0.0
    for name in USAGE_HEADERS:
        text = headers.get(name)
        if not text or len(text) > MAX_HEADER:
            continue
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            continue
        entries = [data] if isinstance(data, dict) and "call_count" in data else [
            e for v in (data.values() if isinstance(data, dict) else []) if isinstance(v, list)
            for e in v if isinstance(e, dict)]
        for entry in entries:
            level = max(level, *(_number(entry.get(k)) for k in ("call_count", "total_time", "total_cputime")))
            regain = max(regain, _number(entry.get("estimated_time_to_regain_access")))
    return min(level, 1000.0), min(regain, MAX_REGAIN.total_seconds() / 60)


def saved_page(data: bytes) -> tuple[list[Record], dict]:
    """The records of a saved Graph answer (``{"data": [...], "paging": ...}``, a bare list, or one
    object), each with its exact bytes, and the ``paging`` object (``{}`` without one).

    Raises :class:`ParseError` for what is no page: unreadable JSON, or a Graph error body.
    """
    items, is_list = split_payload(data)
    if not is_list and member_start(items[0][0], "data") is not None:  # found on the bytes: see member_object
        try:
            paging = json.loads(member_object(items[0][0], "paging") or b"{}")
        except (ValueError, RecursionError):
            paging = {}
        return [Record(v, raw) for raw, v in split_member(data, "data")], paging
    error = graph_error(items[0][1]) if not is_list else None
    if error is not None:
        raise ParseError(f"a Graph API error, not a page: {error.get('message')}")
    return [Record(v, raw) for raw, v in items], {}


class GraphUsage(CallBudget):
    """The server's budget as Graph's usage headers tell it: paused at ``threshold`` percent (see above)."""

    def __init__(self, threshold: float = 90, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        super().__init__(None, 60.0, now)
        self.threshold = threshold

    def observe(self, response: requests.Response) -> None:
        level, regain = usage(response.headers)
        now = self.now()
        with self._lock:
            if regain > 0:
                self.paused_until = now + timedelta(minutes=regain)
            elif level >= self.threshold:
                self.paused_until = now + USAGE_PAUSE
            else:
                self.paused_until = None


def classify_graph(response: requests.Response, what: str) -> Failure | None:
    """``None`` for a success, else the :class:`Failure` Graph's error code means (see the module docstring)."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:  # a proxy's page: the shared table below says what its status means
        body = None
    except RecursionError:  # a body built to exhaust the parser: its status is all there is to go by
        verdict = verdict_for(response.status_code)
        return Failure(verdict, f"{what}: HTTP {response.status_code} (an unreadable error body)",
                       status=response.status_code, url=str(response.url or ""),
                       retry_at=retry_at_from_headers(response.headers) if verdict in (RETRY, RATE_LIMITED) else None)
    error = graph_error(body)
    if error is None:  # not Graph speaking (a proxy, a load balancer): the shared status table
        return classify_response(response, what)
    code, subcode = error["code"], error.get("error_subcode")
    label = f"#{code}" + (f"/{subcode}" if isinstance(subcode, int) else "")
    message = f"{what}: Graph API error {label} ({error.get('type') or 'error'}): {error.get('message') or ''}"
    if error.get("fbtrace_id"):
        message += f" [fbtrace_id {error['fbtrace_id']}]"
    retry_at = None
    if code in TOKEN_CODES:
        verdict, message = CONFIGURATION, f"{message} (renew the access token)"
    elif code in PERMISSION_CODES:
        verdict, message = CONFIGURATION, f"{message} (the token lacks a permission)"
    elif code in RATE_CODES:
        now = datetime.now(timezone.utc)
        _, regain = usage(response.headers)
        verdict = RATE_LIMITED
        retry_at = (now + timedelta(minutes=regain) if regain else
                    retry_at_from_headers(response.headers, now) or now + THROTTLE_PAUSE)
    elif code in TRANSIENT_CODES or error.get("is_transient") is True or response.status_code >= 500:
        verdict, retry_at = RETRY, retry_at_from_headers(response.headers)
    else:
        verdict = CONFIGURATION
    return Failure(verdict, message, status=response.status_code, retry_at=retry_at, detail=body,
                   url=str(response.url or ""))


class GraphOptions(MediaOptions):
    """Options every Graph channel has; a platform adds its account and its own."""

    class Meta:
        unknown = marshmallow.RAISE

    token = fields.Str(required=True, validate=validate.Length(min=1), metadata={
        "description": "access token (`${ENV}` only); sent as `Authorization: Bearer`, never in a URL"})
    base_url = fields.Url(load_default="https://graph.facebook.com", schemes={"http", "https"}, require_tld=False,
                          metadata={"description": "Graph API host"})
    api_version = fields.Str(load_default="v21.0", validate=validate.Regexp(
        r"^v\d{1,2}\.\d$", error="expected a Graph API version like 'v21.0'"),
        metadata={"description": "Graph API version, e.g. `v21.0`"})
    page_size = fields.Int(load_default=25, validate=validate.Range(1, 100), metadata={
        "description": "items per request (`limit`)"})
    initial = fields.Str(load_default="all", validate=validate.OneOf(["all", "recent"]), metadata={
        "description": "first poll: `all` history, or `recent` (only the re-check window)"})
    recheck_days = fields.Int(load_default=7, validate=validate.Range(0, 90), metadata={
        "description": "items this many days old or younger are re-read each poll: edits, new comments,"
                       " deletions (0: never)"})
    comments = fields.Bool(load_default=True, metadata={
        "description": "also archive comments and replies on items within the re-check window"})
    usage_threshold = fields.Int(load_default=90, validate=validate.Range(1, 100), metadata={
        "description": "pause the channel when a Graph usage header reports this percentage used"})

    @marshmallow.post_load
    def tidy(self, data, **kwargs):
        data["base_url"] = data["base_url"].rstrip("/")
        return data


class GraphSource(GraphCursor, RestSource):
    """Base of the Graph sources: requests, errors, usage, ``check()``, deletion confirmation.

    A platform states ``owner_option`` (its account option), ``owner_label`` ("page", "account"),
    ``cdn_hosts`` (where its media live), ``check_fields``, and what :class:`.graph_cursor.GraphCursor`
    asks (the listing, its normalisers).
    """

    records_path = "data"
    owner_option: ClassVar[str] = ""
    owner_label: ClassVar[str] = ""
    check_fields: ClassVar[str] = "id"
    cdn_hosts: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: CallBudget | None = None, clock: Callable[[], datetime] | None = None):
        super().__init__(name, options, session, budget)
        if budget is None:
            self.budget = GraphUsage(self.options["usage_threshold"])
        self.clock = clock or (lambda: datetime.now(timezone.utc))  # the re-check window's "now" (tests move it)
        self.owner = self.options[self.owner_option]
        self.graph = f"{self.options['base_url']}/{self.options['api_version']}"

    def __repr__(self) -> str:  # never the token
        return f"<{type(self).__name__} {self.name!r} {self.graph} {self.owner_label} {self.owner}>"

    def headers(self) -> dict:
        return {**super().headers(), "Authorization": f"Bearer {self.options['token']}"}

    def classify_response(self, response, what):
        return classify_graph(response, what)

    def url(self, state=None) -> str:
        return f"{self.graph}/{self.owner}/{self.edge}"

    def paginator(self, state=None) -> GraphPaginator:
        return GraphPaginator()

    def media_policy(self, **settings) -> MediaPolicy:
        """Media from the Graph host, the platform's CDN (``cdn_hosts``) and the channel's ``media_hosts``."""
        options = {**self.options, "media_hosts": [*self.cdn_hosts, *self.options["media_hosts"]]}
        return MediaPolicy.for_channel(self.options["base_url"], options, **settings)

    def gone(self, object_id: str) -> tuple[bool, str]:
        """(whether Graph says the object does not exist (error #100/33), the URL asked). Any other
        failure is raised: a deletion is reported only when Graph itself confirms it."""
        request = PageRequest(f"{self.graph}/{object_id}", {"fields": "id"})
        try:
            self.request(request, f"GET {object_id} (deletion check)")
        except Failed as failed:
            if error_codes(failed.failure) == GONE:
                return True, failed.failure.url or request.url
            raise
        return False, request.url

    def check(self) -> list[Check]:
        checks = [Check("settings", True, f"{self.graph}, {self.owner_label} {self.owner}")]
        request = PageRequest(f"{self.graph}/{self.owner}", {"fields": self.check_fields})
        found, failure = self.probe(request, f"GET {self.owner_label} {self.owner}")
        connection = found[0]  # probe's own credentials step knows only 401/403; Graph says 400 and a code
        checks.append(connection)
        if not connection.ok:
            return checks
        code, _ = error_codes(failure) if failure else (None, None)
        if failure is not None and (code in TOKEN_CODES or code in PERMISSION_CODES or failure.status in (401, 403)):
            return checks + [Check("credentials", False, failure.message)]
        checks.append(Check("credentials", True, "token accepted"))
        checks.append(Check(self.owner_label, failure is None,
                            failure.message if failure else f"{self.owner_label} {self.owner} found"))
        return checks
