"""``connector worker``: APScheduler runs one poll job per channel and one delivery job.

Following APScheduler 3.x practice: jobs are rebuilt from the configuration at every start with
explicit ids (``poll:<channel>``, ``deliver``), in memory (durable state lives in our own store,
not in a job store), ``coalesce=True`` so a backlog of missed runs becomes one run,
``max_instances=1`` so a slow poll never overlaps itself, and a misfire grace time near the
interval. SIGTERM and SIGINT stop the scheduler; the delivery loop finishes the step in flight and
gives unstarted claims back, so a restart resumes everything.
"""
from __future__ import annotations

import logging
import signal
import threading

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from .engine import Connector

log = logging.getLogger(__name__)


def build_scheduler(connector: Connector) -> BackgroundScheduler:
    workers = max(2, len(connector.sources) + 1)
    scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(workers)}, timezone="UTC")
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
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


def run_worker(connector: Connector, stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()

    def on_signal(signum, frame):
        log.info("signal %s: stopping after the step in flight", signum)
        connector.stopping.set()
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    scheduler = build_scheduler(connector)
    scheduler.start()
    log.info("worker started: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    try:
        while not stop.wait(1.0):
            pass
    finally:
        connector.stopping.set()
        scheduler.shutdown(wait=True)
        connector.close()
        log.info("worker stopped")
    return 0
