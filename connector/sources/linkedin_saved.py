"""Saved LinkedIn responses as messages, without a network (``LinkedInSource.parse_payload``).

Three forms are read:

* a page ``{"paging", "elements"}`` of posts (``/rest/posts``) or of comments (``socialActions``),
  each element keeping its exact bytes;
* one post (``GET /rest/posts/<urn>``);
* a Superface OneSDK recording (``{usecase: {hash: [{"scope", "method", "path", "response"}]}}``,
  as in ``fixtures/linkedin/``): every recorded posts or comments response in it; a ``response``
  that is a list of hex strings is nock's gzip body, otherwise the recording kept the parsed JSON,
  which is then the item's bytes as re-encoded (compact). Other calls (organization lookups) hold
  no messages.

Media keep their URNs as URLs (no API to resolve them); a comment's thread is its ``object``.
"""
from __future__ import annotations

import gzip
import json

from ..message import Message, Quarantined
from .base import ParseError
from .jsonitems import split_member, split_payload
from .linkedin_item import comments_to_messages, is_comment, posts_to_messages
from .rest import Record

_CONTENT_PATHS = ("/posts", "/ugcPosts", "/shares", "/socialActions/")


def _recorded(value) -> list[tuple[str, bytes]] | None:
    """``(url, body)`` of each posts or comments response of a Superface recording, or None if it is none."""
    if not isinstance(value, dict) or not value:
        return None
    calls = [call for usecase in value.values() if isinstance(usecase, dict)
             for recorded in usecase.values() if isinstance(recorded, list) for call in recorded]
    if not calls or not all(isinstance(c, dict) and {"method", "path", "response"} <= set(c) for c in calls):
        return None
    bodies = []
    for call in calls:
        path = str(call["path"])
        if call["method"] != "GET" or not any(p in path.split("?")[0] for p in _CONTENT_PATHS):
            continue
        response = call["response"]
        if isinstance(response, list) and all(isinstance(part, str) for part in response):
            try:
                body = gzip.decompress(bytes.fromhex("".join(response)))
            except (ValueError, OSError, EOFError) as exc:
                raise ParseError(f"recorded response of {path}: not a hex gzip body ({exc})") from None
        else:
            body = json.dumps(response, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        bodies.append((f"{call.get('scope', '')}{path}", body))
    return bodies


def parse_saved(data: bytes, channel: str = "") -> tuple[list[Message], list[Quarantined]]:
    """Messages and quarantined items of a saved page, post or recording (see the module docstring)."""
    items, is_list = split_payload(data)
    if is_list:
        raise ParseError("expected a LinkedIn page object ({\"paging\", \"elements\"}), one post or a recording")
    recorded = _recorded(items[0][1])
    if recorded is None:
        return _page(data, items, channel, "")
    messages, quarantined = [], []
    for url, body in recorded:
        found, bad = _page(body, split_payload(body)[0], channel, url)
        messages += found
        quarantined += bad
    return messages, quarantined


def _page(data: bytes, items, channel: str, url: str) -> tuple[list[Message], list[Quarantined]]:
    value = items[0][1]
    paged = isinstance(value, dict) and "elements" in value
    # a page one of whose elements is unreadable is unreadable as a whole value: cut it on the bytes
    records = [Record(v, raw) for raw, v in split_member(data, "elements")] if paged or not isinstance(value, dict) \
        else []
    if not records and not paged:
        records = [Record(value, items[0][0])]
    posts = [r for r in records if not is_comment(r.value)]
    comments = [r for r in records if is_comment(r.value)]
    messages, quarantined = posts_to_messages(posts, channel, url, None, {})
    found, bad, _ = comments_to_messages(comments, channel, url, None, None, None)
    return messages + found, quarantined + bad
