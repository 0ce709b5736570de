"""The Flask web app: ``/healthz`` for load balancers, ``/status`` for the helpdesk, and the Dutch web UI.

``create_app(config)`` follows the flaskr pattern: the app reads the store through its own
:class:`~connector.store.Store` instance (SQLite in WAL mode lets it read while the worker writes).

Blueprints: ``status`` (:mod:`.status`, JSON, no session), ``auth`` (:mod:`.auth`: login, logout,
roles), ``pages`` (:mod:`.pages`: dashboard, messages), ``mappings`` (:mod:`.mappings`: the rule
editor) and ``archive`` (:mod:`.archive`: "Archiveer in zaak"). :mod:`.security` closes the UI without
``web.secret_key``, checks CSRF on every POST and sets the security headers. Templates are in
``templates/``, the stylesheet and the rule editor's one script in ``static/``; Jinja escapes everything it renders.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask

from .. import __version__
from ..config import Config
from ..store import Store


def create_app(config: Config, store: Store | None = None, rules=None) -> Flask:
    app = Flask(__name__)
    app.config["CONNECTOR"] = config
    app.config["STORE"] = store or Store.for_config(config)
    if rules is None:
        from ..rulesholder import RulesHolder

        rules = RulesHolder(config.mappings, sink_names=[s.name for s in config.sinks], strict=False)
    app.config["RULES"] = rules
    app.config["VERSION"] = __version__
    app.json.sort_keys = False

    from .archive import bp as archive_bp
    from .auth import LoginThrottle
    from .auth import bp as auth_bp
    from .mappings import bp as mappings_bp
    from .metrics import bp as metrics_bp
    from .oidc import bp as sso_bp
    from .pages import bp as pages_bp
    from .pages import moment, safe_url
    from .security import init_security
    from .status import bp as status_bp
    from .trace import bp as trace_bp

    web = config.web
    app.secret_key = web.get("secret_key") or None  # None: the UI pages answer 503, /status keeps working
    app.config.update(SESSION_COOKIE_NAME="connector_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=web.get("secure_cookies", True),
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=8), LOGIN_THROTTLE=LoginThrottle())
    app.jinja_env.autoescape = True  # every template, whatever its name
    app.jinja_env.filters["veilige_url"] = safe_url
    app.jinja_env.filters["tijd"] = moment
    init_security(app)

    app.register_blueprint(status_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(mappings_bp)
    app.register_blueprint(archive_bp)
    app.register_blueprint(trace_bp)
    app.register_blueprint(sso_bp)
    app.register_blueprint(metrics_bp)  # GET /metrics: the status token, no login

    @app.errorhandler(403)
    def forbidden(_):
        from .security import notice
        return notice("Geen toegang", "Uw rol geeft geen toegang tot deze pagina of handeling.", 403)

    @app.errorhandler(404)
    def not_found(_):
        from .security import notice
        return notice("Niet gevonden", "Deze pagina of dit bericht bestaat niet.", 404)

    return app
