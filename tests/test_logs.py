"""Log output: text or JSON lines by setting, about which message and delivery, and never a secret.

Each kind of secret is logged the way the connector could come to log it (in the message, in its
arguments, inside an exception that ``requests`` raised) and must come out as ``***`` in both formats;
a real poll and delivery run through the engine (an RSS feed from the feed double, the scripted sink of
``test_engine``) gives JSON lines that parse and name the channel and the message.
"""
from __future__ import annotations

import io
import json
import logging

import pytest
import requests
import yaml

from connector import logs
from connector.config import ChannelConfig, Config, SinkConfig, load_config
from connector.engine import Connector
from connector.failures import Failure

from .conftest import FIXTURES
from .rss_support import FIXTURES as FEEDS
from .test_engine import ScriptedSink, write_rules

JWT = ("eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJoZWxwZGVzayIsImV4cCI6MTc2NDAwMDAwMH0"
       ".c2lnbmF0dXJlLW9mLXRoZS10b2tlbg")
BEARER = "Zm9vYmFyLWJlYXJlci10b2tlbi0xMjM0NQ"
PASSWORD = "Hunter2-wachtwoord"
TOKEN = "t0k3n-4bcdef-123456"
SECRET = "s3cr3t-value-987654"
CLIENT_SECRET = "client-s3cret-ABCDEF"
URL_PASSWORD = "pa55-in-the-url"
CONFIGURED = "zgw-secret-from-the-environment-42"  # a ${ENV} value of the loaded configuration


@pytest.fixture
def output():
    """``make(format)``: the connector's logging into a fresh buffer, as ``configure`` sets it up."""
    root = logging.getLogger()
    level, added = root.level, []

    def make(fmt: str, level: str = "DEBUG") -> io.StringIO:
        stream = io.StringIO()
        added.append(logs.configure({"format": fmt, "level": level}, stream=stream, force=True))
        return stream

    yield make
    for handler in added:
        root.removeHandler(handler)
    root.setLevel(level)


def _requests_error(url: str) -> BaseException:
    """The exception ``requests`` raises for ``url`` (no network: a scheme it has no adapter for, or a
    closed port on this machine)."""
    try:
        requests.get(url, timeout=2)
    except requests.RequestException as exc:
        return exc
    raise AssertionError(f"{url} answered")


def _log_every_kind(log: logging.Logger) -> list[str]:
    """Log each kind of secret; returns the secret values, none of which may be written."""
    log.info("calling the sink with Authorization: Bearer %s", BEARER)
    log.info("header {'Authorization': 'Basic %s'}" % BEARER)
    log.warning("the id_token %s did not verify", JWT)
    log.info("login with user=helpdesk password=%s failed", PASSWORD)
    log.info("retrying with token=" + TOKEN + "&secret=" + SECRET)
    log.info("options: %s", {"client_id": "connector", "client_secret": CLIENT_SECRET})
    log.info("fetching %s", f"https://gemeente:{URL_PASSWORD}@feeds.example.nl/nieuws.rss")
    log.info("the configured secret is %s", CONFIGURED)
    for url in (f"ftp://gemeente:{URL_PASSWORD}@feeds.example.nl/x", f"http://127.0.0.1:1/feed?token={TOKEN}"):
        error = _requests_error(url)
        try:
            raise RuntimeError("the poll failed") from error
        except RuntimeError:
            log.exception("channel nieuws crashed")
    return [BEARER, JWT, JWT.split(".")[1], PASSWORD, TOKEN, SECRET, CLIENT_SECRET, URL_PASSWORD, CONFIGURED]


def _load_configured_secret(tmp_path) -> None:
    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config.update(store=str(tmp_path / "c.db"), mappings=str(FIXTURES / "e2e" / "mappings"))
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path, environ={"TEST_MASTODON_TOKEN": "mastodon-token-xyz", "TEST_ZGW_SECRET": CONFIGURED})
    assert loaded.sinks[0].options["secret"] == CONFIGURED


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_secret_reaches_the_log_in_either_format(output, tmp_path, fmt):
    _load_configured_secret(tmp_path)
    stream = output(fmt)
    secrets = _log_every_kind(logging.getLogger("connector.test"))
    written = stream.getvalue()
    for secret in secrets:
        assert secret not in written
    if fmt == "json":
        lines = [json.loads(line) for line in written.splitlines()]  # urllib3's debug lines too
        lines = [line for line in lines if line["logger"] == "connector.test"]
        assert len(lines) == 10 and all(line["message"] for line in lines)
        crashes = [line for line in lines if "exc_info" in line]
        assert len(crashes) == 2 and all("RequestException" not in c["message"] for c in crashes)
        assert "InvalidSchema" in crashes[0]["exc_info"] and "ConnectionError" in crashes[1]["exc_info"]
        assert "ftp://***@feeds.example.nl/x" in crashes[0]["exc_info"]
        assert "token=***" in crashes[1]["exc_info"]
        text = "\n".join(line["message"] for line in lines)
    else:
        assert "Traceback" in written and "InvalidSchema" in written
        text = written
    # what is not secret stays readable
    for kept in ("Authorization: Bearer ***", "'Authorization': '***'", "user=helpdesk password=***",
                 "token=***&secret=***", "'client_id': 'connector', 'client_secret': '***'",
                 "https://***@feeds.example.nl/nieuws.rss", "the configured secret is ***", "id_token *** did"):
        assert kept in text


@pytest.mark.parametrize("text, kept", [
    ("the sink refused basic authentication", "basic authentication"),
    ("key rotation is due; token endpoint answered 500", "token endpoint answered 500"),
    ("channel nieuws: HTTP 429 (rate_limited until 2026-01-01T12:00:00Z)", None),
])
def test_ordinary_text_is_left_alone(text, kept):
    assert logs.scrub(text) == text and (kept is None or kept in logs.scrub(text))


def test_json_lines_carry_their_context_and_exceptions(output):
    stream = output("json")
    log = logging.getLogger("connector.engine")
    log.info("delivery %s is dead", 7, extra={"channel": "nieuws", "message_id": "abc", "delivery_id": 7,
                                                "sink": "openzaak"})
    try:
        {}["missing"]
    except KeyError:
        log.error("crashed", exc_info=True)
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["message"] == "delivery 7 is dead" and first["level"] == "INFO"
    assert first["logger"] == "connector.engine" and first["time"].endswith("Z")
    assert {key: first[key] for key in logs.CONTEXT} == {"channel": "nieuws", "message_id": "abc",
                                                         "delivery_id": 7, "sink": "openzaak"}
    assert not set(logs.CONTEXT) & set(second) and "KeyError: 'missing'" in second["exc_info"]


def test_level_and_format_come_from_the_configuration(tmp_path, monkeypatch, output):
    path = tmp_path / "connector.yaml"
    path.write_text("logging:\n  format: ${LOG_FORMAT}\n  level: warning\n")
    monkeypatch.setenv("LOG_FORMAT", "json")
    assert logs.settings_for(path) == {"format": "json", "level": "WARNING"}
    assert logs.settings_for(tmp_path / "absent.yaml") == {}
    path.write_text("logging:\n  format: xml\n")
    assert logs.settings_for(path) == {}  # the command's own load reports it
    stream = output("json", level="WARNING")
    logging.getLogger("connector.test").info("not written")
    logging.getLogger("connector.test").warning("written")
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["written"]


def test_an_invalid_logging_section_is_refused_by_the_configuration(tmp_path):
    from connector.config import ConfigError

    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config["logging"] = {"format": "xml"}
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="logging.format"):
        load_config(path, environ={"TEST_MASTODON_TOKEN": "x", "TEST_ZGW_SECRET": "y"})
    del config["logging"]
    path.write_text(yaml.safe_dump(config))
    assert load_config(path, environ={"TEST_MASTODON_TOKEN": "x", "TEST_ZGW_SECRET": "y"}).logging == \
        {"format": "text", "level": "INFO"}


def test_a_poll_and_delivery_run_logs_json_lines_about_each_message(output, tmp_path):
    from connector_doubles.feeds import FeedDouble, serve

    double = FeedDouble()
    double.replace("/feed.xml", FEEDS / "RSSWithComments.xml")
    running = serve(double)
    config = Config(path=tmp_path / "c.yaml", store=tmp_path / "c.db", mappings=write_rules(tmp_path / "mappings"),
                    web={}, delivery={"interval": 1, "batch_size": 50, "max_attempts": 3, "lease": 300,
                                      "backoff_base": 10, "backoff_max": 600, "pause_base": 30, "pause_max": 600,
                                      "breaker_threshold": 3},
                    channels=[ChannelConfig("nieuws", "rss", {"url": running.url + "/feed.xml"}, 900.0)],
                    sinks=[SinkConfig("s", "scripted-test", {})])
    connector = Connector(config)
    stream = output("json", level="INFO")
    try:
        stored = connector.poll("nieuws")
        ScriptedSink.script = [Failure("permanent", "HTTP 400 zaaktype onbekend")] * stored.new
        drained = connector.drain()
        double.fail_next(429, retry_after=120)
        failed = connector.poll("nieuws")
        ids = {row["platform_id"] for row in connector.store.query("select platform_id from messages")}
    finally:
        connector.close()
        running.shutdown()
    assert stored.new > 0 and drained.dead == stored.new and failed.error is not None
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    dead = [line for line in lines if "is dead" in line["message"]]
    assert len(dead) == stored.new and {line["message_id"] for line in dead} == ids
    for line in dead:
        assert line["channel"] == "nieuws" and line["sink"] == "s" and line["level"] == "ERROR"
        assert str(line["delivery_id"]) in line["message"] and line["message_id"] in line["message"]
    paused = [line for line in lines if line["message"].startswith("channel nieuws:")]
    assert paused and all(line["channel"] == "nieuws" and "message_id" not in line for line in paused)


def test_the_cli_logs_json_lines_for_a_command(tmp_path):
    """``connector run --once`` in its own process: the configuration's logging section applies from the
    first line, and the failing poll's line names its channel and holds no token."""
    import os
    import subprocess
    import sys

    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config.update(store=str(tmp_path / "c.db"), mappings=str(FIXTURES / "e2e" / "mappings"),
                  logging={"format": "json"})
    config["channels"][0]["options"]["base_url"] = "http://127.0.0.1:1"  # refused at once, no network
    config["channels"] = config["channels"][:1]
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "TEST_MASTODON_TOKEN": TOKEN, "TEST_ZGW_SECRET": CONFIGURED}
    done = subprocess.run([sys.executable, "-c", "import sys; from connector.cli import main; sys.exit(main())",
                           "run", "--once", "--config", str(path)], env=env, capture_output=True, text=True,
                          timeout=60)
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    failed = [line for line in lines if line.get("channel") == "gemeente-mastodon" and line["level"] == "WARNING"]
    assert failed and "127.0.0.1" in failed[0]["message"], done.stderr
    assert TOKEN not in done.stderr + done.stdout and CONFIGURED not in done.stderr + done.stdout
