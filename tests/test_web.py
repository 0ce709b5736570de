"""The status app: what the helpdesk sees."""
from __future__ import annotations

import shutil

import pytest
import yaml

from connector.config import load_config
from connector.failures import Failure
from connector.message import utcnow
from connector.routing import Routing
from connector.store import DeliveryPlan, Store
from connector.web import create_app

from .conftest import FIXTURES, make_message


STATUS_TOKEN = "status-token-for-the-tests"


@pytest.fixture
def setup(tmp_path, store_url):
    """The status app on a SQLite and a PostgreSQL store (issue 13)."""
    mappings = tmp_path / "mappings"
    shutil.copytree(FIXTURES / "e2e" / "mappings", mappings)
    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config["store"] = store_url
    config["mappings"] = str(mappings)
    config["web"]["status_token"] = "${TEST_STATUS_TOKEN}"
    config["limits"] = {"worker_stale_after": 0}  # these tests look at the web app alone
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path, environ={"TEST_MASTODON_TOKEN": "t0ken-value", "TEST_ZGW_SECRET": "s3cret-value",
                                        "TEST_STATUS_TOKEN": STATUS_TOKEN})
    store = Store(loaded.store)
    app = create_app(loaded, store=store)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {STATUS_TOKEN}"
    yield client, store, mappings
    store.close()


def test_healthz(setup):
    client, _, _ = setup
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_status_shape_and_counts(setup):
    client, store, _ = setup
    routing = Routing("attach", rule="r", zaak_identificatie="Z")
    store.save_page("gemeente-mastodon", [(make_message(str(n)), [DeliveryPlan("openzaak", routing)])
                                          for n in range(3)], {"w": 3})
    row = store.claim_due(limit=1)[0]
    store.mark_delivered(row.id, "http://z", "Z", [])
    store.record_poll("nieuws", Failure("rate_limited", "HTTP 429"), paused_until=utcnow().replace(year=2099),
                      paused_reason="rate_limited")
    body = client.get("/status").json
    assert body["version"]
    channels = {c["name"]: c for c in body["channels"]}
    assert channels["gemeente-mastodon"]["messages"] == 3
    assert channels["gemeente-mastodon"]["kind"] == "mastodon"
    assert channels["nieuws"]["last_error"] == "HTTP 429"
    assert channels["nieuws"]["rate_limited_until"].startswith("2099-")
    assert body["sinks"][0]["name"] == "openzaak" and body["sinks"][0]["last_error"] is None
    assert body["sinks"][0]["paused"] is False and body["sinks"][0]["last_ok_at"]
    assert body["deliveries"]["pending"] == 2 and body["deliveries"]["delivered"] == 1
    assert body["mappings"]["errors"] == [] and body["mappings"]["rules"] == 2


def test_status_never_shows_secrets(setup):
    client, _, _ = setup
    text = client.get("/status").get_data(as_text=True)
    assert "s3cret-value" not in text and "t0ken-value" not in text


def test_status_shows_a_broken_mapping_edit_with_file_and_line(setup):
    client, _, mappings = setup
    (mappings / "rules.yaml").write_text((mappings / "rules.yaml").read_text().replace("attach:", "atach:"))
    body = client.get("/status").json
    assert body["mappings"]["errors"], body["mappings"]
    assert all(str(mappings / "rules.yaml") + ":" in e for e in body["mappings"]["errors"])
    assert body["mappings"]["rules"] == 2  # the last valid rules are still the ones in force


def test_status_shows_a_paused_sink_and_a_backing_off_channel(setup):
    client, store, _ = setup
    store.pause_sink("openzaak", utcnow().replace(year=2099), "configuration: HTTP 403 invalid-jwt-signature")
    store.record_poll("gemeente-mastodon", Failure("retry", "HTTP 502"), paused_until=utcnow().replace(year=2099),
                      paused_reason="backoff after 1 failed poll(s)")
    body = client.get("/status").json
    sink = body["sinks"][0]
    assert sink["paused"] is True and sink["paused_reason"].startswith("configuration: HTTP 403")
    channel = next(c for c in body["channels"] if c["name"] == "gemeente-mastodon")
    assert channel["paused_reason"] == "backoff after 1 failed poll(s)" and channel["consecutive_failures"] == 1
    assert channel["rate_limited_until"] is None and channel["last_error"] == "HTTP 502"
