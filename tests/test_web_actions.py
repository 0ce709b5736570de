"""Actions in the web UI: "Opnieuw afleveren" on a message's page, for archivists and admins only, with
its CSRF token, recorded in the audit trail with the user."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from connector import states
from connector.failures import Failure
from connector.message import fixed_iso, utcnow
from connector.routing import Routing
from connector.store import DeliveryPlan

from .conftest import make_message
from .web_support import logged_in, make_app


@pytest.fixture
def world(tmp_path, store_url):
    app, store, _ = make_app(tmp_path, store_url=store_url)
    plan = DeliveryPlan("zaken", Routing("create", rule="r", zaaktype="SOCIAL-MELDING"), states.PENDING)
    store.save_page("gemeente-mastodon", [(make_message("1", channel="gemeente-mastodon"), [plan])], {})
    [row] = store.claim_due(limit=1)
    store.mark_failed(row.id, Failure("permanent", "HTTP 400 from the case system"), states.DEAD)
    message_id = store.query("select id from messages")[0]["id"]
    yield app, store, row.id, message_id
    store.close()


def form_token(client, message_id: int) -> str | None:
    page = client.get(f"/berichten/{message_id}").get_data(as_text=True)
    found = re.search(r'action="/afleveringen/\d+/opnieuw">\s*<input type="hidden" name="csrf_token" value="([^"]+)"',
                      page)
    return found.group(1) if found else None


def test_an_archivist_requeues_a_dead_delivery_and_the_audit_trail_names_them(world):
    app, store, delivery_id, message_id = world
    client = logged_in(app, store, "bert", "archivist")
    token = form_token(client, message_id)
    assert token
    answer = client.post(f"/afleveringen/{delivery_id}/opnieuw", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/berichten/{message_id}")
    assert store.query("select state from deliveries") == [{"state": states.PENDING}]
    events = store.query("select kind, detail_json from events where delivery_id = ? order by id", [delivery_id])
    assert any(e["kind"] == "delivery.pending" and "web:bert" in e["detail_json"] for e in events)
    assert any(e["kind"] == "web.requeue" and '"bert"' in e["detail_json"] for e in events)


def test_the_helpdesk_sees_no_button_and_is_refused(world):
    app, store, delivery_id, message_id = world
    client = logged_in(app, store, "hanna", "helpdesk")
    assert form_token(client, message_id) is None
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    data = {"csrf_token": token.group(1)} if token else {}
    assert client.post(f"/afleveringen/{delivery_id}/opnieuw", data=data).status_code == 403
    assert store.query("select state from deliveries") == [{"state": states.DEAD}]


def test_without_the_csrf_token_nothing_happens(world):
    app, store, delivery_id, _ = world
    client = logged_in(app, store, "anna", "admin")
    assert client.post(f"/afleveringen/{delivery_id}/opnieuw").status_code == 400
    assert store.query("select state from deliveries") == [{"state": states.DEAD}]


def test_a_delivery_a_worker_holds_is_not_requeued_and_an_unknown_one_is_404(world):
    app, store, delivery_id, message_id = world
    client = logged_in(app, store, "anna", "admin")
    token = form_token(client, message_id)
    store.requeue(delivery_id)
    store.claim_due(limit=1)  # a worker has it now, its lease fresh
    lease = store.query("select lease_until from deliveries")[0]["lease_until"]
    assert lease > fixed_iso(utcnow() + timedelta(seconds=1))
    answer = client.post(f"/afleveringen/{delivery_id}/opnieuw", data={"csrf_token": token})
    assert answer.status_code == 409 and "wordt op dit moment afgeleverd" in answer.get_data(as_text=True)
    assert client.post("/afleveringen/999999/opnieuw", data={"csrf_token": token}).status_code == 404


# -- "Verbinding testen" on /kanalen ------------------------------------------------------------

@pytest.fixture
def with_mastodon(tmp_path):
    import yaml

    from connector.config import load_config
    from connector.store import Store
    from connector.web import create_app
    from connector_doubles.mastodon import MastodonDouble, serve

    from .mastodon_support import REPLAY
    from .web_support import MASTODON_TOKEN, write_config

    double = MastodonDouble(REPLAY)
    double.token = "another-token-than-ours"
    server = serve(double)
    path, environ = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["channels"][0]["options"].update(base_url=server.url, account="schochastics")
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path, environ=environ)
    store = Store(loaded.store)
    yield create_app(loaded, store=store), store, double, MASTODON_TOKEN
    store.close()
    server.shutdown()


def test_an_admin_tests_a_channel_and_sees_the_refusal_without_the_token(with_mastodon):
    app, store, double, token = with_mastodon
    client = logged_in(app, store, "anna", "admin")
    page = client.get("/kanalen").get_data(as_text=True)
    csrf = re.search(r'action="/kanalen/kanaal/gemeente-mastodon/test"><input type="hidden" name="csrf_token"'
                     r' value="([^"]+)"', page).group(1)
    answer = client.post("/kanalen/kanaal/gemeente-mastodon/test", data={"csrf_token": csrf})
    text = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Verbindingstest kanaal gemeente-mastodon" in text
    assert "in orde: connection" in text and "MISLUKT: credentials" in text
    assert token not in text
    double.token = None  # the server now takes any token: the check passes
    text = client.post("/kanalen/kanaal/gemeente-mastodon/test", data={"csrf_token": csrf}).get_data(as_text=True)
    assert "MISLUKT" not in text and "in orde: account" in text
    assert client.post("/kanalen/kanaal/onbekend/test", data={"csrf_token": csrf}).status_code == 404
    assert [e["kind"] for e in store.query("select kind from events where kind = 'web.test_connection'")] == \
        ["web.test_connection"] * 2


def test_only_an_admin_may_test_connections(with_mastodon):
    app, store, double, _ = with_mastodon
    client = logged_in(app, store, "bert", "archivist")
    page = client.get("/kanalen").get_data(as_text=True)
    assert "Verbinding testen" not in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"csrf_token": csrf.group(1)} if csrf else {}
    assert csrf and client.post("/kanalen/kanaal/gemeente-mastodon/test", data=data).status_code == 403
    assert not [r for r in double.requests]  # nothing was called
