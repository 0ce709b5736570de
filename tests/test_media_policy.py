"""Media: retry or missing, the channel options, the core-code check, and TLS to the checked address."""
from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta, timezone

import marshmallow
import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failure
from connector.media import (MediaOptions, MediaPolicy, Missing, RetryLater, decide, fetch)
from connector.media import download as fetch_module
from connector.message import Attachment
from .media_support import LOCAL, MediaServer, PNG, fetch_failure, files_in
from .media_support import media  # noqa: F401 (fixtures)


# -- retry or missing ------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
PICTURE = Attachment("https://files.example.org/a.png?sig=abcdefgh12345678", "image/png", "De burgemeester")


def test_a_permanent_failure_makes_the_medium_missing_at_once():
    failure = Failure(PERMANENT, "medium ...: larger than max_media_bytes=5", detail={"reason": "oversize"})
    outcome = decide(PICTURE, 1, failure, now=NOW)
    assert isinstance(outcome, Missing)
    assert outcome.description == "De burgemeester" and outcome.cause == "oversize" and outcome.attempts == 1
    assert outcome.url == "https://files.example.org/a.png?sig=***"
    assert outcome.to_dict()["reason"] == "medium ...: larger than max_media_bytes=5"
    assert isinstance(decide(PICTURE, 1, Failure(CONFIGURATION, "x"), now=NOW), Missing)


def test_a_transient_failure_is_retried_with_backoff_then_missing():
    failure = Failure(RETRY, "medium: HTTP 502", status=502)
    first = decide(PICTURE, 1, failure, now=NOW)
    second = decide(PICTURE, 2, failure, now=NOW)
    assert isinstance(first, RetryLater) and first.at == NOW + timedelta(minutes=1)
    assert isinstance(second, RetryLater) and second.at == NOW + timedelta(minutes=10)
    last = decide(PICTURE, 4, failure, now=NOW)
    assert isinstance(last, Missing) and last.reason == "gave up after 4 attempts; the last: medium: HTTP 502"
    assert isinstance(decide(PICTURE, 2, failure, now=NOW, max_attempts=2), Missing)


def test_a_retry_waits_for_the_servers_retry_after():
    failure = Failure(RATE_LIMITED, "429", retry_at=NOW + timedelta(hours=3))
    assert decide(PICTURE, 1, failure, now=NOW) == RetryLater(at=NOW + timedelta(hours=3), attempts=1)
    past = Failure(RETRY, "503", retry_at=NOW - timedelta(hours=3))
    assert decide(PICTURE, 1, past, now=NOW).at == NOW + timedelta(minutes=1)
    with pytest.raises(ValueError):
        decide(PICTURE, 0, failure, now=NOW)


# -- configuration ---------------------------------------------------------------------------

def test_media_options_defaults_and_policy():
    options = MediaOptions().load({})
    assert options == {"media_hosts": [], "max_media_bytes": 200 * 1024 * 1024}
    policy = MediaPolicy.for_channel("https://social.example/", MediaOptions().load(
        {"media_hosts": ["files.social.example", "*.CDN.example.org"], "max_media_bytes": 1000}))
    assert policy.hosts == ("social.example", "files.social.example", "*.cdn.example.org")
    assert policy.max_bytes == 1000 and not policy.allow_http and policy.trusted_networks == ()


@pytest.mark.parametrize("entry", ["https://files.example.org/", "*", "*.org", "files.example.org/x", "a b", ""])
def test_media_options_refuse_what_is_no_host(entry):
    with pytest.raises(marshmallow.ValidationError):
        MediaOptions().load({"media_hosts": [entry]})


def test_media_options_refuse_a_bound_below_one_byte():
    with pytest.raises(marshmallow.ValidationError):
        MediaOptions().load({"max_media_bytes": 0})


def test_a_source_schema_can_inherit_the_media_options():
    class FeedLike(MediaOptions):
        url = marshmallow.fields.Url(required=True)

    loaded = FeedLike().load({"url": "https://example.org/feed", "media_hosts": ["img.example.org"]})
    assert loaded["media_hosts"] == ["img.example.org"] and loaded["max_media_bytes"] > 0


def test_the_media_package_is_core_code():
    """It imports no sources, sinks, doubles, web or cli (tests/test_registry.py's check, on media's files)."""
    from tests.test_registry import PACKAGE, _core_offenders

    modules = sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "media").glob("*.py"))
    assert "media/download.py" in modules
    for relative in modules:
        assert not _core_offenders(relative), f"connector/{relative} imports {_core_offenders(relative)}"


# -- TLS: connected to the checked address, verified against the name ----------------------------

def _certificate(folder, name: str):
    import shutil
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_media(tmp_path):
    """(app, port, ca file) of a media server on https://127.0.0.1 with a certificate for media.example."""
    import ssl

    from werkzeug.serving import make_server

    cert, key = _certificate(tmp_path, "media.example")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    app = MediaServer()
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield app, server.server_port, cert
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.timeout(30)
def test_https_connects_to_the_checked_address_and_verifies_the_name(tls_media, tmp_path, monkeypatch):
    app, port, ca = tls_media
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    monkeypatch.setattr(fetch_module, "_resolve", lambda host, port: ["127.0.0.1"])
    policy = MediaPolicy(hosts=("media.example", "*.media.example"), trusted_networks=LOCAL)
    result = fetch(Attachment(f"https://media.example:{port}/cat.png", "image/png"), policy, tmp_path / "out")
    assert result.sha256 == hashlib.sha256(PNG).hexdigest()
    assert app.requests[0][1]["host"] == f"media.example:{port}"
    # the same server under another allowed name: its certificate does not name it, so no medium
    failure = fetch_failure(Attachment(f"https://cdn.media.example:{port}/cat.png"), policy, tmp_path / "out")
    assert failure.detail["reason"] == "transport" and "certificate" in failure.message.lower()
    assert len(app.requests) == 1 and files_in(tmp_path / "out") == [result.path.name]
