"""The store clock of ``bench/workers.py``: what the per-delivery store overhead figure is made of.

It must count each outermost store call once (a store method calling another is one call, or the figure would
count time twice), see calls from every thread, and leave :class:`Store` exactly as it found it.
"""
from __future__ import annotations

import inspect
import threading

from bench.workers import StoreClock
from connector.store import Store


def test_the_clock_counts_outermost_calls_once_from_every_thread_and_restores_the_store():
    before = {name: member for name, member in inspect.getmembers(Store, inspect.isfunction)}
    store = Store(":memory:")
    try:
        with StoreClock() as clock:
            store.query("select 1")  # one call
            store.steps(1).get("x")  # steps() is one, then StoreSteps.get calls step_result: one more
            store.worker_silent("w", 60)  # it calls store.query inside: still one
            worker = threading.Thread(target=store.query, args=("select 2",))
            worker.start()
            worker.join()
            assert Store.query is not before["query"]
        assert clock.calls == 5 and clock.seconds > 0
        after = {name: member for name, member in inspect.getmembers(Store, inspect.isfunction)}
        assert after == before
        store.query("select 3")
        assert clock.calls == 5, "nothing is counted once the clock stopped"
    finally:
        store.close()
