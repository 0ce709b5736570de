"""Mastodon (and Mastodon-compatible servers such as social.overheid.nl): one account's statuses.

Polling is incremental with a watermark, the id of the newest status stored so far. Each poll
asks for ``min_id=<watermark>`` (the page immediately newer than it, ``min_id=0`` on a first
"all" poll) and follows the ``Link rel="prev"`` URL to the next newer page until a page comes
back empty (or ``max_pages`` were read: the next poll goes on); so history is read oldest page
first and an interrupted poll resumes where it stopped. Edits do not change a status's id, so a
watermark cannot see them: each poll therefore also reads the newest ``edit_lookback`` statuses
once and emits, as a new version, any status whose ``edited_at`` differs from what the cursor
last saw (``state["recent"]``, bounded); a status the cursor saw that is missing from that window
and answers 404 on ``GET /api/v1/statuses/:id`` is reported as a deletion (``Page.deletions``):
the record stays, the deletion is marked on it.

Cursor state: ``{"account", "account_id", "watermark", "recent": {status id: version}}``.

Ids are compared as ``(length, text)``: numerically for Mastodon's decimal snowflakes, and
correctly for fixed-width flake ids of Pleroma-style servers too.

Requesting, classifying failures, the ``X-RateLimit-*`` pause, the ``Link`` header and keeping
next-page URLs on the configured origin (the bearer token must not travel to a proxy's internal
host) come from :class:`~.rest.RestSource`; this module holds only what is Mastodon's: the
options, the account lookup, the ``min_id`` cursor, edits and the filters. A Mastodon-compatible
server that sends no ``Link`` header is walked with ``min_id=<the newest id of the last page>``.
Normalising statuses lives in :mod:`.mastodon_status`.

One status by its URL (``fetch_item``, for a pasted link): ``GET /api/v1/statuses/:id`` on the
channel's instance, normalised as a poll normalises it; a status the instance does not show (404:
deleted, private, or never there) is a permanent failure (see :mod:`.itemurl`).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import marshmallow
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import PERMANENT, RATE_LIMITED, RETRY, Failed, Failure
from ..media import MediaOptions, MediaPolicy
from ..message import Message
from .base import SOURCES, Deletion, Page, Quarantined, captured
from .itemurl import gone, one_item, same_site, segments, single_record, web_url
from .jsonitems import split_payload
from .mastodon_status import STATUS_ID, item_id, statuses_to_messages
from .rest import CallBudget, LinkHeaderPaginator, PageRequest, Record, RestSource

MAX_PAGE = 40  # Mastodon's own maximum for account statuses
MAX_RECHECK = 10  # statuses checked for deletion per poll
# the tabs of a profile page (/@user/with_replies), not statuses
_PROFILE_TABS = {"with_replies", "media", "followers", "following", "featured", "tagged", "embed"}


class MastodonOptions(MediaOptions):
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
    found = item_id(value)
    return bool(mark and found) and _id_key(found) <= _id_key(mark)


class _Newer(LinkHeaderPaginator):
    """Towards newer statuses: the ``Link rel="prev"`` URL (Mastodon's ``min_id`` page); without
    one, the first request again with ``min_id`` = the newest well-formed id of the last page."""

    def __init__(self):
        super().__init__("prev")

    def first(self, request: PageRequest) -> PageRequest:
        self.start = request
        return request

    def next(self, response, records, request):
        linked = super().next(response, records, request)
        ids = [i for i in (item_id(r.value) for r in records) if STATUS_ID.fullmatch(i)]
        if linked or not ids:
            return linked
        return PageRequest(self.start.url, {**self.start.params, "min_id": max(ids, key=_id_key)})


@SOURCES.register
class MastodonSource(RestSource):
    """Statuses of one Mastodon account (posts, replies, boosts), edits as new versions."""

    kind = "mastodon"
    options_schema = MastodonOptions

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: CallBudget | None = None):
        super().__init__(name, options, session, budget)
        self.base_url = self.options["base_url"]
        self.host = urlsplit(self.base_url).hostname or ""

    def __repr__(self) -> str:  # never show the token
        return f"<MastodonSource {self.name!r} {self.base_url} @{self.options['account']}>"

    # -- what RestSource asks of a platform ---------------------------------------------------

    def headers(self) -> dict:
        headers = super().headers()
        if self.options["token"]:
            headers["Authorization"] = f"Bearer {self.options['token']}"
        return headers

    def url(self, state: dict | None) -> str:
        return f"{self.base_url}/api/v1/accounts/{state['account_id']}/statuses"  # state: as poll() made it

    def params(self, state: dict | None) -> dict:
        """The filters, and ``min_id``: the watermark, or 0 on a first poll of all history."""
        mark = (state or {}).get("watermark") or ("0" if self.options["initial"] == "all" else None)
        return {**self._filters(self.options["page_size"]), **({"min_id": mark} if mark else {})}

    def _filters(self, limit: int) -> dict:
        params = {"limit": str(limit)}
        if not self.options["include_replies"]:
            params["exclude_replies"] = "true"
        if not self.options["include_boosts"]:
            params["exclude_reblogs"] = "true"
        return params

    def paginator(self, state: dict | None) -> _Newer:
        return _Newer()

    # -- account ------------------------------------------------------------------------------

    def _lookup_request(self) -> PageRequest:
        return PageRequest(f"{self.base_url}/api/v1/accounts/lookup", {"acct": self.options["account"]})

    def _lookup(self) -> str:
        what = f"GET account @{self.options['account']}"
        response = self.request(self._lookup_request(), what)
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Failed(Failure(RETRY, f"{what}: no account id in the answer", url=response.url)) from exc

    def media_policy(self, **settings) -> MediaPolicy:
        """Media from this channel's own host and its ``media_hosts`` (see :mod:`connector.media`)."""
        return MediaPolicy.for_channel(self.base_url, self.options, **settings)

    def check(self) -> list[Check]:
        checks = [Check("settings", True, f"{self.base_url}, account @{self.options['account']}")]
        found, failure = self.probe(self._lookup_request(), "account lookup")
        checks += found
        if checks[-1].ok:  # connection and credentials passed: what is left is the account itself
            checks.append(Check("account", failure is None,
                                failure.message if failure else f"@{self.options['account']} found"))
        return checks

    # -- polling ------------------------------------------------------------------------------

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
        first_poll = state.get("watermark") is None
        for response, records in self.pages(state, what):
            fetched_at = datetime.now(timezone.utc)
            mark = state.get("watermark")
            # Anything at or below the watermark is stored already (that is what the cursor means).
            # Mastodon never sends it for min_id, but a misbehaving server or proxy may repeat one.
            records = [record for record in records if not _at_or_below(record.value, mark)]
            if not records:
                break
            messages, quarantined, ids = statuses_to_messages(records, self.name, response.url, fetched_at, self.host)
            messages = captured(messages, response)
            prev = (response.links.get("prev") or {}).get("url")
            prev_min_id = parse_qs(urlsplit(prev).query).get("min_id", [None])[0] if prev else None
            # the server's own min_id for the next page; else our newest id (quarantined ones too)
            candidates = [prev_min_id or max(ids, key=_id_key, default=""), mark or ""]
            watermark = max(candidates, key=_id_key) or None  # never backwards
            state = {**state, "watermark": watermark, "recent": self._remember(state.get("recent") or {}, messages)}
            messages.sort(key=lambda m: _id_key(m.id))
            yield Page(messages, dict(state), quarantined, url=response.url)
            if watermark == mark:
                break  # no progress (only id-less items): asking again would return the same page
        if not first_poll and self.options["edit_lookback"] and state.get("watermark"):
            page = self._edits(state, what)
            if page is not None:
                yield page

    def _edits(self, state: dict, what: str) -> Page | None:
        """The newest statuses once more: already-seen ones with a changed edited_at, as new versions,
        and already-seen ones that are gone and answer 404, as deletions."""
        want = self.options["edit_lookback"]
        page_limit = min(want, MAX_PAGE)
        first = PageRequest(self.url(state), self._filters(page_limit))
        seen: list[Message] = []
        last_url, ids, to_the_end = first.url, [], False
        for response, records in self.walk(first, LinkHeaderPaginator("next"), f"{what} (edit check)"):
            # malformed items were quarantined when first met; not again on every poll
            messages, _, page_ids = statuses_to_messages(records, self.name, response.url,
                                                         datetime.now(timezone.utc), self.host)
            seen.extend(captured(messages, response))
            ids.extend(page_ids)
            last_url = response.url
            to_the_end = len(records) < page_limit
            if to_the_end or len(seen) >= want:
                break  # the oldest status there is, or enough
        seen = seen[:want]
        recent = state.get("recent") or {}
        mark = _id_key(state["watermark"])
        # only statuses this cursor saw before: never fetched ones (initial "latest") stay unfetched
        edited = [m for m in seen if m.edited_at and _id_key(m.id) <= mark and m.id in recent
                  and recent[m.id] != m.version]
        deletions = self._deleted(recent, ids, None if to_the_end else min(ids, key=_id_key, default=None))
        updated = {k: v for k, v in self._remember(recent, seen).items() if k not in {d.id for d in deletions}}
        if not edited and not deletions and updated == recent:
            return None
        edited.sort(key=lambda m: (m.edited_at, _id_key(m.id)))
        return Page(edited, {**state, "recent": updated}, url=last_url, deletions=deletions)

    def _deleted(self, recent: dict, listed: list[str], oldest: str | None) -> list[Deletion]:
        """Statuses the cursor saw that are missing from the re-read window (newer than ``oldest``, or
        all when the re-read reached the account's first status), confirmed gone by a 404 of
        ``GET /api/v1/statuses/:id`` (a status that answers is only hidden from the listing). At most
        :data:`MAX_RECHECK` per poll; a failed check is tried again next poll."""
        present = set(listed)
        missing = [i for i in recent if i not in present and (oldest is None or _id_key(i) > _id_key(oldest))]
        found = []
        for status_id in sorted(missing, key=_id_key, reverse=True)[:MAX_RECHECK]:
            url = f"{self.base_url}/api/v1/statuses/{status_id}"
            try:
                self.request(PageRequest(url), f"GET status {status_id} (deletion check)")
            except Failed as exc:
                if exc.failure.status == 404:
                    found.append(Deletion(status_id, "404 Not Found on re-check: deleted on the platform",
                                          datetime.now(timezone.utc), url))
                elif exc.failure.verdict == RATE_LIMITED:
                    break
        return found

    # -- one status by its URL ------------------------------------------------------------------

    def item_id_for_url(self, url: str) -> str | None:
        """The status id of ``https://HOST/@user/ID``, ``/@user@otherhost/ID`` (a remote status as this
        instance shows it), ``/users/user/statuses/ID`` or ``/notice/ID`` (Pleroma), HOST being the
        channel's instance. A remote status's own URL on its home instance is not this channel's."""
        parts = web_url(url)
        if parts is None or not same_site(parts, self.base_url):
            return None
        path = segments(parts)
        if len(path) == 2 and (path[0] == "notice" or path[0].startswith("@") and len(path[0]) > 1):
            found = path[1]
        elif len(path) == 4 and path[0] == "users" and path[2] == "statuses":
            found = path[3]
        else:
            return None
        return found if STATUS_ID.fullmatch(found) and found not in _PROFILE_TABS else None

    def fetch_item(self, url: str) -> Page:
        """``GET /api/v1/statuses/:id``, normalised as a poll does; 404 (deleted, private): permanent."""
        status_id = self.item_id_for_url(url)
        if status_id is None:
            raise Failed(Failure(PERMANENT, f"{str(url)[:200]!r} is not a status URL on {self.host}"))
        what = f"GET status {status_id}"
        try:
            response = self.request(PageRequest(f"{self.base_url}/api/v1/statuses/{status_id}"), what)
        except Failed as failed:
            raise gone(failed, what) from None
        messages, quarantined, _ = statuses_to_messages([single_record(response, what)], self.name, response.url,
                                                        datetime.now(timezone.utc), self.host)
        return one_item(captured(messages, response), quarantined, response.url)

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved statuses array (or one status object) -> (messages in payload order, quarantined).

        Local accounts get the host of their profile URL in the handle (no base URL here).
        """
        items, _ = split_payload(data)
        messages, quarantined, _ = statuses_to_messages([Record(v, raw) for raw, v in items], channel, "", None, None)
        return messages, quarantined

