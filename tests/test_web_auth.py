"""The web UI's login, roles, CSRF, cookies and headers, against a real store in tmp_path."""
from __future__ import annotations

import pytest

from connector.config import ConfigError, load_config
from connector.web.auth import ensure_demo_admin
from connector.web.security import CSP

from .conftest import sqlite_only
from .web_support import PASSWORD, SECRET_KEY, csrf, logged_in, login, make_app, write_config


@pytest.fixture
def web(tmp_path, store_url):
    app, store, clock = make_app(tmp_path, store_url=store_url)
    yield app, store, clock
    store.close()


def login_events(store):
    import json

    return [json.loads(r["detail_json"]) for r in store.query("select detail_json from events where kind = 'web.login'"
                                                              " order by id")]


def test_login_success_opens_the_dashboard_and_is_in_the_audit_trail(web):
    app, store, _ = web
    store.add_user("anna", "archivist", PASSWORD)
    client = app.test_client()
    assert client.get("/").status_code == 302  # not logged in: to the login page
    response = login(client, "anna")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert '<html lang="nl">' in text and "anna (archivist)" in text and "Dashboard" in text
    assert login_events(store)[-1] == {"user": "anna", "role": "archivist", "ok": True, "ip": "127.0.0.1"}
    assert store.user("anna")["last_login_at"]


@pytest.mark.parametrize("name, password", [("anna", "wrong-password-123"), ("nobody", PASSWORD), ("anna", "")])
def test_a_failed_login_is_refused_in_dutch_and_opens_nothing(web, name, password):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    client = app.test_client()
    response = login(client, name, password)
    assert response.status_code == 401
    assert "Onbekende gebruikersnaam of onjuist wachtwoord." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    events = login_events(store)
    if name == "anna":
        assert events == [{"user": "anna", "role": None, "ok": False, "ip": "127.0.0.1",
                           "reason": "wrong password or disabled"}]
    else:  # a name that is no account may be a password typed in the wrong field: not recorded
        assert events == [] and "nobody" not in str(store.query("select * from events"))


def test_five_failures_lock_the_name_from_that_address_for_60_seconds(web):
    app, store, clock = web
    store.add_user("anna", "admin", PASSWORD)
    client = app.test_client()
    for _ in range(5):
        assert login(client, "anna", "wrong-password-123").status_code == 401
    locked = login(client, "anna")  # even the right password waits
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "61"
    assert "Te veel mislukte pogingen" in locked.get_data(as_text=True)
    assert client.get("/").status_code == 302
    other = app.test_client()  # another address is not locked out by this one
    other.environ_base["REMOTE_ADDR"] = "10.0.0.7"
    assert login(other, "anna").status_code == 302
    store.add_user("bert", "helpdesk", PASSWORD)  # nor another name from the same address
    assert login(app.test_client(), "bert").status_code == 302
    clock.advance(59)
    assert login(client, "anna").status_code == 429
    clock.advance(2)
    assert login(client, "anna").status_code == 302
    assert client.get("/").status_code == 200


def test_a_success_resets_the_failure_count(web):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    client = app.test_client()
    for _ in range(4):
        login(client, "anna", "wrong-password-123")
    assert login(client, "anna").status_code == 302
    for _ in range(4):
        assert login(app.test_client(), "anna", "wrong-password-123").status_code == 401
    assert login(app.test_client(), "anna").status_code == 302


@pytest.mark.parametrize("role, status", [("admin", 200), ("archivist", 403), ("helpdesk", 403)])
def test_only_an_admin_sees_the_users_page(web, role, status):
    app, store, _ = web
    client = logged_in(app, store, "anna", role)
    response = client.get("/gebruikers")
    assert response.status_code == status
    if status == 403:
        assert "Geen toegang" in response.get_data(as_text=True)
        assert "/gebruikers" not in client.get("/").get_data(as_text=True)  # not in the navigation either
    else:
        assert "anna" in response.get_data(as_text=True)


def test_a_helpdesk_user_reads_every_page(web):
    app, store, _ = web
    client = logged_in(app, store, "hans", "helpdesk")
    for path in ("/", "/berichten", "/regels", "/kanalen"):
        assert client.get(path).status_code == 200, path


def test_anonymous_is_sent_to_login_and_back(web):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    client = app.test_client()
    response = client.get("/berichten")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/berichten"
    assert login(client, "anna", volgende="/berichten").headers["Location"] == "/berichten"


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_to_another_site(web, target):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    assert login(app.test_client(), "anna", volgende=target).headers["Location"] == "/"


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("token", ["", "not-the-token"])
def test_a_post_without_the_right_csrf_token_is_refused(web, token):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    client = app.test_client()
    csrf(client)  # the session has a token; the form does not send it
    response = login(client, "anna", token=token)
    assert response.status_code == 400 and "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not logged in
    assert login_events(store) == []


def test_logout_needs_the_csrf_token_and_ends_the_session(web):
    app, store, _ = web
    client = logged_in(app, store, "anna", "admin")
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/").status_code == 200  # still logged in
    token = csrf(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302
    assert store.query("select count(*) as n from events where kind = 'web.logout'")[0]["n"] == 1


def test_logging_in_makes_a_new_csrf_token(web):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    client = app.test_client()
    before = csrf(client)
    login(client, "anna", token=before)
    assert csrf(client, "/") != before


def test_a_disabled_account_loses_its_session_at_once(web):
    app, store, _ = web
    client = logged_in(app, store, "anna", "admin")
    store.update_user("anna", disabled=True)
    assert client.get("/").status_code == 302
    assert login(client, "anna").status_code == 401


def test_a_new_password_ends_the_sessions_opened_before(web):
    app, store, _ = web
    client = logged_in(app, store, "anna", "admin")
    other = app.test_client()
    assert login(other, "anna").status_code == 302
    store.update_user("anna", password="een-nieuw-wachtwoord-7")
    assert client.get("/").status_code == 302 and other.get("/").status_code == 302
    assert login(client, "anna", "een-nieuw-wachtwoord-7").status_code == 302
    assert client.get("/").status_code == 200


def test_a_changed_role_takes_effect_at_once(web):
    app, store, _ = web
    client = logged_in(app, store, "anna", "admin")
    assert client.get("/gebruikers").status_code == 200
    store.update_user("anna", role="helpdesk")
    assert client.get("/gebruikers").status_code == 403


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("path", ["/login", "/", "/berichten", "/healthz", "/status", "/bestaat-niet"])
def test_security_headers_on_every_response(web, path):
    app, store, _ = web
    client = logged_in(app, store, "anna", "admin")
    response = client.get(path)
    assert response.headers["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe" not in CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
def test_the_session_cookie_is_secure_httponly_and_lax(web):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    client = app.test_client()
    response = login(client, "anna")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("connector_session="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"secure", "httponly"} <= flags and "SameSite=Lax" in cookie
    assert PASSWORD not in cookie


def test_secure_cookies_can_be_switched_off_for_a_local_demo(tmp_path):
    app, store, _ = make_app(tmp_path, secure_cookies=False)
    store.add_user("anna", "admin", PASSWORD)
    response = login(app.test_client(), "anna")
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("connector_session="))
    assert "secure" not in cookie.lower() and "HttpOnly" in cookie
    store.close()


def test_without_a_secret_key_the_ui_says_why_and_status_keeps_working(tmp_path):
    app, store, _ = make_app(tmp_path, with_key=False)
    client = app.test_client()
    for path in ("/login", "/", "/berichten"):
        response = client.get(path)
        assert response.status_code == 503
        assert "web.secret_key" in response.get_data(as_text=True) and "De webinterface staat uit" in \
            response.get_data(as_text=True)
    assert client.post("/login", data={"naam": "x"}).status_code == 503
    assert client.get("/healthz").status_code == 200
    assert client.get("/status", headers={"Authorization": "Bearer status-token-for-the-web-tests"}).status_code == 200
    store.close()


def test_the_secret_key_comes_only_from_the_environment_and_is_long(tmp_path):
    path, environ = write_config(tmp_path, with_key=False, secret_key=SECRET_KEY)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ)
    assert "web.secret_key" in str(caught.value) and "environment" in str(caught.value)
    assert SECRET_KEY not in str(caught.value)
    path, environ = write_config(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={**environ, "TEST_WEB_SECRET_KEY": "too-short"})
    assert "32 characters" in str(caught.value)


@sqlite_only  # reads the SQLite file's bytes after a checkpoint (a pragma)
def test_passwords_are_stored_as_scrypt_hashes_only(web, tmp_path):
    app, store, _ = web
    store.add_user("anna", "admin", PASSWORD)
    [row] = store.query("select password_hash from users")
    assert row["password_hash"].startswith("scrypt:") and PASSWORD not in row["password_hash"]
    assert "password_hash" not in store.user("anna") and all("password_hash" not in u for u in store.users())
    store.db.execute("pragma wal_checkpoint(truncate)")
    assert PASSWORD.encode() not in (tmp_path / "c.db").read_bytes()
    assert PASSWORD not in str(store.query("select * from events"))


def test_a_short_password_or_an_unknown_role_is_refused(web):
    _, store, _ = web
    with pytest.raises(ValueError, match="12 tekens"):
        store.add_user("anna", "admin", "kort")
    with pytest.raises(ValueError, match="rol"):
        store.add_user("anna", "superuser", PASSWORD)
    store.add_user("anna", "admin", PASSWORD)
    with pytest.raises(ValueError, match="bestaat al"):
        store.add_user("anna", "helpdesk", PASSWORD)


def test_ensure_demo_admin_gives_a_working_admin_and_a_new_password_each_time(web):
    app, store, _ = web
    name, first = ensure_demo_admin(store)
    assert store.user(name)["role"] == "admin" and len(first) >= 12
    name, second = ensure_demo_admin(store)
    assert second != first
    assert login(app.test_client(), name, first).status_code == 401
    client = app.test_client()
    assert login(client, name, second).status_code == 302
    assert client.get("/gebruikers").status_code == 200
