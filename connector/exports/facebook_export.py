"""Facebook "Download your information" export, JSON format: a zip, or the folder it unpacks to.

Read: the posts files (``your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json``
since 2024, ``posts/your_posts_1.json`` before; a Page's under ``this_profile's_activity_across_facebook/``;
``_2``, ``_3`` ... for long histories) and the comments (``.../comments_and_reactions/comments.json``,
older ``comments/comments.json``). Each file holds an array of items, or an object with one
(``{"comments_v2": [...]}``). The author is the profile's name
(``personal_information/profile_information/profile_information.json``, older
``profile_information/profile_information.json``) unless ``author_name`` is given.

What the export does not have, and what is made instead:

* **no ids**: a post's id is ``fbexport:<timestamp>:<first 12 hex digits of the sha256 of the
  item's bytes>``. It is stable for the same export, but it is NOT the Graph API's id: the same
  post imported from an export and polled from the Graph API becomes two records, and a post
  edited between two exports gets a new id in the second. Import each period once.
* **no parents for comments**: a comment is kind ``comment`` with ``in_reply_to`` and
  ``thread_id`` empty (the item's ``title``, "X commented on Y's post.", stays in the raw bytes),
  so rules that follow the parent's case cannot place it.
* **no URLs for posts**: ``url`` is the post's shared link (``external_context.url``) or ``""``.
* **media as files**: a photo or video is ``Attachment(url="fbexport:<its uri in the export>")``;
  :func:`connector.exports.open_media` opens the file in the export.
* **mojibake**: Facebook writes UTF-8 bytes as ``\\u00c3\\u00a9`` escapes (``é`` reads as ``Ã©``); every
  text is repaired (``s.encode("latin-1").decode("utf-8")``) where that round-trips, and kept as
  it is where it does not (a text with a genuine ``é`` or a character beyond Latin-1).

``text`` is the post's text (``data[].post``), else the item's ``title``; ``edited_at`` is
``data[].update_timestamp`` when it differs from the post's time. ``Raw.fetched_at`` is the zip's
(or the posts file's) modification time: the export states no generation date.
"""
from __future__ import annotations

import hashlib
import mimetypes
import re
from datetime import datetime, timezone
from typing import Iterator

from ..message import Attachment, Author, Message, Quarantined, Raw, value_defect
from ..sources.base import admit
from . import items
from .common import Batch, Invalid, Item, batches, is_unreadable, objects, oldest_first, text_html
from .container import Export, ExportError

_ACTIVITY = r"(?:(?:your_facebook_activity|your_activity_across_facebook|this_profile's_activity_across_facebook)/)?"
POSTS = _ACTIVITY + r"posts/(?:your_posts|profile_posts)[A-Za-z0-9_]*\.json"
COMMENTS = _ACTIVITY + r"comments(?:_and_reactions)?/comments\.json"
PROFILE = r"(?:personal_information/)?profile_information/profile_information\.json"
LIST_KEYS = ("status_updates_v2", "status_updates", "posts_v2", "posts", "comments_v2", "comments")
HASHTAG = re.compile(r"(?<![\w&])#(\w+)")


def repair(text: str) -> str:
    """Undo Facebook's mojibake (UTF-8 bytes exported as Latin-1 characters) where it round-trips."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _string(obj: dict, name: str, where: str = "") -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{where}{name}: expected a string, got {type(value).__name__}")
    return repair(value)


def _time(obj: dict, name: str, where: str = "", required: bool = False) -> datetime | None:
    value = obj.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{where}{name}: expected a unix time in seconds, got {value!r}"[:120]
                      if value is not None else f"missing {where}{name!r}")
    try:
        return datetime.fromtimestamp(value, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Invalid(f"{where}{name}: {value} is not a representable unix time") from None


def item_id(item: dict, raw: bytes) -> str:
    return f"fbexport:{item.get('timestamp')}:{hashlib.sha256(raw).hexdigest()[:12]}"


def _attachments(item: dict) -> tuple[list[Attachment], str]:
    """(media of the item as attachments, the first shared link)."""
    media, link = [], ""
    for attachment in objects(item, "attachments"):
        for data in objects(attachment, "data", "attachments."):
            medium = data.get("media")
            if isinstance(medium, dict):
                uri = _string(medium, "uri", "attachments.data.media.")
                if uri and not uri.startswith(("http:", "https:")):
                    media.append(Attachment(url=f"fbexport:{uri}",
                                            media_type=mimetypes.guess_type(uri)[0] or "",
                                            description=_string(medium, "description", "attachments.data.media.")))
            context = data.get("external_context")
            if isinstance(context, dict) and not link:
                url = _string(context, "url", "attachments.data.external_context.")
                link = url if url.startswith(("https://", "http://")) else ""
    return media, link


def item_to_message(item, raw: bytes, *, kind: str, channel: str, author: Author, stored: Raw | None) -> Message:
    """One post (``kind="post"``) or comment (``"comment"``) of the export; raises :class:`Invalid`."""
    if not isinstance(item, dict):
        raise Invalid(f"expected an object, got {type(item).__name__}")
    defect = value_defect(item)
    if defect:
        raise Invalid(defect)
    created_at = _time(item, "timestamp", required=kind == "post")
    texts, edited_at, writer = [], None, author
    for data in objects(item, "data"):
        if "post" in data:
            texts.append(_string(data, "post", "data."))
        updated = _time(data, "update_timestamp", "data.")
        if updated and updated != created_at:
            edited_at = updated
        comment = data.get("comment")
        if kind == "comment" and isinstance(comment, dict):
            texts.append(_string(comment, "comment", "data.comment."))
            created_at = _time(comment, "timestamp", "data.comment.") or created_at
            name = _string(comment, "author", "data.comment.")
            if name and name != author.name:
                writer = Author(id="", handle="", name=name)
    if created_at is None:
        raise Invalid("missing 'timestamp'")
    text = "\n\n".join(t for t in texts if t) or _string(item, "title")
    media, link = _attachments(item)
    own = item_id(item, raw)
    return Message(
        channel=channel,
        id=own,
        kind=kind,
        author=writer,
        created_at=created_at,
        edited_at=edited_at,
        text=text,
        html=text_html(text),
        url=link,
        thread_id=own if kind == "post" else None,
        hashtags=tuple(dict.fromkeys(tag.lower() for tag in HASHTAG.findall(text))),
        attachments=tuple(media),
        raw=stored,
    )


def profile_author(export: Export, name: str | None = None, author_id: str = "", handle: str = "") -> Author:
    """The export's owner: ``name`` when given, else the profile's full name, else unnamed."""
    if name:
        return Author(id=author_id, handle=handle, name=name)
    found = export.find(PROFILE)
    if found:
        value = items.value(export.read(found[0]))
        profile = (value.get("profile_v2") or value.get("profile")) if isinstance(value, dict) else None
        full = profile.get("name") if isinstance(profile, dict) else None
        full = full.get("full_name") if isinstance(full, dict) else full
        if isinstance(full, str) and full:
            return Author(id=author_id, handle=handle, name=repair(full))
    return Author(id=author_id, handle=handle, name="")


def _order(value) -> tuple:
    """Sort key: the item's unix time (a comment's own when the item has none); unreadable ones first."""
    if not isinstance(value, dict):
        return (float("-inf"),)
    stamp = value.get("timestamp")
    data = value.get("data")
    if stamp is None and isinstance(data, list) and data and isinstance(data[0], dict) \
            and isinstance(data[0].get("comment"), dict):
        stamp = data[0]["comment"].get("timestamp")
    return (stamp,) if isinstance(stamp, int) and not isinstance(stamp, bool) else (float("-inf"),)


def read(export: Export, channel: str, author_name: str | None = None, author_id: str = "",
         author_handle: str = "") -> Iterator[Batch]:
    """Batches of the export's posts and comments, oldest first (see the module docstring)."""
    posts, comments = export.find(POSTS), export.find(COMMENTS)
    if not posts and not comments:
        raise ExportError(f"{export.label}: no posts file (your_facebook_activity/posts/"
                          "your_posts__check_ins__photos_and_videos_1.json, posts/your_posts_1.json) and no "
                          "comments/comments.json: expected a Facebook 'Download your information' export in JSON format")
    author = profile_author(export, author_name, author_id, author_handle)
    fetched_at = export.written((posts or comments)[0])
    files = []
    for name in posts + comments:
        where = f"{export.label}/{name}"
        body = export.read(name)
        key = items.first_list_member(body, LIST_KEYS)
        files.append((name, body, items.spans(body, where, key)))
    kinds = {name: "comment" if name in comments else "post" for name in posts + comments}
    outcomes = _messages(oldest_first(files, _order), export, channel, author, fetched_at, kinds)
    yield from batches(outcomes)


def _messages(found: Iterator[Item], export: Export, channel: str, author: Author, fetched_at: datetime,
              kinds: dict[str, str]) -> Iterator[Message | Quarantined]:
    for item in found:
        page_url = f"facebook-export:{export.label}/{item.file}"
        value = item.value()
        if is_unreadable(value):
            yield Quarantined(reason=value.reason, raw=item.raw, page_url=page_url)
            continue
        stored = Raw(body=item.raw, media_type="application/json", page_url=page_url, fetched_at=fetched_at)
        identity = item_id(value, item.raw) if isinstance(value, dict) else ""
        yield admit(lambda: item_to_message(value, item.raw, kind=kinds[item.file], channel=channel,
                                            author=author, stored=stored),
                    item.raw, item_id=identity, page_url=page_url, now=fetched_at)
