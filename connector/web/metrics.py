"""``GET /metrics``: the connector's state in Prometheus' text format (:mod:`connector.metrics`).

The same token rule as ``/status`` (:func:`connector.web.status._refused`): ``web.status_token`` as
``Authorization: Bearer <token>`` (Prometheus' ``authorization`` setting) or ``?token=``, unless
``web.public_status: true``. Not a page of the web UI: no login, no session, works without ``web.secret_key``.

One :class:`~connector.metrics.StoreCollector` per app, in its own registry (made when the blueprint is
registered): only the store's figures, not the web process's own (its memory or CPU say nothing about
the worker). The collector keeps its tallies between scrapes, so a scrape reads only what is new.
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CollectorRegistry, generate_latest

from ..metrics import StoreCollector
from .status import _refused

bp = Blueprint("metrics", __name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXTENSION = "connector_metrics"


@bp.record_once
def _registry(state) -> None:
    app = state.app
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(app.config["STORE"], app.config["CONNECTOR"], app.config["VERSION"]))
    app.extensions[EXTENSION] = registry


@bp.get("/metrics")
def metrics():
    refused = _refused()  # the same answer as /status without its token, as /openapi.json documents
    if refused is not None:
        return refused
    response = Response(generate_latest(current_app.extensions[EXTENSION]), content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-store"
    return response


__all__ = ["bp", "CONTENT_TYPE"]
