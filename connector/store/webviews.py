"""Read-models for the web UI's pages: the messages list and a message's page.

Every method here only reads (under the store's lock); none changes the database. The list is
paginated by keyset (``before``: the smallest id on the page shown), newest first, with a LIMIT:
a page costs the same with 100 messages stored as with 100,000, and no method loads all rows or
a message's raw bytes (only their size and hash).

The message page's trace (:meth:`WebViewsMixin.delivery_trace`, :meth:`WebViewsMixin.message_original`,
:meth:`WebViewsMixin.stored_message`) is bounded the same way: per delivery its steps (each result
summarised by :func:`summary`: every value clipped to :data:`VALUE_MAX` characters, so a base64
body is never shown whole; lock tokens and secret-named keys masked) and its newest
:data:`ATTEMPTS_MAX` state changes; of the raw payload only the first bytes the page asks for
(``substr`` in SQL), the whole of it only for the download of that one message.
"""
from __future__ import annotations

import json

from ..config import SECRET_KEYS
from ..redact import redact

VALUE_MAX = 200  # characters of one value from a step result or an event shown
PROBLEM_MAX = 2000  # characters of a server's problem body shown (pretty-printed JSON)
FIELDS_MAX = 30  # values shown per step result
ATTEMPTS_MAX = 200  # state changes shown per delivery (the newest)
_MASKED = ("lock",)  # a Documenten API lock is a capability to change the document: never shown

#: the columns the list shows (never ``raw``: a page of fifty originals could be megabytes)
_LIST_COLUMNS = ("m.id, m.channel, m.platform_id, m.version, m.kind, m.author_handle, m.created_at, m.url,"
                 " m.stored_at, m.deleted_at, m.deleted_reason, m.message_json")


def _like(text: str) -> str:
    """``text`` as a LIKE pattern matching it literally anywhere (``%`` and ``_`` escaped with ``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _in_json(text: str) -> bool:
    """Whether ``text``, wherever it occurs in a message's text, occurs as it is in the message's JSON.

    True for printable ASCII without ``"`` and ``\\``: JSON writes those characters as they are (with
    ``ensure_ascii`` or without), so a LIKE on ``message_json`` can rule a row out before
    ``json_extract``; other text may be escaped in the JSON (``\\n``, ``\\u00e9``) and skips that test.
    """
    return all(" " <= c <= "~" and c not in '"\\' for c in text)


def clip(text: str, size: int = VALUE_MAX) -> str:
    """``text`` cut to ``size`` characters, saying how long it was when cut."""
    return text if len(text) <= size else f"{text[:size]}… ({len(text)} tekens)"


def summary(result, limit: int = FIELDS_MAX) -> list[tuple[str, str]]:
    """A step's result as ``(key, text)`` pairs: nested keys dotted, every value clipped, at most
    ``limit`` pairs (then one pair saying how many more); secrets and locks masked, text redacted."""
    pairs: list[tuple[str, str]] = []
    total = 0
    pending = [("", result)] if result not in (None, {}, []) else []
    while pending:
        key, value = pending.pop(0)
        leaf = key.rsplit(".", 1)[-1].split("[", 1)[0]
        if key and (SECRET_KEYS.search(leaf) or leaf.lower() in _MASKED) and value not in (None, "", {}):
            value = "***"
        if isinstance(value, dict) and value:
            pending[:0] = [(f"{key}.{k}" if key else str(k), v) for k, v in value.items()]
            continue
        if isinstance(value, list) and value and key.count("[") < 2:
            pending[:0] = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
            continue
        total += 1
        if len(pairs) < limit:
            text = value if isinstance(value, str) else json.dumps(redact(value), ensure_ascii=False, default=str)
            pairs.append((key or "-", clip(redact(text))))
    if total > len(pairs):
        pairs.append(("…", f"nog {total - len(pairs)} waarden niet getoond"))
    return pairs


def _attempt(event: dict) -> dict:
    """One ``delivery.*`` state change as the trace shows it (values clipped, the problem pretty)."""
    detail = json.loads(event.pop("detail_json") or "{}")
    problem = detail.pop("problem", None)
    known = {name: detail.pop(name, None) for name in ("from", "attempt", "error", "verdict", "status")}
    return {"at": event["at"], "state": event["kind"].removeprefix("delivery."), "from": known["from"],
            "attempt": known["attempt"], "verdict": known["verdict"], "status": known["status"],
            "error": clip(str(known["error"])) if known["error"] else None,
            "problem": clip(json.dumps(problem, ensure_ascii=False, indent=1, default=str), PROBLEM_MAX)
            if problem is not None else None,
            "other": summary({k: v for k, v in detail.items() if v not in (None, "", [], {})}, limit=10)}


class WebViewsMixin:
    """What the web UI's pages show: a read-only part of :class:`connector.store.Store`."""

    def message_list(self, channel: str | None = None, state: str | None = None, text: str | None = None,
                     before: int | None = None, limit: int = 50, account: str | None = None,
                     rule: str | None = None, zaak: str | None = None, since: str | None = None,
                     until: str | None = None) -> tuple[list[dict], int | None]:
        """One page of messages, newest (highest id) first, and the ``before`` of the next page (or None).

        ``channel``: only that channel's; ``state``: only messages with a delivery in that state;
        ``account``: only those whose author handle begins with it (``@`` optional, case-insensitive);
        ``rule``: with a delivery decided by that rule; ``zaak``: with a delivery in the zaak of that
        identificatie or URL; ``since`` and ``until`` (``YYYY-MM-DD``, both included, UTC): published then;
        ``text``: only messages whose text or author handle contains it (case-insensitive: for ASCII on SQLite,
        as the database's ``LC_CTYPE`` folds on PostgreSQL; ``%`` and ``_`` are no wildcards), or whose platform
        id it is. A scan of the messages, not an index:
        full-text search (FTS5) is for when a benchmark asks for it (``bench/pages.py``: 100,000 messages
        stored, a search that matches few of them, about 200 ms with the JSON pre-test).
        """
        where, params = [], []
        dialect = self.db.dialect
        if channel:
            where.append("m.channel = ?")
            params.append(channel)
        if state:
            where.append("exists (select 1 from deliveries d where d.message_id = m.id and d.state = ?)")
            params.append(state)
        if account:
            where.append(f"m.author_handle {dialect.ilike} ? escape '\\'")
            params.append(_like(account.lstrip("@"))[1:])
        for column, value in (("rule", rule), ("zaak", zaak)):
            if value:
                test = "d.rule = ?" if column == "rule" else "(d.zaak_identificatie = ? or d.zaak_url = ?)"
                where.append(f"m.id in (select d.message_id from deliveries d where {test})")
                params += [value] if column == "rule" else [value, value]
        if since:
            where.append("m.created_at >= ?")
            params.append(since)
        if until:
            where.append(f"m.created_at < {dialect.next_day('?')}")
            params.append(until)
        if text:
            # the cheap tests first; json_extract (parsing every row's JSON) only where the text occurs
            # in the row's JSON at all (see _in_json), which halves a search that matches few messages
            pattern = _like(text)
            like = dialect.ilike
            in_json = f"m.message_json {like} ? escape '\\' and " if _in_json(text) else ""
            where.append(f"(m.platform_id = ? or m.author_handle {like} ? escape '\\'"
                         f" or ({in_json}{dialect.json_text('m.message_json', 'text')} {like} ? escape '\\'))")
            params += [text, pattern, *([pattern] if in_json else []), pattern]
        if before is not None:
            where.append("m.id < ?")
            params.append(int(before))
        clause = f" where {' and '.join(where)}" if where else ""
        limit = max(1, min(int(limit), 200))
        rows = self.query(f"select {_LIST_COLUMNS} from messages m{clause} order by m.id desc limit ?",
                          params + [limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [row["id"] for row in rows]
        states_of: dict[int, list[dict]] = {i: [] for i in ids}
        if ids:
            marks = ", ".join("?" for _ in ids)
            for d in self.query(f"select message_id, sink, state from deliveries where message_id in ({marks})"
                                " order by sink", ids):
                states_of[d["message_id"]].append({"sink": d["sink"], "state": d["state"]})
        for row in rows:
            message = json.loads(row.pop("message_json") or "{}")
            row["text"] = message.get("text") or ""
            row["deliveries"] = states_of[row["id"]]
        return rows, (rows[-1]["id"] if more and rows else None)

    def message_channels(self) -> list[str]:
        """The channels with a status row (configured or once polled), for the list's filter."""
        return [row["name"] for row in self.query("select name from channels order by name")]

    def message_detail(self, message_id: int) -> dict | None:
        """Everything the message page shows, or None for an unknown id.

        ``message`` (the normalised message as stored), the row's own fields (no raw bytes: their
        ``raw_size``, ``raw_sha256``, ``raw_media_type``), ``deliveries`` (state, sink, rule,
        attempts, last error, zaak and documents), ``events`` (the message's and its deliveries'
        audit trail, oldest first), ``notices`` (what the sinks were told of a deletion), and
        ``versions`` (the ids of every stored version of the same post).
        """
        rows = self.query(
            "select m.id, m.channel, m.platform_id, m.version, m.kind, m.author_handle, m.created_at, m.url,"
            " m.fetched_at, m.stored_at, m.raw_media_type, m.raw_sha256, length(m.raw) as raw_size, m.raw_scope,"
            " m.page_url, m.deleted_at, m.deleted_reason, m.message_json from messages m where m.id = ?",
            [int(message_id)])
        if not rows:
            return None
        detail = rows[0]
        detail["message"] = json.loads(detail.pop("message_json") or "{}")
        deliveries = self.query(
            "select id, sink, state, rule, attempts, last_error, next_attempt_at, zaak_url, zaak_identificatie,"
            " documents_json, created_at, updated_at from deliveries where message_id = ? order by sink",
            [detail["id"]])
        for delivery in deliveries:
            delivery["documents"] = json.loads(delivery.pop("documents_json") or "[]")
        detail["deliveries"] = deliveries
        events = self.query(
            "select id, at, kind, channel, sink, delivery_id, detail_json from events where message_id = ?"
            " or delivery_id in (select id from deliveries where message_id = ?) order by id limit 500",
            [detail["id"], detail["id"]])
        for event in events:
            event["detail"] = json.loads(event.pop("detail_json") or "{}")
        detail["events"] = events
        detail["notices"] = self.query("select sink, kind, state, attempts, last_error, updated_at from notices"
                                       " where message_id = ? order by sink", [detail["id"]])
        detail["versions"] = [row["id"] for row in self.query(
            "select id from messages where channel = ? and platform_id = ? order by id",
            [detail["channel"], detail["platform_id"]])]
        return detail

    def delivery_trace(self, message_id: int) -> list[dict]:
        """Per delivery of the message (by sink): its stored ``routing`` (the decision made then, a
        dict, or None), its ``steps`` (name, saved_at, ``fields``: :func:`summary` of the result) and
        its ``attempts`` (the newest :data:`ATTEMPTS_MAX` ``delivery.*`` state changes, oldest first:
        state, from, attempt, verdict, HTTP status, error, the server's problem body, clipped) with
        ``attempts_hidden`` (how many older ones are left out)."""
        deliveries = self.query("select id, sink, state, routing_json from deliveries where message_id = ?"
                                " order by sink", [int(message_id)])
        for delivery in deliveries:
            delivery["routing"] = json.loads(delivery.pop("routing_json") or "null")
            delivery["steps"] = [{"name": row["name"], "saved_at": row["saved_at"],
                                  "fields": summary(json.loads(row["result_json"] or "null"))}
                                 for row in self.query("select name, result_json, saved_at from delivery_steps"
                                                       " where delivery_id = ? order by saved_at, name",
                                                       [delivery["id"]])]
            where = "delivery_id = ? and kind like 'delivery.%' and kind != 'delivery.step'"
            events = self.query(f"select at, kind, detail_json from events where {where} order by id desc limit ?",
                                [delivery["id"], ATTEMPTS_MAX])
            delivery["attempts"] = [_attempt(event) for event in reversed(events)]
            count = self.query(f"select count(*) as n from events where {where}", [delivery["id"]])[0]["n"]
            delivery["attempts_hidden"] = max(0, count - len(events))
        return deliveries

    def message_original(self, message_id: int, limit: int | None = None) -> dict | None:
        """The stored raw payload of one message: ``body`` (all of it, or its first ``limit`` bytes),
        ``size``, ``media_type``, ``sha256`` and ``scope``; None for an unknown id."""
        body = "substr(raw, 1, ?)" if limit is not None else "raw"
        params = ([int(limit)] if limit is not None else []) + [int(message_id)]
        rows = self.query(f"select {body} as body, length(raw) as size, raw_media_type as media_type,"
                          " raw_sha256 as sha256, raw_scope as scope from messages where id = ?", params)
        if not rows:
            return None
        row = rows[0]
        row["body"] = bytes(row["body"] or b"")
        row["size"] = row["size"] or 0
        return row

    def stored_message(self, message_id: int):
        """The :class:`~connector.message.Message` of stored message ``message_id`` with its raw
        payload (as a delivery builds its record from it), or None."""
        from .outbox import _MESSAGE_COLUMNS, OutboxMixin

        rows = self.query(f"select {_MESSAGE_COLUMNS} from messages m where m.id = ?", [int(message_id)])
        return OutboxMixin._stored_message(rows[0]) if rows else None
