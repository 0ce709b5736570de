"""The recorded data behind the Mastodon double: accounts, their statuses, Mastodon's paging.

Split from :mod:`.mastodon` (faults, rate limit and HTTP) so that each module reads in one
sitting. :class:`Replay` holds no HTTP: it loads the replay files, lets a test publish, edit or
break statuses, and answers "which statuses does this request get" with Mastodon's semantics:
``limit`` (default 20, max 40), ``max_id`` (older), ``since_id`` (the newest page, only newer
than since_id), ``min_id`` (the page immediately newer than min_id), ``exclude_replies``,
``exclude_reblogs``, ``only_media``; ids compared numerically, newest first. ``repeat_boundary``
makes it a misbehaving server whose ``min_id``/``max_id``/``since_id`` include the boundary
status, so consecutive pages repeat one status.

Statuses are kept as the exact JSON text they had in the recording (the replay files under
``fixtures/mastodon/replay/`` are cut from real responses), so a client's "raw bytes" can be
checked against the fixture. Statuses given as bytes (``add_status``, ``set_text``) are kept byte
for byte, even bytes that are not UTF-8. Statuses added or edited here are serialised compactly,
as Mastodon 4 does.
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "mastodon" / "replay"
DEFAULT_LIMIT, MAX_LIMIT = 20, 40
# ActiveModel's false values: anything else given for a boolean parameter counts as true
_FALSE = {"", "0", "f", "false", "off", "no", "n"}
_WS = re.compile(r"[ \t\n\r]*")


@dataclass
class Status:
    key: int  # the numeric id used for ordering
    id: str
    text: str  # the JSON text served, verbatim
    obj: dict  # parsed, for filtering ({} when the text is deliberately broken)


@dataclass
class Account:
    id: str
    acct: str
    host: str
    text: str
    statuses: list  # of Status


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso_ms(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _statuses_spans(text: str) -> list[str]:
    """The exact text of each status in a replay file's ``"statuses"`` array."""
    start = text.index('"statuses"')
    i = _WS.match(text, text.index("[", start) + 1).end()
    decoder, spans = json.JSONDecoder(), []
    while text[i] != "]":
        _, end = decoder.raw_decode(text, i)
        spans.append(text[i:end])
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return spans


def _from_bytes(data: bytes) -> str:
    # bytes that are not UTF-8 (hostile-input tests) survive as escapes and are served as sent
    return data.decode("utf-8", "surrogateescape")


def _number(value) -> int:
    # Rails' String#to_i: garbage counts as 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _truthy(value) -> bool:
    return value is not None and value.strip().lower() not in _FALSE


class Replay:
    """The accounts and statuses a double serves; ``page()`` picks a request's statuses."""

    def __init__(self, data_dir: str | Path | None = None):
        self.repeat_boundary = False
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        for path in sorted(Path(data_dir or DEFAULT_DATA_DIR).glob("*.json")):
            self._load(path)

    def _load(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        account = data["account"]
        decoder = json.JSONDecoder()
        start = _WS.match(text, text.index(":", text.index('"account"')) + 1).end()
        _, end = decoder.raw_decode(text, start)
        entry = Account(id=account["id"], acct=account["acct"], host=urlsplit(account.get("url") or "").netloc,
                        text=text[start:end], statuses=[])
        for span in _statuses_spans(text):
            obj = json.loads(span)
            entry.statuses.append(Status(int(obj["id"]), obj["id"], span, obj))
        self._accounts[entry.id] = entry

    @property
    def accounts(self) -> list[str]:
        """The acct handles of the replayed accounts, the one with most statuses first."""
        ordered = sorted(self._accounts.values(), key=lambda a: (-len(a.statuses), a.acct))
        return [a.acct for a in ordered]

    def account(self, acct: str) -> dict:
        return json.loads(self._by_acct(acct).text)

    def statuses(self, acct: str) -> list[dict]:
        """The statuses of an account as currently served, newest first."""
        return [s.obj for s in sorted(self._by_acct(acct).statuses, key=lambda s: -s.key)]

    def _by_acct(self, acct: str) -> Account:
        for entry in self._accounts.values():
            if entry.acct.lower() == acct.lower().lstrip("@"):
                return entry
        raise KeyError(acct)

    def _new_key(self) -> int:
        # a Mastodon snowflake for "now", but always above every id already served
        highest = max((s.key for a in self._accounts.values() for s in a.statuses), default=0)
        return max(highest + 1, int(time.time() * 1000) << 16)

    def add_status(self, obj: dict | str | bytes, account: str | None = None) -> str:
        """Publish a status as the new newest one; returns its id.

        A dict gets a fresh id and ``created_at`` (and its ``url``/``uri`` follow the new id).
        Text or bytes are served verbatim (for malformed-payload tests), ordered as newest.
        """
        with self._lock:
            key = self._new_key()
            if isinstance(obj, dict):
                entry = self._account_for(obj, account)
                obj = json.loads(json.dumps(obj))
                old_id = str(obj.get("id") or "")
                obj["id"] = str(key)
                obj["created_at"] = _iso_ms(_now())
                obj.setdefault("account", json.loads(entry.text))
                for name in ("url", "uri"):
                    if old_id and isinstance(obj.get(name), str):
                        obj[name] = obj[name].replace(old_id, str(key))
                text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            else:
                entry = self._by_acct(account) if account else self._by_acct(self.accounts[0])
                text = _from_bytes(obj) if isinstance(obj, bytes) else obj
                obj = {}
            entry.statuses.append(Status(key, str(key), text, obj))
            return str(key)

    def _account_for(self, obj: dict, account: str | None) -> Account:
        if account:
            return self._by_acct(account)
        owner = obj.get("account") if isinstance(obj.get("account"), dict) else {}
        return self._accounts.get(owner.get("id")) or self._by_acct(self.accounts[0])

    def edit_status(self, status_id: str, content: str) -> str:
        """Edit a status in place (new ``content``, ``edited_at`` = now); returns the edited_at."""
        with self._lock:
            status = self.find(status_id)
            if status is None:
                raise KeyError(status_id)
            edited = _iso_ms(_now())
            if status.obj.get("edited_at") and edited <= status.obj["edited_at"]:
                # two edits within one millisecond must still differ
                edited = _iso_ms(datetime.fromisoformat(status.obj["edited_at"].replace("Z", "+00:00"))
                                 + timedelta(milliseconds=1))
            status.obj = dict(status.obj, content=content, edited_at=edited)
            status.text = json.dumps(status.obj, ensure_ascii=False, separators=(",", ":"))
            return edited

    def delete_status(self, status_id: str) -> None:
        """Delete a status as its author would: gone from the timeline, 404 on ``/statuses/:id``."""
        with self._lock:
            for entry in self._accounts.values():
                entry.statuses[:] = [s for s in entry.statuses if s.id != str(status_id)]

    def set_text(self, status_id: str, text: str | bytes) -> None:
        """Serve ``text`` verbatim for an existing status from now on (for malformed-payload tests).

        Unlike ``add_status(text)``, the caller knows the id the status is served under, so the
        text can carry it, as a real server's broken status would.
        """
        with self._lock:
            status = self.find(status_id)
            if status is None:
                raise KeyError(status_id)
            status.text = _from_bytes(text) if isinstance(text, bytes) else text
            status.obj = {}

    def find(self, status_id: str) -> Status | None:
        for entry in self._accounts.values():
            for status in entry.statuses:
                if status.id == str(status_id):
                    return status
        return None

    def account_by_id(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def lookup(self, acct: str, local_hosts: set[str]) -> Account | None:
        """The account ``user`` or ``user@host``, host being its own or one of ``local_hosts``."""
        user, _, domain = acct.strip().lstrip("@").partition("@")
        for entry in self._accounts.values():
            if entry.acct.lower() == user.lower() and (not domain or domain.lower() in {entry.host, *local_hosts}):
                return entry
        return None

    def page(self, entry: Account, args) -> tuple[list[Status], int]:
        """The statuses a statuses request with ``args`` gets, newest first, and its limit."""
        with self._lock:  # tests add and edit statuses from their own thread
            raw_limit = args.get("limit")
            limit = DEFAULT_LIMIT if raw_limit is None else min(abs(_number(raw_limit)), MAX_LIMIT)
            items = sorted(entry.statuses, key=lambda s: -s.key)
            if _truthy(args.get("exclude_replies")):
                # Mastodon keeps self-replies (threads) when replies are excluded
                items = [s for s in items if not s.obj.get("in_reply_to_id")
                         or s.obj.get("in_reply_to_account_id") == entry.id]
            if _truthy(args.get("exclude_reblogs")):
                items = [s for s in items if not s.obj.get("reblog")]
            if _truthy(args.get("only_media")):
                items = [s for s in items if s.obj.get("media_attachments")]
            # repeat_boundary: a misbehaving server whose bounds are inclusive, so pages repeat one status
            edge = 0 if self.repeat_boundary else 1
            if args.get("max_id"):
                items = [s for s in items if s.key <= _number(args["max_id"]) - edge]
            if args.get("since_id"):
                items = [s for s in items if s.key >= _number(args["since_id"]) + edge]
            if args.get("min_id") is not None:
                items = [s for s in items if s.key >= _number(args["min_id"]) + edge]
                return (items[-limit:] if limit else []), limit
            return items[:limit], limit
