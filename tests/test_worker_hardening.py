"""No server can hold a poll, SIGTERM ends the worker in bounded time, the operator is told.

Real processes and real (hostile) servers: `connector worker` in a subprocess, a server that drips
one byte at a time (`connector_doubles.drip`), the ZGW double.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from connector.config import Config, ChannelConfig, SinkConfig, load_config
from connector_doubles.drip import DripServer
from connector.engine import Connector
from connector.failures import Failure
from connector.web import create_app
from connector.worker import ABORT_WAIT

from .conftest import FIXTURES, ZGW_SECRET, make_message
from .test_engine import ScriptedSink, build, delivery, ingest  # noqa: F401 - fixtures and helpers


def write_config(tmp_path, feed_url, zgw_server, **limits):
    config = {
        "store": str(tmp_path / "worker.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "delivery": {"interval": 0.5},
        "limits": {"heartbeat_interval": 0.5, **limits},
        "channels": [{"name": "feed", "kind": "rss", "poll_interval": 60, "options": {"url": feed_url}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw_server.zaken_url, "documenten_url": zgw_server.documenten_url,
            "catalogi_url": zgw_server.catalogi_url, "client_id": "connector", "secret": "${HARD_ZGW_SECRET}",
            "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_worker(path):
    env = {"HARD_ZGW_SECRET": ZGW_SECRET, "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([sys.executable, "-m", "connector.cli", "worker", "--config", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.timeout(90)
def test_sigterm_stops_a_worker_whose_poll_is_being_dripped_within_the_documented_bound(tmp_path, zgw_server):
    """A feed sending one byte every few seconds kept its poll open, and the worker ignored SIGTERM."""
    _, server = zgw_server
    grace = 2.0
    with DripServer("headers", interval=0.5) as drip:
        path = write_config(tmp_path, drip.url + "/feed.xml", server, call_deadline="10m", shutdown_grace=grace)
        process = start_worker(path)
        try:
            deadline = time.monotonic() + 30
            while drip.requests == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert drip.requests >= 1, "the worker never polled the feed"
            time.sleep(1.0)  # the poll is now well inside its (10 minute) call
            process.send_signal(signal.SIGTERM)
            # the documented bound: shutdown_grace + ABORT_WAIT; a few seconds more for the interpreter
            output, _ = process.communicate(timeout=grace + ABORT_WAIT + 10)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, output
    assert "cut off" in output and "worker stopped" in output


@pytest.mark.timeout(60)
def test_a_dripping_feed_ends_in_a_clear_error_and_status_shows_it(tmp_path, zgw_server):
    _, server = zgw_server
    with DripServer("body", interval=0.1) as drip:
        path = write_config(tmp_path, drip.url + "/feed.xml", server, call_deadline="2s")
        os.environ["HARD_ZGW_SECRET"] = ZGW_SECRET
        try:
            config = load_config(path)
        finally:
            del os.environ["HARD_ZGW_SECRET"]
        connector = Connector(config)
        try:
            result = connector.poll("feed")
        finally:
            connector.close()
    assert result.error is not None and result.error.verdict == "retry"
    assert "deadline of 2 s" in result.error.message
    config.web["public_status"] = True
    body = create_app(config).test_client().get("/status").json
    channel = body["channels"][0]
    assert "deadline" in channel["last_error"] and channel["polling_since"] is None
    assert channel["paused_reason"].startswith("backoff")


@pytest.mark.timeout(60)
def test_the_worker_beats_and_stops_when_its_database_file_is_deleted(tmp_path, zgw_server):
    _, server = zgw_server
    path = write_config(tmp_path, "http://127.0.0.1:9/feed.xml", server)
    process = start_worker(path)
    try:
        from connector.store import Store

        deadline = time.monotonic() + 30
        rows = []
        while not rows and time.monotonic() < deadline:
            time.sleep(0.2)
            if (tmp_path / "worker.db").exists():
                store = Store(tmp_path / "worker.db", create=False)
                rows = store.worker_rows()
                store.close()
        assert rows and rows[0]["rules_fingerprint"] and rows[0]["rules_count"] == 2
        os.remove(tmp_path / "worker.db")
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, output
    assert "CRITICAL" in output and "gone" in output


# -- the operator is told, at WARNING or ERROR, with what to do ----------------------------------

def test_a_sink_paused_by_a_configuration_error_is_logged_as_an_error(build, caplog):
    connector = build()
    ingest(connector, make_message("1"))
    ScriptedSink.script = [Failure("configuration", "POST /zaken: HTTP 403 Client credentials zijn niet geldig")]
    with caplog.at_level(logging.INFO, logger="connector"):
        connector.deliver_due()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "sink s paused" in errors[0].getMessage()
    assert "HTTP 403" in errors[0].getMessage() and "secret" in errors[0].getMessage()


def test_a_delivery_going_dead_is_logged_as_an_error_with_the_requeue_command(build, caplog):
    connector = build(max_attempts=1)
    ingest(connector, make_message("1"))
    ScriptedSink.script = [Failure("retry", "HTTP 503")]
    with caplog.at_level(logging.INFO, logger="connector"):
        connector.deliver_due()
    row = delivery(connector, "1")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert row["state"] == "dead"
    assert errors and f"connector deliveries requeue {row['id']}" in errors[0]


def test_a_failing_channel_is_logged_at_warning(tmp_path, caplog):
    config = Config(path=tmp_path / "c.yaml", store=tmp_path / "c.db", mappings=FIXTURES / "e2e" / "mappings",
                    web={}, delivery={"interval": 1},
                    channels=[ChannelConfig("feed", "rss", {"url": "http://127.0.0.1:9/feed.xml"}, 60)],
                    sinks=[SinkConfig("s", "scripted-test", {})])
    connector = Connector(config)
    try:
        with caplog.at_level(logging.INFO, logger="connector"):
            connector.poll("feed")
    finally:
        connector.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings and "channel feed" in warnings[0].getMessage()


def test_expected_scheduler_skips_are_not_logged_as_warnings(build, caplog):
    """Every delivery interval while a batch ran logged 'skipped: maximum number of running instances'."""
    import threading

    from connector.worker import build_scheduler

    connector = build()
    for n in range(4):
        ingest(connector, make_message(str(n), created_minute=n))
    ScriptedSink.delay = 0.4  # the drain outlasts several 0.1 s intervals
    connector.config.delivery["interval"] = 0.1
    scheduler = build_scheduler(connector)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="apscheduler"):
        scheduler.start()
        threading.Event().wait(1.2)
        scheduler.shutdown(wait=True)
    skipped = [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]
    assert skipped, "the scenario must produce skips, or this test proves nothing"
    assert all(r.levelno < logging.WARNING for r in skipped)
