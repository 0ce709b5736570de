"""Delivery states and the only table of legal transitions between them.

``pending``      waiting for its first attempt
``in_progress``  claimed by a worker (with a lease; see the store)
``delivered``    every document is in the target system; final unless an admin requeues
``retry_wait``   an attempt failed transiently; ``next_attempt_at`` says when to try again
``waiting``      waits for something else first (a reply whose parent's zaak is not known yet)
``dead``         permanent error or attempts exhausted; needs an admin (requeue after a fix)
``held``         the rules said: hold for manual triage
``ignored``      the rules said: do not archive (with a reason)

Every change of state goes through :func:`check` so an illegal one raises instead of silently
corrupting the outbox.
"""
from __future__ import annotations

PENDING = "pending"
IN_PROGRESS = "in_progress"
DELIVERED = "delivered"
RETRY_WAIT = "retry_wait"
WAITING = "waiting"
DEAD = "dead"
HELD = "held"
IGNORED = "ignored"

STATES = (PENDING, IN_PROGRESS, DELIVERED, RETRY_WAIT, WAITING, DEAD, HELD, IGNORED)
DUE = (PENDING, RETRY_WAIT, WAITING)  # states a delivery run picks up once next_attempt_at has passed

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({IN_PROGRESS, HELD, IGNORED}),
    RETRY_WAIT: frozenset({IN_PROGRESS, PENDING, HELD, IGNORED}),  # -> pending: admin requeue
    WAITING: frozenset({IN_PROGRESS, PENDING, HELD, IGNORED}),
    # -> in_progress: a lease expired (the worker holding it died) and another worker reclaims it;
    # -> pending: given back untouched (shutdown, or its sink was paused meanwhile)
    IN_PROGRESS: frozenset({IN_PROGRESS, DELIVERED, RETRY_WAIT, WAITING, DEAD, HELD, IGNORED, PENDING}),
    DELIVERED: frozenset({PENDING}),  # only by an explicit admin requeue
    DEAD: frozenset({PENDING}),  # admin requeue after a fix
    HELD: frozenset({PENDING, IGNORED}),  # triage decided
    IGNORED: frozenset({PENDING}),
}


class IllegalTransition(RuntimeError):
    pass


def check(current: str, new: str) -> None:
    if new not in TRANSITIONS.get(current, ()):
        raise IllegalTransition(f"delivery cannot go from {current!r} to {new!r}")
