"""What the helpdesk and the load balancer are told: readiness, stalls, the worker's rules, a closed /status."""
from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest
import yaml

from connector.config import load_config
from connector.message import utcnow
from connector.store import Store
from connector.web import create_app

from .conftest import FIXTURES, sqlite_only

TOKEN = "a-status-token-of-some-length"


@pytest.fixture
def make_app(tmp_path, store_url):
    """``make(web, limits, store_path)``: ``(client, store, mappings folder)`` of an app on ``store_path`` or the
    ``store_url`` (a SQLite and a PostgreSQL store, issue 13: /healthz, /status and /metrics read both)."""
    stores = []

    def make(web=None, limits=None, store_path=None):
        mappings = tmp_path / "mappings"
        if not mappings.exists():
            shutil.copytree(FIXTURES / "e2e" / "mappings", mappings)
        config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
        config.update(store=str(store_path or store_url), mappings=str(mappings))
        config["web"].update(web if web is not None else {"status_token": "${STATUS_TOKEN}"})
        if limits:
            config["limits"] = limits
        path = tmp_path / "connector.yaml"
        path.write_text(yaml.safe_dump(config))
        loaded = load_config(path, environ={"TEST_MASTODON_TOKEN": "x", "TEST_ZGW_SECRET": "y",
                                            "STATUS_TOKEN": TOKEN})
        store = Store(loaded.store)
        stores.append(store)
        return create_app(loaded, store=store).test_client(), store, mappings

    yield make
    for store in stores:
        store.close()


def beat(store, rules=None, at=None, stopped=False):
    store.worker_beat("host:1:abc", host="host", pid=1, started_at=utcnow(), rules=rules, stopped=stopped)
    if at is not None:
        store.db.execute("update workers set beat_at = ?", [at.isoformat()])


# -- /status is closed by default ---------------------------------------------------------------

def test_status_needs_the_token(make_app):
    client, _, _ = make_app()
    refused = client.get("/status")
    assert refused.status_code == 401 and "token" in refused.json["error"]
    assert "channels" not in refused.json and "mappings" not in refused.get_data(as_text=True)
    assert client.get("/status", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
    assert client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get(f"/status?token={TOKEN}").status_code == 200


def test_status_without_a_configured_token_is_closed_and_says_how_to_open_it(make_app):
    client, _, _ = make_app(web={})
    refused = client.get("/status")
    assert refused.status_code == 401 and "web.status_token" in refused.json["error"]


def test_status_is_open_only_when_configured_so(make_app):
    client, _, _ = make_app(web={"public_status": True})
    assert client.get("/status").status_code == 200


def test_a_literal_status_token_is_refused_like_any_secret(tmp_path):
    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config["web"]["status_token"] = "literal-token-in-the-file"
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(Exception) as caught:
        load_config(path, environ={"TEST_MASTODON_TOKEN": "x", "TEST_ZGW_SECRET": "y"})
    assert "web.status_token" in str(caught.value) and "environment" in str(caught.value)


# -- /healthz: the store and the worker ----------------------------------------------------------

def test_healthz_fails_without_a_live_worker_and_passes_with_one(make_app):
    client, store, _ = make_app(limits={"worker_stale_after": "1m"})
    response = client.get("/healthz")
    assert response.status_code == 503 and "no worker" in response.json["problems"][0]
    beat(store, at=utcnow() - timedelta(minutes=5))  # a worker that went silent
    assert client.get("/healthz").status_code == 503
    beat(store)
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    beat(store, stopped=True)  # stopped cleanly: no worker any more
    assert client.get("/healthz").status_code == 503


@sqlite_only  # deletes the database file
def test_healthz_fails_when_the_database_file_is_deleted(make_app, tmp_path):
    client, store, _ = make_app(web={"status_token": "${STATUS_TOKEN}"}, limits={"worker_stale_after": 0})
    assert client.get("/healthz").status_code == 200
    os.remove(tmp_path / "c.db")
    response = client.get("/healthz")
    assert response.status_code == 503 and "gone" in response.json["problems"][0]
    assert str(tmp_path) not in response.get_data(as_text=True)  # an open endpoint shows no paths


@sqlite_only  # replaces the database file
def test_healthz_fails_when_the_database_file_is_replaced(make_app, tmp_path):
    client, store, _ = make_app(limits={"worker_stale_after": 0})
    os.rename(tmp_path / "c.db", tmp_path / "old.db")
    Store(tmp_path / "c.db").close()
    response = client.get("/healthz")
    assert response.status_code == 503 and "replaced" in response.json["problems"][0]


# -- /status: stalls and the rules the worker runs -----------------------------------------------

def test_a_poll_running_past_its_bounds_shows_as_stalled(make_app):
    client, store, _ = make_app(limits={"poll_deadline": "1m", "call_deadline": "30s", "worker_stale_after": 0})
    store.poll_started("nieuws")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    channel = next(c for c in client.get("/status", headers=auth).json["channels"] if c["name"] == "nieuws")
    assert channel["polling_since"] and channel["stalled"] is False
    store.db.execute("update channels set poll_started_at = ? where name = 'nieuws'",
                     [(utcnow() - timedelta(minutes=3)).isoformat()])
    channel = next(c for c in client.get("/status", headers=auth).json["channels"] if c["name"] == "nieuws")
    assert channel["stalled"] is True
    store.record_poll("nieuws")
    channel = next(c for c in client.get("/status", headers=auth).json["channels"] if c["name"] == "nieuws")
    assert channel["polling_since"] is None and channel["stalled"] is False


def test_status_shows_the_rules_the_worker_runs_not_what_a_restarted_web_app_could_load(make_app):
    """A restarted `serve` while mapping files are broken reported "rules": 0 although the worker ran 5."""
    client, store, mappings = make_app(limits={"worker_stale_after": "1m"})
    (mappings / "rules.yaml").write_text("rules: [\n")  # broken before this web app first loads them
    client, store, _ = make_app(limits={"worker_stale_after": "1m"})
    beat(store, rules={"fingerprint": "f" * 64, "count": 5, "errors": []})
    body = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"}).json
    assert body["mappings"]["source"] == "worker"
    assert body["mappings"]["rules"] == 5 and body["mappings"]["fingerprint"] == "f" * 64
    assert body["mappings"]["files"]["errors"], "the broken files are still reported"
    assert body["worker"]["alive"] is True and body["healthy"] is True
