"""How long a worker killed mid-run keeps its deliveries from the case system, with default settings.

A ``connector worker`` subprocess, on the default delivery settings (``lease`` 30 s, ``interval``
10 s, ``batch_size`` 50, one delivery at a time), delivers ``MESSAGES`` stored messages, each into
a new zaak, to the ZGW double in its own process with the ``openzaak`` latency profile. Once it has
delivered a few and holds a claim, it is killed with SIGKILL and a new worker is started at once
(as a supervisor restarts it). The figure is the time from the kill until every delivery the dead
worker held (``in_progress`` at the kill) is delivered; ``BENCH_CRASH_KILLS`` trials (default 3),
the worst one reported. Target: under 60 s.

What it is made of: the rest of the dead worker's lease (at most ``lease``, renewed every third of
it while it worked), then the new worker's next delivery run (its first runs at start, then every
``interval``), then the delivery itself.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from connector.config import load_config
from connector.engine import Connector
from connector.store import Store

from .pipeline import ROOT, SECRET, DoubleProcess, make_messages, write_config

MESSAGES = int(os.environ.get("BENCH_CRASH_MESSAGES", "200"))
KILLS = int(os.environ.get("BENCH_CRASH_KILLS", "3"))
BOUND = 300.0  # a bound on waiting, so a broken worker cannot hang the benchmark


def _query(store_path: Path, sql: str) -> list[dict]:
    store = Store(store_path, create=False)
    try:
        return store.query(sql)
    finally:
        store.close()


def _prepare(folder: Path, double: DoubleProcess, trial: int) -> Path:
    """A configuration on the default delivery settings, its store holding every message."""
    path = write_config(folder, double.url, parallel=1, name=f"crash{trial}")
    config = yaml.safe_load(path.read_text())
    config.pop("delivery", None)  # the defaults, as a fresh installation has them
    path.write_text(yaml.safe_dump(config))
    os.environ["BENCH_ZGW_SECRET"] = SECRET
    connector = Connector(load_config(path))
    try:
        messages = make_messages(MESSAGES)
        connector.store.save_page("bench", [(m, connector.plan(m)) for m in messages], {"bench": True})
    finally:
        connector.close()
    return path


def _worker(config: Path, log) -> subprocess.Popen:
    env = {**os.environ, "BENCH_ZGW_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "worker", "--config", str(config)],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def trial(folder: Path, double: DoubleProcess, number: int) -> tuple[float, int]:
    """Seconds from the kill until the dead worker's claims are delivered, and how many it held."""
    config = _prepare(folder, double, number)
    store_path = Path(load_config(config).store)
    with open(folder / f"worker{number}.log", "wb") as log:
        worker = _worker(config, log)
        try:
            deadline = time.monotonic() + BOUND
            while time.monotonic() < deadline:  # mid-run: some delivered, one in hand
                counts = {r["state"]: r["n"] for r in _query(
                    store_path, "select state, count(*) as n from deliveries group by state")}
                if counts.get("delivered", 0) >= 5 and counts.get("in_progress", 0):
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"the worker delivered nothing within {BOUND:.0f} s; see {log.name}")
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            killed = time.monotonic()
            held = [r["id"] for r in _query(store_path, "select id from deliveries where state = 'in_progress'")]
            worker = _worker(config, log)  # restarted at once
            ids = ", ".join(map(str, held))
            while time.monotonic() < killed + BOUND:
                left = _query(store_path, f"select count(*) as n from deliveries where id in ({ids})"
                                          " and state != 'delivered'")[0]["n"]
                if not left:
                    return time.monotonic() - killed, len(held)
                time.sleep(0.1)
            raise RuntimeError(f"the dead worker's {len(held)} deliveries were not delivered within {BOUND:.0f} s")
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                worker.kill()


def run() -> list[tuple[str, float, str]]:
    double = DoubleProcess(latency=0.0, profile="openzaak")
    double.start()
    seconds = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"workload: {MESSAGES} messages, each a new zaak; default delivery settings; SIGKILL mid-run,"
                  f" restarted at once; {KILLS} trials")
            for number in range(KILLS):
                double.reset()
                elapsed, held = trial(Path(tmp), double, number)
                seconds.append(elapsed)
                print(f"  trial {number + 1}: {held} claimed deliveries delivered again {elapsed:.1f} s after the kill",
                      flush=True)
    finally:
        double.stop()
    return [("crash_resume_seconds", max(seconds), "s")]
