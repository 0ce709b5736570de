"""``connector worker``: APScheduler runs one poll job per channel and one delivery job.

Following APScheduler 3.x practice: jobs are rebuilt from the configuration at every start with
explicit ids (``poll:<channel>``, ``deliver``), in memory (durable state lives in our own store,
not in a job store), ``coalesce=True`` so a backlog of missed runs becomes one run,
``max_instances=1`` so a slow poll never overlaps itself, and a misfire grace time near the
interval. A run skipped because the previous one still runs is by design, so it is logged at
DEBUG, not as a warning every interval.

**Heartbeat.** A job of its own (own thread, so busy polls cannot starve it) records, every
``limits.heartbeat_interval``, that the worker is alive, which mapping rules it runs (fingerprint, count, reload errors) and what it is doing
(polls and deliveries in flight, since when). The web app's ``/healthz`` and ``/status`` read
it. Each beat also checks the store: a database file deleted or replaced under the running
worker (it would go on writing into a file nobody can see) stops the worker with exit code 1.

**Stopping.** SIGTERM or SIGINT: no new jobs start; polls stop after their current page and the
delivery loop after its current delivery, giving unstarted claims back. HTTP calls still in flight
get ``limits.shutdown_grace`` seconds to finish; then they are cut off (safe: every step is
idempotent, the cursor only moves past stored pages). The process is gone within
``shutdown_grace + ABORT_WAIT`` seconds of the signal, whatever its threads are doing.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from datetime import datetime, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from . import http
from .engine import Connector
from .leases import worker_id

log = logging.getLogger(__name__)

ABORT_WAIT = 5.0  # seconds for threads to notice their calls were cut off, after the grace period


class _ExpectedSkips(logging.Filter):
    """APScheduler warns each time a run is skipped because the previous one still runs (max_instances=1)
    or was delayed past its grace time (coalesce): both are what we asked for."""

    NOISE = ("maximum number of running instances reached", "was missed by")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(text in record.getMessage() for text in self.NOISE):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


_FILTER = _ExpectedSkips()


def build_scheduler(connector: Connector, heartbeat: "Heartbeat | None" = None) -> BackgroundScheduler:
    """The worker's jobs; ``heartbeat`` (default: one that only stops the connector on a fatal store
    problem) beats in its own executor."""
    for name in ("apscheduler.scheduler", "apscheduler.executors.default"):
        if _FILTER not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_FILTER)
    workers = max(2, len(connector.sources) + 1)
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(workers),
                                               "heartbeat": ThreadPoolExecutor(1)}, timezone="UTC")
    heartbeat = heartbeat or Heartbeat(connector)
    interval = connector.config.limits["heartbeat_interval"]
    scheduler.add_job(heartbeat.beat, "interval", id="heartbeat", name="heartbeat", executor="heartbeat",
                      seconds=interval, coalesce=True, max_instances=1, misfire_grace_time=max(1, int(interval)),
                      next_run_time=_now())
    for channel in connector.config.channels:
        if channel.name not in connector.sources:
            continue
        interval = channel.poll_interval
        scheduler.add_job(connector.poll, "interval", args=[channel.name], id=f"poll:{channel.name}",
                          name=f"poll {channel.name}", seconds=interval, coalesce=True, max_instances=1,
                          misfire_grace_time=max(1, int(interval)), next_run_time=_now())
    interval = connector.config.delivery["interval"]
    scheduler.add_job(connector.drain, "interval", id="deliver", name="deliver due",
                      seconds=interval, coalesce=True, max_instances=1,
                      misfire_grace_time=max(1, int(interval)), next_run_time=_now())
    return scheduler


def _now():
    return datetime.now(timezone.utc)


class Heartbeat:
    """Writes the worker's row in the store: alive, rules in force, activity."""

    def __init__(self, connector: Connector, on_fatal=None):
        self.connector = connector
        self.on_fatal = on_fatal or (lambda: connector.stopping.set())
        self.fatal: list[str] = []
        # the id its channel leases and claimed deliveries carry (connector.leases), so /status can say who holds what
        self.id = getattr(connector, "worker_id", None) or worker_id()
        self.started_at = _now()

    def rules(self) -> dict:
        holder = self.connector.rules
        current = holder.current()
        return {"fingerprint": current.fingerprint if current else None,
                "count": len(current.rules) if current else 0,
                "errors": [str(p) for p in (holder.error or [])]}

    def beat(self, stopped: bool = False) -> None:
        """Record a beat. A deleted or replaced database file is fatal (``on_fatal``); other trouble is logged."""
        store = self.connector.store
        try:
            problems = store.health()
            if not problems:
                store.worker_beat(self.id, host=socket.gethostname(), pid=os.getpid(), started_at=self.started_at,
                                  rules=self.rules(), activity=dict(self.connector.activity), stopped=stopped)
                return
        except Exception as exc:  # noqa: BLE001 - reported, and tried again next beat
            log.error("heartbeat not recorded: %s", exc)
            return
        fatal = [p for p in problems if "gone" in p or "replaced" in p]
        if not fatal:
            log.error("heartbeat not recorded: %s", "; ".join(problems))
            return
        if not self.fatal and not stopped:
            self.fatal = fatal
            log.critical("store %s: %s; the worker stops (restart it once the database is back)",
                         store.path, "; ".join(fatal))
            self.on_fatal()


def run_worker(connector: Connector, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    limits = connector.config.limits

    def on_signal(signum, frame):
        log.info("signal %s: stopping (calls in flight get %g s)", signum, limits["shutdown_grace"])
        connector.stopping.set()
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    heartbeat = Heartbeat(connector, on_fatal=stop.set)
    scheduler = build_scheduler(connector, heartbeat)
    scheduler.start()
    log.info("worker %s started: %s", heartbeat.id, ", ".join(job.id for job in scheduler.get_jobs()))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        connector.stopping.set()
        code = _shutdown(connector, scheduler, heartbeat, limits["shutdown_grace"])
    return 1 if heartbeat.fatal else code


def _shutdown(connector: Connector, scheduler: BackgroundScheduler, heartbeat: Heartbeat, grace: float) -> int:
    """Stop the scheduler within ``grace`` (+ ABORT_WAIT); 1 if threads had to be abandoned."""
    stopper = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, name="scheduler-shutdown",
                               daemon=True)
    stopper.start()
    stopper.join(grace)
    if stopper.is_alive():
        aborted = http.abort_all()
        log.warning("shutdown: %d HTTP call(s) still in flight after %g s: cut off (they resume after a"
                    " restart)", aborted, grace)
        stopper.join(ABORT_WAIT)
    if stopper.is_alive():
        log.error("shutdown: a job is still running after %g s; exiting without waiting for it"
                  " (its delivery lease runs out and another worker takes it over)", grace + ABORT_WAIT)
        _exit_now(1)
    if not heartbeat.fatal:
        heartbeat.beat(stopped=True)
    connector.close()
    log.info("worker stopped")
    return 0


def _exit_now(code: int) -> None:
    """Leave without joining worker threads (a thread stuck in C code would never be joined)."""
    logging.shutdown()
    os._exit(code)
