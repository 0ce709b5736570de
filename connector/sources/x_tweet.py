"""X (Twitter) API v2 posts as channel-neutral :class:`~connector.message.Message` s.

Split from :mod:`.x` (options, cursor, requests). One page (``{"data": [...], "includes": {...},
"meta": {...}, "errors": [...]}``) becomes messages: authors, media and referenced posts are
resolved from ``includes``; each message's raw is its post's exact bytes from ``data``.

Conventions (see the module docstring of :mod:`.x` for the cursor):

* an edit is a post of its own id whose ``edit_history_tweet_ids`` starts with the original's
  id: ``Message.id`` is that original id, ``version`` the edit's own id (``""`` for the
  original), ``edited_at`` the edit's ``created_at``, ``created_at`` the original's (from
  ``includes.tweets`` when X sends it along, else from the original's snowflake id);
* ``referenced_tweets``: ``replied_to`` makes a reply (``in_reply_to``), ``retweeted`` a share
  (text ``RT @author: <the full retweeted text>`` when X includes it), ``quoted`` a
  :class:`~connector.message.Quote`; a referenced post that was edited is named by its original
  id, the id its own message has;
* ``thread_id`` is ``conversation_id`` (the original's id when it names a version of this post);
* text: X's ``text`` (a long post's whole ``note_tweet.text``) with its HTML entities decoded and
  each ``t.co`` link replaced by the ``expanded_url`` X gives; html: that text escaped, links as
  ``<a href>`` showing X's ``display_url``, line breaks as ``<br>``; hashtags and mentions come
  from ``entities`` (a post without them has none);
* a post without ``created_at`` (not asked for) is dated by its snowflake id, and one without
  ``author_id`` is the timeline's own user's (the poll knows it; a saved file may not).

Partial errors (``errors[]`` on a 200 answer: a referenced post not authorised or gone, a medium
not found) never fail the page and never cost the post: the post is kept without what X could
not give (a quote without its text, a reply with only its parent's id). Every such error is
logged; when polling, each error that concerns a post of ``data`` (it names a post, user or
medium that post references) is also kept in ``Page.quarantined`` with the error object's exact
bytes, the post's id and a reason saying the post itself was kept, so the store holds it next
to the post (the post's raw stays its own bytes). ``parse_payload`` only logs them.
"""
from __future__ import annotations

import html as htmllib
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from ..htmltext import sanitize
from ..message import Attachment, Author, Message, Quarantined, Quote, Raw, value_defect
from .base import admit
from .fields import Invalid as _Invalid, iso_date as _date, member, text as _text
from .jsonitems import Unreadable

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/json"
TWEET_ID = re.compile(r"[0-9]{1,20}")
TWITTER_EPOCH_MS = 1288834974657  # X's snowflake epoch (2010-11-04T01:42:54.657Z)
FIRST_SNOWFLAKE = 29700859247  # ids below this were given out in sequence and carry no time
_TCO = re.compile(r"https?://t\.co/[A-Za-z0-9]+")


@dataclass
class Includes:
    """A page's ``includes`` by key, and the user whose timeline it is (for posts without author_id)."""

    users: dict = field(default_factory=dict)
    media: dict = field(default_factory=dict)
    tweets: dict = field(default_factory=dict)
    owner: Author | None = None

    @classmethod
    def of(cls, page: dict, owner: Author | None = None) -> "Includes":
        found = page.get("includes") if isinstance(page.get("includes"), dict) else {}

        def by(name: str, key: str) -> dict:
            items = found.get(name) if isinstance(found.get(name), list) else []
            return {item[key]: item for item in items if isinstance(item, dict) and isinstance(item.get(key), str)}
        return cls(by("users", "id"), by("media", "media_key"), by("tweets", "id"), owner)


def permalink(tweet_id: str, username: str = "") -> str:
    """The post's URL as X builds it; ``/i/web/status/<id>`` when the username is unknown."""
    return f"https://x.com/{username}/status/{tweet_id}" if username else f"https://x.com/i/web/status/{tweet_id}"


def snowflake_time(tweet_id: str) -> datetime | None:
    """When a post with this snowflake id was made (millisecond precision), or None for older ids."""
    if not TWEET_ID.fullmatch(tweet_id or "") or int(tweet_id) < FIRST_SNOWFLAKE:
        return None
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=(int(tweet_id) >> 22) + TWITTER_EPOCH_MS)


# -- small readers ---------------------------------------------------------------------------

def _object(obj: dict, name: str) -> dict:
    return member(obj, name, required=False)


def _list(obj: dict, name: str, of=dict) -> list:
    value = obj.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, of) for v in value):
        raise _Invalid(f"{name}: expected a list of {'objects' if of is dict else 'strings'}")
    return value


def _original_id(tweet: dict) -> str:
    """The first id of a post's edit history: the id all its versions share (its own when unedited)."""
    history = tweet.get("edit_history_tweet_ids")
    if isinstance(history, list) and history and isinstance(history[0], str) and TWEET_ID.fullmatch(history[0]):
        return history[0]
    return str(tweet.get("id") or "")


def _stable(tweet_id: str, includes: Includes) -> str:
    """A referenced post's id as its own message has it (an edited post's original id)."""
    found = includes.tweets.get(tweet_id)
    return _original_id(found) if found else tweet_id


def _username(user_id: str | None, includes: Includes) -> str:
    user = includes.users.get(user_id or "") or {}
    name = user.get("username")
    return name if isinstance(name, str) else ""


# -- text, html, media -----------------------------------------------------------------------

def _links(entities: dict) -> dict[str, dict]:
    urls = _list(entities, "urls")
    return {u["url"]: u for u in urls if isinstance(u.get("url"), str)}


def _full(tweet: dict) -> tuple[str, dict]:
    """A post's whole text and its entities: a long post's ``note_tweet`` (X cuts its ``text`` short
    and ends it with a link to the post), else ``text``."""
    note = _object(tweet, "note_tweet")
    if isinstance(note.get("text"), str) and note["text"]:
        return note["text"], _object(note, "entities") or _object(tweet, "entities")
    return _text(tweet, "text") or "", _object(tweet, "entities")


def _referenced(tweet: dict | None) -> tuple[str, dict, dict, list] | None:
    """An included post's (whole text, entities, t.co links, media keys), or None when X did not
    include it or it is malformed: a defect of someone else's post must not cost this one."""
    if not tweet or not isinstance(tweet.get("text"), str):
        return None
    try:
        text, entities = _full(tweet)
        return text, entities, _links(entities), _list(_object(tweet, "attachments"), "media_keys", of=str)
    except _Invalid:
        return None


def _included_time(tweet: dict) -> datetime | None:
    try:
        return _date(tweet.get("created_at") if isinstance(tweet.get("created_at"), str) else None, "created_at")
    except _Invalid:
        return None


def _plain(text: str, links: dict) -> str:
    def expand(match):
        found = links.get(match.group(0)) or {}
        return found.get("expanded_url") if isinstance(found.get("expanded_url"), str) else match.group(0)
    return _TCO.sub(expand, htmllib.unescape(text))


def _html(text: str, links: dict) -> str:
    """Safe HTML from X's text: escaped, its t.co links as links to where they lead, line breaks kept."""
    def link(match):
        found = links.get(match.group(0)) or {}
        target = found.get("expanded_url") if isinstance(found.get("expanded_url"), str) else match.group(0)
        shown = found.get("display_url") if isinstance(found.get("display_url"), str) else target
        if urlsplit(target).scheme not in ("http", "https"):
            return htmllib.escape(shown)
        return f'<a href="{htmllib.escape(target)}">{htmllib.escape(shown)}</a>'
    parts, last = [], 0
    plain = htmllib.unescape(text)
    for match in _TCO.finditer(plain):
        parts.append(htmllib.escape(plain[last:match.start()]))
        parts.append(link(match))
        last = match.end()
    parts.append(htmllib.escape(plain[last:]))
    return sanitize("<p>" + "".join(parts).replace("\n", "<br>") + "</p>")


def _attachment(media: dict) -> Attachment | None:
    kind = media.get("type")
    description = media.get("alt_text") if isinstance(media.get("alt_text"), str) else ""
    if kind in ("video", "animated_gif"):
        variants = [v for v in _list(media, "variants") if isinstance(v.get("url"), str)
                    and v.get("content_type") == "video/mp4"]
        if variants:  # the best: the highest bit rate X offers
            best = max(variants, key=lambda v: v.get("bit_rate") if isinstance(v.get("bit_rate"), int) else -1)
            return Attachment(best["url"], "video/mp4", description)
        preview = media.get("preview_image_url")
        if isinstance(preview, str):
            return Attachment(preview, mimetypes.guess_type(urlsplit(preview).path)[0] or "image/*", description)
        return None
    url = media.get("url")
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    guessed = mimetypes.guess_type(parts.path)[0] or ""
    if parts.hostname == "pbs.twimg.com" and parts.path.startswith("/media/") and not parts.query:
        url += "?name=orig"  # X's photo URL serves a resized copy; name=orig the photo as uploaded
    return Attachment(url, guessed if guessed.startswith("image/") else "image/*", description)


# -- one post --------------------------------------------------------------------------------

def tweet_to_message(tweet, includes: Includes, *, channel: str = "", raw: Raw | None = None) -> Message:
    """One post of ``data`` as a :class:`Message`; raises ``_Invalid`` with the reason."""
    if not isinstance(tweet, dict):
        raise _Invalid(f"expected a post object, got {type(tweet).__name__}")
    defect = value_defect(tweet)
    if defect:
        raise _Invalid(defect)
    own_id = _text(tweet, "id", required=True)
    if not TWEET_ID.fullmatch(own_id):
        raise _Invalid(f"id: {own_id[:80]!r} is not a post id")
    history = _list(tweet, "edit_history_tweet_ids", of=str)
    if history and own_id not in history:
        raise _Invalid(f"edit_history_tweet_ids: does not hold the post's own id {own_id}")
    if not all(TWEET_ID.fullmatch(h) for h in history):
        raise _Invalid("edit_history_tweet_ids: expected post ids")
    message_id = history[0] if history else own_id
    own_time = _date(_text(tweet, "created_at"), "created_at") or snowflake_time(own_id)
    if own_time is None:
        raise _Invalid("missing 'created_at' (and the id is no snowflake to date it by)")
    if message_id != own_id:  # an edit: dated by its original
        created_at = _included_time(includes.tweets.get(message_id) or {}) or snowflake_time(message_id) or own_time
        edited_at = own_time
    else:
        created_at, edited_at = own_time, None
    author_id = _text(tweet, "author_id")
    user = includes.users.get(author_id or "")
    if user is not None:
        author = Author(id=author_id, handle=_text(user, "username") or "", name=_text(user, "name") or "")
    elif includes.owner is not None and author_id in (None, includes.owner.id):
        author = includes.owner  # the timeline's own user (a post without author_id, or none included)
    else:
        author = Author(id=author_id or "", handle="", name="")
    text, own_entities = _full(tweet)
    entities, kind, in_reply_to, quote = own_entities, "post", None, None
    media_keys = _list(_object(tweet, "attachments"), "media_keys", of=str)
    for ref in _list(tweet, "referenced_tweets"):
        ref_type, ref_id = ref.get("type"), ref.get("id")
        if not isinstance(ref_id, str) or not TWEET_ID.fullmatch(ref_id):
            raise _Invalid(f"referenced_tweets: {ref_id!r} is not a post id"[:200])
        referenced = includes.tweets.get(ref_id)
        ref_user = _username(referenced.get("author_id"), includes) if referenced else ""
        if ref_type == "replied_to":
            kind, in_reply_to = "reply", _stable(ref_id, includes)
        elif ref_type == "retweeted":
            kind = "share"
            whole = _referenced(referenced)
            if whole:  # X cuts a retweet's own text short; the retweeted post has it whole
                text = f"RT @{ref_user}: {whole[0]}" if ref_user else whole[0]
                # its hashtags, mentions and media are the retweeted post's, where X sends them along
                entities, media_keys = whole[1] or own_entities, whole[3] or media_keys
        elif ref_type == "quoted":
            whole = _referenced(referenced)
            quote = Quote(id=_stable(ref_id, includes), url=permalink(ref_id, ref_user),
                          text=_plain(whole[0], whole[2]) if whole else "", handle=ref_user)
    if kind == "share" and in_reply_to:  # a retweet of a reply is still a share
        in_reply_to = None
    links = {**_links(own_entities), **_links(entities)}
    conversation = _text(tweet, "conversation_id")
    if conversation is None:  # not asked for: a reply's thread is its parent, as far as this post tells
        thread = in_reply_to or message_id
    elif conversation == own_id or conversation in history:
        thread = message_id
    else:
        thread = _stable(conversation, includes)
    sensitive = tweet.get("possibly_sensitive")
    if sensitive is not None and not isinstance(sensitive, bool):
        raise _Invalid(f"possibly_sensitive: expected true/false, got {sensitive!r}")
    language = _text(tweet, "lang")
    return Message(
        channel=channel,
        id=message_id,
        kind=kind,
        author=author,
        created_at=created_at,
        edited_at=edited_at,
        text=_plain(text, links),
        html=_html(text, links),
        url=permalink(own_id, author.handle),
        in_reply_to=in_reply_to,
        thread_id=thread,
        language=None if language in (None, "und") else language,
        hashtags=tuple(h["tag"].lower() for h in _list(entities, "hashtags") if isinstance(h.get("tag"), str)),
        mentions=tuple(m["username"] for m in _list(entities, "mentions") if isinstance(m.get("username"), str)),
        attachments=tuple(a for a in (_attachment(includes.media[k]) for k in media_keys if k in includes.media) if a),
        sensitive=bool(sensitive),
        version="" if message_id == own_id else own_id,
        quote=quote,
        raw=raw,
    )


# -- one page --------------------------------------------------------------------------------

def item_id(value) -> str:
    found = value.get("id") if isinstance(value, (dict, Unreadable)) else None
    return found if isinstance(found, str) else ""


def _concerns(tweet: dict) -> set[str]:
    """The ids a post references: posts, its author, its media (what a partial error may name)."""
    refs = {r.get("id") for r in tweet.get("referenced_tweets") or [] if isinstance(r, dict)}
    attachments = tweet.get("attachments") if isinstance(tweet.get("attachments"), dict) else {}
    keys = set(attachments.get("media_keys") or []) if isinstance(attachments.get("media_keys"), list) else set()
    return {x for x in refs | keys | {tweet.get("author_id")} if isinstance(x, str)}


def error_quarantines(errors: list[tuple[bytes, object]], records, page_url: str) -> list[Quarantined]:
    """The page's partial errors that concern a post of ``data``, kept with their exact bytes."""
    kept = []
    for body, error in errors:
        if not isinstance(error, dict):
            log.warning("X partial error on %s that cannot be read: %r", page_url, body[:200])
            continue
        named = {str(error.get(k)) for k in ("resource_id", "value") if error.get(k) is not None}
        concerned = [item_id(r.value) for r in records if isinstance(r.value, dict) and named & _concerns(r.value)]
        summary = f"{error.get('title') or 'error'}: {error.get('detail') or error.get('message') or ''}".strip()
        if not concerned:
            log.warning("X partial error on %s (no post of the page concerned): %s", page_url, summary)
            continue
        log.info("X partial error on %s for post(s) %s: %s", page_url, ", ".join(concerned), summary)
        kept.append(Quarantined(reason=f"X partial error for post {', '.join(concerned)} (the post itself was kept:"
                                       f" without what X could not give): {summary}",
                                raw=body, item_id=concerned[0], page_url=page_url))
    return kept


def page_to_messages(records, page: dict, errors, channel: str, page_url: str, fetched_at: datetime | None,
                     owner: Author | None = None, keep_errors: bool = True
                     ) -> tuple[list[Message], list[Quarantined], list[str]]:
    """(messages in page order, quarantined, own ids of every item with a well-formed id) of one page.

    ``records`` are the ``data`` items with their exact bytes, ``page`` the page as parsed (for
    ``includes``), ``errors`` the ``errors`` items with their exact bytes; ``keep_errors`` False
    only logs the partial errors (a saved file: its posts are all there is to show).
    """
    includes = Includes.of(page, owner)
    messages, quarantined, ids = [], [], []
    for record in records:
        body, value, own_id = record.raw, record.value, item_id(record.value)
        if TWEET_ID.fullmatch(own_id):
            ids.append(own_id)  # a quarantined post still moves the cursor past itself
        if isinstance(value, Unreadable):
            quarantined.append(Quarantined(reason=value.reason, raw=body, item_id=own_id, page_url=page_url))
            continue
        raw = Raw(body=body, media_type=MEDIA_TYPE, page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: tweet_to_message(value, includes, channel=channel, raw=raw), body,
                        item_id=own_id, page_url=page_url, now=fetched_at)
        (quarantined if isinstance(outcome, Quarantined) else messages).append(outcome)
    held = error_quarantines(errors, records, page_url)  # logged in any case
    return messages, quarantined + (held if keep_errors else []), ids
