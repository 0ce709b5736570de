"""Fault injection for the StUF double: the shared kinds (connector_doubles/faults.py) plus StUF's own.

Shared kinds (``error_rate``, ``timeout_rate``, ``slow``, ``outage``) work as in the ZGW double; every
StUF request is a POST, so their ``methods`` filter is ``("POST",)`` in effect. An injected 500 is a
SOAP Fault (Fo02/Fo03 with ``StUF058``, plek ``server``) as a StUF system's own error; 502, 503 and
504 are a proxy's plain-text page, not SOAP at all.

StUF kinds, each for a share ``p`` of the requests of the given ``operations`` (None: all), at most
``times`` times (None: no limit):

* :meth:`Faults.stuf_fault`: a Fo02/Fo03 with the given code *instead of* the work (nothing stored);
* :meth:`Faults.bad_answer`: the work IS done, then HTTP 200 with a body that is no success:
  ``"garbage"`` (not XML), ``"empty"`` (no body), ``"wrong_crossref"`` (a schema-valid Bv03 whose
  ``crossRefnummer`` is not the request's referentienummer; for other operations: garbage),
  ``"html"`` (an HTML page, as a misconfigured gateway sends).

They are counted in ``injected`` and ``events`` like the shared kinds (``stuf_fault``, ``bad_answer``).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .. import faults as shared
from ..faults import InjectedError, cut_connection  # noqa: F401  (part of this module's interface)

BAD_ANSWERS = ("garbage", "empty", "wrong_crossref", "html")


@dataclass
class StufPlan(shared.Plan):
    stuf: tuple | None = None        # (code, plek, omschrijving): answer this Fo02/Fo03, do nothing
    answer: str | None = None        # one of BAD_ANSWERS: do the work, then answer this


class _Limited:
    """A StUF kind's rule: share, operations, remaining count and its own random stream."""

    def __init__(self, p, operations, times, seed, value):
        self.p = shared._probability("p", p)
        self.operations = frozenset(operations) if operations is not None else None
        self.times = times
        self.rng = random.Random(seed)
        self.value = value

    def draw(self, operation: str | None):
        if self.operations is not None and operation not in self.operations:
            return None
        if self.times is not None and self.times <= 0:
            return None
        if self.rng.random() >= self.p:
            return None
        if self.times is not None:
            self.times -= 1
        return self.value


class Faults(shared.Faults):
    """The faults one StUF double injects; thread-safe, all off until configured."""

    plan_class = StufPlan

    def __init__(self, clock=None):
        super().__init__(**({"clock": clock} if clock else {}))
        self._stuf: _Limited | None = None
        self._answer: _Limited | None = None

    def stuf_fault(self, code: str = "StUF058", p: float = 1.0, operations=None, times: int | None = None,
                   plek: str = "server", omschrijving: str = "Proces voor afhandelen bericht geeft fout",
                   seed=None) -> None:
        """Answer a Fo02/Fo03 with ``code`` instead of doing the work."""
        if plek not in ("client", "server") or not 1 <= len(code) <= 7:
            raise ValueError("plek is 'client' or 'server'; a StUF foutcode has 1 to 7 characters")
        rule = _Limited(p, operations, times, seed, (code, plek, omschrijving))
        with self._lock:
            self._stuf = rule

    def bad_answer(self, kind: str, p: float = 1.0, operations=None, times: int | None = None,
                   seed=None) -> None:
        """Do the work, then answer HTTP 200 with a body that is not the success it should be."""
        if kind not in BAD_ANSWERS:
            raise ValueError(f"kind must be one of {BAD_ANSWERS}, got {kind!r}")
        rule = _Limited(p, operations, times, seed, kind)
        with self._lock:
            self._answer = rule

    def clear(self) -> None:
        super().clear()
        with self._lock:
            self._stuf = self._answer = None

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._stuf = self._answer = None

    def plan(self, method: str, path: str, operation: str | None = None) -> StufPlan:
        """Decide (and count) what happens to one request of ``operation`` posted to ``path``."""
        where = f"{path} {operation or '?'}"
        plan = super().plan(method, where)
        if plan.injected:
            return plan
        with self._lock:
            if self._stuf and (stuf := self._stuf.draw(operation)):
                plan.stuf = stuf
                self._note(plan, method, where, "stuf_fault")
            elif self._answer and (answer := self._answer.draw(operation)):
                plan.answer = answer
                self._note(plan, method, where, "bad_answer")
        return plan
