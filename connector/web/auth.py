"""Login, logout and roles for the web UI: ``GET/POST /login``, ``POST /logout``, :func:`login_required`.

* The session (Flask's signed cookie, key ``web.secret_key``) holds only the user's name, when its
  password was set, and the CSRF token; the account is read from the store on every request, so a
  changed role, a disabled account or a new password (ending older sessions) takes effect at once.
* Logging in clears the session first (no fixation) and makes a new CSRF token.
* :class:`LoginThrottle`: after :attr:`LoginThrottle.limit` failed attempts for one name from one
  address, that pair waits :attr:`LoginThrottle.wait` seconds, whatever password it tries. Its
  clock is injectable, so tests need no sleeping.
* Every login, refused attempt and logout is in the audit trail (``web.login``, ``web.logout``) with
  the user and role; a name that is no account is not recorded (it may be a mistyped password).
"""
from __future__ import annotations

import functools
import secrets
import threading
import time

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from ..store.users import role_allows

bp = Blueprint("auth", __name__)


class LoginThrottle:
    """Failed logins per key (name and address); ``limit`` failures make that key wait ``wait`` seconds."""

    MAX_KEYS = 10_000  # beyond this, keys not waiting are forgotten (a flood of names cannot fill memory)

    def __init__(self, limit: int = 5, wait: float = 60.0, clock=time.monotonic):
        self.limit, self.wait, self.clock = limit, wait, clock
        self._keys: dict[tuple, list] = {}  # key -> [failures, waiting until]
        self._lock = threading.Lock()

    def wait_left(self, key: tuple) -> float:
        """Seconds ``key`` must still wait before it may try again (0: it may)."""
        with self._lock:
            entry = self._keys.get(key)
            return max(0.0, entry[1] - self.clock()) if entry else 0.0

    def failed(self, key: tuple) -> None:
        with self._lock:
            now = self.clock()
            if len(self._keys) >= self.MAX_KEYS:
                self._keys = {k: v for k, v in self._keys.items() if v[1] > now}
            entry = self._keys.setdefault(key, [0, 0.0])
            entry[0] += 1
            if entry[0] >= self.limit:
                entry[0], entry[1] = 0, now + self.wait

    def succeeded(self, key: tuple) -> None:
        with self._lock:
            self._keys.pop(key, None)


def current_user() -> dict | None:
    """The logged-in account of this request (read from the store), or None."""
    if "user" in g and g.user is not None:
        return g.user
    name = session.get("user")
    user = current_app.config["STORE"].user(name) if name else None
    if user is not None and (user["disabled"] or session.get("stamp") != user["password_changed_at"]):
        user = None  # disabled, or a new password was set since this session began
    if user is None and name:
        session.pop("user", None)
        session.pop("stamp", None)
    g.user = user
    return user


def login_required(role: str = "helpdesk"):
    """A view only for logged-in users whose role covers ``role``; others are sent to /login, or 403."""
    def decorate(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.path))
            if not role_allows(user["role"], role):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorate


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no ``//host``, no scheme) is a place to go after logging in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("pages.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("login.html", volgende=request.args.get("next", ""), fout=None)
    store = current_app.config["STORE"]
    throttle: LoginThrottle = current_app.config["LOGIN_THROTTLE"]
    name = request.form.get("naam", "").strip()[:64]
    password = request.form.get("wachtwoord", "")
    target = request.form.get("volgende", "")
    ip = request.remote_addr or ""
    key = (name.lower(), ip)
    known = store.user(name) is not None
    left = throttle.wait_left(key)
    if left > 0:
        if known:
            store.record_login(name, False, ip, reason="throttled")
        seconds = int(left) + 1
        page = render_template("login.html", volgende=target,
                               fout=f"Te veel mislukte pogingen. Probeer het over {seconds} seconden opnieuw.")
        return page, 429, {"Retry-After": str(seconds)}
    user = store.verify_password(name, password)
    if user is None:
        throttle.failed(key)
        if known:
            store.record_login(name, False, ip, reason="wrong password or disabled")
        return render_template("login.html", volgende=target,
                               fout="Onbekende gebruikersnaam of onjuist wachtwoord."), 401
    throttle.succeeded(key)
    session.clear()
    session.permanent = True
    session["user"] = user["name"]
    session["stamp"] = user["password_changed_at"]
    session["csrf"] = secrets.token_urlsafe(32)
    store.record_login(user["name"], True, ip, role=user["role"])
    return redirect(_safe_next(target))


@bp.post("/logout")
def logout():
    user = current_user()
    if user is not None:
        current_app.config["STORE"].event("web.logout", detail={"user": user["name"], "role": user["role"]})
    session.clear()
    return redirect(url_for("auth.login"))


def ensure_demo_admin(store, name: str = "demo-admin") -> tuple[str, str]:
    """An admin account for ``connector demo`` with a new random password: ``(name, password)``.

    Called again, it sets a new password (the old one cannot be shown: only its hash is kept).
    """
    password = secrets.token_urlsafe(18)
    if store.user(name) is None:
        store.add_user(name, "admin", password)
    else:
        store.update_user(name, role="admin", password=password, disabled=False)
    return name, password


__all__ = ["LoginThrottle", "bp", "current_user", "ensure_demo_admin", "login_required"]
