"""Instagram professional accounts through the Graph API: an account's media, comments and replies.

Media come from ``/{ig-user-id}/media`` (newest first, cursor paging, ``since``/``until``);
comments from ``/{media-id}/comments`` with their replies expanded (``replies{...}``). Polling,
the re-check window and deletions are :mod:`.graph_cursor`'s; errors, usage headers and paging
:mod:`.graph`'s (Instagram answers with the same error bodies and the
``X-Business-Use-Case-Usage`` header).

Normalising:

* a medium (photo, video, reel, carousel) is kind ``post``, ``text`` its ``caption``, ``url`` its
  ``permalink``, ``author`` its ``owner`` id and ``username``; ``hashtags`` and ``mentions`` as
  written in the caption; ``attachments`` the ``media_url`` (a carousel's children each; a video
  without one its ``thumbnail_url``);
* a comment is kind ``comment`` with ``in_reply_to`` = ``thread_id`` = the medium's id; a reply
  (from the comment's ``replies``) has ``in_reply_to`` = the comment's id. Each keeps its own
  exact bytes (a reply's cut out of its comment's). Instagram builds no permalink for a comment:
  ``url`` is empty;
* no edits: Graph gives a medium no edit time nor history, so a changed caption cannot be told
  from the caption as first published (the re-check still finds new comments and deletions).
"""
from __future__ import annotations

from datetime import datetime

from marshmallow import fields, validate

from ..message import Attachment, Author, Message, Quarantined, Raw
from .base import SOURCES
from .graph import GraphOptions, GraphSource, saved_page
from .graph_item import SHORTCODE, fetch_instagram, shortcode_of
from .graph_text import (Invalid, admit_records, checked, date_field, edge_items, graph_id, hashtags, item_id,
                         media_type, mentions, nested_items, object_field, text_field, text_html)
from .rest import PageRequest, Record

MEDIA_FIELDS = ("id,caption,media_type,media_url,thumbnail_url,permalink,timestamp,username,owner,"
                "comments_count,children{id,media_type,media_url,thumbnail_url}")
_COMMENT = "id,text,timestamp,username,from,parent_id"
COMMENT_FIELDS = f"{_COMMENT},media,replies{{{_COMMENT}}}"
_FAMILIES = {"IMAGE": "image", "VIDEO": "video", "REELS": "video"}


class InstagramOptions(GraphOptions):
    account_id = fields.Str(required=True, validate=validate.Regexp(r"^[0-9]{1,32}$",
                                                                    error="expected a numeric IG user id"),
                            metadata={"description": "the professional account's IG user id"})


def _checked(item, what: str) -> dict:
    item = checked(item, what)
    graph_id(item)
    return item


def _medium(item: dict) -> Attachment | None:
    kind = text_field(item, "media_type") or ""
    url = text_field(item, "media_url")
    family = _FAMILIES.get(kind, "image")
    if not url and kind == "VIDEO":
        url, family = text_field(item, "thumbnail_url"), "image"
    if not url:
        return None  # Graph leaves media_url out of media flagged for copyright
    return Attachment(url=url, media_type=media_type(url, family))


def media_to_message(media, *, channel: str = "", raw: Raw | None = None) -> Message:
    """One IG medium as a :class:`Message`; raises ``ValueError`` with the quarantine reason."""
    media = _checked(media, "media")
    text = text_field(media, "caption") or ""
    if text_field(media, "media_type") == "CAROUSEL_ALBUM" and media.get("children") is not None:
        found = [_medium(child) for child in edge_items(media, "children")]
    else:
        found = [_medium(media)]
    owner = object_field(media, "owner") if media.get("owner") is not None else {}
    return Message(
        channel=channel, id=media["id"], kind="post",
        author=Author(id=text_field(owner, "id") or "", handle=text_field(media, "username") or ""),
        created_at=date_field(media, "timestamp", required=True), text=text, html=text_html(text),
        url=text_field(media, "permalink") or "", thread_id=media["id"], hashtags=hashtags(text),
        mentions=mentions(text), attachments=tuple(a for a in found if a), raw=raw)


def comment_to_message(comment, *, channel: str = "", raw: Raw | None = None, media_id: str = "",
                       parent: str = "") -> Message:
    """One comment (``parent`` empty) or reply as a :class:`Message`; ``media_id`` the medium, where known."""
    comment = _checked(comment, "comment")
    if not media_id and comment.get("media") is not None:
        media_id = text_field(object_field(comment, "media"), "id") or ""
    if not media_id:
        raise Invalid("cannot tell which media the comment is under: no media given and no media.id")
    parent = parent or text_field(comment, "parent_id") or media_id
    edge_items(comment, "replies")  # read by to_messages: a list of reply objects, or the comment is held
    sender = object_field(comment, "from") if comment.get("from") is not None else {}
    text = text_field(comment, "text") or ""
    return Message(
        channel=channel, id=comment["id"], kind="comment",
        author=Author(id=text_field(sender, "id") or "",
                      handle=text_field(comment, "username") or text_field(sender, "username") or ""),
        created_at=date_field(comment, "timestamp", required=True), text=text, html=text_html(text),
        in_reply_to=parent, thread_id=media_id, hashtags=hashtags(text), mentions=mentions(text), raw=raw)


def is_comment(item) -> bool:
    """A comment's fields (``text``, ``replies``, ``parent_id``) and no medium's ``media_type``."""
    return (isinstance(item, dict) and "media_type" not in item
            and any(k in item for k in ("text", "replies", "parent_id")))


def to_messages(records: list[Record], channel: str, page_url: str, fetched_at: datetime | None,
                media_id: str | None = None) -> tuple[list[Message], list[Quarantined]]:
    """Messages and quarantined items of one page: comments (and their replies) of ``media_id`` when
    given, else media (or, without context, each record by its own fields)."""
    messages, quarantined = [], []
    for record in records:
        if media_id is None and not is_comment(record.value):
            found = admit_records([(record.raw, record.value)], page_url, fetched_at,
                                  lambda v, raw: media_to_message(v, channel=channel, raw=raw))
        else:
            value, top, context = record.value, item_id(record.value), media_id or ""
            if not context and isinstance(value, dict) and isinstance(value.get("media"), dict):
                context = item_id(value["media"])
            found = admit_records([(record.raw, value)], page_url, fetched_at, lambda v, raw: comment_to_message(
                v, channel=channel, raw=raw, media_id=media_id or ""))
            if found[0] and isinstance(value.get("replies"), dict):  # the comment passed: its replies are objects
                replies = admit_records(nested_items(record.raw, "replies"), page_url, fetched_at,
                                        lambda v, raw: comment_to_message(v, channel=channel, raw=raw,
                                                                          media_id=context, parent=top))
                found = (found[0] + replies[0], found[1] + replies[1])
        messages += found[0]
        quarantined += found[1]
    return messages, quarantined


@SOURCES.register
class InstagramSource(GraphSource):
    """An Instagram professional account's media, with comments and replies; deletions reported."""

    kind = "instagram"
    options_schema = InstagramOptions
    owner_option, owner_label, edge = "account_id", "account", "media"
    created_field = "timestamp"
    check_fields = "id,username"
    cdn_hosts = ("*.cdninstagram.com", "*.fbcdn.net")
    gone_reason = "gone from the account's media within the re-check window"
    comment_gone_reason = "gone from the media's comments within the re-check window"

    def listing_fields(self) -> str:
        return MEDIA_FIELDS

    def comment_request(self, parent_id: str) -> PageRequest:
        return PageRequest(f"{self.graph}/{parent_id}/comments",
                           {"fields": COMMENT_FIELDS, "limit": self.options["page_size"]})

    def item_messages(self, records, page_url, fetched_at):
        return to_messages(records, self.name, page_url, fetched_at)

    def comment_messages(self, records, page_url, fetched_at, parent_id):
        return to_messages(records, self.name, page_url, fetched_at, media_id=parent_id)

    def item_id_for_url(self, url: str) -> str | None:
        """``"shortcode:<code>"`` for a post's or reel's permalink: Graph looks media up by id only, so
        :meth:`fetch_item` finds the medium (and its id, the message's) in the account's media."""
        code = shortcode_of(url)
        return f"{SHORTCODE}{code}" if code else None

    def fetch_item(self, url: str):
        return fetch_instagram(self, url)

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved Graph page (``{"data": [...]}`` of media or of comments), a bare list or one
        medium or comment -> (messages in payload order, replies after their comment; quarantined)."""
        return to_messages(saved_page(data)[0], channel, "", None)
