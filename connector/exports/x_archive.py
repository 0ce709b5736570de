"""X account archive ("Download an archive of your data"): a zip, or the folder it unpacks to.

Read: ``data/tweets.js`` (``data/tweet.js`` in archives of 2019-2022; large ones continue in
``tweets-part1.js``, ...) and ``data/deleted-tweets.js`` (tweets deleted in the weeks before the
archive was made: they are the organisation's records too, imported as ordinary messages; the
archive's ``deleted_at`` stays in the raw bytes) and ``data/note-tweet.js`` (the whole text of
posts over 280 characters, whose ``full_text`` the archive truncates; see ``x_tweet.long_text``). The author is the archive's owner
(``data/account.js``: ``accountId``, ``username``, ``accountDisplayName``; ``data/manifest.js``'s
``userInfo`` when account.js is missing). ``Raw.fetched_at`` is ``manifest.js``'s
``archiveInfo.generationDate``, else the zip's (or file's) modification time; ``Raw.page_url`` is
``x-archive:<zip name>/<member>``; ``Raw.body`` the tweet object's exact bytes.

All tweets of all files are sorted oldest first by id (ids grow with time), so a reply follows its
parent and an edit its original; a tweet found twice (in tweets.js and deleted-tweets.js) is
imported once. Not read: likes, direct messages and the rest.
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Iterator

from ..message import Author, Message, Quarantined, Raw, parse_iso
from ..sources.base import admit
from . import items
from .common import Batch, Item, batches, is_unreadable, oldest_first
from .container import Export, ExportError
from .x_tweet import TWEET_ID, tweet_to_message

TWEETS = r"data/tweets?(?:-part[0-9]+)?\.js"
DELETED = r"data/deleted-tweets?(?:-part[0-9]+)?\.js"
NOTES = r"data/note-tweets?(?:-part[0-9]+)?\.js"


def _part(name: str) -> int:
    found = re.search(r"-part([0-9]+)\.js$", name)
    return int(found.group(1)) if found else 0


def _js_value(export: Export, name: str):
    """The parsed JSON of a small X data file (account.js, manifest.js); ExportError if unreadable."""
    where = f"{export.label}/{name}"
    body = items.strip_assignment(export.read(name), where)
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExportError(f"{where}: not readable as JSON ({exc})") from None


def _manifest(export: Export) -> dict:
    found = export.find(r"data/manifest\.js")
    value = _js_value(export, found[0]) if found else {}
    return value if isinstance(value, dict) else {}


def owner(export: Export, manifest: dict) -> Author:
    """The archive's owner from account.js (else the manifest's userInfo); ExportError without either."""
    found = export.find(r"data/account\.js")
    if found:
        value = _js_value(export, found[0])
        account = value[0].get("account") if isinstance(value, list) and value and isinstance(value[0], dict) else None
        if isinstance(account, dict) and isinstance(account.get("accountId"), str) \
                and isinstance(account.get("username"), str):
            name = account.get("accountDisplayName")
            return Author(id=account["accountId"], handle=account["username"], name=name if isinstance(name, str) else "")
        raise ExportError(f"{export.label}/{found[0]}: expected [{{\"account\": {{\"accountId\", \"username\", ...}}}}]")
    info = manifest.get("userInfo")
    if isinstance(info, dict) and isinstance(info.get("accountId"), str) and isinstance(info.get("userName"), str):
        name = info.get("displayName")
        return Author(id=info["accountId"], handle=info["userName"], name=name if isinstance(name, str) else "")
    raise ExportError(f"{export.label}: no data/account.js (nor a data/manifest.js with userInfo): "
                      "the archive's owner is needed as the tweets' author")


def generated_at(export: Export, manifest: dict, tweets_file: str) -> datetime:
    info = manifest.get("archiveInfo")
    date = info.get("generationDate") if isinstance(info, dict) else None
    if isinstance(date, str):
        try:
            return parse_iso(date)
        except ValueError:
            pass  # the file's time below; the date is kept in manifest.js itself
    return export.written(tweets_file)


def long_posts(export: Export) -> dict[datetime, list[dict]]:
    """The notes of ``note-tweet.js`` (``{"noteTweet": {"createdAt", "core": {"text", "urls"}}}``) as
    ``{"text", "urls"}`` by the second they were made; an unreadable note is left out (its tweet
    keeps the archive's truncated text)."""
    notes: dict[datetime, list[dict]] = {}
    for name in export.find(NOTES):
        where = f"{export.label}/{name}"
        data = export.read(name)
        for start, end in items.js_spans(data, where):
            value = items.value(data[start:end])
            note = value.get("noteTweet") if isinstance(value, dict) else None
            core = note.get("core") if isinstance(note, dict) else None
            if not isinstance(core, dict) or not isinstance(core.get("text"), str):
                continue
            urls = [u for u in core.get("urls") or [] if isinstance(u, dict)] if isinstance(core.get("urls"), list) else []
            try:
                made = parse_iso(note["createdAt"]).replace(microsecond=0)
            except (KeyError, TypeError, AttributeError, ValueError):
                continue
            notes.setdefault(made, []).append({"text": core["text"], "urls": urls})
    return notes


def _order(value) -> tuple:
    """Sort key: the tweet's own id as a number (ids grow with time); unreadable or id-less items first."""
    tweet = value.get("tweet", value) if isinstance(value, dict) else None
    own = tweet.get("id_str") if isinstance(tweet, dict) else None
    return (int(own),) if isinstance(own, str) and TWEET_ID.fullmatch(own) else (0,)


def read(export: Export, channel: str) -> Iterator[Batch]:
    """Batches of the archive's tweets as messages, oldest first (see the module docstring)."""
    tweet_files = sorted(export.find(TWEETS), key=_part)
    if not tweet_files:
        raise ExportError(f"{export.label}: no data/tweets.js (nor data/tweet.js or data/tweets-part1.js): "
                          "expected an X archive as downloaded ('Download an archive of your data'), "
                          "zipped or unpacked")
    manifest = _manifest(export)
    author = owner(export, manifest)
    fetched_at = generated_at(export, manifest, tweet_files[0])
    files = []
    for name in tweet_files + sorted(export.find(DELETED), key=_part):
        data = export.read(name)
        files.append((name, data, items.js_spans(data, f"{export.label}/{name}")))
    notes = long_posts(export)
    yield from batches(_messages(oldest_first(files, _order), export, channel, author, fetched_at, notes))


def _messages(found: Iterator[Item], export: Export, channel: str, author: Author, fetched_at: datetime,
              notes: dict[datetime, list[dict]]) -> Iterator[Message | Quarantined]:
    roots: dict[str, str] = {}  # tweet id -> its thread's root, for replies to earlier tweets
    seen: set[tuple[str, str]] = set()
    for item in found:
        page_url = f"x-archive:{export.label}/{item.file}"
        value = item.value()
        if is_unreadable(value):
            yield Quarantined(reason=value.reason, raw=item.raw, item_id=_unreadable_id(item.raw), page_url=page_url)
            continue
        tweet = value.get("tweet", value) if isinstance(value, dict) else value
        wrapped = isinstance(value, dict) and "tweet" in value
        body = items.member_bytes(item.raw, "tweet", sole=len(value) == 1) if wrapped else item.raw
        own = tweet.get("id_str") if isinstance(tweet, dict) else None
        own = own if isinstance(own, str) else ""
        raw = Raw(body=body or item.raw, media_type="application/json", page_url=page_url, fetched_at=fetched_at)
        outcome = admit(lambda: tweet_to_message(tweet, channel=channel, author=author, raw=raw, roots=roots,
                                                 notes=notes),
                        body or item.raw, item_id=own, page_url=page_url, now=fetched_at)
        if isinstance(outcome, Message):
            if outcome.key in seen:
                continue
            seen.add(outcome.key)
            roots.setdefault(outcome.id, outcome.thread_id or outcome.id)
        yield outcome


def _unreadable_id(raw: bytes) -> str:
    """The id_str of a tweet whose bytes are not UTF-8, where the rest still reads; else "" (a regular
    expression would find a mentioned user's id first: ``entities`` come before ``id_str``)."""
    try:
        value = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return ""
    tweet = value.get("tweet", value) if isinstance(value, dict) else None
    own = tweet.get("id_str") if isinstance(tweet, dict) else None
    return own if isinstance(own, str) and TWEET_ID.fullmatch(own) else ""
