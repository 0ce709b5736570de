"""Yammer / Viva Engage (REST API v1): the messages of one group, replies and edits included.

Yammer answers ``GET /messages/in_group/{group}.json`` with at most 20 messages, newest first,
and ``meta.older_available``; ``newer_than=<id>`` asks for messages above an id, ``older_than=<id>``
for the ones just below it. There is no way to ask for "the 20 just above an id" for certain, so a
poll walks *backwards*.

The cursor (``state``), documented here because the walk is not the obvious one:

``watermark``
    the newest message id below which everything is stored (``None`` before the first poll).
``walk``
    ``None``, or ``{"top", "older_than"}`` while a walk is unfinished: every message from
    ``older_than`` up to ``top`` is stored too, those between the watermark and ``older_than``
    are not yet.
``recent``
    ``{id: fingerprint}`` of the newest ``recheck`` messages as stored (for edits and deletions).

A poll asks ``newer_than=<watermark>`` (nothing on a first poll), then ``older_than=<the oldest id
of the last page>`` until a page reaches the watermark, comes back empty or says
``older_available: false``. Whether ``newer_than`` gives the newest messages above the watermark
or the ones just above it (the reference does not say), nothing is skipped. When the walk ends
within the poll (at most ``max_pages`` calls), its pages are handed on **oldest first**, each with
the watermark at its own newest message, so replies follow their parents and a crash repeats at
most one page. When the walk is cut short (the rate limit, a failure, ``max_pages``), the pages
read so far are handed on as read, newest first, each saving the walk's progress (``walk``), and
the next poll goes on from ``older_than``: nothing is skipped, at most one page is read twice.
Ids are integers, compared as numbers.

Edits: the v1 reference documents no edit time, and an edit keeps the message's id and place.
So each poll (after the first) re-reads the newest ``recheck`` messages of the group: a message
whose text, markup or attachments differ from what was stored becomes a new version,
``version = "edit-<fingerprint of the new content>"`` (stable: the same edit seen twice is one
version), ``edited_at`` = when the connector saw it. Deletions: a message of that window that is
gone from the group and answers 404 on ``GET /messages/{id}.json`` is a :class:`Deletion`.

Rate limit: Yammer allows 10 message calls per 30 seconds per user and app and asks for no more
than one poll a minute; the source spends its own :class:`CallBudget` of 10 per 30 s before each
call, and a 429 becomes ``rate_limited`` with ``retry_at`` from ``Retry-After``, else 30 s on.
Yammer's error bodies (``{"response": {"message": "Token not found.", "code": 16}}``) are named in
the failure. Normalising messages lives in :mod:`.yammer_message`.
"""
from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone

import marshmallow
import requests
from marshmallow import fields, validate

from ..checks import Check
from ..failures import Failed
from ..media import MediaOptions, MediaPolicy
from ..message import Message
from .base import SOURCES, Deletion, Page, Quarantined, captured
from .jsonitems import Unreadable, split_member, split_payload
from .rest import CallBudget, PageRequest, Record, RestSource
from .yammer_item import YammerItems
from .yammer_message import References, fingerprint, id_key, item_id, records_to_messages

RATE_WAIT = timedelta(seconds=30)
_OLDER = re.compile(rb'"older_available"\s*:\s*(true|false)')  # Yammer's message window, when a 429 says nothing itself


class YammerOptions(MediaOptions):
    class Meta:
        unknown = marshmallow.RAISE

    group_id = fields.Str(required=True, validate=validate.Regexp(r"^[1-9][0-9]{0,19}$", error="expected the"
                          " group's numeric id"), metadata={"description": "the group (community) whose messages"
                                                           " are archived: its numeric v1 id"})
    token = fields.Str(required=True, validate=validate.Length(min=1), metadata={
        "description": "bearer token of the user the connector reads as (`${ENV}` only)"})
    base_url = fields.Url(load_default="https://www.yammer.com/api/v1", schemes={"http", "https"},
                          require_tld=False, metadata={"description": "the REST API v1 root"})
    network_host = fields.Url(load_default="https://web.yammer.com", schemes={"http", "https"}, require_tld=False,
                              metadata={"description": "web host for a thread permalink when a message has"
                                                       " no `web_url` of its own"})
    initial = fields.Str(load_default="all", validate=validate.OneOf(["all", "latest"]), metadata={
        "description": "first poll: `all` history, or `latest` (the newest page only)"})
    recheck = fields.Int(load_default=20, validate=validate.Range(0, 100), metadata={
        "description": "each poll re-reads the newest N messages (20 a call; 0 = never): a changed one becomes"
                       " a new version, one gone (404) a deletion"})

    @marshmallow.pre_load
    def group_as_text(self, data, **kwargs):
        if isinstance(data, dict) and isinstance(data.get("group_id"), int) and not isinstance(data["group_id"], bool):
            data = {**data, "group_id": str(data["group_id"])}
        return data

    @marshmallow.post_load
    def tidy(self, data, **kwargs):
        data["base_url"] = data["base_url"].rstrip("/")
        data["network_host"] = data["network_host"].rstrip("/")
        return data


def older_available(response: requests.Response) -> bool:
    """``meta.older_available``; True when the answer does not say (the walk then ends on its own).

    A page holding an item that is no JSON cannot be parsed as a whole: its ``meta`` (which Yammer
    puts after the messages) is then read from the last ``"older_available"`` in the bytes."""
    try:
        meta = json.loads(response.content.decode("utf-8", "replace")).get("meta")
    except (ValueError, RecursionError, AttributeError):
        found = _OLDER.findall(response.content[-4096:])
        return found[-1] != b"false" if found else True
    value = meta.get("older_available") if isinstance(meta, dict) else None
    return value if isinstance(value, bool) else True


def _newest(ids, default=None):
    return max(ids, key=id_key, default=default)


@SOURCES.register
class YammerSource(YammerItems, RestSource):
    """Messages of one Yammer group (posts and replies), edits as new versions, deletions seen on re-check."""

    kind = "yammer"
    options_schema = YammerOptions
    records_path = "messages"
    budget_calls, budget_period = 10, 30.0
    max_pages = 8  # a walk of one poll, leaving room in the budget for the re-check

    def __init__(self, name: str, options: dict, session: requests.Session | None = None,
                 budget: CallBudget | None = None):
        super().__init__(name, options, session, budget)
        self.base_url = self.options["base_url"]
        self.group = self.options["group_id"]

    def __repr__(self) -> str:  # never show the token
        return f"<YammerSource {self.name!r} {self.base_url} group {self.group}>"

    def headers(self) -> dict:
        return {**super().headers(), "Authorization": f"Bearer {self.options['token']}"}

    def url(self, state: dict | None) -> str:
        return f"{self.base_url}/messages/in_group/{self.group}.json"

    def classify_response(self, response: requests.Response, what: str):
        """The shared table, plus Yammer's own error text, and 30 s for a 429 that names no time."""
        failure = super().classify_response(response, what)
        if failure is None:
            return None
        said = failure.detail.get("response") if isinstance(failure.detail, dict) else None
        message = failure.message
        if isinstance(said, dict) and isinstance(said.get("message"), str):
            code = said.get("code")
            message += f" {said['message']}" + (f" (Yammer error code {code})" if code is not None else "")
        retry_at = failure.retry_at
        if response.status_code == 429:
            retry_at = retry_at or datetime.now(timezone.utc) + RATE_WAIT
            message += (f": Yammer's rate limit (10 message calls per 30 s per user and app) is used up;"
                        f" trying again at {retry_at.isoformat()}")
        elif response.status_code == 401:
            message += ": Yammer refused the token; give the channel a valid bearer token"
        return dataclasses.replace(failure, message=message, retry_at=retry_at)

    def media_policy(self, **settings) -> MediaPolicy:
        """Media from the API's host and the channel's ``media_hosts`` (see :mod:`connector.media`)."""
        return MediaPolicy.for_channel(self.base_url, self.options, **settings)

    def check(self) -> list[Check]:
        checks = [Check("settings", True, f"{self.base_url}, group {self.group}")]
        found, failure = self.probe(PageRequest(f"{self.base_url}/users/current.json"), "current user")
        checks += found
        if not checks[-1].ok:
            return checks
        _, failure = self.probe(PageRequest(f"{self.base_url}/groups/{self.group}.json"), f"group {self.group}")
        if failure is not None:
            return checks + [Check("group", False, failure.message)]
        return checks + [Check("group", True, f"group {self.group} found")]

    # -- polling ------------------------------------------------------------------------------

    def _normalise(self, response, records: list[Record]):
        fetched_at = datetime.now(timezone.utc)
        messages, quarantined, ids = records_to_messages(
            records, References.of_page(response.content), self.name, response.url, fetched_at,
            self.options["network_host"])
        messages.sort(key=lambda m: id_key(m.id))
        return captured(messages, response), quarantined, ids

    def _remember(self, recent: dict, messages: list[Message]) -> dict:
        merged = {**recent, **{m.id: fingerprint(m) for m in messages}}
        newest = sorted(merged, key=id_key, reverse=True)[:self.options["recheck"]]
        return {key: merged[key] for key in sorted(newest, key=id_key)}

    def poll(self, state: dict | None):
        state = json.loads(json.dumps(state or {}))  # never touch the caller's dict
        if state.get("group_id") != self.group:
            # a first poll, or the channel now reads another group: start afresh
            state = {"group_id": self.group, "watermark": None, "walk": None, "recent": {}}
        what = f"GET messages of Yammer group {self.group}"
        first_poll = not state.get("watermark") and not state.get("walk")
        if first_poll and self.options["initial"] == "latest":
            response = self.request(PageRequest(self.url(state)), what)
            messages, quarantined, ids = self._normalise(response, self.records(response, what))
            state = {**state, "watermark": _newest(ids), "recent": self._remember({}, messages)}
            yield Page(messages, dict(state), quarantined, url=response.url)
            return
        state = yield from self._walk(state, what)
        if state is not None and not first_poll and self.options["recheck"] and state.get("watermark"):
            yield from self._recheck(state, what)

    def _walk(self, state: dict, what: str):
        """Read backwards from the newest message to the watermark; the final state, or None if cut short."""
        mark, walk = state.get("watermark"), state.get("walk")
        bound = walk["older_than"] if walk else None
        params = {"older_than": bound} if walk else ({"newer_than": mark} if mark else {})
        request = PageRequest(self.url(state), params)
        fetched, complete, failure, seen = [], False, None, set()
        for _ in range(self.max_pages):
            try:
                response = self.request(request, what)
                records = self.records(response, what)
            except Failed as exc:
                failure = exc
                break
            ids = [i for i in map(item_id, records) if i]
            # what is stored already (at or below the watermark, at or above the walk's bound) is left out
            keep = [r for r in records if (r.raw not in seen if not (found := item_id(r)) else (
                (not mark or id_key(found) > id_key(mark)) and (not bound or id_key(found) < id_key(bound))))]
            seen.update(r.raw for r in records)  # an item without a readable id: quarantined once a walk
            fetched.append((response, keep, ids))
            lowest = min(ids, key=id_key, default=None)
            if (lowest is None or (mark and id_key(lowest) <= id_key(mark)) or not older_available(response)
                    or (bound and id_key(lowest) >= id_key(bound))):  # the last: or a server ignoring older_than
                complete = True
                break
            bound = lowest
            request = PageRequest(self.url(state), {"older_than": lowest})
        if complete:
            return (yield from self._oldest_first(state, fetched))
        top = walk["top"] if walk else None
        for response, keep, ids in fetched:  # cut short: as read, each page saving the walk's progress
            messages, quarantined, _ = self._normalise(response, keep)
            top = top or _newest(ids)
            state = {**state, "walk": {"top": top, "older_than": min(ids, key=id_key)},
                     "recent": self._remember(state.get("recent") or {}, messages)}
            yield Page(messages, dict(state), quarantined, url=response.url)
        if failure is not None:
            raise failure
        return None

    def _oldest_first(self, state: dict, fetched: list):
        """A finished walk's pages, oldest first, the watermark moving up with each; the final state."""
        walk = state.get("walk")
        for index, (response, keep, ids) in enumerate(reversed(fetched)):
            last = index == len(fetched) - 1
            messages, quarantined, new_ids = self._normalise(response, keep)
            mark = state.get("watermark")
            marks = [*new_ids, *([mark] if mark else []), *([walk["top"]] if walk and last else [])]
            before = state
            state = {**state, "watermark": _newest(marks), "walk": None if last else walk,
                     "recent": self._remember(state.get("recent") or {}, messages)}
            if messages or quarantined or (last and state != before):
                yield Page(messages, dict(state), quarantined, url=response.url)
        return state

    def _recheck(self, state: dict, what: str):
        """The newest ``recheck`` messages once more: edits as new versions, deletions (404) as such.

        A failure while asking after missing messages (the rate limit, most likely) still hands on
        the deletions found so far, so that the next poll goes on with the others."""
        want, mark = self.options["recheck"], id_key(state["watermark"])
        recent = state.get("recent") or {}
        seen: dict[str, Message] = {}
        listed: set[str] = set()
        ended, request, last_url = False, PageRequest(self.url(state)), ""
        for _ in range(self.max_pages):
            response = self.request(request, f"{what} (re-check)")
            messages, _, ids = self._normalise(response, self.records(response, what))
            seen.update({m.id: m for m in messages if id_key(m.id) <= mark and m.id not in seen})
            listed.update(ids)
            last_url = response.url
            if not ids or not older_available(response):
                ended = True
                break
            if len([i for i in listed if id_key(i) <= mark]) >= want:
                break
            request = PageRequest(self.url(state), {"older_than": min(ids, key=id_key)})
        window = sorted((i for i in listed if id_key(i) <= mark), key=id_key, reverse=True)[:want]
        floor = 0 if ended and len(window) < want else (id_key(window[-1]) if window else mark + 1)
        deletions, failure = [], None
        for missing in sorted(recent, key=id_key):
            if missing in listed or id_key(missing) < floor:
                continue
            try:
                found = self._gone(missing, what)
            except Failed as exc:
                failure = exc
                break
            deletions += [found] if found else []
        checked = datetime.now(timezone.utc)
        edited = [dataclasses.replace(m, version=f"edit-{fingerprint(m)}", edited_at=checked)
                  for i, m in sorted(seen.items(), key=lambda kv: id_key(kv[0]))
                  if i in recent and recent[i] != fingerprint(m)]
        gone = {d.id for d in deletions}
        updated = self._remember({k: v for k, v in recent.items() if k not in gone}, list(seen.values()))
        if edited or deletions or updated != recent:
            yield Page(edited, {**state, "recent": updated}, url=last_url, deletions=deletions)
        if failure is not None:
            raise failure

    def _gone(self, message_id: str, what: str) -> Deletion | None:
        """A Deletion when the message answers 404 itself; None when it is still there."""
        url = f"{self.base_url}/messages/{message_id}.json"
        try:
            self.request(PageRequest(url), f"{what} (is message {message_id} still there?)")
        except Failed as exc:
            if exc.failure.status != 404:
                raise
            return Deletion(message_id, f"gone from group {self.group}'s messages and 404 Not Found on re-check",
                            datetime.now(timezone.utc), url)
        return None

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved ``in_group`` page (or any message list answer), one message object, or an array of
        them -> (messages in payload order, quarantined)."""
        items, is_list = split_payload(data)
        refs = References()
        if is_list:
            records = [Record(value, raw) for raw, value in items]
        else:
            value = items[0][1]
            page = split_member(data, "messages") if isinstance(value, (dict, Unreadable)) else []
            if page or (isinstance(value, dict) and "messages" in value):
                records, refs = [Record(v, raw) for raw, v in page], References.of_page(data)
            else:  # one message (an unreadable one is quarantined with its reason)
                records = [Record(value, items[0][0])]
        messages, quarantined, _ = records_to_messages(records, refs, channel, "", None)
        return messages, quarantined
