"""Credentials inside a channel URL never leak: not into logs, /status, the store or the case system.

The end-to-end test configures a feed at ``http://user:${PASS}@host/feed?api_key=${KEY}`` (the
feed double serves it), makes it fail once (a 500) and adds a second channel that cannot connect,
so errors carry the URL; then it polls and delivers for real against the ZGW double, and looks for
the secret values everywhere the connector writes.
"""
from __future__ import annotations

import logging
import socket
from datetime import timedelta

import pytest
import yaml

from connector import redact
from connector.config import load_config
from connector_doubles import feeds
from connector.engine import Connector
from connector.message import utcnow
from connector.web import create_app

from .conftest import FIXTURES, ZGW_SECRET

FEED_USER = "feed-reader"
FEED_PASS = "pw-ROSEBUD-7hQ2vZx9"
FEED_KEY = "key-SWORDFISH-Mx81Yy72"
SECRETS = (FEED_PASS, FEED_KEY, ZGW_SECRET)


@pytest.fixture
def log_redaction():
    """What ``connector.cli.main`` does at start: redact every log record."""
    redact.install_log_redaction()
    yield
    redact.uninstall_log_redaction()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when we return: connecting is refused


@pytest.fixture
def world(tmp_path, zgw_server, monkeypatch):
    zgw_double, zgw_srv = zgw_server
    zgw_double.reset()
    # identity-and-dates.xml also has entries that get quarantined (with the page URL)
    feed = feeds.FeedDouble({"/feed.xml": str(FIXTURES / "rss" / "identity-and-dates.xml")})
    feed_srv = feeds.serve(feed)
    monkeypatch.setenv("SECRETS_FEED_USER", FEED_USER)
    monkeypatch.setenv("SECRETS_FEED_PASS", FEED_PASS)
    monkeypatch.setenv("SECRETS_FEED_KEY", FEED_KEY)
    monkeypatch.setenv("SECRETS_ZGW_SECRET", ZGW_SECRET)
    credentials = "${SECRETS_FEED_USER}:${SECRETS_FEED_PASS}@"
    query = "?api_key=${SECRETS_FEED_KEY}&format=rss"
    host = feed_srv.url.removeprefix("http://")
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "channels": [
            {"name": "feed", "kind": "rss", "options": {"url": f"http://{credentials}{host}/feed.xml{query}"}},
            {"name": "down", "kind": "rss",
             "options": {"url": f"http://{credentials}127.0.0.1:{closed_port()}/feed.xml{query}"}},
        ],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw_srv.zaken_url, "documenten_url": zgw_srv.documenten_url,
            "catalogi_url": zgw_srv.catalogi_url, "client_id": "connector", "secret": "${SECRETS_ZGW_SECRET}",
            "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    config = load_config(path)
    connector = Connector(config)
    yield {"connector": connector, "config": config, "zgw": zgw_double, "feed": feed}
    connector.close()
    feed_srv.shutdown()


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_credentials_in_a_channel_url_never_leak(world, caplog, log_redaction):
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request line at DEBUG: with the query string
    connector, double, feed = world["connector"], world["zgw"], world["feed"]

    feed.fail_next(500, body=b"upstream broke")
    polls, _ = connector.run_once()
    assert [p.error is not None for p in polls] == [True, True]  # 500 and connection refused
    later = utcnow() + timedelta(hours=2)  # past the channels' backoff
    assert connector.poll("feed", now=later).error is None
    assert connector.poll("down", now=later).error is not None
    delivered = connector.drain()

    # the connector did use the real credentials, and did deliver
    assert any(r.status == 200 for r in feed.requests)
    assert delivered.delivered > 0 and len(double.documents) == 2 * delivered.delivered

    store = connector.store

    found = {}
    # 1. every log record, all levels, formatted with its exception text
    found["logs"] = leaks(caplog.text)
    # 2. the helpdesk's unauthenticated status page
    app = create_app(world["config"], store=store, rules=connector.rules)
    status = app.test_client().get("/status").get_data(as_text=True)
    found["/status"] = leaks(status)
    # 3. every text and blob column of every table in the store
    for table in store.db.table_names():
        for row in store.query(f"select * from [{table}]"):
            for column, value in row.items():
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                if leaks(text):
                    found.setdefault("store", []).append(f"{table}.{column}")
    # 4. every document the case system received: metadata and content
    for document in double.documents:
        found.setdefault("documents", []).extend(leaks(repr(document)))
        found["documents"] += leaks(double.document_content(document["url"]).decode("utf-8", "replace"))
    assert {where: what for where, what in found.items() if what} == {}

    # the errors and the quarantine are there, with the URL redacted
    quarantined = store.query("select page_url from quarantine")
    assert quarantined and all("***@" in row["page_url"] for row in quarantined)
    [down] = store.query("select last_error from channels where name = 'down'")
    assert "ConnectionError" in down["last_error"] and "api_key=***" in down["last_error"]

    # what the archive says about provenance: the feed, without its credentials
    original = next(d for d in double.documents if "(origineel)" in d["titel"])
    assert "/feed.xml?api_key=***&format=rss" in original["beschrijving"]
    assert FEED_USER not in original["beschrijving"]


def test_connector_check_prints_no_credentials(world, capsys):
    from connector.sources.rss import FeedSource

    source = FeedSource("down", world["config"].channels[1].options)
    printed = "\n".join(str(check) for check in source.check())
    assert "FAIL" in printed
    assert leaks(printed) == [] and "api_key=***" in printed


# -- the redaction rules, one by one -----------------------------------------------------------

@pytest.mark.parametrize("url,shown", [
    ("https://user:pass@feeds.example.nl/news.rss", "https://***@feeds.example.nl/news.rss"),
    ("https://TOKEN@feeds.example.nl:8443/news.rss", "https://***@feeds.example.nl:8443/news.rss"),
    ("https://feeds.example.nl/news.rss?lang=nl&api_key=abc&page=2",
     "https://feeds.example.nl/news.rss?lang=nl&api_key=***&page=2"),
    ("https://h/f?APIKEY=a&Access_Token=b&client_secret=c&X-Amz-Signature=d&consumer_key=e&sig=f",
     "https://h/f?APIKEY=***&Access_Token=***&client_secret=***&X-Amz-Signature=***&consumer_key=***&sig=***"),
    ("https://h/callback#access_token=abc&state=1", "https://h/callback#access_token=***&state=1"),
    ("https://h/f?monkey=1&keyword=2&code=3&status=4", "https://h/f?monkey=1&keyword=2&code=3&status=4"),
    ("https://h/f?token=", "https://h/f?token=***"),
    ("/feed.xml?password=x", "/feed.xml?password=***"),
    ("", ""),
])
def test_redact_url(url, shown):
    assert redact.redact_url(url) == shown


def test_redact_text_finds_urls_and_bare_query_strings_in_messages():
    text = ("GET https://u:p@feed.example.nl/x.rss?key=K1: ConnectionError: HTTPSConnectionPool("
            "host='feed.example.nl', port=443): Max retries exceeded with url: /x.rss?key=K1 (Caused by ...)")
    assert redact.redact_text(text) == (
        "GET https://***@feed.example.nl/x.rss?key=***: ConnectionError: HTTPSConnectionPool("
        "host='feed.example.nl', port=443): Max retries exceeded with url: /x.rss?key=*** (Caused by ...)")


def test_registered_secrets_are_masked_anywhere_also_url_encoded():
    redact.register_secret("s3cret/with spaces+")
    redact.register_secret("short")  # too short to mask safely: ordinary words would vanish
    text = "body said s3cret/with spaces+ and s3cret%2Fwith%20spaces%2B, in short"
    assert redact.redact_text(text) == "body said *** and ***, in short"
    assert redact.redact({"a": ["s3cret/with spaces+", 1], "b": None}) == {"a": ["***", 1], "b": None}


def test_log_records_are_redacted_message_and_exception(caplog, log_redaction):
    log = logging.getLogger("tests.secrets")
    redact.register_secret(FEED_PASS)
    try:
        raise RuntimeError(f"could not read https://feeds.example.nl/x?api_key={FEED_KEY}")
    except RuntimeError:
        log.exception("poll of %s failed (%s)", f"https://u:{FEED_PASS}@feeds.example.nl/x", "detail")
    log.warning("%s", logging)  # any object as argument still works
    assert "poll of https://***@feeds.example.nl/x failed (detail)" in caplog.text
    assert "RuntimeError: could not read https://feeds.example.nl/x?api_key=***" in caplog.text
    assert leaks(caplog.text) == []


def test_the_cli_installs_log_redaction(caplog, tmp_path):
    from connector.cli import main

    try:
        main(["mappings", "check", str(FIXTURES.parent / "mappings")])
        logging.getLogger("tests.secrets").warning("fetching https://h/f?api_key=%s", FEED_KEY)
    finally:
        redact.uninstall_log_redaction()
    assert "https://h/f?api_key=***" in caplog.text and FEED_KEY not in caplog.text


def test_failures_and_checks_redact_themselves():
    from connector.checks import Check
    from connector.failures import RETRY, Failure

    url = f"https://u:{FEED_PASS}@h/feed?api_key={FEED_KEY}"
    failure = Failure(RETRY, f"GET {url}: HTTP 500", url=url, detail={"body": f"no such page {url}"})
    assert failure.message == "GET https://***@h/feed?api_key=***: HTTP 500"
    assert failure.url == "https://***@h/feed?api_key=***"
    assert leaks(repr(failure.to_dict())) == []
    assert str(Check("connection", False, f"GET {url}: refused")) == \
        "[FAIL] connection: GET https://***@h/feed?api_key=***: refused"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("text", [
    "a." * 500_000,                      # a scheme could start at every letter: quadratic before
    "a" * 1_000_000,
    "?a=" + "." * 1_000_000,
    "http://" + "x." * 500_000,
    "&key=" * 200_000,
], ids=["dotted-letters", "letters", "dots-after-param", "long-url", "many-params"])
def test_redacting_hostile_text_takes_linear_time(text):
    """A server's error body ends up in a Failure message, which is redacted: it must not stall."""
    from connector.redact import redact_text

    assert len(redact_text(text)) >= len(text) // 2
