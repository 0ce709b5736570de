"""``connector health``, the image's HEALTHCHECK: the same answer as ``/readyz``, as an exit code.

Exit 0 only when the store is writable and a worker beat within ``limits.worker_stale_after`` (``0``:
the worker is left out); otherwise 1 with the reasons, never 2 (Docker reserves it), and it never
creates a store. The web app's probe and the command call one function (:mod:`connector.health`), so
they cannot disagree: a test asks both.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from connector.config import load_config
from connector.message import utcnow
from connector.store import Store
from connector.web import create_app

from .conftest import FIXTURES, run_cli

SAMPLE = FIXTURES / "docker" / "connector.yaml"


@pytest.fixture
def config(tmp_path, monkeypatch):
    """The image's sample configuration with its store in tmp_path; ``config(**limits)`` rewrites it."""
    monkeypatch.setenv("MASTODON_TOKEN", "not-a-real-token")
    mappings = FIXTURES.parent / "mappings"

    def write(**limits):
        data = yaml.safe_load(SAMPLE.read_text())
        data.update(store=str(tmp_path / "var" / "connector.db"), mappings=str(mappings))
        data["limits"].update(limits)
        path = tmp_path / "connector.yaml"
        path.write_text(yaml.safe_dump(data))
        return path

    return write


def beat(store, seconds_ago: float = 0, stopped: bool = False):
    store.worker_beat("host:1:abc", host="host", pid=1, started_at=utcnow(), stopped=stopped)
    if seconds_ago:
        store.db.execute("update workers set beat_at = ?", [(utcnow() - timedelta(seconds=seconds_ago)).isoformat()])


def health(capsys, path) -> tuple[int, str]:
    code, out, err = run_cli(capsys, "health", "--config", str(path))
    assert err == "" or "Traceback" not in err
    return code, out


def readyz(path) -> int:
    loaded = load_config(path)
    store = Store(loaded.store, create=False)
    try:
        return create_app(loaded, store=store).test_client().get("/readyz").status_code
    finally:
        store.close()


def test_no_store_is_unhealthy_and_none_is_created(capsys, config, tmp_path):
    code, out = health(capsys, config())
    assert code == 1 and out.startswith("unhealthy: store:"), out
    assert not (tmp_path / "var" / "connector.db").exists()


def test_an_invalid_configuration_is_unhealthy_with_exit_1_not_2(capsys, tmp_path):
    path = tmp_path / "connector.yaml"
    path.write_text("store: [not, a, path]\n")
    code, out = health(capsys, path)
    assert code == 1 and out.startswith("unhealthy: configuration:"), out


@pytest.mark.parametrize("worker, healthy", [
    (None, False),                                 # never started
    ({"seconds_ago": 0}, True),                    # beating
    ({"seconds_ago": 600}, False),                 # went silent (stale after 120 s)
    ({"seconds_ago": 0, "stopped": True}, False),  # stopped cleanly: no worker any more
])
def test_health_follows_the_workers_heartbeat_as_readyz_does(capsys, config, worker, healthy):
    path = config()
    store = Store(load_config(path).store)
    if worker is not None:
        beat(store, **worker)
    store.close()
    code, out = health(capsys, path)
    assert (code, out.strip() == "healthy") == ((0, True) if healthy else (1, False)), out
    assert readyz(path) == (200 if healthy else 503)
    if not healthy:
        assert "no worker has reported in the last 120 s" in out


def test_a_web_app_deployed_without_a_worker_leaves_the_worker_out(capsys, config):
    path = config(worker_stale_after=0)
    Store(load_config(path).store).close()
    assert health(capsys, path) == (0, "healthy\n")


def test_a_store_that_cannot_be_written_is_unhealthy(capsys, config, tmp_path):
    path = config(worker_stale_after=0)
    Store(load_config(path).store).close()
    (tmp_path / "var" / "connector.db").write_bytes(b"not a database, a shopping list\n" * 100)
    code, out = health(capsys, path)
    assert code == 1 and out.startswith("unhealthy: store:"), out
