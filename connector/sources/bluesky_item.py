"""Bluesky: one post by its bsky.app URL, fetched with ``app.bsky.feed.getPosts``.

Split from :mod:`.bluesky` (polling, cursor). ``https://bsky.app/profile/<handle or DID>/post/<rkey>``
(also ``www.``, ``http``, a trailing slash or query) names the post ``at://<DID>/app.bsky.feed.post/<rkey>``,
the id a poll gives it. ``item_id_for_url`` does no I/O, so for a URL with a handle it answers
``at://<handle>/app.bsky.feed.post/<rkey>`` (the AT URI form with a handle, which the platform accepts
too); the message fetched carries the DID form, as a poll's does. ``fetch_item`` resolves a handle
(``com.atproto.identity.resolveHandle``), then asks ``getPosts?uris=``; a post the AppView does not
return (deleted, or an unknown handle) is a permanent failure.

What a fetched post cannot have: the feed item around it (``reply`` context, a repost ``reason``). A
post is normalised as the source normalises thread replies (:func:`.bluesky_post.post_to_message`):
same id, text, reply links and version (``""``: a poll gives the cid as version only to an edit it
saw); a mention whose text is not ``@handle`` may name the DID where the feed item knew the handle.
Its raw is the post view's exact bytes in the getPosts answer.
"""
from __future__ import annotations

from datetime import datetime, timezone

from ..failures import PERMANENT, RETRY, Failed, Failure
from .base import Page, ParseError, captured
from .bluesky_post import DID, HANDLE, POST_COLLECTION, post_to_message, records_to_messages
from .bluesky_xrpc import array_items, json_or_none, whole_object
from .itemurl import NOT_VISIBLE, gone, missing, same_site, segments, web_url
from .jsonitems import item_value
from .rest import PageRequest, Record, json_path

APP_HOST = "https://bsky.app"
RKEY_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:~")


def post_for_url(url: str) -> tuple[str, str] | None:
    """``(handle or DID, rkey)`` of a bsky.app post URL, or ``None``."""
    parts = web_url(url)
    if parts is None or not same_site(parts, APP_HOST):
        return None
    path = segments(parts)
    if len(path) != 4 or path[0] != "profile" or path[2] != "post":
        return None
    actor, rkey = path[1].removeprefix("@"), path[3]
    if not 1 <= len(rkey) <= 512 or not set(rkey) <= RKEY_CHARS or rkey in (".", ".."):
        return None
    if DID.fullmatch(actor):
        return actor, rkey
    return (actor.lower(), rkey) if HANDLE.fullmatch(actor) else None


def uri_for_url(url: str) -> str | None:
    found = post_for_url(url)
    return f"at://{found[0]}/{POST_COLLECTION}/{found[1]}" if found else None


def _did(source, actor: str, what: str) -> str:
    if DID.fullmatch(actor):
        return actor
    lookup = f"GET com.atproto.identity.resolveHandle {actor}"
    try:
        response = source.request(PageRequest(f"{source.xrpc}/com.atproto.identity.resolveHandle",
                                              {"handle": actor}), lookup)
    except Failed as failed:
        body = failed.failure.detail if isinstance(failed.failure.detail, dict) else {}
        if failed.failure.status == 400 and body.get("error") in ("InvalidRequest", "HandleNotFound"):
            raise missing(what, "no such account", f"Bluesky: {body.get('message') or body['error']}",
                          status=400, url=failed.failure.url, detail=body) from None
        raise gone(failed, lookup) from None
    did = json_path(json_or_none(response), "did")
    if not isinstance(did, str) or not DID.fullmatch(did):
        raise Failed(Failure(RETRY, f"{lookup}: no DID in the answer", url=response.url))
    return did


def fetch_post(source, url: str) -> Page:
    """One post as :meth:`connector.sources.bluesky.BlueskySource.fetch_item` returns it."""
    found = post_for_url(url)
    if found is None:
        raise Failed(Failure(PERMANENT, f"{str(url)[:200]!r} is not the URL of a post on Bluesky"))
    actor, rkey = found
    what = f"GET app.bsky.feed.getPosts {actor}/post/{rkey}"
    uri = f"at://{_did(source, actor, what)}/{POST_COLLECTION}/{rkey}"
    try:
        response = source.request(PageRequest(f"{source.xrpc}/app.bsky.feed.getPosts", {"uris": uri}), what)
    except Failed as failed:
        raise gone(failed, what) from None
    try:
        views = array_items(whole_object(response.content), "posts")
    except ParseError as exc:
        raise Failed(Failure(RETRY, f"{what}: unreadable response ({exc})", status=response.status_code,
                             url=response.url)) from exc
    records = [Record(item_value(raw), raw) for raw in views]
    if not records:
        raise missing(what, NOT_VISIBLE, "Bluesky returned no post for it", status=response.status_code,
                      url=response.url)
    messages, quarantined = records_to_messages(records, source.name, response.url, datetime.now(timezone.utc),
                                                normalise=post_to_message)
    return Page(captured(messages, response), {}, quarantined, url=response.url)


class ItemMixin:
    """``item_id_for_url`` and ``fetch_item`` for :class:`.bluesky.BlueskySource` (uses its ``request``, ``xrpc``)."""

    def item_id_for_url(self, url: str) -> str | None:
        return uri_for_url(url)

    def fetch_item(self, url: str) -> Page:
        return fetch_post(self, url)
