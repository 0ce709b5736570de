"""X (Twitter) API v2: one user's posts (``GET /2/users/:id/tweets``), edits, deletions.

The user is looked up once (``GET /2/users/by/username/:username``); its id stays in the cursor.

Cursor and walk. X answers newest first and has no forward paging: a poll asks for everything
newer than ``since_id`` (the newest post stored by a *completed* walk) and follows
``meta.next_token`` (``pagination_token``) towards older posts. Each page is yielded as it comes
(its posts oldest first) with a state that records the walk's progress: ``walk = {"newest": the
newest id this walk saw, "until_id": the oldest id stored so far}``. ``since_id`` moves (to
``walk.newest``) only with the walk's last page. So after any page is stored, everything in
``(until_id, newest]`` is stored and nothing older than ``until_id`` above ``since_id`` is
lost: a poll interrupted mid-walk (a 429, a crash, ``max_pages``) resumes with ``since_id`` and
``until_id`` (not with the opaque token, which X ties to one walk) and repeats at most the page
whose state was not saved. Posts published during a walk are newer than ``walk.newest`` and
come with the next walk. Across pages a walk stores newer pages first: a reply may be stored
before a parent on an older page of the same walk (``thread_id``/``in_reply_to`` still name it).

Cursor state: ``{"user", "user_id", "name", "since_id", "walk", "recent": [ids], "gone": [ids]}``;
a damaged part (not a post id) is dropped and started afresh, never failing every poll. A post
edited while a walk is still below it leaves the timeline (X shows newest versions only): its
edit comes with the next walk, its first version is then not archived.

Edits arrive by themselves: an edit is a new post id (above ``since_id``) whose
``edit_history_tweet_ids`` starts with the original's id; it becomes a new version of the
original's message (see :mod:`.x_tweet`). Deletions: each poll after the first re-checks the ids
of the ``recheck`` most recent stored posts with ``GET /2/tweets?ids=`` (100 a call); an id X
answers in ``errors[]`` as not found becomes a :class:`~.base.Deletion`, once (``gone`` remembers
the last 1000); a re-check that fails (its own rate limit, say) is skipped and tried again next
poll, never failing the poll whose posts were read. X compliance events (batch compliance
results, compliance stream events) are read by :meth:`XSource.compliance_deletions`. Partial
``errors[]`` of a timeline page: see :mod:`.x_tweet`.

Rate limits: each endpoint has its own budget (X counts them apart); ``x-rate-limit-remaining: 0``
pauses that endpoint until ``x-rate-limit-reset``; a 429 raises ``rate_limited`` until the reset,
and the monthly usage cap is named as such (:func:`.x_api.x_failure`).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import marshmallow
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import CONFIGURATION, RETRY, Failed, Failure, classify_exception
from ..media import MediaOptions, MediaPolicy
from ..message import Author, Message
from .base import SOURCES, Deletion, Page, ParseError, Quarantined, captured
from .rest import CallBudget, JsonPathPaginator, PageRequest, Record, RestSource
from .x_api import (compliance_deletions, error_text, is_compliance_event, is_not_found, member_items, page_value,
                    split_pages, x_failure)
from .x_item import fetch_tweet, tweet_id_for_url
from .x_tweet import TWEET_ID, item_id, page_to_messages

log = logging.getLogger(__name__)

MAX_PAGE = 100  # X's maximum max_results (and its minimum is 5)
LOOKUP_IDS = 100  # ids per GET /2/tweets
GONE_KEPT = 1000
MEDIA_HOSTS = ("pbs.twimg.com", "video.twimg.com")
TWEET_FIELDS = ("created_at,author_id,conversation_id,in_reply_to_user_id,referenced_tweets,attachments,entities,"
                "lang,possibly_sensitive,edit_history_tweet_ids,edit_controls,note_tweet")
EXPANSIONS = "author_id,attachments.media_keys,referenced_tweets.id,referenced_tweets.id.author_id,edit_history_tweet_ids"
MEDIA_FIELDS = "url,preview_image_url,type,alt_text,variants"
USER_FIELDS = "username,name"


class XOptions(MediaOptions):
    class Meta:
        unknown = marshmallow.RAISE

    token = fields.Str(required=True, validate=validate.Length(min=1), metadata={
        "description": "the app's bearer token (`${ENV}` only)"})
    user = fields.Str(required=True, validate=validate.Regexp(
        r"^@?[A-Za-z0-9_]{1,15}$", error="expected an X username like 'gemeente' or '@gemeente'"),
        metadata={"description": "username of the account (`gemeente`); looked up once, its id kept in the cursor"})
    base_url = fields.Url(load_default="https://api.x.com", schemes={"http", "https"}, require_tld=False,
                          metadata={"description": "the API (default `https://api.x.com`)"})
    page_size = fields.Int(load_default=MAX_PAGE, validate=validate.Range(5, MAX_PAGE),
                           metadata={"description": "posts per request (`max_results`, 5 to 100)"})
    include_replies = fields.Bool(load_default=True, metadata={"description": "also archive replies"})
    include_retweets = fields.Bool(load_default=True, metadata={"description": "also archive reposts (retweets)"})
    initial = fields.Str(load_default="all", validate=validate.OneOf(["all", "latest"]), metadata={
        "description": "first poll: `all` the history X gives (its newest 3,200 posts), or `latest` (one page)"})
    recheck = fields.Int(load_default=100, validate=validate.Range(0, 1000), metadata={
        "description": "each poll re-checks the newest N stored posts; one X no longer finds is reported deleted"})

    @marshmallow.post_load
    def tidy(self, data, **kwargs):
        data["base_url"] = data["base_url"].rstrip("/")
        data["user"] = data["user"].lstrip("@")
        return data


def _id_key(value: str) -> tuple[int, str]:
    return (len(value), value)


def _newest(*ids) -> str | None:
    found = [i for i in ids if i]
    return max(found, key=_id_key) if found else None


def _ids(value) -> list:
    return [i for i in value if isinstance(i, str) and TWEET_ID.fullmatch(i)] if isinstance(value, list) else []


def _tidy(state: dict) -> dict:
    """A saved cursor with what cannot be a post id dropped (a hand-edited or damaged store): a bad
    ``since_id`` or ``walk`` starts that part afresh rather than failing every poll."""
    if not isinstance(state.get("since_id"), str) or not TWEET_ID.fullmatch(state["since_id"]):
        state["since_id"] = None
    walk = state.get("walk")
    if not isinstance(walk, dict) or len(_ids([walk.get("newest"), walk.get("until_id")])) != 2:
        state["walk"] = None
    state["recent"], state["gone"] = _ids(state.get("recent")), _ids(state.get("gone"))
    return state


@SOURCES.register
class XSource(RestSource):
    """Posts of one X account (posts, replies, quotes, reposts), edits as new versions, deletions."""

    kind = "x"
    options_schema = XOptions
    records_path = "data"

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: CallBudget | None = None):
        super().__init__(name, options, session, budget)
        self.base_url = self.options["base_url"]
        # X counts each endpoint's calls apart: a spent lookup window must not stop the timeline
        self.budgets = {"users": CallBudget(), "tweets": CallBudget()}

    def __repr__(self) -> str:  # never show the token
        return f"<XSource {self.name!r} {self.base_url} @{self.options['user']}>"

    # -- what RestSource asks of a platform ---------------------------------------------------

    def headers(self) -> dict:
        return {**super().headers(), "Authorization": f"Bearer {self.options['token']}"}

    def url(self, state: dict | None) -> str:
        return f"{self.base_url}/2/users/{state['user_id']}/tweets"  # state: as poll() made it

    def params(self, state: dict | None) -> dict:
        state = state or {}
        params = {"max_results": str(self.options["page_size"]), "tweet.fields": TWEET_FIELDS,
                  "expansions": EXPANSIONS, "media.fields": MEDIA_FIELDS, "user.fields": USER_FIELDS}
        exclude = [name for name, option in (("replies", "include_replies"), ("retweets", "include_retweets"))
                   if not self.options[option]]
        if exclude:
            params["exclude"] = ",".join(exclude)
        if state.get("since_id"):
            params["since_id"] = state["since_id"]
        if (state.get("walk") or {}).get("until_id"):
            params["until_id"] = state["walk"]["until_id"]
        return params

    def paginator(self, state: dict | None) -> JsonPathPaginator:
        return JsonPathPaginator("meta.next_token", param="pagination_token")

    def classify_response(self, response: requests.Response, what: str):
        failure = super().classify_response(response, what)
        return x_failure(response, failure, what) if failure is not None else None

    def request(self, page: PageRequest, what: str, budget: CallBudget | None = None) -> requests.Response:
        """RestSource's request, spending ``budget`` (an endpoint's own) instead of the timeline's."""
        if budget is None:
            return super().request(page, what)
        budget.spend(what, page.url)
        try:
            response = self.session.get(page.url, params=page.params, headers=self.headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            raise Failed(classify_exception(exc, what)) from exc
        failure = self.classify_response(response, what)
        if failure is not None:
            raise Failed(failure)
        budget.observe(response)
        return response

    # -- user ---------------------------------------------------------------------------------

    def _lookup_request(self) -> PageRequest:
        return PageRequest(f"{self.base_url}/2/users/by/username/{self.options['user']}", {"user.fields": USER_FIELDS})

    def _user(self, response: requests.Response, what: str) -> dict:
        body = page_value(response.content)
        user = body.get("data")
        if isinstance(user, dict) and isinstance(user.get("id"), str) and user["id"].isdigit():
            return user
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if errors:  # X answers 200 with errors[] for an unknown or suspended user
            raise Failed(Failure(CONFIGURATION, f"{what}: X user @{self.options['user']}: {error_text(errors[0])}",
                                 status=response.status_code, detail=body, url=response.url))
        raise Failed(Failure(RETRY, f"{what}: no user id in X's answer", status=response.status_code,
                             url=response.url))

    def media_policy(self, **settings) -> MediaPolicy:
        """Media from X's media hosts (``pbs.twimg.com``, ``video.twimg.com``) and ``media_hosts``."""
        options = {**self.options, "media_hosts": [*MEDIA_HOSTS, *self.options["media_hosts"]]}
        return MediaPolicy.for_channel(self.base_url, options, **settings)

    def check(self) -> list[Check]:
        checks = [Check("settings", True, f"{self.base_url}, user @{self.options['user']}")]
        found, failure, response = self.probe_response(self._lookup_request(), "user lookup")
        checks += found
        if not checks[-1].ok:
            return checks
        if failure is not None:
            return checks + [Check("account", False, failure.message)]
        try:
            user = self._user(response, "user lookup")
        except Failed as failed:
            return checks + [Check("account", False, failed.failure.message)]
        return checks + [Check("account", True, f"@{user.get('username') or self.options['user']} found,"
                                                f" id {user['id']}")]

    # -- polling ------------------------------------------------------------------------------

    def _remember(self, recent: list, messages: list[Message]) -> list:
        merged = set(recent) | {m.id for m in messages}
        return sorted(merged, key=_id_key)[-self.options["recheck"]:] if self.options["recheck"] else []

    def poll(self, state: dict | None):
        state = _tidy(json.loads(json.dumps(state or {})))  # never touch the caller's dict
        user = self.options["user"]
        if state.get("user") != user or not state.get("user_id"):
            # a first poll, or the channel now follows another account: start afresh
            what = f"GET user @{user}"
            found = self._user(self.request(self._lookup_request(), what, self.budgets["users"]), what)
            state = {"user": user, "user_id": found["id"], "name": found.get("name") or "", "since_id": None,
                     "walk": None, "recent": [], "gone": []}
        owner = Author(id=state["user_id"], handle=user, name=state.get("name") or "")
        what = f"GET posts of @{user}"
        first_poll = not state.get("since_id")
        latest_only = first_poll and not state.get("walk") and self.options["initial"] == "latest"
        for response, records in self.pages(state, what):
            since, walk = state.get("since_id"), state.get("walk") or {}
            body = response.content
            page = page_value(body)
            self._refused(page, records, response, what)
            # X never sends posts outside (since_id, until_id); a misbehaving proxy might
            records = [r for r in records if self._inside(r, since, walk.get("until_id"))]
            messages, quarantined, ids = page_to_messages(
                records, page, member_items(body, "errors"), self.name, response.url,
                datetime.now(timezone.utc), owner)
            more = bool((page.get("meta") or {}).get("next_token")) and not latest_only
            newest = walk.get("newest") or _newest(*ids)
            before = dict(state)
            if more and ids:
                state["walk"] = {"newest": newest, "until_id": min(ids, key=_id_key)}
            elif not more:
                state["since_id"], state["walk"] = _newest(since, newest), None
            state["recent"] = self._remember(state.get("recent") or [], messages)
            messages.sort(key=lambda m: _id_key(m.version or m.id))
            if messages or quarantined or state != before:
                yield Page(captured(messages, response), dict(state), quarantined, url=response.url)
            if not more:
                break
        if not first_poll and self.options["recheck"] and not state.get("walk"):
            page = self._recheck(state)
            if page is not None:
                yield page

    @staticmethod
    def _inside(record: Record, since: str | None, until: str | None) -> bool:
        found = item_id(record.value)
        if not TWEET_ID.fullmatch(found):
            return True  # quarantined as it is
        return (not since or _id_key(found) > _id_key(since)) and (not until or _id_key(found) < _id_key(until))

    def _refused(self, page: dict, records: list, response, what: str) -> None:
        """A timeline answered with errors[] about the user itself (suspended, protected) and no data."""
        if records:
            return
        for error in page.get("errors") or []:
            if isinstance(error, dict) and error.get("parameter") == "id" and error.get("resource_type") == "user":
                raise Failed(Failure(CONFIGURATION, f"{what}: {error_text(error)}", status=response.status_code,
                                     detail=page, url=response.url))

    def _recheck(self, state: dict) -> Page | None:
        """The newest stored posts once more: those X no longer finds, as deletions (each once)."""
        gone = set(state.get("gone") or [])
        ids = [i for i in state.get("recent") or [] if i not in gone][-self.options["recheck"]:]
        deletions, url = [], ""
        for start in range(0, len(ids), LOOKUP_IDS):
            chunk = ids[start:start + LOOKUP_IDS]
            request = PageRequest(f"{self.base_url}/2/tweets", {"ids": ",".join(chunk)})
            try:
                response = self.request(request, f"GET posts of @{self.options['user']} (re-check)",
                                        self.budgets["tweets"])
            except Failed as failed:  # the timeline was read; the re-check is tried again next poll
                log.warning("%s: re-check skipped: %s", self.name, failed.failure.message)
                break
            url, now = response.url, datetime.now(timezone.utc)
            for error in page_value(response.content).get("errors") or []:
                found = str(error.get("resource_id") or error.get("value") or "") if isinstance(error, dict) else ""
                if found in chunk and is_not_found(error) and found not in gone:
                    gone.add(found)
                    deletions.append(Deletion(id=found, reason=f"X on re-check: {error_text(error)}", at=now,
                                              url=response.url))
        if not deletions:
            return None
        reported = {d.id for d in deletions}
        state["gone"] = ([i for i in state.get("gone") or [] if i not in reported] + [d.id for d in deletions])[-GONE_KEPT:]
        state["recent"] = [i for i in state.get("recent") or [] if i not in reported]
        return Page([], dict(state), url=url, deletions=deletions)

    # -- one post by its URL (see :mod:`.x_item`) ------------------------------------------------

    def item_id_for_url(self, url: str) -> str | None:
        return tweet_id_for_url(url)

    def fetch_item(self, url: str) -> Page:
        return fetch_tweet(self, url)

    # -- saved files --------------------------------------------------------------------------

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved page (``{"data", "includes", "meta", "errors"}``) or JSON lines of pages (twarc's
        output, with its ``__twarc`` metadata) -> (messages in page order, quarantined).

        A page's partial ``errors[]`` are tolerated (logged; the posts are kept). Compliance event
        lines are not posts and are skipped here (see :meth:`compliance_deletions`).
        """
        messages, quarantined = [], []
        for position, body in split_pages(data):
            page = page_value(body)
            if is_compliance_event(page):
                continue
            records = [Record(value, raw) for raw, value in member_items(body, "data")]
            if not records and not page:
                raise ParseError("expected an X API page: a JSON object with data, includes and meta",
                                 position or "line 1")
            twarc = page.get("__twarc") if isinstance(page.get("__twarc"), dict) else {}
            page_url = twarc.get("url") if isinstance(twarc.get("url"), str) else ""
            found, held, _ = page_to_messages(records, page, member_items(body, "errors"), channel, page_url, None,
                                              keep_errors=False)
            messages.extend(found)
            quarantined.extend(held)
        return messages, quarantined

    @staticmethod
    def compliance_deletions(data: bytes, now: datetime | None = None) -> list[Deletion]:
        """X compliance events (JSON lines: batch compliance results or compliance stream events) as
        :class:`~.base.Deletion` s; see :func:`.x_api.compliance_deletions`."""
        return compliance_deletions(data, now)

