"""The Flask web app: ``/healthz`` for load balancers, ``/status`` for the helpdesk.

``create_app(config)`` follows the flaskr pattern: the app reads the store through its own
:class:`~connector.store.Store` instance (SQLite in WAL mode lets it read while the worker writes).
"""
from __future__ import annotations

from flask import Flask

from .. import __version__
from ..config import Config
from ..store import Store


def create_app(config: Config, store: Store | None = None, rules=None) -> Flask:
    app = Flask(__name__)
    app.config["CONNECTOR"] = config
    app.config["STORE"] = store or Store(config.store)
    if rules is None:
        from ..rulesholder import RulesHolder

        rules = RulesHolder(config.mappings, sink_names=[s.name for s in config.sinks], strict=False)
    app.config["RULES"] = rules
    app.config["VERSION"] = __version__
    app.json.sort_keys = False

    from .status import bp as status_bp

    app.register_blueprint(status_bp)
    return app
