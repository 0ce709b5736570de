"""`connector worker`: scheduled polling and delivery in a real process, stopped cleanly by SIGTERM."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import yaml

from connector.config import load_config
from connector_doubles import mastodon
from connector.engine import Connector
from connector.worker import build_scheduler

from .conftest import FIXTURES, ZGW_SECRET as SECRET


def write_config(tmp_path, masto_url, zgw):
    config = {
        "store": str(tmp_path / "worker.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "delivery": {"parent_grace": 0, "interval": 0.5},
        "channels": [{"name": "masto", "kind": "mastodon", "poll_interval": 1,
                      "options": {"base_url": masto_url, "account": "schochastics"}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw.zaken_url, "documenten_url": zgw.documenten_url, "catalogi_url": zgw.catalogi_url,
            "client_id": "connector", "secret": "${WORKER_ZGW_SECRET}", "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_jobs_have_explicit_ids_and_never_overlap(tmp_path, zgw_server, monkeypatch):
    double, server = zgw_server
    monkeypatch.setenv("WORKER_ZGW_SECRET", SECRET)
    connector = Connector(load_config(write_config(tmp_path, "http://127.0.0.1:9", server)))
    scheduler = build_scheduler(connector)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"poll:masto", "deliver", "heartbeat"}
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())
    assert jobs["poll:masto"].trigger.interval.total_seconds() == 1
    connector.close()


def test_worker_delivers_then_stops_on_sigterm(tmp_path, zgw_server):
    double, server = zgw_server
    double.reset()
    masto = mastodon.MastodonDouble(data_dir=str(FIXTURES / "mastodon" / "replay"))
    statuses = len(masto.statuses("schochastics"))
    with mastodon.serve(masto) as masto_server:
        path = write_config(tmp_path, masto_server.url, server)
        env = {"WORKER_ZGW_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
        process = subprocess.Popen([sys.executable, "-m", "connector.cli", "worker", "--config", str(path)],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while len(double.zaakinformatieobjecten) < 2 * statuses and time.monotonic() < deadline:
                time.sleep(0.2)
            masto.add_status(dict(masto.statuses("schochastics")[-1], in_reply_to_id=None))
            while len(double.zaakinformatieobjecten) < 2 * (statuses + 1) and time.monotonic() < deadline:
                time.sleep(0.2)  # a later poll picks up the new status: incremental, on schedule
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "worker stopped" in output
    assert len(double.documents) == 2 * (statuses + 1)
    assert len(double.zaakinformatieobjecten) == 2 * (statuses + 1)
    assert double.violations == []
