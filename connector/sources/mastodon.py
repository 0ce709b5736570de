"""Mastodon (and Mastodon-compatible servers such as social.overheid.nl): one account's statuses.

Polling is incremental with a watermark, the id of the newest status stored so far. Each poll
asks for ``min_id=<watermark>`` (the page immediately newer than it, ``min_id=0`` on a first
"all" poll) and follows the ``Link rel="prev"`` URL to the next newer page until a page comes
back empty; so history is read oldest page first and an interrupted poll resumes where it
stopped. Edits do not change a status's id, so a watermark cannot see them: each poll therefore
also reads the newest ``edit_lookback`` statuses once and emits, as a new version, any status
whose ``edited_at`` differs from what the cursor last saw (``state["recent"]``, bounded).

Cursor state: ``{"account", "account_id", "watermark", "recent": {status id: version}}``.

Ids are compared as ``(length, text)``: numerically for Mastodon's decimal snowflakes, and
correctly for fixed-width flake ids of Pleroma-style servers too.

Normalising one status lives in :mod:`.mastodon_status`.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit, urlunsplit

import marshmallow
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import RATE_LIMITED, RETRY, Failed, Failure, classify_exception, classify_response, \
    retry_at_from_headers
from ..message import Message, Raw, iso
from .base import SOURCES, Page, ParseError, Quarantined, Source, admit
from .jsonitems import Unreadable, split_payload
from .mastodon_status import STATUS_ID, status_to_message

MEDIA_TYPE = "application/json"
MAX_PAGE = 40  # Mastodon's own maximum for account statuses


class MastodonOptions(marshmallow.Schema):
    class Meta:
        unknown = marshmallow.RAISE

    base_url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                          metadata={"description": "the instance, e.g. `https://social.overheid.nl`"})
    account = fields.Str(required=True, validate=validate.Regexp(
        r"^@?[A-Za-z0-9_.-]+(@[A-Za-z0-9.-]+(:\d+)?)?$", error="expected a handle like 'user' or 'user@host'"),
        metadata={"description": "handle (`gemeente` or `gemeente@social.overheid.nl`); looked up once,"
                                 " its id kept in the cursor"})
    token = fields.Str(load_default=None, allow_none=True,
                       metadata={"description": "bearer token (`${ENV}` only), for non-public statuses"})
    include_replies = fields.Bool(load_default=True, metadata={"description": "also archive replies"})
    include_boosts = fields.Bool(load_default=True, metadata={"description": "also archive boosts"})
    page_size = fields.Int(load_default=MAX_PAGE, validate=validate.Range(1, MAX_PAGE),
                           metadata={"description": "statuses per request (Mastodon's maximum is 40)"})
    initial = fields.Str(load_default="all", validate=validate.OneOf(["all", "latest"]), metadata={
        "description": "first poll: `all` history, or `latest` (start from now)"})
    edit_lookback = fields.Int(load_default=40, validate=validate.Range(0, 400), metadata={
        "description": "each poll re-reads the newest N statuses; a changed `edited_at` becomes a new version"})

    @marshmallow.post_load
    def tidy(self, data, **kwargs):
        data["base_url"] = data["base_url"].rstrip("/")
        data["account"] = data["account"].lstrip("@")
        return data


def _id_key(value: str) -> tuple[int, str]:
    return (len(value), value)


def _at_or_below(value, mark: str | None) -> bool:
    """True for a status whose id is not above the watermark ``mark``."""
    item_id = value.get("id") if isinstance(value, (dict, Unreadable)) else None
    return bool(mark) and isinstance(item_id, str) and _id_key(item_id) <= _id_key(mark)


@SOURCES.register
class MastodonSource(Source):
    """Statuses of one Mastodon account (posts, replies, boosts), edits as new versions."""

    kind = "mastodon"
    title = "Mastodon account"
    options_schema = MastodonOptions

    def __init__(self, name: str, options: dict, session: requests.Session | None = None):
        super().__init__(name, options, session)
        self.base_url = self.options["base_url"]
        self.host = urlsplit(self.base_url).hostname or ""
        # known from the last response: the budget is spent until then (kept across polls)
        self._paused_until: datetime | None = None

    def __repr__(self) -> str:  # never show the token
        return f"<MastodonSource {self.name!r} {self.base_url} @{self.options['account']}>"

    # -- HTTP -------------------------------------------------------------------------------

    def _headers(self) -> dict:
        headers = {"Accept": "application/json"}
        if self.options["token"]:
            headers["Authorization"] = f"Bearer {self.options['token']}"
        return headers

    def _get(self, url: str, params: dict | None, what: str) -> tuple[requests.Response, datetime]:
        now = datetime.now(timezone.utc)
        if self._paused_until and now < self._paused_until:
            raise Failed(Failure(RATE_LIMITED, f"{what}: rate-limit budget used up until {iso(self._paused_until)}",
                                 retry_at=self._paused_until, url=url))
        try:
            response = self.session.get(url, params=params, headers=self._headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            raise Failed(classify_exception(exc, what)) from exc
        failure = classify_response(response, what)
        if failure:
            raise Failed(failure)
        # pause politely: with nothing left, the next request waits for the reset
        remaining = (response.headers.get("X-RateLimit-Remaining") or "").strip()
        self._paused_until = retry_at_from_headers(response.headers) if remaining == "0" else None
        return response, now

    def _same_origin(self, url: str) -> str:
        # Follow Link URLs on our own base URL only: a proxy may answer with another host,
        # and the bearer token must not travel there.
        base, link = urlsplit(self.base_url), urlsplit(url)
        if (link.scheme, link.netloc) == (base.scheme, base.netloc):
            return url
        return urlunsplit((base.scheme, base.netloc, link.path, link.query, ""))

    def _items(self, response: requests.Response, what: str) -> list[tuple[bytes, object]]:
        try:
            items, is_list = split_payload(response.content)
        except ParseError as exc:
            # a 200 that is not JSON is usually a proxy's error page: transient
            raise Failed(Failure(RETRY, f"{what}: unreadable response ({exc})", status=response.status_code,
                                 url=response.url)) from exc
        if not is_list:
            raise Failed(Failure(RETRY, f"{what}: expected a JSON array of statuses", status=response.status_code,
                                 url=response.url))
        return items

    # -- account ----------------------------------------------------------------------------

    def _lookup(self) -> str:
        what = f"GET account @{self.options['account']}"
        response, _ = self._get(f"{self.base_url}/api/v1/accounts/lookup", {"acct": self.options["account"]}, what)
        try:
            account_id = response.json()["id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Failed(Failure(RETRY, f"{what}: no account id in the answer", url=response.url)) from exc
        return str(account_id)

    def check(self) -> list[Check]:
        checks = [Check("settings", True, f"{self.base_url}, account @{self.options['account']}")]
        url = f"{self.base_url}/api/v1/accounts/lookup"
        try:
            response = self.session.get(url, params={"acct": self.options["account"]}, headers=self._headers(),
                                        timeout=self.timeout)
        except requests.RequestException as exc:
            return checks + [Check("connection", False, classify_exception(exc).message)]
        checks.append(Check("connection", True, f"HTTP {response.status_code}"))
        failure = classify_response(response, "account lookup")
        if failure and response.status_code in (401, 403):
            return checks + [Check("credentials", False, failure.message)]
        if self.options["token"]:
            checks.append(Check("credentials", True, "token accepted"))
        if failure:
            return checks + [Check("account", False, failure.message)]
        return checks + [Check("account", True, f"@{self.options['account']} found")]

    # -- polling ----------------------------------------------------------------------------

    def _filters(self) -> dict:
        params = {}
        if not self.options["include_replies"]:
            params["exclude_replies"] = "true"
        if not self.options["include_boosts"]:
            params["exclude_reblogs"] = "true"
        return params

    def _remember(self, recent: dict, messages: list[Message]) -> dict:
        limit = self.options["edit_lookback"]
        merged = {**recent, **{m.id: m.version for m in messages}}
        newest = sorted(merged, key=_id_key, reverse=True)[:limit]
        return {key: merged[key] for key in sorted(newest, key=_id_key)}

    def poll(self, state: dict | None):
        state = json.loads(json.dumps(state or {}))  # never touch the caller's dict
        account = self.options["account"]
        if state.get("account") != account or not state.get("account_id"):
            # a first poll, or the channel now follows another account: start afresh
            state = {"account": account, "account_id": self._lookup(), "watermark": None, "recent": {}}
        what = f"GET statuses of @{account}"
        statuses_url = f"{self.base_url}/api/v1/accounts/{state['account_id']}/statuses"
        first_poll = state.get("watermark") is None
        params = {**self._filters(), "limit": str(self.options["page_size"])}
        if not first_poll:
            params["min_id"] = state["watermark"]
        elif self.options["initial"] == "all":
            params["min_id"] = "0"
        url: str | None = statuses_url
        while url:
            response, fetched_at = self._get(url, params, what)
            mark = state.get("watermark")
            # Anything at or below the watermark is stored already (that is what the cursor means).
            # Mastodon never sends it for min_id, but a misbehaving server or proxy may repeat one.
            items = [item for item in self._items(response, what) if not _at_or_below(item[1], mark)]
            if not items:
                break
            messages, quarantined, ids = _parse_items(items, self.name, response.url, fetched_at, self.host)
            prev = (response.links.get("prev") or {}).get("url")
            prev_min_id = parse_qs(urlsplit(prev).query).get("min_id", [None])[0] if prev else None
            # the server's own min_id for the next page; else our newest id (quarantined ones too)
            candidates = [prev_min_id or max(ids, key=_id_key, default=""), state.get("watermark") or ""]
            watermark = max(candidates, key=_id_key) or None  # never backwards
            state = {**state, "watermark": watermark, "recent": self._remember(state.get("recent") or {}, messages)}
            messages.sort(key=lambda m: _id_key(m.id))
            yield Page(messages, dict(state), quarantined, url=response.url)
            if watermark == mark:
                break  # no progress (only id-less items): asking again would return the same page
            if prev:
                url, params = self._same_origin(prev), None
            else:
                url, params = statuses_url, {**self._filters(), "limit": str(self.options["page_size"]),
                                             "min_id": watermark}
        if not first_poll and self.options["edit_lookback"] and state.get("watermark"):
            page = self._edits(state, statuses_url, what)
            if page is not None:
                yield page

    def _edits(self, state: dict, statuses_url: str, what: str) -> Page | None:
        """The newest statuses once more: already-seen ones with a changed edited_at, as new versions."""
        want = self.options["edit_lookback"]
        page_limit = min(want, MAX_PAGE)
        url, params = statuses_url, {**self._filters(), "limit": str(page_limit)}
        seen: list[Message] = []
        last_url = url
        while url and len(seen) < want:
            response, fetched_at = self._get(url, params, f"{what} (edit check)")
            items = self._items(response, what)
            # malformed items were quarantined when first met; not again on every poll
            messages, _, _ = _parse_items(items, self.name, response.url, fetched_at, self.host)
            seen.extend(messages)
            last_url = response.url
            following = (response.links.get("next") or {}).get("url")
            url, params = (self._same_origin(following), None) if following and len(items) >= page_limit else (None, None)
        seen = seen[:want]
        recent = state.get("recent") or {}
        mark = _id_key(state["watermark"])
        # only statuses this cursor saw before: never fetched ones (initial "latest") stay unfetched
        edited = [m for m in seen if m.edited_at and _id_key(m.id) <= mark and m.id in recent
                  and recent[m.id] != m.version]
        updated = self._remember(recent, seen)
        if not edited and updated == recent:
            return None
        edited.sort(key=lambda m: (m.edited_at, _id_key(m.id)))
        return Page(edited, {**state, "recent": updated}, url=last_url)

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved statuses array (or one status object) -> (messages in payload order, quarantined).

        Local accounts get the host of their profile URL in the handle (no base URL here).
        """
        items, _ = split_payload(data)
        messages, quarantined, _ = _parse_items(items, channel, "", None, None)
        return messages, quarantined


# -- payload --------------------------------------------------------------------------------



def _parse_items(items, channel, page_url, fetched_at, host):
    """(messages, quarantined, ids of all items with a well-formed id) for one page's items."""
    messages, quarantined, ids = [], [], []
    for body, value in items:
        item_id = value.get("id") if isinstance(value, (dict, Unreadable)) else None
        item_id = item_id if isinstance(item_id, str) else ""
        if STATUS_ID.fullmatch(item_id):
            ids.append(item_id)  # a quarantined status still moves the watermark past itself
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=item_id, page_url=page_url))
            continue
        raw = Raw(body=body, media_type=MEDIA_TYPE, page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: status_to_message(value, channel=channel, raw=raw, host=host), body,
                        item_id=item_id, page_url=page_url, now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    return messages, quarantined, ids
