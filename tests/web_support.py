"""Helpers for the web UI's tests: an app on a real store in tmp_path, a clock, logging in."""
from __future__ import annotations

import re
import shutil

import yaml

from connector.config import load_config
from connector.store import Store
from connector.web import create_app
from connector.web.auth import LoginThrottle

from .conftest import FIXTURES

STATUS_TOKEN = "status-token-for-the-web-tests"
SECRET_KEY = "web-secret-key-for-the-tests-0123456789abcdef"
ZGW_SECRET = "zgw-s3cret-value-not-to-be-shown"
MASTODON_TOKEN = "mastodon-t0ken-not-to-be-shown"
PASSWORD = "een-lang-wachtwoord-42"
SECRETS = (STATUS_TOKEN, SECRET_KEY, ZGW_SECRET, MASTODON_TOKEN, PASSWORD)


class Clock:
    """A monotonic clock the tests move by hand (no sleeping)."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_config(tmp_path, with_key: bool = True, store: str | None = None, **web) -> tuple:
    """``connector.yaml`` in tmp_path (the fixture config, ``store`` or ``tmp_path/c.db``, the e2e mappings) and
    its environment."""
    mappings = tmp_path / "mappings"
    if not mappings.exists():
        shutil.copytree(FIXTURES / "e2e" / "mappings", mappings)
    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config["store"] = store or str(tmp_path / "c.db")
    config["mappings"] = str(mappings)
    config["web"]["status_token"] = "${TEST_STATUS_TOKEN}"
    if with_key:
        config["web"]["secret_key"] = "${TEST_WEB_SECRET_KEY}"
    config["web"].update(web)
    config["limits"] = {"worker_stale_after": 0}
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    environ = {"TEST_MASTODON_TOKEN": MASTODON_TOKEN, "TEST_ZGW_SECRET": ZGW_SECRET,
               "TEST_STATUS_TOKEN": STATUS_TOKEN, "TEST_WEB_SECRET_KEY": SECRET_KEY}
    return path, environ


def make_app(tmp_path, with_key: bool = True, store_url: str | None = None, **web):
    """``(app, store, clock)``: the web app on a fresh store (``store_url``: the ``store_url`` fixture; default a
    SQLite file in tmp_path), its login throttle on ``clock``."""
    path, environ = write_config(tmp_path, with_key, store_url, **web)
    config = load_config(path, environ=environ)
    store = Store(config.store)
    app = create_app(config, store=store)
    clock = Clock()
    app.config["LOGIN_THROTTLE"] = LoginThrottle(clock=clock)
    return app, store, clock


def csrf(client, path: str = "/login") -> str:
    """The CSRF token of the client's session, as the form on ``path`` carries it."""
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, name: str, password: str = PASSWORD, token: str | None = None, **extra):
    """POST the login form (with this session's CSRF token unless ``token`` is given)."""
    data = {"naam": name, "wachtwoord": password, "csrf_token": csrf(client) if token is None else token, **extra}
    return client.post("/login", data=data)


def logged_in(app, store, name: str = "anna", role: str = "admin"):
    """A test client logged in as a new user ``name`` with ``role``."""
    store.add_user(name, role, PASSWORD)
    client = app.test_client()
    response = login(client, name)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client
