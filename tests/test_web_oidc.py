"""Single sign-on with OpenID Connect (connector/web/oidc.py) against a provider double that checks what a
real provider checks (client secret, redirect URI, one-time code, PKCE): roles from groups, accounts bound
to the provider's subject, every forged or mismatched id_token refused, local accounts never taken over,
no secret in any page."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests
import yaml

from connector.config import load_config
from connector.store import Store
from connector.web import create_app
from connector.web import oidc as sso
from connector_doubles.oidc import OidcDouble, serve

from .web_support import PASSWORD, SECRETS, logged_in, write_config

CALLBACK = "http://localhost/login/sso/terug"
ROLES = {"admin": ["connector-beheer"], "archivist": ["connector-archivarissen"], "helpdesk": ["servicedesk"]}


@pytest.fixture(scope="module")
def provider():
    double = OidcDouble(redirect_uris=(CALLBACK,))
    running = serve(double)
    yield double, running
    running.shutdown()


@pytest.fixture
def world(tmp_path, provider):
    """``(app, store, double)``: the web app with ``web.oidc`` pointing at the provider double."""
    double, running = provider
    double.user = {"sub": "f3b2c1", "preferred_username": "jdevries", "groups": ["connector-archivarissen"]}
    double.refuse, double.tamper = False, None
    sso._CACHE.clear()
    path, environ = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["web"]["oidc"] = {"issuer": running.url, "client_id": "connector", "client_secret": "${TEST_OIDC_SECRET}",
                             "label": "Gemeente-account", "roles": ROLES}
    path.write_text(yaml.safe_dump(config))
    config = load_config(path, environ={**environ, "TEST_OIDC_SECRET": double.client_secret})
    store = Store(config.store)
    yield create_app(config, store=store), store, double
    store.close()


def sign_in(client, start: str = "/login/sso"):
    """Through the provider and back: the app's answer to the callback."""
    to_provider = client.get(start)
    assert to_provider.status_code == 302, to_provider.get_data(as_text=True)
    back = requests.get(to_provider.location, allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    target = urlsplit(back.headers["Location"])
    return client.get(f"{target.path}?{target.query}")


def who(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return page.split('<span class="wie">')[1].split("</span>")[0] if '<span class="wie">' in page else ""


def test_the_login_page_offers_single_sign_on_and_a_login_gives_the_role_of_the_group(world):
    app, store, double = world
    client = app.test_client()
    assert "Inloggen met Gemeente-account" in client.get("/login").get_data(as_text=True)
    answer = sign_in(client, "/login/sso?next=/berichten")
    assert answer.status_code == 302 and answer.location.endswith("/berichten")
    assert who(client) == "jdevries (archivist)"
    user = store.user("jdevries")
    assert user["source"] == "oidc" and store.verify_password("jdevries", "") is None  # no password ever matches
    [event] = [e for e in store.query("select detail_json from events where kind = 'web.login'")]
    assert '"ok": true' in event["detail_json"] and '"sso"' in event["detail_json"]
    assert [m for m, _ in double.requests].count("POST") == 1


def test_the_strongest_role_wins_and_a_role_change_at_the_provider_follows_at_the_next_login(world):
    app, store, double = world
    double.user["groups"] = ["servicedesk", "connector-beheer", "iets-anders"]
    client = app.test_client()
    sign_in(client)
    assert who(client) == "jdevries (admin)"
    double.user["groups"] = ["servicedesk"]
    client = app.test_client()
    sign_in(client)
    assert who(client) == "jdevries (helpdesk)" and store.user("jdevries")["role"] == "helpdesk"


def test_without_a_mapped_group_nobody_is_logged_in(world):
    app, store, double = world
    double.user["groups"] = "iets-anders"
    client = app.test_client()
    answer = sign_in(client)
    assert answer.status_code == 403 and "geen groep" in answer.get_data(as_text=True)
    assert who(client) == "" and store.user("jdevries") is None


@pytest.mark.parametrize("tamper, said", [("key", "klopt niet"), ("aud", "klopt niet"), ("iss", "klopt niet"),
                                          ("expired", "klopt niet"), ("none", "klopt niet"), ("nonce", "nonce")])
def test_a_forged_or_mismatched_id_token_is_refused(world, tamper, said):
    app, store, double = world
    double.tamper = tamper
    client = app.test_client()
    answer = sign_in(client)
    assert answer.status_code == 403 and said in answer.get_data(as_text=True)
    assert who(client) == "" and store.user("jdevries") is None


def test_a_callback_not_begun_here_or_a_code_used_twice_is_refused(world):
    app, store, double = world
    client = app.test_client()
    to_provider = client.get("/login/sso")
    back = urlsplit(requests.get(to_provider.location, allow_redirects=False, timeout=10).headers["Location"])
    stranger = app.test_client()  # another browser: no state in its session
    assert stranger.get(f"{back.path}?{back.query}").status_code == 400
    forged = back.query.replace("state=", "state=x")
    assert client.get(f"{back.path}?{forged}").status_code == 400
    assert who(client) == ""
    second = app.test_client()
    sign_in(second)
    again = second.get(f"{back.path}?{back.query}")  # the state is spent with the first callback
    assert again.status_code == 400


def test_a_local_account_is_never_taken_over_and_another_subject_gets_no_account(world):
    app, store, double = world
    store.add_user("jdevries", "admin", PASSWORD)
    client = app.test_client()
    answer = sign_in(client)
    assert answer.status_code == 403 and "lokaal account" in answer.get_data(as_text=True)
    assert who(client) == "" and store.user("jdevries")["source"] == "local"
    double.user = {"sub": "a1", "preferred_username": "pjansen", "groups": ["servicedesk"]}
    sign_in(app.test_client())
    double.user = {"sub": "b2", "preferred_username": "pjansen", "groups": ["connector-beheer"]}
    answer = sign_in(app.test_client())
    assert answer.status_code == 403 and "andere persoon" in answer.get_data(as_text=True)
    assert store.user("pjansen")["role"] == "helpdesk"


def test_a_disabled_account_stays_out(world):
    app, store, double = world
    sign_in(app.test_client())
    store.update_user("jdevries", disabled=True)
    client = app.test_client()
    assert sign_in(client).status_code == 403 and who(client) == ""


def test_a_refusal_at_the_provider_is_shown_as_text(world):
    app, store, double = world
    double.refuse = True
    answer = sign_in(app.test_client())
    assert answer.status_code == 401 and "access_denied De gebruiker weigerde" in answer.get_data(as_text=True)
    hostile = app.test_client().get("/login/sso/terug?error=%3Cscript%3Ex&error_description=%3Cb%3E")
    assert "<script>" not in hostile.get_data(as_text=True) and "&lt;script&gt;" in hostile.get_data(as_text=True)


def test_an_unreachable_provider_is_a_clear_error(world, tmp_path):
    app, store, double = world
    app.config["CONNECTOR"].web["oidc"] = {**app.config["CONNECTOR"].web["oidc"], "issuer": "http://127.0.0.1:9"}
    answer = app.test_client().get("/login/sso")
    assert answer.status_code == 502 and "niet bereikbaar" in answer.get_data(as_text=True)


def test_no_secret_in_any_page_and_none_without_the_setting(world, tmp_path):
    app, store, double = world
    client = app.test_client()
    pages = [client.get("/login"), client.get("/login/sso"), sign_in(app.test_client())]
    for page in pages:
        text = page.get_data(as_text=True) + page.headers.get("Location", "")
        assert double.client_secret not in text and not any(secret in text for secret in SECRETS)
    plain, plain_store, _ = _plain_app(tmp_path / "plain")
    assert "Inloggen met" not in plain.test_client().get("/login").get_data(as_text=True)
    assert plain.test_client().get("/login/sso").status_code == 404
    assert logged_in(plain, plain_store, "anna").get("/").status_code == 200
    plain_store.close()


def test_the_client_secret_must_come_from_the_environment(tmp_path):
    from connector.config import ConfigError

    path, environ = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["web"]["oidc"] = {"issuer": "https://login.example", "client_id": "c", "client_secret": "letterlijk",
                             "roles": ROLES}
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="client_secret"):
        load_config(path, environ=environ)


def _plain_app(folder):
    from .web_support import make_app

    folder.mkdir()
    return make_app(folder)
