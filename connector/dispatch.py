"""One delivery run: claim only what can be worked on, keep in order what must wait, renew the lease.

:class:`Dispatcher` runs a :meth:`~connector.engine.Connector.deliver_due` call. Decisions:

* **Claims fit the work.** Each sink has ``parallel`` slots (one when it delivers one at a time).
  Deliveries are claimed per sink into free slots only (``claim_due(limit=free, sink=...)``), and
  the next one the moment a slot frees: a worker holds no delivery it is not working on, so a
  worker killed mid-run leaves at most ``parallel`` deliveries per sink behind, due again as soon
  as their lease runs out.
* **Short leases, renewed.** While deliveries are in hand their lease is renewed every third of
  it (by the thread that runs the dispatcher, which never waits on a case system itself), so the
  lease can be tens of seconds without a slow call losing its delivery to another worker.
* **Only what must wait runs in order.** A delivery has a key: its message (the versions of one
  message share the zaak made once), or, for a reply that follows its thread, its parent's key
  while the parent is in hand, and the parent while the parent has no zaak yet. A delivery whose
  key is in hand queues behind it (and takes a slot); every other delivery starts at once, so
  documents into an existing zaak go in parallel.
* **A run is bounded.** It ends after ``limit`` claims, or when no sink has anything due now; a
  delivery is tried at most once per run (one that fails waits for its retry time in a later run).
* **One crashing delivery stops nothing.** An unexpected error outside the sink (the sink's own
  are failures handled by the engine) is logged; the delivery keeps its state and is due again
  when its lease runs out, and the others go on.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from .logs import about_delivery
from .routing import FOLLOW_THREAD
from .store import DeliveryRow

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)


@dataclass
class DeliverResult:
    delivered: int = 0
    retrying: int = 0
    waiting: int = 0
    dead: int = 0
    held: int = 0
    released: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, *others: "DeliverResult") -> "DeliverResult":
        for other in others:
            for name in ("delivered", "retrying", "waiting", "dead", "held", "released"):
                setattr(self, name, getattr(self, name) + getattr(other, name))
            self.errors += other.errors
        return self


class Dispatcher:
    """The sinks' slots and worker threads; :meth:`run` is one delivery run."""

    def __init__(self, store: "Store", slots: dict[str, int], deliver: Callable[[DeliveryRow, datetime | None], DeliverResult],
                 stopping: threading.Event, worker: str | None = None):
        self.store = store
        self.worker = worker  # its id goes on every delivery it claims (``claimed_by``, shown by /status)
        self.slots = dict(slots)
        self.deliver = deliver  # one delivery, pause check included (the engine's)
        self.stopping = stopping
        self.pools = {sink: ThreadPoolExecutor(n, thread_name_prefix=f"deliver-{sink}")
                      for sink, n in self.slots.items()}

    def run(self, limit: int, lease: float, now: datetime | None = None) -> DeliverResult:
        return _Run(self, limit, lease, now).go()

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=True)


class _Run:
    def __init__(self, dispatcher: Dispatcher, limit: int, lease: float, now: datetime | None):
        self.d, self.limit, self.lease, self.now = dispatcher, limit, lease, now
        self.lock = threading.Lock()
        self.queues: dict[tuple, deque[DeliveryRow]] = {}  # key in hand -> its deliveries, running one first
        self.key_of: dict[tuple, tuple] = {}  # (sink, channel, message id) in hand -> its key
        self.in_hand = {sink: 0 for sink in dispatcher.slots}
        self.held: set[int] = set()  # delivery ids in hand: their leases are renewed
        self.seen: set[int] = set()  # claimed in this run
        self.drained: set[str] = set()  # sinks with nothing more due in this run
        self.futures: dict[Future, str] = {}
        self.result = DeliverResult()

    def go(self) -> DeliverResult:
        every = max(0.5, self.lease / 3)
        renewed = time.monotonic()
        while True:
            self.fill()
            if not self.futures:
                return self.result
            done, _ = wait(list(self.futures), timeout=max(0.0, renewed + every - time.monotonic()),
                           return_when=FIRST_COMPLETED)
            for future in done:
                del self.futures[future]
                self.result.add(future.result())
            if time.monotonic() - renewed >= every:
                with self.lock:
                    held = list(self.held)
                self.d.store.renew_leases(held, self.lease)
                renewed = time.monotonic()

    def fill(self) -> None:
        """Claim into every free slot, as long as the run's limit allows."""
        for sink, slots in self.d.slots.items():
            if self.d.stopping.is_set():
                return
            free = min(slots - self.in_hand[sink], self.limit - len(self.seen))
            if sink in self.drained or free <= 0:
                continue
            with self.lock:
                held = list(self.held)   # an edit whose earlier version is in hand queues behind it
            rows = self.d.store.claim_due(free, self.lease, now=self.now, sink=sink, skip=self.seen, held=held,
                                          worker=self.d.worker)
            if len(rows) < free:
                self.drained.add(sink)
            for row in rows:
                self.take(row)

    def take(self, row: DeliveryRow) -> None:
        key = self.key(row)
        with self.lock:
            self.seen.add(row.id)
            self.held.add(row.id)
            self.in_hand[row.sink] += 1
            self.key_of[(row.sink, row.message.channel, row.message.id)] = key
            if key in self.queues:  # what it must wait for is in hand: after it, on its thread
                self.queues[key].append(row)
                return
            self.queues[key] = deque([row])
        self.futures[self.d.pools[row.sink].submit(self.work, key)] = row.sink

    def key(self, row: DeliveryRow) -> tuple:
        message, routing = row.message, row.routing
        own = (row.sink, "message", message.channel, message.id)
        if routing.action == FOLLOW_THREAD and not routing.zaak_url and message.in_reply_to:
            with self.lock:
                parent = self.key_of.get((row.sink, message.channel, message.in_reply_to))
                if parent in self.queues:
                    return parent
            _, zaak_url = self.d.store.thread_zaak(message.channel, message.in_reply_to, row.sink)
            return own if zaak_url else (row.sink, "thread", message.channel, message.in_reply_to)
        return own

    def work(self, key: tuple) -> DeliverResult:
        """Deliver the key's deliveries one after another, including those queued meanwhile."""
        result = DeliverResult()
        while True:
            with self.lock:
                row = self.queues[key][0]
            try:
                result.add(self.d.deliver(row, self.now))
            except Exception:  # noqa: BLE001 - e.g. the store; the lease brings the delivery back
                log.exception("delivery %s: unexpected error; it is tried again when its lease runs out", row.id,
                              extra=about_delivery(row))
            with self.lock:
                self.queues[key].popleft()
                self.held.discard(row.id)
                self.in_hand[row.sink] -= 1
                mine = (row.sink, row.message.channel, row.message.id)
                if not any((r.sink, r.message.channel, r.message.id) == mine for r in self.queues[key]):
                    self.key_of.pop(mine, None)  # no other version of the message is in hand
                if not self.queues[key]:
                    del self.queues[key]
                    return result
