"""Deletions on the platform: the record stays, the deletion is marked on it and told to the sinks.

A source reports a message the platform no longer shows as a :class:`connector.sources.Deletion`
(a 404 on re-check, an X compliance event, an item gone from a Graph listing). :meth:`save_page`
hands the page's deletions to :meth:`DeletionsMixin._record_deletions`, in the page's transaction:

* every stored version of the message gets ``deleted_at`` and ``deleted_reason`` (the first report
  wins; a repeated report changes nothing), and the audit trail a ``message.deleted_on_platform``
  event per version;
* each sink the message was routed to gets one ``notices`` row (kind ``deletion``) for the newest
  version; the engine tells the sink once that sink holds the record (see
  :meth:`connector.engine.Connector.deliver_notices`);
* a deletion of a message never stored (an X compliance event for a post the connector never
  archived) is counted, not recorded: there is no record to mark.

Nothing here deletes a message, a delivery or a document.
"""
from __future__ import annotations

import json
from datetime import datetime

from .. import states
from ..message import fixed_iso
from .base import _dumps, _now

DELETION = "deletion"
_ON_ITS_WAY = (states.PENDING, states.RETRY_WAIT, states.IN_PROGRESS, states.WAITING)


class DeletionsMixin:
    def _record_deletions(self, channel: str, deletions) -> int:
        """Mark the deletions of one page (inside ``save_page``'s write); returns how many were new."""
        marked = 0
        for deletion in deletions:
            rows = list(self.db.query(
                "select id, deleted_at from messages where channel = ? and platform_id = ? order by id",
                [channel, deletion.id]))
            if not rows or any(r["deleted_at"] for r in rows):
                continue
            at, detail = fixed_iso(deletion.at), {"platform_id": deletion.id, "reason": deletion.reason,
                                                  "at": fixed_iso(deletion.at), "url": deletion.url}
            for row in rows:
                self.db.execute("update messages set deleted_at = ?, deleted_reason = ? where id = ?",
                                [at, deletion.reason, row["id"]])
                self._event("message.deleted_on_platform", channel=channel, message_id=row["id"], detail=detail)
            newest = rows[-1]["id"]
            sinks = [r["sink"] for r in self.db.query(
                "select distinct d.sink from deliveries d join messages m on m.id = d.message_id"
                " where m.channel = ? and m.platform_id = ? order by d.sink", [channel, deletion.id])]
            now = _now()
            for sink in sinks:
                self.db.execute(
                    "insert into notices (message_id, sink, kind, state, detail_json, attempts,"
                    " next_attempt_at, created_at, updated_at) values (?,?,?,'pending',?,0,?,?,?)"
                    " on conflict do nothing",
                    [newest, sink, DELETION, _dumps(detail), now, now, now])
            marked += 1
        return marked

    def due_notices(self, limit: int = 20, now: datetime | None = None) -> list[dict]:
        """Pending notices whose time has come, each with what its sink holds of the message.

        A notice is sent only once its sink holds the record: ``delivered`` is the newest delivered
        delivery of any version of the message there (``zaak_url``, ``documents``, ``delivery_id``,
        ``message_id`` of that version), or ``None``; then ``on_its_way`` says whether a delivery
        there may still get it (pending, retrying, in progress, waiting) or never will.
        """
        moment = fixed_iso(now) if now else _now()
        with self._lock:
            rows = list(self.db.query(
                "select n.*, m.channel, m.platform_id from notices n join messages m on m.id = n.message_id"
                " where n.state = 'pending' and n.next_attempt_at <= ? order by n.id limit ?", [moment, limit]))
            for row in rows:
                found = self.db.execute(
                    "select d.id, d.message_id, d.zaak_url, d.documents_json from deliveries d"
                    " join messages m on m.id = d.message_id where m.channel = ? and m.platform_id = ?"
                    " and d.sink = ? and d.state = 'delivered' order by m.id desc limit 1",
                    [row["channel"], row["platform_id"], row["sink"]]).fetchone()
                row["delivered"] = None if found is None else {
                    "delivery_id": found[0], "message_id": found[1], "zaak_url": found[2],
                    "documents": _loads(found[3]) or []}
                row["on_its_way"] = found is None and self.db.execute(
                    "select count(*) from deliveries d join messages m on m.id = d.message_id"
                    " where m.channel = ? and m.platform_id = ? and d.sink = ? and d.state in (?,?,?,?)",
                    [row["channel"], row["platform_id"], row["sink"], *_ON_ITS_WAY]).fetchone()[0] > 0
        return rows

    def finish_notice(self, notice_id: int, state: str, error: str | None = None,
                      next_attempt_at: datetime | None = None, count_attempt: bool = True) -> None:
        """Record a notice's outcome: ``done``, ``unsupported``, ``dead``, or ``pending`` again (retry)."""
        with self._write():
            row = self.db.execute("select message_id, sink, attempts from notices where id = ?",
                                  [notice_id]).fetchone()
            if row is None:
                return
            attempts = (row[2] or 0) + (1 if count_attempt else 0)
            self.db.execute(
                "update notices set state = ?, attempts = ?, last_error = ?, next_attempt_at = ?, updated_at = ?"
                " where id = ?", [state, attempts, error, fixed_iso(next_attempt_at) if next_attempt_at else None,
                                  _now(), notice_id])
            if state != "pending" or count_attempt:
                self._event(f"notice.{state}", sink=row[1], message_id=row[0],
                            detail={"notice_id": notice_id, "kind": DELETION, "attempts": attempts, "error": error})

    def deletions(self, channel: str | None = None, limit: int = 50) -> list[dict]:
        """The newest deletions seen (one row per message: its newest version), with their notices."""
        where, args = ("and m.channel = ?", [channel]) if channel else ("", [])
        with self._lock:
            rows = list(self.db.query(
                "select m.id as message_id, m.channel, m.platform_id, m.url, m.deleted_at, m.deleted_reason"
                " from messages m where m.deleted_at is not null " + where +
                " and m.id = (select max(m2.id) from messages m2 where m2.channel = m.channel"
                " and m2.platform_id = m.platform_id) order by m.deleted_at desc, m.id desc limit ?",
                args + [limit]))
            for row in rows:
                row["notices"] = {n["sink"]: n["state"] for n in self.db.query(
                    "select sink, state from notices where message_id = ? order by sink", [row["message_id"]])}
        return rows


def _loads(text):
    return json.loads(text) if text else None
