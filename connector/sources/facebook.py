"""Facebook Pages through the Graph API: a page's posts, their comments and replies.

Posts come from ``/{page-id}/posts`` (or ``/feed``, with what others post on the page; newest first, cursor paging, ``since``/``until``); comments
and replies from ``/{post-id}/comments?filter=stream`` (flat, chronological; a reply names its
``parent``). Polling, the re-check window, edits and deletions are :mod:`.graph_cursor`'s;
errors, usage headers and paging :mod:`.graph`'s. This module holds what is Facebook's: the
options, the fields asked for and the normalisers.

Normalising (see the README's conventions):

* a post is kind ``post`` (``thread_id`` its own id); a comment kind ``comment`` with
  ``in_reply_to`` its parent comment's id (a reply) or the post's id, ``thread_id`` the post's id;
* ``url`` is Graph's ``permalink_url``; ``author`` is ``from`` (id and name; Graph has no handle,
  and leaves ``from`` out of comments by people unless the token is the page's own); a post
  without ``from`` is the page's, whose id starts the post id (``<page id>_<post id>``);
* ``text`` the ``message`` (or the ``story`` of a post without one), ``html`` built from it;
  ``hashtags`` as written in the text; ``mentions`` the ids of the profiles and pages tagged in
  ``message_tags`` (Graph gives tagged profiles no handle);
* ``attachments``: photos (an album's each), videos (``media.source``, else the preview
  image), stickers and GIFs, each at the URL Graph gives (``media.image.src``); link previews are
  not media. An attachment's ``description`` is kept where it is not just the post's text again;
* an edit is a change of the text or the media kinds of a post within the re-check window; its
  ``version`` and ``edited_at`` are its ``updated_time`` (which alone also moves on every new
  comment, so it is no edit by itself). Comments have no edit time in Graph: not versioned.

A comment page read without ``id`` (as in the recorded page in ``fixtures/facebook/``) still
gives each comment Graph's id, ``<post object id>_<comment id>``, from the ``comment_id`` and
``reply_comment_id`` of its ``permalink_url``; the post from the page URL or the permalink.
"""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from marshmallow import fields, validate

from ..message import Attachment, Author, Message, Quarantined, Raw
from .base import SOURCES
from .graph import GraphOptions, GraphSource, saved_page
from .graph_cursor import version_edit
from .graph_item import facebook_target, fetch_facebook
from .graph_text import (Invalid, admit_records, checked, content_key, date_field, edge_items, graph_id, hashtags,
                         media_type, object_field, objects_field, text_field, text_html)
from .rest import PageRequest, Record

POST_FIELDS = ("id,message,story,created_time,updated_time,permalink_url,from,message_tags,"
               "attachments{media_type,type,media,url,title,description,target,subattachments}")
COMMENT_FIELDS = "id,message,created_time,from,parent{id},permalink_url,attachment,message_tags"
_IMAGE_TYPES = {"photo", "sticker", "animated_image_share", "animated_image_autoplay", "animated_image_video",
                "cover_photo", "profile_media", "gif"}
_COMMENTS_PATH = re.compile(r"/([0-9]{1,32}_[0-9]{1,32})/comments/?$")


class FacebookOptions(GraphOptions):
    page_id = fields.Str(required=True, validate=validate.Regexp(r"^[0-9]{1,32}$", error="expected a numeric page id"),
                         metadata={"description": "the page's numeric id"})
    listing = fields.Str(load_default="posts", validate=validate.OneOf(["posts", "feed"]), metadata={
        "description": "`posts`: the page's own posts; `feed`: also what others post on the page"})


# -- normalising ------------------------------------------------------------------------------

def _author(item: dict, fallback_id: str = "") -> Author:
    sender = item.get("from")
    if sender is None:
        return Author(id=fallback_id, handle="")
    sender = object_field(item, "from")
    return Author(id=text_field(sender, "id") or "", handle="", name=text_field(sender, "name") or "")


def _tagged(item: dict) -> tuple[str, ...]:
    tags = item.get("message_tags")
    if isinstance(tags, dict):  # older Graph versions: {offset: [tag, ...]}
        tags = [t for group in tags.values() if isinstance(group, list) for t in group]
        item = {"message_tags": tags}
    return tuple(dict.fromkeys(t["id"] for t in objects_field(item, "message_tags") if isinstance(t.get("id"), str)))


def _medium(attachment: dict, text: str) -> Attachment | None:
    kind = " ".join(v for v in (attachment.get("media_type"), attachment.get("type")) if isinstance(v, str))
    media = attachment.get("media") if isinstance(attachment.get("media"), dict) else {}
    image = media.get("image") if isinstance(media.get("image"), dict) else {}
    if "video" in kind and isinstance(media.get("source"), str):
        url, family = media["source"], "video"
    elif ("video" in kind or set(kind.split()) & _IMAGE_TYPES) and isinstance(image.get("src"), str):
        url, family = image["src"], "image"  # a photo, or the preview image of a video Graph gives no source of
    else:
        return None  # a link preview, an event, a note: not media
    description = attachment.get("description") if isinstance(attachment.get("description"), str) else ""
    return Attachment(url=url, media_type=media_type(url, family),
                      description="" if description.strip() == text.strip() else description)


def _attachments(found: list[dict], text: str) -> tuple[Attachment, ...]:
    result = []
    for attachment in found:
        children = edge_items(attachment, "subattachments")
        if children:
            result += _attachments(children, text)
            continue
        medium = _medium(attachment, text)
        if medium is not None:
            result.append(medium)
    return tuple(result)


def post_to_message(post, *, channel: str = "", raw: Raw | None = None) -> Message:
    """One page post as a :class:`Message`; raises ``ValueError`` with the quarantine reason."""
    post = checked(post, "post")
    post_id = graph_id(post)
    text = text_field(post, "message") or text_field(post, "story") or ""
    found = edge_items(post, "attachments")
    return Message(
        channel=channel, id=post_id, kind="post", author=_author(post, post_id.split("_")[0] if "_" in post_id else ""),
        created_at=date_field(post, "created_time", required=True), text=text, html=text_html(text),
        url=text_field(post, "permalink_url") or "", thread_id=post_id, hashtags=hashtags(text),
        mentions=_tagged(post), attachments=_attachments(found, text), raw=raw)


def _permalink(url: str) -> tuple[str, str, str, str]:
    """(page id, post object id, comment id, reply comment id) named by a comment's permalink, "" for unknown."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    segments = [s for s in parts.path.split("/") if s]
    page, post = "", ""
    if len(segments) >= 3 and segments[1] == "posts":
        page, post = segments[0], segments[2]
    elif segments[-1:] == ["permalink.php"]:
        page, post = query.get("id", ""), query.get("story_fbid", "")
    ids = (page, post, query.get("comment_id", ""), query.get("reply_comment_id", ""))
    return tuple(v if v.isdigit() else "" for v in ids)


def comment_to_message(comment, *, channel: str = "", raw: Raw | None = None, post_id: str = "") -> Message:
    """One comment (or reply) as a :class:`Message`; ``post_id`` the post it is under, where known."""
    comment = checked(comment, "comment")
    url = text_field(comment, "permalink_url") or ""
    page, post_object, comment_no, reply_no = _permalink(url)
    post_id = post_id or (f"{page}_{post_object}" if page and post_object else "")
    if not post_id:
        raise Invalid("cannot tell which post the comment is under: no post given and no permalink_url naming one")
    post_object = post_id.rsplit("_", 1)[-1]
    if comment.get("id") is not None:
        comment_id = graph_id(comment)
    elif comment_no:  # a page read without "id": Graph's id from the permalink
        comment_id = f"{post_object}_{reply_no or comment_no}"
    else:
        raise Invalid("missing 'id' (and no comment_id in permalink_url)")
    if comment.get("parent") is not None:
        parent = graph_id(object_field(comment, "parent"))
    elif reply_no and comment_no:
        parent = f"{post_object}_{comment_no}"
    else:
        parent = post_id
    text = text_field(comment, "message") or ""
    attachment = [object_field(comment, "attachment")] if comment.get("attachment") is not None else []
    return Message(
        channel=channel, id=comment_id, kind="comment", author=_author(comment),
        created_at=date_field(comment, "created_time", required=True), text=text, html=text_html(text), url=url,
        in_reply_to=parent, thread_id=post_id, hashtags=hashtags(text), mentions=_tagged(comment),
        attachments=_attachments(attachment, text), raw=raw)


def is_comment(item) -> bool:
    """A comment's fields (``parent``, ``comment_count``, one ``attachment``, a permalink to a comment)."""
    if not isinstance(item, dict):
        return False
    url = item.get("permalink_url")
    return (any(k in item for k in ("parent", "comment_count", "attachment"))
            or (isinstance(url, str) and "comment_id=" in url))


def to_messages(records: list[Record], channel: str, page_url: str, fetched_at: datetime | None,
                post_id: str | None = None) -> tuple[list[Message], list[Quarantined]]:
    """Messages and quarantined items of one page's records: comments of ``post_id`` when given,
    else posts (or, without context, each record by its own fields)."""
    def normalise(value, raw: Raw) -> Message:
        if post_id is not None or is_comment(value):
            return comment_to_message(value, channel=channel, raw=raw, post_id=post_id or "")
        return post_to_message(value, channel=channel, raw=raw)
    return admit_records([(r.raw, r.value) for r in records], page_url, fetched_at, normalise)


# -- the source -------------------------------------------------------------------------------

@SOURCES.register
class FacebookSource(GraphSource):
    """A Facebook page's posts, with comments and replies; edits as new versions, deletions reported."""

    kind = "facebook"
    options_schema = FacebookOptions
    owner_option, owner_label = "page_id", "page"
    created_field = "created_time"
    check_fields = "id,name"
    cdn_hosts = ("*.fbcdn.net",)
    gone_reason = "gone from the page's feed within the re-check window"
    comment_gone_reason = "gone from the post's comments within the re-check window"

    @property
    def edge(self) -> str:
        return self.options["listing"]

    def listing_fields(self) -> str:
        return POST_FIELDS

    def comment_request(self, parent_id: str) -> PageRequest:
        return PageRequest(f"{self.graph}/{parent_id}/comments", {
            "filter": "stream", "order": "chronological", "fields": COMMENT_FIELDS, "limit": self.options["page_size"]})

    def item_messages(self, records, page_url, fetched_at):
        return to_messages(records, self.name, page_url, fetched_at)

    def comment_messages(self, records, page_url, fetched_at, parent_id):
        return to_messages(records, self.name, page_url, fetched_at, post_id=parent_id)

    def item_id_for_url(self, url: str) -> str | None:
        """A post's or comment's Graph id from a permalink that carries the ids (see :mod:`.graph_item`)."""
        target = facebook_target(url)
        return target[0] if target else None

    def fetch_item(self, url: str):
        return fetch_facebook(self, url)

    def content_key(self, message: Message) -> str:
        return content_key(message.text, *sorted(a.media_type for a in message.attachments))

    def edit_of(self, message: Message, value: dict, entry: dict) -> Message | None:
        if self.content_key(message) == entry["h"] or value.get("updated_time") is None:
            return None
        try:
            return version_edit(message, date_field(value, "updated_time"))
        except ValueError:
            return None

    @classmethod
    def parse_payload(cls, data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
        """A saved Graph page (``{"data": [...], "paging": ...}`` of posts or comments), a bare list
        or one post or comment -> (messages in payload order, quarantined). Comments are told by
        their fields; the post they are under by the page's ``paging`` URL, else their permalink."""
        records, paging = saved_page(data)
        post_id = None
        for link in (paging.get("next"), paging.get("previous")):
            found = _COMMENTS_PATH.search(urlsplit(link).path) if isinstance(link, str) else None
            post_id = post_id or (found.group(1) if found else None)
        return to_messages(records, channel, "", None, post_id=post_id)
