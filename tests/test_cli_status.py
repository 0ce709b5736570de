"""``connector status``: the status API's answer from the store, without a server; a post's story; exit codes."""
from __future__ import annotations

import json
import os

import pytest

from connector import states
from connector.cli import main
from connector.config import load_config
from connector.message import utcnow
from connector.store import Store
from connector.web import create_app

from . import pg_support
from .conftest import run_cli
from .status_support import AUTH, CHANNEL, deliver, fail, store_post
from .web_support import write_config

#: what differs between two answers a moment apart, or between a web process and the command
MOMENTARY = {"time", "uptime_seconds"}


@pytest.fixture
def setup(tmp_path, monkeypatch, store_url):
    """``(config path, store)``: a configuration in tmp_path (a SQLite or a PostgreSQL store), its environment set,
    its store filled."""
    path, environ = write_config(tmp_path, store=store_url)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    store = Store(load_config(path).store)
    store.worker_beat("host:1:abc", host="host", pid=1, started_at=utcnow())
    deliver(store, store_post(store, "1", text="afgeleverd"))
    fail(store, store_post(store, "2", text="mislukt"), states.DEAD, status=400)
    store_post(store, "3", text="wacht")
    yield path, store
    store.close()


def steady(body: dict) -> dict:
    """``body`` without what moves from one second to the next."""
    body = {k: v for k, v in body.items() if k not in MOMENTARY}
    if body.get("worker"):
        body["worker"] = {k: v for k, v in body["worker"].items() if k != "uptime_seconds"}
    body["workers"] = [{k: v for k, v in w.items() if k != "uptime_seconds"} for w in body.get("workers") or []]
    if body.get("oldest_undelivered"):
        body["oldest_undelivered"] = {k: v for k, v in body["oldest_undelivered"].items() if k != "age_seconds"}
    return body


def test_json_prints_what_the_api_serves(setup, capsys):
    path, store = setup
    assert main(["status", "--json", "-c", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    served = create_app(load_config(path), store=store).test_client().get("/status", headers=AUTH).json
    assert steady(printed) == steady(served)
    assert printed["uptime_seconds"] is None, "no web process here"
    assert printed["dead"] == 1 and printed["oldest_undelivered"]["id"] == "3"


def test_the_terminal_shows_channels_sinks_backlog_oldest_dead_rules_and_worker(setup, capsys):
    path, _ = setup
    assert main(["status", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("connector ") and ": healthy" in out.splitlines()[0]
    assert "worker: host:1:abc alive, up " in out
    assert "mapping rules: 0 from the worker (" in out
    assert f"  {CHANNEL} (mastodon): last success never, next poll at the worker start, 3 today, 3 stored" in out
    assert "  openzaak (zgw): NOT reachable" in out and "last error: the server answered 400" in out
    assert "deliveries: pending 1, in_progress 0, delivered 1," in out
    assert f"oldest undelivered: {CHANNEL} 3 to openzaak (pending)" in out
    assert "dead: 1 (see 'connector deliveries list --state dead')" in out


def test_exit_1_and_the_reason_when_not_healthy(setup, capsys):
    path, store = setup
    store.worker_beat("host:1:abc", host="host", pid=1, started_at=utcnow(), stopped=True)
    text = path.read_text().replace("worker_stale_after: 0", "worker_stale_after: 60")
    path.write_text(text)
    assert main(["status", "-c", str(path)]) == 1
    out = capsys.readouterr().out
    assert "NOT HEALTHY" in out and "problem: worker: no worker has reported" in out
    assert main(["status", "--json", "-c", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["healthy"] is False


def test_a_message_story_in_the_terminal_and_as_json(setup, capsys):
    path, store = setup
    assert main(["status", CHANNEL, "2", "-c", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{CHANNEL} 2: published ")
    assert "  openzaak: dead; rule regel-1 (rules.yaml:7), attach; 0 document(s)" in out
    assert "dead: permanent, HTTP 400, the server answered 400" in out
    assert main(["status", CHANNEL, "1", "--json", "-c", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    served = create_app(load_config(path), store=store).test_client().get(
        f"/status/messages/{CHANNEL}/1", headers=AUTH).json
    assert printed == served and printed["versions"][0]["deliveries"][0]["zaak"]["identificatie"] == "ZAAK-1"


def test_an_unknown_message_exits_1_and_a_channel_without_id_exits_2(setup, capsys):
    path, _ = setup
    assert main(["status", CHANNEL, "404", "-c", str(path)]) == 1
    assert "no message '404'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["status", CHANNEL, "-c", str(path)])
    assert refused.value.code == 2 and "give the message's id" in capsys.readouterr().err


def test_health_is_0_on_a_writable_store_and_1_once_the_store_is_gone(setup, store_url, capsys):
    """``connector health`` (the image's HEALTHCHECK) on each backend: the store's own probe (a SQLite file; a
    PostgreSQL connection, ``select 1`` and a write), never a traceback nor a password."""
    path, store = setup
    code, out, err = run_cli(capsys, "health", "--config", str(path))
    assert (code, out.strip(), err) == (0, "healthy", "")
    store.close()
    if store.db.dialect.name == "sqlite":
        os.remove(store_url)
    else:
        with pg_support.cluster().connect(autocommit=True) as admin:
            admin.execute(f'drop database "{store_url.rsplit("/", 1)[1]}" with (force)')
    code, out, err = run_cli(capsys, "health", "--config", str(path))
    assert code == 1 and out.startswith("unhealthy: store:"), (out, err)
    assert "Traceback" not in out + err
    assert not [secret for secret in (os.environ["TEST_STATUS_TOKEN"], os.environ.get("PGPASSWORD")) if secret
                and secret in out + err]


def test_a_missing_store_is_refused_not_created(tmp_path, monkeypatch, capsys):
    path, environ = write_config(tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as refused:
        main(["status", "-c", str(path)])
    assert refused.value.code == 2 and not (tmp_path / "c.db").exists()


def test_the_demo_runs_with_the_status_token_off_and_its_configuration_says_so(tmp_path):
    """Issue 12: authentication is off only when configured so; the demo is configured so, openly."""
    from types import SimpleNamespace

    from connector_doubles import demo

    zgw = SimpleNamespace(**{f"{api}_url": f"http://127.0.0.1:1/{api}/api/v1"
                             for api in ("zaken", "documenten", "catalogi")})
    path = demo.write_demo_config(tmp_path, "http://127.0.0.1:2", "http://127.0.0.1:3/feed.xml", zgw, 8080)
    assert "the status API is open" in path.read_text().splitlines()[0]
    config = load_config(path, environ={demo.SECRET_ENV: "s" * 32, demo.WEB_KEY_ENV: "k" * 48})
    assert config.web["public_status"] is True and not config.web.get("status_token")
    app = create_app(config)
    client = app.test_client()
    assert client.get("/status").status_code == 200
    assert "security" not in client.get("/openapi.json").json["paths"]["/status"]["get"]
    app.config["STORE"].close()
