"""Fault injection for the doubles: a server under maintenance, on purpose.

``double.faults`` decides per request, before the double does anything, whether and how that
request misbehaves. A fault happens in one of two phases:

* ``before`` the handler: nothing is done; the client gets the fault;
* ``after`` the handler ran: the work IS done, yet the client gets the fault (a 5xx, a cut
  connection or no answer in time) -- the hardest case for an idempotent client.

Kinds, each configured by one method (calling it again replaces that kind's setting):

* :meth:`Faults.error_rate`: a 5xx (503 with ``Retry-After: 1``) or, with ``cut_ratio``, a
  connection closed without any answer;
* :meth:`Faults.timeout_rate`: the answer comes ``seconds`` late; the work is done either after
  the wait (so after the client gave up) or at once;
* :meth:`Faults.slow`: extra latency, the request is served normally;
* :meth:`Faults.outage`: for a while every request answers 503 (with ``Retry-After``), nothing is
  done.

Every injected fault is counted in :attr:`Faults.injected` and listed in :attr:`Faults.events`;
it is never a violation. With ``seed`` a kind draws from its own ``random.Random(seed)`` a fixed
number of values per matching request, so the same request sequence gets the same faults.

Each double gives the injected errors its own form (the ZGW double a ``problem+json`` body, the
StUF double a SOAP Fault) by subclassing :class:`Faults` (:meth:`Faults.make_fault`).
"""
from __future__ import annotations

import math
import random
import socket
import threading
import time
from dataclasses import dataclass, field


class InjectedError(Exception):
    """A deliberate 5xx: ``status``, ``kind`` and ``headers`` (``Retry-After`` for 503)."""

    def __init__(self, status: int, kind: str, retry_after: int | None = None):
        super().__init__(f"injected {kind}: HTTP {status}")
        self.status = status
        self.kind = kind
        self.headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}


@dataclass
class Plan:
    """What one request will suffer; the empty plan means: serve it normally."""
    pause_before: float = 0.0          # seconds to wait before doing anything
    pause_after: float = 0.0           # seconds to wait after the work, before answering
    before: object | None = None      # answer this error instead of doing the work
    after: object | None = None       # do the work, then answer this error instead
    cut: bool = False                  # close the connection instead of answering
    kinds: list[str] = field(default_factory=list)

    @property
    def injected(self) -> bool:
        return self.before is not None or self.after is not None


@dataclass
class _Rule:
    p: float
    methods: frozenset
    after_ratio: float
    rng: random.Random
    statuses: tuple = ()
    seconds: float = 0.0
    cut_ratio: float = 0.0

    def draw(self, method: str):
        """(hit, after, status, cut) for one request; always four draws when the method matches."""
        if method not in self.methods:
            return None
        hit = self.rng.random() < self.p
        after = self.rng.random() < self.after_ratio
        status = self.rng.choice(self.statuses) if self.statuses else None
        cut = self.rng.random() < self.cut_ratio
        return (hit, after, status, cut) if hit else None


def _methods(methods) -> frozenset:
    return frozenset(m.upper() for m in methods)


def _probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


class Faults:
    """The faults one double injects; thread-safe, all settings off until configured.

    A double subclasses it to give the injected errors its own form (:meth:`make_fault`) and may
    add kinds of its own to the plan (:attr:`plan_class`, :meth:`plan`).
    """

    plan_class = Plan

    def __init__(self, clock=time.time):
        self._clock = clock
        self._lock = threading.Lock()
        self._error: _Rule | None = None
        self._timeout: _Rule | None = None
        self._slow: _Rule | None = None
        self._outage: tuple[float, float, int] | None = None   # (from, until, status)
        self._injected: dict[str, int] = {}
        self._events: list[tuple[str, str, str]] = []

    # --- configuration ------------------------------------------------------------------------

    def error_rate(self, p: float, statuses=(500, 502, 503), methods=("POST", "GET"),
                   seed=None, after_ratio: float = 0.5, cut_ratio: float = 0.0) -> None:
        """Fail a share ``p`` of matching requests with one of ``statuses``.

        ``after_ratio``: share of those failures injected after the handler ran (object created).
        ``cut_ratio``: share of those failures that close the connection instead of answering.
        """
        statuses = tuple(statuses)
        if not statuses or any(not 500 <= s <= 599 for s in statuses):
            raise ValueError(f"statuses must be 5xx, got {statuses!r}")
        rule = _Rule(_probability("p", p), _methods(methods),
                     _probability("after_ratio", after_ratio), random.Random(seed),
                     statuses=statuses, cut_ratio=_probability("cut_ratio", cut_ratio))
        with self._lock:
            self._error = rule

    def timeout_rate(self, p: float, seconds: float, methods=("POST", "GET"), seed=None,
                     after_ratio: float = 0.5) -> None:
        """Answer a share ``p`` of matching requests ``seconds`` late.

        Before (``1 - after_ratio``): wait, then do the work and answer, so the object appears
        only after a client with a shorter timeout gave up. After: do the work, then wait.
        """
        rule = _Rule(_probability("p", p), _methods(methods),
                     _probability("after_ratio", after_ratio), random.Random(seed),
                     seconds=float(seconds))
        with self._lock:
            self._timeout = rule

    def slow(self, p: float, seconds: float, methods=("POST", "GET"), seed=None) -> None:
        """Add ``seconds`` of latency to a share ``p`` of matching requests."""
        rule = _Rule(_probability("p", p), _methods(methods), 0.0, random.Random(seed),
                     seconds=float(seconds))
        with self._lock:
            self._slow = rule

    def outage(self, seconds: float, status: int = 503, start_in: float = 0.0) -> None:
        """Every request answers ``status`` (with ``Retry-After``) for ``seconds``, starting in
        ``start_in`` seconds; nothing is done meanwhile."""
        start = self._clock() + start_in
        with self._lock:
            self._outage = (start, start + seconds, status)

    def clear(self) -> None:
        """Stop injecting anything (an outage too). The counters and events stay."""
        with self._lock:
            self._error = self._timeout = self._slow = self._outage = None

    def reset(self) -> None:
        """:meth:`clear` and forget the counters and events (``double.reset()`` calls this)."""
        with self._lock:
            self._error = self._timeout = self._slow = self._outage = None
            self._injected.clear()
            self._events.clear()

    # --- inspection ---------------------------------------------------------------------------

    @property
    def injected(self) -> dict[str, int]:
        """Kind -> count: ``error_before``, ``error_after``, ``cut_before``, ``cut_after``,
        ``timeout_before``, ``timeout_after``, ``slow``, ``outage``."""
        with self._lock:
            return dict(self._injected)

    @property
    def events(self) -> list[tuple[str, str, str]]:
        """``(method, path, kind)`` of every injected fault, oldest first."""
        with self._lock:
            return list(self._events)

    @property
    def outage_until(self) -> float | None:
        """End of the scheduled or running outage (``time.time()`` clock), or None."""
        with self._lock:
            return self._outage[1] if self._outage else None

    @property
    def outage_active(self) -> bool:
        with self._lock:
            return self._outage is not None and self._outage[0] <= self._clock() < self._outage[1]

    # --- per request --------------------------------------------------------------------------

    def plan(self, method: str, path: str) -> Plan:
        """Decide (and count) what happens to one request."""
        plan = self.plan_class()
        with self._lock:
            now = self._clock()
            if self._outage and self._outage[0] <= now < self._outage[1]:
                retry_after = max(1, math.ceil(self._outage[1] - now))
                plan.before = self.make_fault(self._outage[2], "outage", retry_after)
                self._note(plan, method, path, "outage")
                return plan
            error = self._error.draw(method) if self._error else None
            timeout = self._timeout.draw(method) if self._timeout else None
            slow = self._slow.draw(method) if self._slow else None
            if error:
                _, after, status, cut = error
                phase = "after" if after else "before"
                fault = self.make_fault(status, f"error {phase}", 1 if status == 503 else None)
                setattr(plan, phase, fault)
                plan.cut = cut
                self._note(plan, method, path, f"{'cut' if cut else 'error'}_{phase}")
            elif timeout:
                if timeout[1]:
                    plan.pause_after = self._timeout.seconds
                else:
                    plan.pause_before = self._timeout.seconds
                self._note(plan, method, path, f"timeout_{'after' if timeout[1] else 'before'}")
            if slow:
                plan.pause_before += self._slow.seconds
                self._note(plan, method, path, "slow")
        return plan

    def make_fault(self, status: int, kind: str, retry_after: int | None):
        """The error object an injected 5xx becomes (a double overrides this)."""
        return InjectedError(status, kind, retry_after)

    def _note(self, plan: Plan, method: str, path: str, kind: str) -> None:
        plan.kinds.append(kind)
        self._injected[kind] = self._injected.get(kind, 0) + 1
        self._events.append((method, path, kind))


def cut_connection(environ) -> bool:
    """Close the client's connection without an answer (werkzeug's dev server only)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return False
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    return True


class NumberedFaults:
    """``fail_next`` and ``truncate_next`` for the replay doubles, by request number: the double keeps
    ``_received`` (requests counted so far), ``faults`` (number -> ``(status, body, headers)``),
    ``truncations`` (number -> share of the body served) and the lock named by ``_faults_lock``."""

    _faults_lock = "_lock"

    def fail_next(self, status: int = 500, after: int = 0, body=None, headers: dict | None = None) -> int:
        """Make the (after+1)-th request from now answer ``status`` once, with ``body`` (the double's own
        error body when None) and ``headers``; returns its request number."""
        with getattr(self, self._faults_lock):
            number = self._received + 1 + after
            self.faults[number] = (status, body, dict(headers or {}))
            return number

    def truncate_next(self, after: int = 0, keep: float = 0.5) -> int:
        """Serve the (after+1)-th request from now with only the first ``keep`` of its body."""
        with getattr(self, self._faults_lock):
            number = self._received + 1 + after
            self.truncations[number] = keep
            return number
