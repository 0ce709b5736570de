"""The transactional outbox: messages in with their deliveries, deliveries out through their states.

* :meth:`OutboxMixin.save_page` stores a page's new messages, the deliveries they need
  (:class:`DeliveryPlan`), its quarantined items and the channel's new cursor in ONE transaction:
  the cursor never moves past a message that is not stored, and a message is stored with its
  deliveries or not at all. Re-reading a page after a crash skips what is stored already.
* :meth:`OutboxMixin.claim_due` hands the delivery job its due deliveries (:class:`DeliveryRow`)
  under a lease; a crashed worker's lease runs out and the delivery is due again.
* Every later state change (``mark_*``, ``reroute``, ``release``, ``requeue``) goes through
  :meth:`OutboxMixin._transition`, which checks it against :func:`connector.states.check` and
  writes an event carrying the previous state, the attempt count and the error.
* A delivery's steps are memoised in ``delivery_steps`` the moment they succeed
  (:class:`StoreSteps`), so a retry resumes instead of creating a second zaak or document.

The mixin works on :class:`connector.store.base.StoreBase`'s connection, lock and events.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable

from .. import states
from ..failures import Failure
from ..message import Message, Quarantined, Raw, fixed_iso, parse_iso, utcnow
from ..redact import redact_url
from ..routing import Routing
from .base import _dumps, _now

if TYPE_CHECKING:
    from . import Store

#: the columns of ``messages`` a :class:`Message` is built from (:meth:`OutboxMixin._stored_message`)
_MESSAGE_COLUMNS = ("m.message_json, m.raw, m.raw_media_type, m.raw_scope, m.page_url, m.fetched_at,"
                    " m.warc_file, m.warc_record, m.warc_offset")


@dataclass(frozen=True)
class DeliveryPlan:
    """What ingest decided for one message and one sink: initial state and routing."""

    sink: str
    routing: Routing
    state: str = states.PENDING


@dataclass
class SaveResult:
    new: list[int]
    duplicates: int
    quarantined: int
    deleted: int = 0


@dataclass
class DeliveryRow:
    """A delivery as the pipeline works with it."""

    id: int
    message_id: int
    sink: str
    state: str
    routing: Routing
    attempts: int
    last_error: str | None
    zaak_url: str | None
    message: Message
    created_at: datetime | None = None  # when the delivery was planned (the message stored)


class OutboxMixin:
    """Messages, deliveries and their steps: the part of :class:`connector.store.Store` the pipeline uses."""

    # -- ingest ---------------------------------------------------------------------------

    def save_page(self, channel: str, plans: list[tuple[Message, list[DeliveryPlan]]], state: dict | None,
                  quarantined: list[Quarantined] = (), deletions=()) -> SaveResult:
        """Store new messages with their deliveries, quarantined items, deletions seen (marked on the
        record, see :mod:`.deletions`) and the new cursor, atomically.

        Messages already stored (same channel, platform id and version) are skipped, with their
        deliveries: re-reading a page after a crash cannot duplicate anything.
        """
        now = _now()
        new: list[int] = []
        duplicates = 0
        with self._write():
            self._ensure_channel(channel)
            for message, message_plans in plans:
                raw = message.raw or Raw(body=b"", media_type="")
                message_id = self.db.insert(
                    "insert into messages (channel, platform_id, version, kind, author_handle,"
                    " created_at, url, message_json, raw, raw_media_type, raw_sha256, raw_scope, page_url,"
                    " fetched_at, stored_at, warc_file, warc_record, warc_offset)"
                    " values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) on conflict do nothing",
                    [channel, message.id, message.version, message.kind, message.author.handle,
                     fixed_iso(message.created_at), message.url, message.to_json(), raw.body, raw.media_type,
                     raw.sha256, raw.scope, redact_url(raw.page_url), fixed_iso(raw.fetched_at), now,
                     raw.warc_file, raw.warc_record, raw.warc_offset])
                if message_id is None:  # stored already (same channel, platform id and version)
                    duplicates += 1
                    continue
                new.append(message_id)
                self._event("message.stored", channel=channel, message_id=message_id,
                            detail={"platform_id": message.id, "version": message.version,
                                    "sha256": raw.sha256, "page_url": redact_url(raw.page_url)})
                for plan in message_plans:
                    delivery_id = self.db.insert(
                        "insert into deliveries (message_id, sink, state, routing_json, rule, attempts,"
                        " next_attempt_at, created_at, updated_at) values (?,?,?,?,?,0,?,?,?)",
                        [message_id, plan.sink, plan.state, _dumps(plan.routing.to_dict()), plan.routing.rule,
                         now, now, now])
                    self._event(f"delivery.{plan.state}", sink=plan.sink, message_id=message_id,
                                delivery_id=delivery_id,
                                detail={"from": None, "attempt": 0, "rule": plan.routing.rule,
                                        "source": plan.routing.source, "action": plan.routing.action,
                                        "reason": plan.routing.reason})
            for item in quarantined:
                qid = self.db.insert(
                    "insert into quarantine (channel, at, reason, item_id, page_url, raw) values (?,?,?,?,?,?)",
                    [channel, now, item.reason, item.item_id, redact_url(item.page_url), item.raw])
                self._event("message.quarantined", channel=channel,
                            detail={"quarantine_id": qid, "reason": item.reason, "item_id": item.item_id})
            deleted = self._record_deletions(channel, deletions)  # after the page's messages: a new one may be gone
            if state is not None:  # None: messages from elsewhere (an import, a saved page) leave the cursor alone
                self.db.execute("update channels set state_json = ?, updated_at = ? where name = ?",
                                [_dumps(state), now, channel])
        return SaveResult(new=new, duplicates=duplicates, quarantined=len(quarantined), deleted=deleted)

    # -- deliveries -----------------------------------------------------------------------

    def claim_due(self, limit: int = 50, lease_seconds: float = 300, now: datetime | None = None,
                  sink: str | None = None, skip: Iterable[int] = (), held: Iterable[int] = (),
                  only: Iterable[int] | None = None, worker: str | None = None) -> list[DeliveryRow]:
        """Claim up to ``limit`` due deliveries (oldest message first) and mark them in_progress.

        A delivery left in_progress past its lease (a crashed worker) is due again. Deliveries of a
        paused sink are not claimed, nor an edit's while an earlier version of the same message is
        still on its way to the same sink (not yet delivered, dead, held or ignored), unless that
        one is claimed in the same batch (it comes first) or the caller holds it already (``held``:
        delivery ids in its hands); the dispatcher delivers the versions in order. ``sink`` claims only
        that sink's deliveries; ``skip`` leaves out deliveries already handled in this run (a delivery is
        tried at most once per run); ``only`` claims among these delivery ids only (one a person asked
        for, :mod:`.manual`). ``worker`` (its id) is kept in ``claimed_by`` while the delivery is in progress.

        Workers claiming at once never get the same delivery: on SQLite ``BEGIN IMMEDIATE`` lets one
        claim at a time; on PostgreSQL the select locks the rows it returns (``for update of d skip
        locked``) inside the write transaction, so a concurrent claim passes over them instead of waiting,
        and finds them in progress under a lease once this one commits.
        """
        now = now or utcnow()
        lease = fixed_iso(now + timedelta(seconds=lease_seconds))
        skip = [int(i) for i in skip]
        where_sink = " and d.sink = :sink" if sink is not None else ""
        where_skip = f" and d.id not in ({', '.join(map(str, skip))})" if skip else ""
        if only is not None:
            where_skip += f" and d.id in ({', '.join(map(str, [int(i) for i in only])) or 'null'})"
        held = [int(i) for i in held]
        not_held = f" and d2.id not in ({', '.join(map(str, held))})" if held else ""
        skip_older = f" and d2.id not in ({', '.join(map(str, skip))})" if skip else ""
        with self._write():
            rows = list(self.db.query(
                "select d.*, m.message_json, m.raw, m.raw_media_type, m.raw_scope, m.page_url, m.fetched_at,"
                " m.warc_file, m.warc_record, m.warc_offset"
                " from deliveries d join messages m on m.id = d.message_id"
                f" where ((d.state in ({', '.join(repr(state) for state in states.DUE)})"
                "         and d.next_attempt_at <= :now)"
                "    or (d.state = 'in_progress' and d.lease_until <= :now))"
                "   and d.sink not in (select name from sinks where paused_until > :now)"
                # versions of one message reach a sink in the order they were stored: an edit is the
                # next version of the documents the earlier one made, so it waits for that one
                # (unless that one is claimed in this same batch: it comes first, and the dispatcher
                # queues the edit behind it; or the caller holds it already)
                "   and not exists (select 1 from messages m2 join deliveries d2 on d2.message_id = m2.id"
                "        where m2.channel = m.channel and m2.platform_id = m.platform_id and m2.id < m.id"
                "          and d2.sink = d.sink"
                f"         and d2.state in ({', '.join(repr(state) for state in (*states.DUE, states.IN_PROGRESS))})"
                f"         and not (((d2.state in ({', '.join(repr(state) for state in states.DUE)})"
                "                    and d2.next_attempt_at <= :now)"
                f"                   or (d2.state = 'in_progress' and d2.lease_until <= :now)){skip_older})"
                f"         {not_held})"
                f"{where_sink}{where_skip}"
                " order by m.created_at, m.id limit :limit"
                # PostgreSQL: lock what is claimed, skip what another worker is claiming (SQLite: BEGIN IMMEDIATE)
                f"{self.db.dialect.lock_claimed('d')}",
                {"now": fixed_iso(now), "limit": limit, "sink": sink}))
            claimed = []
            for row in rows:
                reclaimed = row["state"] == states.IN_PROGRESS
                self._transition(row["id"], states.IN_PROGRESS, lease_until=lease, claimed_by=worker,
                                 detail={"reclaimed": True} if reclaimed else None)
                claimed.append(self._delivery_row(row, states.IN_PROGRESS))
        return claimed

    def renew_leases(self, delivery_ids: Iterable[int], lease_seconds: float, now: datetime | None = None) -> int:
        """Extend the lease of deliveries still in progress (a worker working on them is alive).

        Returns how many were renewed. No event is written: a renewal is not a state change.
        """
        ids = [int(i) for i in delivery_ids]
        if not ids:
            return 0
        lease = fixed_iso((now or utcnow()) + timedelta(seconds=lease_seconds))
        with self._write():
            cursor = self.db.execute(
                f"update deliveries set lease_until = ? where state = 'in_progress'"
                f" and id in ({', '.join('?' for _ in ids)})", [lease, *ids])
            return cursor.rowcount

    @classmethod
    def _delivery_row(cls, row: dict, state: str) -> DeliveryRow:
        message = cls._stored_message(row)
        return DeliveryRow(id=row["id"], message_id=row["message_id"], sink=row["sink"], state=state,
                           routing=Routing.from_dict(json.loads(row["routing_json"])), attempts=row["attempts"],
                           last_error=row["last_error"], zaak_url=row["zaak_url"], message=message,
                           created_at=parse_iso(row["created_at"]) if row.get("created_at") else None)

    def _transition(self, delivery_id: int, new_state: str, error: str | None = None, detail: dict | None = None,
                    **columns) -> dict:
        """Change a delivery's state (checked against the transition table) and record the event.

        Every event carries the previous state, the attempt count and the error, if any.
        """
        row = self.db.execute("select state, message_id, sink, attempts from deliveries where id = ?",
                              [delivery_id]).fetchone()
        if row is None:
            raise KeyError(f"no delivery {delivery_id}")
        previous, message_id, sink, attempts = row
        states.check(previous, new_state)
        columns.update(state=new_state, updated_at=_now())
        if new_state != states.IN_PROGRESS:  # who holds it (m016) only while it is held
            columns["claimed_by"] = None
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self.db.execute(f"update deliveries set {assignments} where id = ?", [*columns.values(), delivery_id])
        self._event(f"delivery.{new_state}", sink=sink, message_id=message_id, delivery_id=delivery_id,
                    detail={"from": previous, "attempt": columns.get("attempts", attempts or 0), "error": error,
                            **(detail or {})})
        return {"from": previous, "message_id": message_id, "sink": sink}

    def mark_delivered(self, delivery_id: int, zaak_url: str, zaak_identificatie: str, documents: list[dict]) -> None:
        with self._write():
            info = self._transition(delivery_id, states.DELIVERED, zaak_url=zaak_url,
                                    zaak_identificatie=zaak_identificatie, documents_json=_dumps(documents),
                                    last_error=None, failure_json=None, lease_until=None,
                                    attempts=self._attempts(delivery_id) + 1,
                                    detail={"zaak": zaak_url, "zaak_identificatie": zaak_identificatie,
                                            "documents": documents})
            self._ensure_sink(info["sink"])
            self.db.execute("update sinks set last_ok_at = ?, last_error = null, paused_until = null,"
                            " paused_reason = null, failure_streak = 0, config_pause_seconds = null where name = ?",
                            [_now(), info["sink"]])

    def _attempts(self, delivery_id: int) -> int:
        return self.db.execute("select attempts from deliveries where id = ?", [delivery_id]).fetchone()[0] or 0

    def mark_failed(self, delivery_id: int, failure: Failure, new_state: str,
                    next_attempt_at: datetime | None = None, count_attempt: bool = True) -> int:
        """Record a failed attempt: ``retry_wait`` (with ``next_attempt_at``), ``pending`` or ``dead``.

        Returns the attempt count.
        """
        with self._write():
            attempts = self._attempts(delivery_id) + (1 if count_attempt else 0)
            info = self._transition(delivery_id, new_state, error=failure.message, attempts=attempts,
                                    last_error=failure.message, failure_json=_dumps(failure.to_dict()),
                                    lease_until=None, next_attempt_at=fixed_iso(next_attempt_at or utcnow()),
                                    detail={"verdict": failure.verdict, "status": failure.status,
                                            "problem": failure.detail})
            self._ensure_sink(info["sink"])
            self.db.execute("update sinks set last_error = ?, updated_at = ? where name = ?",
                            [failure.message, _now(), info["sink"]])
        return attempts

    def mark_waiting(self, delivery_id: int, reason: str, next_attempt_at: datetime) -> None:
        with self._write():
            self._transition(delivery_id, states.WAITING, error=reason, last_error=reason, lease_until=None,
                             next_attempt_at=fixed_iso(next_attempt_at))

    def reroute(self, delivery_id: int, routing: Routing, new_state: str) -> None:
        """Replace a delivery's routing (a follow_thread fallen back) and set its state."""
        with self._write():
            self._transition(delivery_id, new_state, routing_json=_dumps(routing.to_dict()), rule=routing.rule,
                             lease_until=None, detail={"rule": routing.rule, "action": routing.action,
                                                       "reason": routing.reason})

    def release(self, delivery_id: int, reason: str = "released unstarted") -> None:
        """Give back a claimed delivery untouched (shutdown, or its sink paused meanwhile)."""
        with self._write():
            self._transition(delivery_id, states.PENDING, lease_until=None, detail={"reason": reason})

    def requeue(self, delivery_id: int, who: str = "admin") -> None:
        """Deliver again: also a delivered, dead, held or ignored one; never one a worker holds now."""
        with self._write():
            row = self.db.execute("select state, lease_until from deliveries where id = ?", [delivery_id]).fetchone()
            if row and row[0] == states.IN_PROGRESS and row[1] and parse_iso(row[1]) > utcnow():
                raise states.IllegalTransition(f"delivery {delivery_id} is being delivered right now"
                                               f" (lease until {row[1]}); try again later")
            self._transition(delivery_id, states.PENDING, next_attempt_at=_now(), lease_until=None,
                             detail={"requeued_by": who})

    def thread_zaak(self, channel: str, platform_id: str, sink: str,
                    channels: Iterable[str] = ()) -> tuple[str | None, str | None]:
        """The zaak of the message ``platform_id`` for ``sink``: ``(state, zaak_url)``.

        Looks in ``channel`` first, then in ``channels`` (other channels of the same platform, where a
        reply may answer a post another channel archived), at every version of that message; a
        delivered one wins. ``(None, None)`` when the message is unknown.
        """
        names = [channel] + [c for c in channels if c != channel]
        marks = ",".join("?" * len(names))
        with self._lock:
            rows = list(self.db.query(
                "select d.state, d.zaak_url, m.channel from deliveries d join messages m on m.id = d.message_id"
                f" where m.channel in ({marks}) and m.platform_id = ? and d.sink = ?"
                " order by (m.channel = ?) desc, (d.state = 'delivered') desc, m.id",
                [*names, platform_id, sink, channel]))
        if not rows:
            return None, None
        return rows[0]["state"], rows[0]["zaak_url"]

    def other_versions(self, message_id: int, sink: str) -> dict:
        """What ``sink`` holds of the other versions of stored message ``message_id``: ``zaak_url`` of
        the newest earlier version delivered there (or None), and ``newer_delivered``: whether a
        later version was delivered there already (this one arrives late: an admin requeued it)."""
        with self._lock:
            rows = list(self.db.query(
                "select m2.id, d2.zaak_url from messages m join messages m2 on m2.channel = m.channel"
                " and m2.platform_id = m.platform_id and m2.id != m.id"
                " join deliveries d2 on d2.message_id = m2.id and d2.sink = ? and d2.state = 'delivered'"
                " where m.id = ? order by m2.id", [sink, message_id]))
        earlier = [r["zaak_url"] for r in rows if r["id"] < message_id and r["zaak_url"]]
        return {"zaak_url": earlier[-1] if earlier else None,
                "newer_delivered": any(r["id"] > message_id for r in rows)}

    def message_by_platform_id(self, channel: str, platform_id: str) -> Message | None:
        """The newest stored version of the message ``platform_id`` in ``channel``, with its raw payload;
        ``None`` when it is not stored (a reply's parent for its rendition: :mod:`connector.engine`)."""
        with self._lock:
            rows = list(self.db.query(
                f"select {_MESSAGE_COLUMNS} from messages m where m.channel = ? and m.platform_id = ?"
                " order by m.id desc limit 1", [channel, platform_id]))
        return self._stored_message(rows[0]) if rows else None

    @staticmethod
    def _stored_message(row: dict) -> Message:
        """The :class:`Message` of a ``messages`` row (:data:`_MESSAGE_COLUMNS`), with its raw payload."""
        raw = Raw(body=row["raw"] or b"", media_type=row["raw_media_type"] or "", page_url=row["page_url"] or "",
                  fetched_at=parse_iso(row["fetched_at"]) if row["fetched_at"] else None,
                  scope=row["raw_scope"] or Raw.ITEM, warc_file=row.get("warc_file") or "",
                  warc_record=row.get("warc_record") or "", warc_offset=row.get("warc_offset"))
        return Message.from_dict(json.loads(row["message_json"]), raw=raw)

    # -- steps ----------------------------------------------------------------------------

    def step_result(self, delivery_id: int, name: str) -> dict | None:
        with self._lock:
            row = self.db.execute("select result_json from delivery_steps where delivery_id = ? and name = ?",
                                  [delivery_id, name]).fetchone()
        return json.loads(row[0]) if row else None

    def save_step(self, delivery_id: int, name: str, result: dict) -> None:
        with self._write():
            self.db.execute("insert into delivery_steps (delivery_id, name, result_json, saved_at) values (?,?,?,?)"
                            " on conflict (delivery_id, name) do update set result_json = excluded.result_json,"
                            " saved_at = excluded.saved_at", [delivery_id, name, _dumps(result), _now()])
            self._event("delivery.step", delivery_id=delivery_id, detail={"step": name, "result": result})

    def steps(self, delivery_id: int) -> "StoreSteps":
        return StoreSteps(self, delivery_id)


class StoreSteps:
    """:class:`connector.sinks.base.Steps` backed by ``delivery_steps``: saved the moment they succeed."""

    def __init__(self, store: Store, delivery_id: int):
        self.store = store
        self.delivery_id = delivery_id

    def get(self, name: str) -> dict | None:
        return self.store.step_result(self.delivery_id, name)

    def save(self, name: str, result: dict) -> None:
        self.store.save_step(self.delivery_id, name, result)

    def run(self, name, action):
        saved = self.get(name)
        if saved is not None:
            return saved
        result = action()
        self.save(name, result)
        return result
