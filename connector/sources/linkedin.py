"""LinkedIn organization posts and their comments (Community Management API, versioned REST).

Listing: ``GET /rest/posts?q=author&author=<org urn>&sortBy=LAST_MODIFIED&start=&count=`` with
``LinkedIn-Version``, ``X-Restli-Protocol-Version: 2.0.0`` and the bearer token. LinkedIn pages
by offset, newest modification first; it cannot list oldest first.

Cursor (``state``)::

    {"organization": urn, "name": its localizedName (looked up once, for the posts' author),
     "watermark": {"ms", "ids"} | None, "walk": {"start", "floor", "top"} | None,
     "recent": {post urn: published ms}, "comments": {post urn: {"ms", "ids"}}, "pending": [post urn, ...],
     "bad": [sha256, ...]}

* ``watermark``: every post whose ``lastModifiedAt`` is below ``ms`` (or equal, for the ``ids``
  at that millisecond) is stored. A post LinkedIn shows with a later ``lastModifiedAt`` is new
  or edited (an edit is the next version, see :mod:`.linkedin_item`).
* A poll walks the listing from offset 0 until a page holds a post modified before the watermark
  (or the listing ends). Each next page starts one post early (the previous page's last post must
  come back first; when an older one does, posts moved up, say after a deletion, and the walk
  steps one page back), so no post slips between two pages.
* A walk that reached the watermark is emitted oldest page first, the watermark moving with
  each page. A walk cut short (``max_pages``, a failure) cannot move the watermark, as older
  new posts are still unread: its pages are emitted as read, newest first, each with ``walk``
  saying where the next page starts (``start``), the oldest post stored so far (``floor``) and
  the newest (``top``). Every post between ``floor`` and ``top`` is stored. The next poll goes on
  from ``start`` (posts above ``floor`` are skipped) down to the watermark; then the watermark
  becomes ``top`` and the walk from offset 0 picks up whatever moved above it meanwhile. A crash
  repeats at most one page; nothing is skipped.

Media: a page's image and video URNs are resolved (``GET /rest/images/<urn>``, ``/rest/videos/<urn>``,
``downloadUrl``) while the page is read; a 5xx or 429 there stops the walk like one on the listing.
A post whose id is garbled or lacks ``lastModifiedAt`` has no place in the order: it is quarantined
once (``bad`` remembers its bytes' hash).

Comments (``comments: true``): ``GET /rest/socialActions/<post urn>/comments`` for each post stored
(``pending`` is saved with the post, so a rate limit or crash before its comments were read does
not lose them) and, each poll, for the posts published within ``recheck_days``, plus the replies of
each comment whose ``commentsSummary`` counts some (LinkedIn lists those under the comment); a
per-post watermark of the comments' last modification keeps them from repeating (an edited
comment is a version). Deleted comments are not detected.
Deletions: each poll re-reads the listing back to ``recheck_days`` ago; a post of that window
that is gone from it and answers ``GET /rest/posts/<urn>`` with 404 is a :class:`Deletion`.
Rate limits: see :mod:`.linkedin_limits` (daily, reset at midnight UTC).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import requests

from ..checks import Check
from ..failures import RATE_LIMITED, RETRY, Failed
from ..media import MediaPolicy
from ..message import Message, Quarantined
from .base import SOURCES, Deletion, Page, captured
from .linkedin_item import key_of, media_urns, posts_to_messages
from .linkedin_comments import MAX_COUNT, CommentsMixin
from .linkedin_cursor import above, below, keys_of, raise_mark
from .linkedin_fetch import LinkedInItems
from .linkedin_limits import DailyBudget, LinkedInOptions, classify
from .linkedin_saved import parse_saved
from .rest import PageRequest, Record, RestSource

LINKEDIN_MEDIA_HOSTS = ("media.licdn.com", "dms.licdn.com", "www.linkedin.com")
MAX_BAD = 100


@SOURCES.register
class LinkedInSource(LinkedInItems, CommentsMixin, RestSource):
    """Posts (and comments) of one LinkedIn organization page; edits as versions, deletions seen."""

    kind = "linkedin"
    options_schema = LinkedInOptions
    records_path = "elements"  # {"paging": {...}, "elements": [...]}: each element keeps its own bytes

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: DailyBudget | None = None):
        super().__init__(name, options, session, budget)
        if budget is None:
            self.budget = DailyBudget(self.options["calls_per_day"])
        self.base_url = self.options["base_url"]
        self.organization = self.options["organization"]

    def __repr__(self) -> str:  # never show the token
        return f"<LinkedInSource {self.name!r} {self.base_url} {self.organization} v{self.options['api_version']}>"

    # -- what RestSource asks of a platform ---------------------------------------------------

    def headers(self) -> dict:
        return {"Accept": "application/json", "Authorization": f"Bearer {self.options['token']}",
                "LinkedIn-Version": self.options["api_version"], "X-Restli-Protocol-Version": "2.0.0"}

    def url(self, state: dict | None = None) -> str:
        return f"{self.base_url}/rest/posts"

    def classify_response(self, response, what: str):
        return classify(response, what, self.options["api_version"])

    def request(self, page: PageRequest, what: str) -> requests.Response:
        try:
            return super().request(page, what)
        except Failed as failed:
            if failed.failure.verdict == RATE_LIMITED and failed.failure.status == 429 and failed.failure.retry_at:
                pause = getattr(self.budget, "pause", None)
                if pause:
                    pause(failed.failure.retry_at)  # no call before LinkedIn's reset
            raise

    def media_policy(self, **settings) -> MediaPolicy:
        """Media from the API host, LinkedIn's media hosts and the channel's ``media_hosts``."""
        options = {**self.options, "media_hosts": [*self.options["media_hosts"], *LINKEDIN_MEDIA_HOSTS]}
        return MediaPolicy.for_channel(self.base_url, options, **settings)

    def _acls_request(self) -> PageRequest:
        return PageRequest(f"{self.base_url}/rest/organizationAcls", {"q": "roleAssignee", "state": "APPROVED"})

    def check(self) -> list[Check]:
        """Settings; connection and credentials on one ``GET /rest/organizationAcls`` (the token's member's
        approved roles); then whether the organization is among them."""
        checks = [Check("settings", True, f"{self.base_url}, {self.organization}, "
                                          f"LinkedIn-Version {self.options['api_version']}")]
        found, failure, response = self.probe_response(self._acls_request(), "GET organizationAcls")
        checks += found
        if not checks[-1].ok:
            return checks
        if failure is not None:
            return checks + [Check("account", False, failure.message)]
        try:
            roles = [e.get("role") or "a role" for e in response.json().get("elements", [])
                     if isinstance(e, dict) and e.get("organization") == self.organization]
        except (ValueError, AttributeError):
            roles = []
        return checks + [Check("account", bool(roles), f"{self.organization}: {roles[0]}" if roles else
                               f"the token's member has no approved role on {self.organization}")]

    # -- the listing --------------------------------------------------------------------------

    def _listing(self, start: int, stop_ms: int | None, last_ms: int | None, what: str, count: int | None = None):
        """``(response, records, next_start, done)`` per page from offset ``start``, newest first."""
        count = count or self.options["page_size"]
        params = {"q": "author", "author": self.organization, "sortBy": "LAST_MODIFIED"}
        offset = start
        for _ in range(self.max_pages):
            response = self.request(PageRequest(self.url(), {**params, "start": offset, "count": count}), what)
            records = self.records(response, what)
            keys = [k for k in (key_of(r.value) for r in records) if k]
            if offset > 0 and last_ms is not None and (not records or (keys and keys[0][0] < last_ms)):
                offset = max(0, offset - count)  # posts moved up: step back, none may slip past
                continue
            try:
                total = int(json.loads(response.content)["paging"]["total"])
            except (ValueError, KeyError, TypeError, RecursionError):  # one unreadable item: the short page ends it
                total = None
            done = (len(records) < count or (total is not None and offset + len(records) >= total)
                    or (stop_ms is not None and any(k[0] < stop_ms for k in keys)))
            next_start = offset + len(records) - 1
            yield response, records, next_start, done
            if done:
                return
            last_ms = keys[-1][0] if keys else last_ms
            offset = next_start

    def _fresh(self) -> dict:
        return {"organization": self.organization, "watermark": None, "walk": None, "recent": {}, "comments": {},
                "pending": [], "bad": []}

    def poll(self, state: dict | None):
        state = json.loads(json.dumps(state or {}))  # never touch the caller's dict
        if state.get("organization") != self.organization:
            state = self._fresh()
        if "name" not in state:  # once: the organization's name, for its posts' author
            state["name"] = self._name()
        for page in self._posts(state):
            state = page.state
            yield page
        if self.options["comments"]:
            for page in self._comments(state):
                state = page.state
                yield page
        if self.options["recheck_days"]:
            page = self._deletions(state)
            if page is not None:
                yield page

    def _posts(self, state: dict):
        mark, walk = state.get("watermark"), state.get("walk")
        floor = walk.get("floor") if walk else None
        what = f"GET posts of {self.organization}"
        read, complete, failure, resolved = [], False, None, {}
        seen: set[str] = set()
        try:
            for response, records, next_start, done in self._listing(
                    walk["start"] if walk else 0, mark["ms"] if mark else None, floor["ms"] if floor else None, what):
                fresh = []
                for record in records:
                    key = key_of(record.value)
                    if key is not None and (key[1] in seen or not above(key, mark)
                                            or (floor and not below(key, floor))):
                        continue  # read on an earlier page, stored already, or above an interrupted walk's floor
                    if key is not None:
                        seen.add(key[1])
                    fresh.append(record)
                resolved.update(self._resolve([r.value for r in fresh]))  # before the page counts as read
                read.append((response, records, fresh, next_start))
                complete = done
        except Failed as failed:
            failure = failed
        if complete:
            yield from self._emit_oldest_first(state, read, resolved)
        else:
            yield from self._emit_as_read(state, read, resolved)
        if failure is not None:
            raise failure

    def _page(self, state: dict, response, records: list[Record],
              resolved: dict) -> tuple[list[Message], list[Quarantined], dict]:
        """Messages of one page's new posts (media resolved), quarantined ones, and ``state`` after them."""
        bad = list(state.get("bad") or [])
        kept = []
        for record in records:
            if key_of(record.value) is None:  # no place in the order: quarantined once, not each poll
                digest = hashlib.sha256(record.raw).hexdigest()
                if digest in bad:
                    continue
                bad = (bad + [digest])[-MAX_BAD:]
            kept.append(record)
        names = {self.organization: state["name"]} if state.get("name") else {}
        messages, quarantined = posts_to_messages(kept, self.name, response.url, datetime.now(timezone.utc), resolved,
                                                  names)
        order = {key[1]: key for key in (key_of(r.value) for r in kept) if key}
        messages.sort(key=lambda m: order.get(m.id, (0, m.id)))  # oldest modification first
        recent = dict(state.get("recent") or {})
        horizon = self._horizon()
        for message in messages:
            published = int(message.created_at.timestamp() * 1000)
            if published >= horizon:
                recent[message.id] = published
        pending = list(state.get("pending") or [])
        if self.options["comments"]:  # stored with the post: its comments are fetched even after a crash
            pending += [m.id for m in messages if m.id not in pending]
        return captured(messages, response), quarantined, {**state, "bad": bad, "recent": recent, "pending": pending}

    def _emit_oldest_first(self, state: dict, read: list, resolved: dict):
        walk = state.get("walk")
        for index, (response, records, fresh, _) in enumerate(reversed(read)):
            before = state
            messages, quarantined, state = self._page(state, response, fresh, resolved)
            keys = [k for k in (key_of(r.value) for r in fresh) if k]
            state = {**state, "watermark": raise_mark(state.get("watermark"), keys)}
            if index == len(read) - 1 and walk:
                state = {**state, "watermark": raise_mark(state["watermark"], keys_of(walk["top"])), "walk": None}
            if messages or quarantined or state != before:
                yield Page(messages, state, quarantined, url=response.url)

    def _emit_as_read(self, state: dict, read: list, resolved: dict):
        walk = state.get("walk") or {"top": state.get("watermark")}
        for response, records, fresh, next_start in read:
            messages, quarantined, state = self._page(state, response, fresh, resolved)
            keys = [k for k in (key_of(r.value) for r in records) if k]
            low = min(k[0] for k in keys) if keys else None
            floor = {"ms": low, "ids": [k[1] for k in keys if k[0] == low]} if keys else walk.get("floor")
            top = raise_mark(walk.get("top"), [k for k in (key_of(r.value) for r in fresh) if k])
            walk = {"start": next_start, "floor": floor, "top": top}
            state = {**state, "walk": walk}
            yield Page(messages, state, quarantined, url=response.url)

    def _name(self) -> str | None:
        """The organization's ``localizedName`` (``GET /rest/organizations/<id>``); None when not to be had."""
        number = self.organization.rsplit(":", 1)[1]
        try:
            name = self.request(PageRequest(f"{self.base_url}/rest/organizations/{number}"),
                                f"GET organization {self.organization}").json().get("localizedName")
        except Failed as failed:
            if failed.failure.status not in (403, 404):
                raise  # transient, rate-limited, or a token or version that fails every call
            return None  # no right to read the organization: its URN stands for it
        except (ValueError, AttributeError):
            return None
        return name if isinstance(name, str) else None

    def _horizon(self) -> int:
        since = datetime.now(timezone.utc) - timedelta(days=self.options["recheck_days"])
        return int(since.timestamp() * 1000)

    # -- media, comments, deletions -------------------------------------------------------------

    def _resolve(self, posts: list) -> dict:
        """``{media urn: downloadUrl}`` from the Images/Videos/Documents API; unresolved ones are left out."""
        resolved = {}
        for urn in dict.fromkeys(u for post in posts for u in media_urns(post)):
            family = urn.split(":")[2]
            request = PageRequest(f"{self.base_url}/rest/{family}s/{quote(urn, safe='')}")
            try:
                url = self.request(request, f"GET {family} {urn}").json().get("downloadUrl")
            except Failed as failed:
                if failed.failure.verdict in (RATE_LIMITED, RETRY):
                    raise  # the walk stops here; the next poll resolves it
                continue  # refused or gone (403, 404): the attachment keeps its URN and is recorded missing
            except (ValueError, AttributeError):
                continue
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                resolved[urn] = url
        return resolved

    def _deletions(self, state: dict) -> Page | None:
        horizon = self._horizon()
        recent = {u: ms for u, ms in (state.get("recent") or {}).items() if ms >= horizon}
        if not recent:
            return None
        present, complete = set(), False
        what = f"GET posts of {self.organization} (re-check)"
        for _, records, _, done in self._listing(0, horizon, None, what, MAX_COUNT):  # ids only: big pages
            present |= {k[1] for k in (key_of(r.value) for r in records) if k}
            complete = done
        if not complete:
            return None  # not seen back to the window's start: nothing can be concluded
        deletions = []
        for urn in sorted(set(recent) - present):
            request = PageRequest(f"{self.base_url}/rest/posts/{quote(urn, safe='')}")
            try:
                self.request(request, f"GET post {urn} (re-check)")
            except Failed as failed:
                if failed.failure.status != 404:
                    raise
                deletions.append(Deletion(urn, "gone from the organization's posts within the re-check window; "
                                               "404 Not Found on re-check", datetime.now(timezone.utc),
                                          failed.failure.url or request.url))
        if not deletions:
            return None
        gone = {d.id for d in deletions}
        state = {**state, "recent": {u: ms for u, ms in recent.items() if u not in gone},
                 "comments": {u: m for u, m in (state.get("comments") or {}).items() if u not in gone}}
        return Page([], state, deletions=deletions)

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved posts or comments page, one post, or a Superface recording of them -> messages, quarantined
        (see :mod:`.linkedin_saved`)."""
        return parse_saved(data, channel)
