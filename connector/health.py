"""Can the connector work right now? One answer for ``/healthz``, ``/readyz`` and ``connector health``.

The web app's probes (:mod:`connector.web.status`) and the container's ``HEALTHCHECK`` (``connector
health``, :mod:`connector.cli.commands`) ask the same two questions, here and nowhere else:

* the store: the database file is the one opened (not deleted or replaced) and a write lock can
  be taken (:meth:`connector.store.Store.health`, which probes at most every few seconds);
* the worker: some worker beat within ``limits.worker_stale_after`` seconds (``0`` leaves the
  worker out, for a web app deployed on its own).

Each problem is one sentence naming what to look at; no problems means healthy. A process that
serves (``connector serve``) and one that works (``connector worker``) share one store, so the same
check fits both containers of one image: a web app whose worker is gone is not ready either.
"""
from __future__ import annotations

from datetime import timedelta

from .message import parse_iso, utcnow


def problems(config, store) -> list[str]:
    """What keeps the connector of ``config`` on ``store`` from working, one sentence each; ``[]``: healthy."""
    try:
        found = [f"store: {p}" for p in store.health()]
    except Exception as exc:  # noqa: BLE001 - the database is the one thing we cannot run without
        return [f"store unavailable: {type(exc).__name__}"]
    stale_after = config.limits["worker_stale_after"]
    if stale_after and not found:
        if live_worker(store.worker_rows(), stale_after) is None:
            found.append(f"worker: no worker has reported in the last {stale_after:g} s"
                         " (is 'connector worker' running?)")
    return found


def live_worker(rows: list[dict], stale_after: float) -> dict | None:
    """The most recent worker that beat within ``stale_after`` seconds (0: any that has not stopped)."""
    horizon = utcnow() - timedelta(seconds=stale_after or 86400)
    for row in rows:
        if not row.get("stopped_at") and row.get("beat_at") and parse_iso(row["beat_at"]) >= horizon:
            return row
    return None


__all__ = ["live_worker", "problems"]
