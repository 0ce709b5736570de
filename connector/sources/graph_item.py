"""One Facebook post or comment, or one Instagram medium, by its permalink (``item_id_for_url`` and
``fetch_item`` of :class:`.facebook.FacebookSource` and :class:`.instagram.InstagramSource`).

**Facebook.** The permalinks that carry Graph's ids are read without any call:

* ``https://www.facebook.com/<page id>/posts/<post id>`` -> the post ``<page id>_<post id>``;
* ``.../permalink.php?story_fbid=<post id>&id=<page id>`` and ``story.php`` (the mobile site) alike;
* ``?comment_id=<c>`` on either -> the comment ``<post id>_<c>``; ``&reply_comment_id=<r>`` -> the
  reply ``<post id>_<r>`` (Graph's comment ids, as poll gives them);
* hosts ``facebook.com``, ``www.``, ``m.``, ``mobile.``, ``web.``, ``mbasic.``, ``touch.``.

``fetch_item`` asks ``GET /<version>/<id>?fields=<the fields poll asks>``, so the item's bytes are
what a poll stores. Not mapped (``None``): a ``pfbid...`` post id and a page's vanity name
(``facebook.com/gemeente/posts/...``). Graph documents no lookup of either from a URL: a ``pfbid``
is an obfuscated id only Facebook's web front end resolves, and a vanity name would need a call
(``GET /<name>``), which ``item_id_for_url`` must not make. Nor videos, photos and reels
(``/videos/<id>``, ``photo.php?fbid=``): their ids are not the post's id poll archives.

**Instagram.** ``https://www.instagram.com/p/<shortcode>/`` (also ``/reel/``, ``/reels/``, ``/tv/``
and ``/<username>/p/<shortcode>/``) -> ``"shortcode:<shortcode>"``: the Graph API has no lookup
of a medium by its shortcode, so this marker is what ``item_id_for_url`` can give; the message
``fetch_item`` returns still has the medium's id as poll gives it. ``fetch_item`` reads the
account's media listing (poll's request and fields, newest first, at most :data:`SCAN_PAGES`
pages of 100) and takes the medium whose ``permalink`` (or ``shortcode``) names that shortcode;
one not among them is ``permanent`` ("not among the account's newest media"). A comment's URL
(``/p/<shortcode>/c/<id>/``) is not mapped: Instagram's permalinks of comments are not documented.

"No such item" (``permanent``) is Graph's error #100/33 ("Object with ID ... does not exist"), or
HTTP 404/410 from something in front of Graph; the rest is classified as poll classifies it
(:func:`.graph.classify_graph`).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ..failures import PERMANENT, Failed, Failure
from .base import Page, captured
from .graph import GONE, error_codes
from .itemurl import gone, missing, one_item, permalink, query, segments, single_record
from .rest import PageRequest

FACEBOOK_HOSTS = frozenset(f"{p}facebook.com" for p in ("", "www.", "m.", "mobile.", "web.", "mbasic.", "touch."))
INSTAGRAM_HOSTS = frozenset({"instagram.com", "www.instagram.com", "m.instagram.com"})
SCAN_PAGES = 5  # Instagram: pages of 100 media looked through for a shortcode
_NUMBER = re.compile(r"[0-9]{1,32}")
_SHORTCODE = re.compile(r"[A-Za-z0-9_-]{5,64}")
_MEDIA_KINDS = ("p", "reel", "reels", "tv")
SHORTCODE = "shortcode:"


# -- Facebook -----------------------------------------------------------------------------------

def facebook_target(url) -> tuple[str, str] | None:
    """(the Graph id of the post or comment at ``url``, the post's id), or None (see the module docstring)."""
    parts = permalink(url, FACEBOOK_HOSTS)
    if parts is None:
        return None
    path, args = segments(parts), query(parts)
    if len(path) == 3 and path[1] == "posts":
        page, post = path[0], path[2]
    elif path in (["permalink.php"], ["story.php"]):
        page, post = args.get("id", ""), args.get("story_fbid", "")
    else:
        return None
    if not (_NUMBER.fullmatch(page) and _NUMBER.fullmatch(post)):
        return None  # a vanity name or a pfbid: not readable without a call
    comment, reply = args.get("comment_id") or "", args.get("reply_comment_id") or ""
    target = reply or comment
    if not target:
        return f"{page}_{post}", f"{page}_{post}"
    if not _NUMBER.fullmatch(target) or (reply and comment and not _NUMBER.fullmatch(comment)):
        return None
    return f"{post}_{target}", f"{page}_{post}"


def fetch_facebook(source, url: str) -> Page:
    """The post or comment at ``url``, normalised as poll normalises it (see the module docstring)."""
    from .facebook import COMMENT_FIELDS, POST_FIELDS, to_messages

    target = facebook_target(url)
    if target is None:
        raise Failed(Failure(PERMANENT, f"not the permalink of a Facebook post or comment with its ids: {url}"[:500]))
    object_id, post_id = target
    is_comment = object_id != post_id
    what = f"GET {'comment' if is_comment else 'post'} {object_id}"
    request = PageRequest(f"{source.graph}/{object_id}", {"fields": COMMENT_FIELDS if is_comment else POST_FIELDS})
    response = _get(source, request, what)
    record = single_record(response, what)
    messages, quarantined = to_messages([record], source.name, response.url, datetime.now(timezone.utc),
                                        post_id=post_id if is_comment else None)
    return one_item(captured(messages, response), quarantined, response.url)


def _get(source, request: PageRequest, what: str):
    try:
        return source.request(request, what)
    except Failed as failed:
        raise gone(failed, what, also=error_codes(failed.failure) == GONE) from None


# -- Instagram ----------------------------------------------------------------------------------

def shortcode_of(url) -> str | None:
    """The shortcode an Instagram permalink names (``/p/<code>/``, ``/reel/<code>/``, ...), or None."""
    parts = permalink(url, INSTAGRAM_HOSTS)
    if parts is None:
        return None
    path = segments(parts)
    if len(path) == 3 and path[1] in _MEDIA_KINDS and path[0] not in _MEDIA_KINDS:
        path = path[1:]  # /<username>/p/<code>/
    if len(path) != 2 or path[0] not in _MEDIA_KINDS or not _SHORTCODE.fullmatch(path[1]):
        return None
    return path[1]


def _listed_shortcode(value) -> str | None:
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("shortcode"), str):
        return value["shortcode"]
    link = value.get("permalink")
    if not isinstance(link, str):
        return None
    path = [s for s in urlsplit(link).path.split("/") if s]
    return path[-1] if len(path) >= 2 and path[-2] in _MEDIA_KINDS else None


def fetch_instagram(source, url: str) -> Page:
    """The medium at ``url``, found in the account's media listing (see the module docstring)."""
    from .instagram import MEDIA_FIELDS, to_messages

    code = shortcode_of(url)
    if code is None:
        raise Failed(Failure(PERMANENT, f"not the permalink of an Instagram post or reel: {url}"[:500]))
    what = f"GET media of account {source.owner} (looking for {code})"
    request = PageRequest(source.url(), {"fields": MEDIA_FIELDS, "limit": 100})
    asked = request.url
    for number, (response, records) in enumerate(source.walk(request, source.paginator(), what), 1):
        asked = response.url
        for record in records:
            if _listed_shortcode(record.value) == code:
                messages, quarantined = to_messages([record], source.name, response.url, datetime.now(timezone.utc))
                return one_item(captured(messages, response), quarantined, response.url)
        if number >= SCAN_PAGES:
            break
    raise missing(f"GET media {code}", f"not among the newest {SCAN_PAGES * 100} media of account {source.owner}:"
                  " deleted, another account's, or older (the Graph API cannot look a medium up by its shortcode)",
                  url=asked)
