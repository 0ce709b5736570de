"""Many workers on one PostgreSQL store (issue 13): four against one, and the store's own cost per delivery.

A throwaway PostgreSQL cluster of Debian's server (``tests/pg_support.py``, here with PostgreSQL's durable
defaults: ``fsync``, ``synchronous_commit`` and ``full_page_writes`` on, as in production) and the ZGW double in
its own process with the ``openzaak`` latency profile (zaak lookup ~55 ms, zaak and document POST ~80 ms, link
POST ~125 ms: about 0.55 s of case system per message), no fixed latency.

* ``workers1`` / ``workers4``: 1 or 4 ``connector worker`` processes (``parallel: 1`` each, the default delivery
  lease, ``delivery.interval`` 0.5 s) on a fresh database. Once every worker has beaten, a warm-up of two messages
  per worker is stored and delivered (a running deployment has its catalogus lookups cached and its fonts loaded);
  then the clock starts, ``MESSAGES`` messages are stored in one page (each routed to a NEW zaak with two
  documents: six calls), and it stops when the store holds every one of them delivered. Nothing else may be left:
  a delivery dead, retrying or delivered twice fails the benchmark.
* ``store overhead``: in this process, the connector's pipeline (one delivery at a time) delivers ``STORE_MESSAGES``
  messages each to a new zaak, to the double without any latency, their renditions rendered before the clock, once on a SQLite file (WAL, ``synchronous
  NORMAL``, the store's own settings) and once on a PostgreSQL database of the same cluster. Every public method of
  :class:`~connector.store.Store` is timed while the deliveries run (outermost calls only: a store method calling
  another counts once), and the sum is divided by the deliveries: the store's cost per delivery on each backend.

Figures: ``workers4_vs_workers1`` (target at least 3), each run's messages per second,
``store_ms_per_delivery_sqlite``, ``store_ms_per_delivery_postgresql`` and their ratio.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from connector.config import load_config
from connector.engine import Connector
from connector import record
from connector.record import RENDITION, build_record
from connector.store import Store

from .pipeline import ROOT, SECRET, DoubleProcess, make_messages, run_pipeline, write_config

MESSAGES = int(os.environ.get("BENCH_WORKERS_MESSAGES", "100"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
STORE_MESSAGES = int(os.environ.get("BENCH_STORE_MESSAGES", "200"))
BOUND = 600.0  # seconds: a broken worker cannot hang the benchmark


def _config(folder: Path, double: DoubleProcess, store: str, name: str) -> Path:
    """The pipeline benchmark's configuration (one sink, every message a new zaak) on ``store``."""
    path = write_config(folder, double.url, parallel=1, name=name, store=store)
    config = yaml.safe_load(path.read_text())
    config["delivery"] = {"interval": 0.5, "parent_grace": 0, "batch_size": 200}
    path.write_text(yaml.safe_dump(config))
    return path


def _count(store: Store, sql: str, params=()) -> int:
    return store.query(sql, list(params))[0]["n"]


def _wait(what: str, done, log: Path) -> None:
    deadline = time.monotonic() + BOUND
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {BOUND:.0f} s; see {log}")
        time.sleep(0.05)


def _store(connector: Connector, channel: str, messages) -> None:
    messages = [dataclasses.replace(m, channel=channel) for m in messages]
    connector.store.save_page(channel, [(m, connector.plan(m)) for m in messages], {channel: True})


def _delivered(store: Store, channel: str) -> int:
    return _count(store, "select count(*) as n from deliveries d join messages m on m.id = d.message_id"
                         " where m.channel = ? and d.state = 'delivered'", [channel])


def run_workers(folder: Path, double: DoubleProcess, url: str, workers: int) -> float:
    """Seconds for ``workers`` worker processes to deliver :data:`MESSAGES` messages (see the module docstring)."""
    os.environ["BENCH_ZGW_SECRET"] = SECRET
    config = _config(folder, double, url, f"workers{workers}")
    connector = Connector(load_config(config))  # migrates the fresh database before any worker starts
    store, log = connector.store, folder / f"workers{workers}.log"
    processes = []
    try:
        started_at = _count(store, "select count(*) as n from workers")
        with open(log, "ab") as out:
            for _ in range(workers):
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "connector.cli", "worker", "--config", str(config)], cwd=ROOT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=out, stderr=subprocess.STDOUT))
        _wait(f"{workers} worker(s) beating", lambda: _count(
            store, "select count(*) as n from workers where stopped_at is null") >= started_at + workers, log)
        warm = make_messages(2 * workers)
        _store(connector, "warm", warm)
        _wait("the warm-up", lambda: _delivered(store, "warm") == len(warm), log)
        messages = make_messages(MESSAGES)
        started = time.perf_counter()
        _store(connector, "bench", messages)
        _wait(f"{MESSAGES} deliveries", lambda: _delivered(store, "bench") >= MESSAGES, log)
        elapsed = time.perf_counter() - started
        states = {r["state"]: r["n"] for r in store.query("select state, count(*) as n from deliveries group by state")}
        if states != {"delivered": MESSAGES + len(warm)}:
            raise RuntimeError(f"{workers} worker(s) left the deliveries in {states}; see {log}")
        return elapsed
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        connector.close()


class StoreClock:
    """While active, every public method of :class:`Store` adds its time to :attr:`seconds` (outermost calls only)."""

    def __init__(self):
        self.seconds, self.calls = 0.0, 0
        self._depth = threading.local()
        self._lock = threading.Lock()
        self._saved: dict[str, object] = {}

    def _timed(self, method):
        @functools.wraps(method)
        def timed(*args, **kwargs):
            depth = getattr(self._depth, "n", 0)
            self._depth.n = depth + 1
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self._depth.n = depth
                if depth == 0:
                    with self._lock:
                        self.seconds += time.perf_counter() - started
                        self.calls += 1
        return timed

    def __enter__(self) -> "StoreClock":
        for name, member in inspect.getmembers(Store, inspect.isfunction):
            if not name.startswith("_"):
                self._saved[name] = Store.__dict__.get(name)
                setattr(Store, name, self._timed(member))
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._saved.items():
            if original is None:
                delattr(Store, name)  # it was inherited: the base class's comes back
            else:
                setattr(Store, name, original)


def store_ms_per_delivery(folder: Path, double: DoubleProcess, store: str, name: str) -> tuple[float, float]:
    """The store's milliseconds per delivery while the pipeline delivers, and the whole pipeline's.

    The PDF renditions are rendered before the clock (the very bytes the sink would render, looked up by
    message): the sink renders on a thread beside its calls, and that CPU-bound thread holding the GIL made
    every store call wait its turn (``save_step`` measured 1.5 ms a call on SQLite with rendering, 0.2 without),
    which is the renderer's cost, not the store's."""
    messages = make_messages(STORE_MESSAGES)
    clock, rendered = StoreClock(), {m.id: build_record(m).file(RENDITION).data for m in messages}
    real = record.render_pdf
    record.render_pdf = lambda message, **_: rendered[message.id]
    try:
        with _measure_drain(clock):
            total = run_pipeline(folder, double, messages, 1, name=name, store=store)
    finally:
        record.render_pdf = real
    print(f"  {name}: {clock.calls / STORE_MESSAGES:.1f} store calls per delivery", flush=True)
    return clock.seconds * 1000 / STORE_MESSAGES, total * 1000 / STORE_MESSAGES


@contextlib.contextmanager
def _measure_drain(clock: StoreClock):
    """Time the store only inside ``Connector.drain`` (the deliveries), not while the page is saved."""
    drain = Connector.drain

    def timed_drain(self):
        with clock:
            return drain(self)

    Connector.drain = timed_drain
    try:
        yield
    finally:
        Connector.drain = drain


def run() -> list[tuple[str, float, str]]:
    from tests import pg_support  # the tests' throwaway cluster (Debian's postgresql; scripts/setup.sh)

    cluster = pg_support.start(durable=True)
    os.environ["PGPASSWORD"] = cluster.password
    double = DoubleProcess(latency=0.0, profile="openzaak")
    seconds, store_ms, pipeline_ms = {}, {}, {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            print(f"workload: {MESSAGES} messages, each a new zaak with 2 documents (6 calls), on PostgreSQL"
                  f" {cluster.bin.parent.name} (durable); double with the openzaak latency profile")
            double.start()
            for workers in (1, WORKERS):
                double.reset()
                with pg_support.database(cluster) as name:
                    seconds[workers] = run_workers(folder, double, cluster.url(name), workers)
                print(f"{workers} worker(s): {MESSAGES / seconds[workers]:6.2f} messages/s", flush=True)
            double.stop()
            fast = DoubleProcess(latency=0.0, profile="")
            fast.start()
            try:
                print(f"store overhead: {STORE_MESSAGES} messages through the pipeline, double without latency")
                store_ms["sqlite"], pipeline_ms["sqlite"] = store_ms_per_delivery(
                    folder, fast, str(folder / "overhead.db"), "overhead-sqlite")
                fast.reset()
                with pg_support.database(cluster) as name:
                    store_ms["postgresql"], pipeline_ms["postgresql"] = store_ms_per_delivery(
                        folder, fast, cluster.url(name), "overhead-pg")
            finally:
                fast.stop()
            for backend in store_ms:
                print(f"{backend:>12}: store {store_ms[backend]:6.2f} ms per delivery"
                      f" of {pipeline_ms[backend]:6.2f} ms in all", flush=True)
    finally:
        double.stop()
        cluster.stop()
    return [
        ("workers1_messages_per_second", MESSAGES / seconds[1], "msg/s"),
        (f"workers{WORKERS}_messages_per_second", MESSAGES / seconds[WORKERS], "msg/s"),
        (f"workers{WORKERS}_vs_workers1", seconds[1] / seconds[WORKERS], "x"),
        ("store_ms_per_delivery_sqlite", store_ms["sqlite"], "ms"),
        ("store_ms_per_delivery_postgresql", store_ms["postgresql"], "ms"),
        ("store_overhead_postgresql_vs_sqlite", store_ms["postgresql"] / store_ms["sqlite"], "x"),
    ]


__all__ = ["run"]
