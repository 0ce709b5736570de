"""Replies follow their thread: the zaak of the message a reply answers (``follow_thread`` routings).

:func:`follow_thread` fills in the parent's zaak for one delivery, or parks it:

* the parent is stored and delivered to this sink: its zaak (memoised as the step ``thread``);
* the parent is stored and still on its way: the reply waits (``waiting``) and is tried again soon;
* the parent is not stored yet: fetched later (a later page, a comment listed before its post, a
  post another channel of the same platform archives): the reply waits up to
  ``delivery.parent_grace`` after it was stored, so it is not misfiled in the meantime;
* otherwise (the parent has no zaak here, or never came): the rule's ``otherwise``, else held.

A reply's parent is looked up in its own channel first, then in the other channels of the same
platform (:func:`siblings`).
"""
from __future__ import annotations

from datetime import timedelta

from . import states
from .fanout import plan_routing
from .message import utcnow
from .routing import FOLLOW_THREAD, HOLD, IGNORE, Routing

PARENT_WAIT = timedelta(seconds=30)
DEFAULT_GRACE = 900.0  # settings.DeliverySchema.parent_grace


def siblings(channels) -> dict[str, list[str]]:
    """Per channel, the other channels of the same platform (same kind and same ``base_url``), where a
    reply's parent may have been archived: a reply on one account to a post of another."""
    def platform(c):
        return c.kind, str(c.options.get("base_url") or "").rstrip("/")
    return {c.name: [o.name for o in channels if o.name != c.name and platform(o) == platform(c)] for c in channels}


def follow_thread(connector, row, steps, result) -> Routing | None:
    """The routing with the parent's zaak filled in, or ``None`` when the delivery is parked."""
    saved = steps.get("thread")
    if saved:
        return row.routing.evolve(zaak_url=saved["zaak_url"])
    parent, channel = row.message.in_reply_to, row.message.channel
    state, zaak_url = connector.store.thread_zaak(channel, parent, row.sink, connector.siblings.get(channel, ())) \
        if parent else (None, None)
    if zaak_url:
        steps.save("thread", {"parent": parent, "zaak_url": zaak_url})
        return row.routing.evolve(zaak_url=zaak_url)
    if state in (*states.DUE, states.IN_PROGRESS):  # the parent is still on its way
        connector.store.mark_waiting(row.id, f"waiting for parent message {parent} to be delivered",
                                     utcnow() + PARENT_WAIT)
        result.waiting += 1
        return None
    grace = timedelta(seconds=connector.config.delivery.get("parent_grace", DEFAULT_GRACE))
    if state is None and parent and row.created_at and utcnow() < row.created_at + grace:
        # not stored yet: fetched later (a later page, a comment listed before its post, another channel)
        connector.store.mark_waiting(row.id, f"waiting for parent message {parent}: not stored yet (at most until"
                                     f" {(row.created_at + grace).isoformat()}, then the rule's 'otherwise')",
                                     min(utcnow() + PARENT_WAIT * 10, row.created_at + grace))
        result.waiting += 1
        return None
    fallback = row.routing.fallback or Routing(
        HOLD, rule=row.routing.rule, source=row.routing.source,
        reason=f"replies to {parent or 'nothing'}, which has no zaak, and the rule has no 'otherwise'")
    if fallback.action == FOLLOW_THREAD:  # the rules module refuses this; belt and braces
        fallback = fallback.evolve(action=HOLD, reason="a follow_thread fallback cannot follow the thread")
    fallback = plan_routing(fallback, connector.sinks.get(row.sink))  # what this sink cannot take is held
    if not fallback.delivers:
        new_state = states.IGNORED if fallback.action == IGNORE else states.HELD
        connector.store.reroute(row.id, fallback, new_state)
        result.held += 1
        return None
    return fallback
