"""One Yammer (Viva Engage) message by its URL (``item_id_for_url`` and ``fetch_item`` of
:class:`.yammer.YammerSource`), a mixin.

URLs read (hosts ``www.yammer.com``, ``yammer.com``, ``web.yammer.com``, ``engage.cloud.microsoft``):

* ``/<network>/messages/<id>`` (a message's ``web_url``) and ``/api/v1/messages/<id>`` (its ``url``)
  -> the message ``<id>``;
* ``/<network>/threads/<id>`` -> the thread's first message: Yammer numbers a thread after the
  message that starts it (``thread_id`` = that message's ``id``);
* the new web front end's ``/main/threads/<token>`` (also under ``/main/org/<org>/`` or
  ``/main/groups/<group>/``, and on Viva Engage's host), whose token is base64 of
  ``{"_type":"Thread","id":"<id>"}`` (or ``"Message"``): the id is read from it; a token that is
  not that (a newer opaque form) is ``None``.

``fetch_item`` asks ``GET /messages/<id>.json`` (404: ``permanent``, "no such item"). That answer
is the message alone, without the ``references`` that name its sender, mentions and topics; so,
to normalise it exactly as poll does, it then asks its group's listing for just that message,
``GET /messages/in_group/<group>.json?older_than=<id + 1>&limit=1`` (the documented paging poll
uses), whose message bytes and references are what a poll stores. A message in no group (a
private one) or not listed there is normalised from the first answer, without the names the
references would give. Both calls spend the source's call budget; 401, 429 and 5xx are
classified as poll classifies them (:meth:`.yammer.YammerSource.classify_response`).
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone

from ..failures import PERMANENT, Failed, Failure
from .base import captured
from .itemurl import gone, one_item, permalink, segments, single_record
from .rest import PageRequest, Record
from .yammer_message import References, item_id, message_id, records_to_messages

HOSTS = frozenset({"www.yammer.com", "yammer.com", "web.yammer.com", "engage.cloud.microsoft",
                   "www.engage.cloud.microsoft"})
MAX_TOKEN = 400  # characters of a thread token decoded


def _token_id(token: str) -> str:
    """The message or thread id in the web front end's base64 token, or ""."""
    if not token or len(token) > MAX_TOKEN:
        return ""
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        return ""
    if not isinstance(data, dict) or data.get("_type") not in ("Thread", "Message"):
        return ""
    return message_id(data.get("id"))


def yammer_message_id(url) -> str | None:
    """The id of the message a Yammer URL names (a thread's: its first message's), or None."""
    parts = permalink(url, HOSTS)
    if parts is None:
        return None
    path = segments(parts)
    found = ""
    if len(path) >= 3 and path[0] == "main" and path[-2] == "threads":
        found = _token_id(path[-1])
    elif len(path) == 4 and path[:3] == ["api", "v1", "messages"]:
        found = message_id(path[3].removesuffix(".json"))
    elif len(path) == 3 and path[0] != "main" and path[1] in ("messages", "threads"):
        found = message_id(path[2])
    return found or None


def _pick(records: list[Record], wanted: str) -> Record | None:
    return next((r for r in records if item_id(r) == wanted), None)


class YammerItems:
    """``item_id_for_url`` and ``fetch_item`` (see the module docstring); uses the source's ``request``."""

    def item_id_for_url(self, url: str) -> str | None:
        return yammer_message_id(url)

    def fetch_item(self, url: str):
        wanted = yammer_message_id(url)
        if wanted is None:
            raise Failed(Failure(PERMANENT, f"not the URL of a Yammer message or thread: {url}"[:500]))
        what = f"GET Yammer message {wanted}"
        try:
            response = self.request(PageRequest(f"{self.base_url}/messages/{wanted}.json"), what)
        except Failed as failed:
            raise gone(failed, what) from None
        record, refs = single_record(response, what), References()
        if isinstance(record.value, dict) and "messages" in record.value:  # a list answer: the message, named
            found = _pick(self.records(response, what), wanted)
            record, refs = found or record, References.of_page(response.content)
        elif isinstance(record.value, dict) and message_id(record.value.get("group_id")):
            listed = self._listed(record.value["group_id"], wanted, what)
            if listed is not None:
                response, record, refs = listed
        messages, quarantined, _ = records_to_messages([record], refs, self.name, response.url,
                                                       datetime.now(timezone.utc), self.options["network_host"])
        return one_item(captured(messages, response), quarantined, response.url)

    def _listed(self, group, wanted: str, what: str):
        """(response, record, references) of the message as its group's listing shows it, or None."""
        request = PageRequest(f"{self.base_url}/messages/in_group/{message_id(group)}.json",
                              {"older_than": int(wanted) + 1, "limit": 1})
        try:
            response = self.request(request, f"{what} (its group's listing, for the names it references)")
        except Failed as failed:
            if failed.failure.status in (403, 404):
                return None  # a group the token cannot list: the message as first fetched
            raise
        record = _pick(self.records(response, what), wanted)
        return (response, record, References.of_page(response.content)) if record is not None else None
