"""A person's decision about one delivery: "Archiveer in zaak" and re-routing to another zaak.

:meth:`ManualMixin.assign` gives a message's delivery to one sink a routing a user chose (attach to the
zaak they picked or made) and makes it due now, in one transaction:

* no delivery for that sink yet (the rules named another sink): one is added;
* one a worker holds right now (``in_progress`` with a live lease): refused
  (:class:`~connector.states.IllegalTransition`), nothing changes;
* any other state (pending, waiting, retry_wait, held, ignored, dead, delivered): the routing is replaced
  and the delivery is pending again. The memoised steps the sink must redo for another zaak
  (``redo(name)``, the sink's :meth:`~connector.sinks.base.Sink.redo_on_reroute`) are removed, the others
  kept (a ZGW document is linked into the new zaak, not made twice). What was removed, the previous state,
  zaak and rule and the user go into the audit event ``delivery.rerouted``.

:meth:`ManualMixin.claim_delivery` then claims just that delivery under a lease, exactly as a worker's
claim would (:meth:`~connector.store.outbox.OutboxMixin.claim_due`: not while its sink is paused, not
before an earlier version of the message reached that sink), so the web process can deliver it at once
and a worker cannot take it at the same time.
"""
from __future__ import annotations

import json
from typing import Callable

from .. import states
from ..routing import Routing
from .base import _dumps, _now


class ManualMixin:
    def assign(self, message_id: int, sink: str, routing: Routing, who: str,
               redo: Callable[[str], bool] = lambda name: True) -> int:
        """Route ``message_id``'s delivery to ``sink`` as ``routing`` says, due now (see the module
        docstring); returns the delivery id."""
        now = _now()
        summary = {"by": who, "action": routing.action, "zaak_identificatie": routing.zaak_identificatie,
                   "zaak_url": routing.zaak_url, "zaaktype": routing.zaaktype}
        with self._write():
            self._one_at_a_time(f"deliveries:{message_id}:{sink}")  # two archivists at once: one delivery
            if not self.db.execute("select 1 from messages where id = ?", [message_id]).fetchone():
                raise KeyError(f"no message {message_id}")
            row = self.db.execute(
                "select id, state, lease_until, rule, zaak_url, zaak_identificatie from deliveries"
                " where message_id = ? and sink = ?", [message_id, sink]).fetchone()
            if row is None:
                delivery_id = self.db.insert(
                    "insert into deliveries (message_id, sink, state, routing_json, rule, attempts,"
                    " next_attempt_at, created_at, updated_at) values (?,?,?,?,?,0,?,?,?)",
                    [message_id, sink, states.PENDING, _dumps(routing.to_dict()), routing.rule, now, now, now])
                self._event("delivery.pending", sink=sink, message_id=message_id, delivery_id=delivery_id,
                            detail={"from": None, "attempt": 0, "rule": routing.rule, "source": routing.source,
                                    "action": routing.action, "assigned": summary})
                return delivery_id
            delivery_id, state, lease_until, rule, zaak_url, zaak_identificatie = row
            if state == states.IN_PROGRESS and lease_until and lease_until > now:
                raise states.IllegalTransition(f"delivery {delivery_id} is being delivered right now"
                                               f" (lease until {lease_until}); try again later")
            saved = {name: json.loads(result) for name, result in self.db.execute(
                "select name, result_json from delivery_steps where delivery_id = ?", [delivery_id])}
            redone = {name: result for name, result in saved.items() if redo(name)}
            if redone:
                self.db.execute(f"delete from delivery_steps where delivery_id = ? and name in"
                                f" ({', '.join('?' for _ in redone)})", [delivery_id, *redone])
            self._event("delivery.rerouted", sink=sink, message_id=message_id, delivery_id=delivery_id,
                        detail={**summary, "from_state": state, "from_rule": rule, "from_zaak": zaak_url,
                                "from_zaak_identificatie": zaak_identificatie, "steps_redone": redone,
                                "steps_kept": sorted(set(saved) - set(redone))})
            columns = {"routing_json": _dumps(routing.to_dict()), "rule": routing.rule, "next_attempt_at": now,
                       "lease_until": None, "last_error": None}
            if state == states.PENDING:  # already pending: a new routing, no change of state
                assignments = ", ".join(f"{name} = ?" for name in columns)
                self.db.execute(f"update deliveries set {assignments}, updated_at = ? where id = ?",
                                [*columns.values(), now, delivery_id])
            else:
                self._transition(delivery_id, states.PENDING, detail={"assigned_by": who}, **columns)
            return delivery_id

    def claim_delivery(self, delivery_id: int, lease_seconds: float = 300, holder: str | None = None):
        """Claim just this delivery (as :meth:`claim_due` claims: due, sink not paused, earlier versions
        first) for ``holder`` (kept in ``claimed_by`` while in progress, so ``/status`` shows who has it in
        hand); ``None`` when it cannot be claimed now."""
        claimed = self.claim_due(limit=1, lease_seconds=lease_seconds, only=[delivery_id], worker=holder)
        return claimed[0] if claimed else None
