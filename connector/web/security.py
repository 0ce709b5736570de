"""What every web UI request and response goes through: the closed UI, CSRF, security headers.

* Without ``web.secret_key`` the UI's pages (the ``auth`` and ``pages`` blueprints) answer 503
  with a Dutch explanation; ``/healthz``, ``/readyz`` and ``/status`` keep working.
* CSRF: every session carries a random token (:func:`csrf_token`, put in each form as the hidden
  field ``csrf_token``); a POST to the UI without it, or with another one, is refused with 400
  before its view runs. The comparison is constant-time.
* Every response carries a strict Content-Security-Policy (no inline script or style, nothing
  from elsewhere, no framing), ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
  same-origin``; the UI's pages also ``Cache-Control: no-store`` (they show who is logged in).
"""
from __future__ import annotations

import hmac
import secrets

from flask import Flask, current_app, g, render_template, request, session

UI_BLUEPRINTS = frozenset({"auth", "pages", "mappings", "trace", "archive", "sso"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self';"
       " frame-ancestors 'none';"
       " form-action 'self'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def csrf_token() -> str:
    """This session's CSRF token, made on first use (a template calls it for each form)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def notice(title: str, text: str, status: int):
    """A Dutch page saying what went wrong (no details that could hold a secret)."""
    return render_template("melding.html", titel=title, tekst=text), status


def _guard():
    if request.blueprint not in UI_BLUEPRINTS:
        return None
    g.setdefault("user", None)
    if not current_app.secret_key:
        return notice("Webinterface niet ingesteld",
                      "De webinterface staat uit: er is geen web.secret_key ingesteld. Zet in connector.yaml"
                      " 'secret_key: ${WEB_SECRET_KEY}' onder 'web' (minstens 32 tekens, uit een"
                      " omgevingsvariabele) en start de connector opnieuw. /status en /healthz werken gewoon.", 503)
    if request.method == "POST":
        expected = session.get("csrf")
        given = request.form.get("csrf_token", "")
        if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
            return notice("Verzoek geweigerd",
                          "Dit formulier kon niet worden gecontroleerd (het CSRF-token ontbreekt of klopt niet)."
                          " Laad de pagina opnieuw en probeer het nog eens.", 400)
    return None


def _headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.blueprint in UI_BLUEPRINTS:
        response.headers["Cache-Control"] = "no-store"
    return response


def init_security(app: Flask) -> None:
    """Install the guard and the headers on ``app``, and ``csrf_token()`` in its templates."""
    app.before_request(_guard)
    app.after_request(_headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
