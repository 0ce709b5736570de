"""Media (issue 8): each attachment fetched under the channel's policy, streamed to disk, bounded.

Servers run on 127.0.0.1 (and 127.0.0.2, a loopback address the policies here do not trust);
"no connection" is proven by the servers' own request counts. Guard against hangs: pytest-timeout.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import socket
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs

import marshmallow
import pytest

from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed, Failure
from connector.media import (MediaOptions, MediaPolicy, MediaSession, Missing, Refused, RetryLater, check_url,
                             decide, fetch, sniff)
from connector.media import download as fetch_module
from connector.message import Attachment
from connector_doubles.drip import DripServer
from connector_doubles.serving import Running

LOCAL = ("127.0.0.1/32",)  # the one non-public network these tests trust
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400   # ~100 KiB, not all zeros
LIMIT = 300_000


class MediaServer:
    """A WSGI app serving media and misbehaviour; ``requests`` lists (path, headers) of every request."""

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []
        self.stop = threading.Event()

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.requests.append((path, {k[5:].replace("_", "-").lower(): v for k, v in environ.items()
                                     if k.startswith("HTTP_")}))
        if path == "/cat.png":
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", str(len(PNG)))])
            return [PNG]
        if path == "/chunked.png":  # no Content-Length: werkzeug sends it chunked
            size = int(query.get("size", len(PNG)))
            start_response("200 OK", [("Content-Type", "image/png")])
            return _chunks(size)
        if path == "/declares-big.png":
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Length", "10000000")])
            return _chunks(10_000_000)
        if path == "/bomb.png":
            body = gzip.compress(b"\0" * (20 * 1024 * 1024))
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Encoding", "gzip"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if path == "/gzipped.png":
            body = gzip.compress(PNG)
            start_response("200 OK", [("Content-Type", "image/png"), ("Content-Encoding", "gzip"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if path == "/octet":
            body = PNG if query.get("what") == "png" else b"<html><body>not a picture</body></html>" * 3
            start_response("200 OK", [("Content-Type", "application/octet-stream")])
            return [body]
        if path == "/page.html":
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [b"<html>a login page</html>"]
        if path == "/clip.mp4":
            start_response("200 OK", [("Content-Type", "video/mp4")])
            return [b"\0\0\0\x18ftypmp42" + b"v" * 1000]
        if path == "/drip.png":
            start_response("200 OK", [("Content-Type", "image/png")])
            return self._drip()
        if path == "/redirect":
            start_response(query.get("status", "302 Found"), [("Location", query["to"])])
            return [b""]
        if path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            headers = [("Content-Type", "text/plain")]
            if "retry_after" in query:
                headers.append(("Retry-After", query["retry_after"]))
            start_response(f"{code} Whatever", headers)
            return [b"nope " * 10_000]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such medium"]

    def _drip(self):
        yield b"\x89PNG\r\n\x1a\n"
        for _ in range(4000):
            if self.stop.wait(0.02):
                return
            yield b"\0"


def _chunks(size: int, chunk: int = 16 * 1024):
    yield b"\x89PNG\r\n\x1a\n"
    left = size - 8
    while left > 0:
        yield b"p" * min(chunk, left)
        left -= chunk


@pytest.fixture
def media():
    """(app, server) on 127.0.0.1."""
    app = MediaServer()
    with Running(app, name="media") as server:
        yield app, server
        app.stop.set()


@pytest.fixture
def other():
    """A second server on 127.0.0.1 (reached as "localhost", a host no policy here allows)."""
    app = MediaServer()
    with Running(app, name="other") as server:
        yield app, server
        app.stop.set()


def local_policy(server, **settings) -> MediaPolicy:
    settings.setdefault("trusted_networks", LOCAL)
    settings.setdefault("max_bytes", LIMIT)
    return MediaPolicy.for_channel(server.url + "/api", **settings)


def fetch_failure(attachment, policy, folder) -> Failure:
    with pytest.raises(Failed) as caught:
        fetch(attachment, policy, folder)
    return caught.value.failure


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


# -- fetching ------------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_an_image_is_streamed_to_disk_hashed_and_named_by_its_content(media, tmp_path):
    app, server = media
    attachment = Attachment(server.url + "/cat.png?token=abcdefgh12345678", "image/png", "Een kat op een mat")
    result = fetch(attachment, local_policy(server), tmp_path / "media")
    digest = hashlib.sha256(PNG).hexdigest()
    assert result.sha256 == digest and result.size == len(PNG)
    assert result.path == tmp_path / "media" / f"{digest}.png" and result.path.read_bytes() == PNG
    assert files_in(tmp_path / "media") == [f"{digest}.png"]   # no temporary file left beside it
    assert result.media_type == "image/png" and result.description == "Een kat op een mat"
    assert result.source_url.endswith("/cat.png?token=***") and "abcdefgh" not in result.fetched_from
    assert app.requests[0][1]["accept-encoding"] == "identity"


@pytest.mark.timeout(30)
def test_a_chunked_image_without_length_is_stored_whole(media, tmp_path):
    _, server = media
    result = fetch(Attachment(server.url + "/chunked.png?size=200000", "image/png"), local_policy(server), tmp_path)
    assert result.size == 200_000 and result.path.stat().st_size == 200_000
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()


@pytest.mark.timeout(30)
def test_a_session_reused_for_several_media(media, tmp_path):
    _, server = media
    policy = local_policy(server)
    with MediaSession(policy) as session:
        first = fetch(Attachment(server.url + "/cat.png"), policy, tmp_path, session=session)
        second = fetch(Attachment(server.url + "/clip.mp4", "video/*"), policy, tmp_path, session=session)
    assert first.path.suffix == ".png" and second.media_type == "video/mp4" and second.path.suffix == ".mp4"
    with pytest.raises(ValueError, match="another media policy"):
        fetch(Attachment(server.url + "/cat.png"), local_policy(server, max_bytes=5), tmp_path, session=session)


# -- hosts, schemes, addresses ---------------------------------------------------------------

@pytest.mark.timeout(30)
def test_a_medium_on_a_foreign_host_is_refused_without_any_connection(media, other, tmp_path):
    _, server = media
    other_app, other_server = other
    attachment = Attachment(f"http://localhost:{other_server.port}/cat.png", "image/png", "alt")
    failure = fetch_failure(attachment, local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.detail["reason"] == "refused"
    assert "host 'localhost' is not one of the channel's hosts" in failure.message
    assert "media_hosts" in failure.message
    assert other_app.requests == [] and files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_the_session_itself_refuses_a_foreign_host(media, other):
    """Second line of defence: even a URL that bypassed check_url never gets a connection."""
    _, server = media
    other_app, other_server = other
    with MediaSession(local_policy(server)) as session, pytest.raises(Refused, match="localhost"):
        session.get(f"http://localhost:{other_server.port}/cat.png")
    assert other_app.requests == []


@pytest.mark.timeout(30)
def test_a_configured_media_host_is_fetched_from(media, other, tmp_path, monkeypatch):
    _, server = media
    _, other_server = other
    policy = local_policy(server, options={"media_hosts": ["*.media.example"]})
    resolved = []
    monkeypatch.setattr(fetch_module, "_resolve", lambda host, port: resolved.append(host) or ["127.0.0.1"])
    result = fetch(Attachment(f"http://files.media.example:{other_server.port}/cat.png"), policy, tmp_path)
    # "files.media.example" exists in no DNS: the connection went to the address checked, resolved once
    assert result.sha256 == hashlib.sha256(PNG).hexdigest() and resolved == ["files.media.example"]


@pytest.mark.timeout(30)
def test_a_redirect_to_a_foreign_host_is_refused(media, other, tmp_path):
    app, server = media
    other_app, other_server = other
    to = f"http://localhost:{other_server.port}/cat.png"
    failure = fetch_failure(Attachment(f"{server.url}/redirect?to={to}", "image/png"), local_policy(server), tmp_path)
    assert failure.detail["reason"] == "refused" and "redirected to" in failure.message
    assert "'localhost' is not one of the channel's hosts" in failure.message
    assert [path for path, _ in app.requests] == ["/redirect"] and other_app.requests == []


@pytest.mark.timeout(30)
def test_a_redirect_within_the_channel_is_followed(media, tmp_path):
    _, server = media
    result = fetch(Attachment(f"{server.url}/redirect?to=/cat.png&status=301+Moved"), local_policy(server), tmp_path)
    assert result.size == len(PNG) and result.fetched_from.endswith("/cat.png")


@pytest.mark.timeout(30)
def test_redirects_are_bounded(media, tmp_path):
    _, server = media
    url = f"{server.url}/redirect?to=/redirect%3Fto%3D/cat.png"
    failure = fetch_failure(Attachment(url), local_policy(server, max_redirects=1), tmp_path)
    assert failure.detail["reason"] == "redirects" and "more than 1 redirects" in failure.message
    assert fetch(Attachment(url), local_policy(server, max_redirects=2), tmp_path).size == len(PNG)


@pytest.fixture
def loopback2():
    """A server on 127.0.0.2: loopback, and not in the trusted 127.0.0.1/32."""
    app = MediaServer()
    try:
        server = Running(app, host="127.0.0.2", name="loopback2")
    except OSError as exc:
        pytest.skip(f"cannot listen on 127.0.0.2: {exc}")
    with server:
        yield app, server


@pytest.mark.timeout(30)
def test_a_redirect_to_127_0_0_1_is_refused(loopback2, monkeypatch, tmp_path):
    """A public-looking media host redirecting to the connector's own machine."""
    app, server = loopback2
    policy = MediaPolicy(hosts=("media.example",), trusted_networks=("127.0.0.2/32",), allow_http=True)
    monkeypatch.setattr(fetch_module, "_resolve", lambda host, port: ["127.0.0.2"])
    to = f"http://127.0.0.1:{server.port}/cat.png"
    failure = fetch_failure(Attachment(f"http://media.example:{server.port}/redirect?to={to}"), policy, tmp_path)
    assert failure.detail["reason"] == "refused" and "'127.0.0.1' (an IP address" in failure.message
    assert [path for path, _ in app.requests] == ["/redirect"]


@pytest.mark.timeout(30)
def test_an_allowed_name_resolving_to_a_loopback_address_is_refused(media, loopback2, monkeypatch, tmp_path):
    """A redirect to an allowed name whose DNS answer is 127.0.0.2 (not trusted): never connected to."""
    app, server = media
    app2, server2 = loopback2
    policy = local_policy(server, options={"media_hosts": ["*.media.example"]})
    monkeypatch.setattr(fetch_module, "_resolve", lambda host, port: ["127.0.0.2"])
    to = f"http://internal.media.example:{server2.port}/cat.png"
    failure = fetch_failure(Attachment(f"{server.url}/redirect?to={to}"), policy, tmp_path)
    assert failure.verdict == PERMANENT and failure.detail["reason"] == "refused"
    assert "resolves to 127.0.0.2: 127.0.0.2 is a loopback address" in failure.message
    assert app2.requests == []


@pytest.mark.timeout(30)
def test_the_metadata_address_is_never_connected_to(monkeypatch, tmp_path):
    connections = []
    monkeypatch.setattr(fetch_module, "_resolve", lambda host, port: ["169.254.169.254", "::ffff:10.0.0.1"])
    monkeypatch.setattr(fetch_module.urllib3_connection, "create_connection",
                        lambda *args, **kwargs: connections.append(args) or socket.socket())
    policy = MediaPolicy(hosts=("files.example.org",))
    failure = fetch_failure(Attachment("https://files.example.org/latest/meta-data/"), policy, tmp_path)
    assert "169.254.169.254 is a link-local address" in failure.message
    assert "10.0.0.1 is a private address" in failure.message
    assert connections == []


@pytest.mark.parametrize("url, says", [
    ("file:///etc/passwd", "scheme file: is not allowed"),
    ("ftp://files.example.org/a.png", "scheme ftp: is not allowed"),
    ("data:image/png;base64,iVBORw0KGgo=", "scheme data: is not allowed"),
    ("gopher://files.example.org:70/_GET", "scheme gopher: is not allowed"),
    ("//files.example.org/a.png", "scheme (none)"),
    ("http://files.example.org/a.png", "http only for a channel that is http itself"),
    ("https://user:pass@files.example.org/a.png", "credentials"),
    ("https://files.example.org@evil.example/a.png", "credentials"),
    ("https://evil.example\\@files.example.org/a.png", "backslashes"),
    ("https://files.example.org /a.png", "blanks"),
    ("https://files.example.org:99999/a.png", "not a valid URL"),
    ("https://2130706433/a.png", "'2130706433' is not one of"),
    ("https://[::1]/a.png", "'::1' (an IP address"),
    ("https://example.org/a.png", "'example.org' is not one of"),
    ("https://files.example.org.evil.example/a.png", "is not one of"),
])
def test_urls_the_policy_refuses_before_any_connection(url, says):
    policy = MediaPolicy(hosts=("files.example.org", "*.cdn.example.org"))
    with pytest.raises(Refused, match=None) as caught:
        check_url(url, policy)
    assert says in str(caught.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("url", ["file:///etc/passwd", "data:image/png;base64,iVBORw0KGgo=",
                                 "http://user:secretpassword@{host}/cat.png", "ftp://{host}/cat.png"])
def test_fetch_refuses_such_urls_as_permanent_without_a_request(media, tmp_path, url):
    app, server = media
    failure = fetch_failure(Attachment(url.format(host=f"127.0.0.1:{server.port}"), "image/png"),
                            local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.detail["reason"] == "refused"
    assert "secretpassword" not in failure.message + failure.url
    assert app.requests == [] and files_in(tmp_path) == []


@pytest.mark.parametrize("url", ["https://files.example.org/a.png", "https://FILES.Example.org./a.png",
                                 "https://a.cdn.example.org/x.mp4", "https://b.a.cdn.example.org:8443/x.mp4"])
def test_urls_the_policy_allows(url):
    assert check_url(url, MediaPolicy(hosts=("files.example.org", "*.cdn.example.org")))


def test_a_pattern_is_for_names_under_a_domain_not_the_domain_itself():
    policy = MediaPolicy(hosts=("*.cdn.example.org",))
    assert policy.host_allowed("x.cdn.example.org") and not policy.host_allowed("cdn.example.org")
    assert not policy.host_allowed("evilcdn.example.org")


def test_addresses_the_policy_refuses_and_allows():
    policy = MediaPolicy(hosts=("example.org",))
    for address in ("127.0.0.1", "::1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "169.254.169.254", "fe80::1",
                    "0.0.0.0", "::ffff:127.0.0.1", "fd00::1", "224.0.0.1", "100.64.0.1"):
        assert policy.address_refusal(address), address
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        assert policy.address_refusal(address) is None, address
    trusting = MediaPolicy(hosts=("example.org",), trusted_networks=("127.0.0.1/32",))
    assert trusting.address_refusal("127.0.0.1") is None and trusting.address_refusal("127.0.0.2")


def test_an_ip_literal_is_allowed_only_when_listed_itself():
    listed = MediaPolicy(hosts=("127.0.0.1",), allow_http=True, trusted_networks=LOCAL)
    assert check_url("http://127.0.0.1:8000/a.png", listed) == "127.0.0.1"
    with pytest.raises(Refused, match="loopback"):  # listed, but its address is not trusted
        check_url("http://127.0.0.1:8000/a.png", MediaPolicy(hosts=("127.0.0.1",), allow_http=True))


# -- size ------------------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_a_declared_oversize_medium_is_refused_at_once_with_a_clear_record(media, tmp_path):
    _, server = media
    failure = fetch_failure(Attachment(server.url + "/declares-big.png", "image/png"), local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.detail == {"reason": "oversize", "limit": LIMIT}
    assert f"larger than max_media_bytes={LIMIT} (it declares 10000000 bytes)" in failure.message
    assert files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_a_chunked_body_passing_the_bound_is_cut_off_and_its_file_removed(media, tmp_path):
    _, server = media
    url = server.url + f"/chunked.png?size={LIMIT * 3}"
    failure = fetch_failure(Attachment(url, "image/png"), local_policy(server), tmp_path)
    assert failure.detail["reason"] == "oversize"
    assert f"more than {LIMIT} bytes arrived" in failure.message
    assert files_in(tmp_path) == []
    exact = fetch(Attachment(server.url + f"/chunked.png?size={LIMIT}"), local_policy(server), tmp_path)
    assert exact.size == LIMIT  # the bound itself is allowed


@pytest.mark.timeout(30)
def test_a_gzip_bomb_is_counted_after_decompression(media, tmp_path):
    _, server = media
    failure = fetch_failure(Attachment(server.url + "/bomb.png", "image/png"), local_policy(server), tmp_path)
    assert failure.detail["reason"] == "oversize" and files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_a_compressed_answer_is_stored_as_the_medium_itself(media, tmp_path):
    """Content-Encoding is undone: the file is the PNG its Content-Type names, not gzip bytes."""
    _, server = media
    result = fetch(Attachment(server.url + "/gzipped.png", "image/png"), local_policy(server), tmp_path)
    assert result.path.read_bytes() == PNG and result.sha256 == hashlib.sha256(PNG).hexdigest()


# -- time ------------------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_a_dripping_body_is_bounded_by_the_deadline(media, tmp_path):
    _, server = media
    failure = fetch_failure(Attachment(server.url + "/drip.png", "image/png"),
                            local_policy(server, deadline=1.0, timeout=5.0), tmp_path)
    assert failure.verdict == RETRY and failure.detail["reason"] == "transport"
    assert "deadline of 1 s" in failure.message
    assert files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_dripping_headers_are_bounded_by_the_deadline(tmp_path):
    with DripServer("headers", interval=0.05) as server:
        failure = fetch_failure(Attachment(server.url + "/a.png"), local_policy(server, deadline=1.0), tmp_path)
    assert failure.verdict == RETRY and "deadline" in failure.message


@pytest.mark.timeout(30)
def test_a_body_cut_short_is_transient_and_leaves_no_file(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n" + PNG[:500])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        policy = MediaPolicy.for_channel(f"http://127.0.0.1:{port}/", trusted_networks=LOCAL)
        failure = fetch_failure(Attachment(f"http://127.0.0.1:{port}/a.png"), policy, tmp_path)
    finally:
        thread.join(5)
        listener.close()
    assert failure.verdict == RETRY and failure.detail["reason"] == "transport"
    assert files_in(tmp_path) == []


# -- types -----------------------------------------------------------------------------------

@pytest.mark.timeout(30)
@pytest.mark.parametrize("path, declared, says", [
    ("/page.html", "image/png", "the server sent text/html, not one of image/, video/, audio/"),
    ("/page.html", "", "the server sent text/html"),
    ("/clip.mp4", "image/*", "the server sent video/mp4, but the message declares image/*"),
    ("/octet?what=html", "", "application/octet-stream holding no type"),
])
def test_a_medium_of_the_wrong_type_is_refused(media, tmp_path, path, declared, says):
    _, server = media
    failure = fetch_failure(Attachment(server.url + path, declared), local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.detail["reason"] == "wrong_type"
    assert says in failure.message and files_in(tmp_path) == []


@pytest.mark.timeout(30)
def test_a_declared_type_outside_the_families_is_refused_without_a_request(media, tmp_path):
    app, server = media
    failure = fetch_failure(Attachment(server.url + "/report.pdf", "application/pdf"), local_policy(server), tmp_path)
    assert failure.detail["reason"] == "wrong_type" and app.requests == []


@pytest.mark.timeout(30)
def test_octet_stream_holding_an_image_is_stored_with_the_sniffed_type(media, tmp_path):
    _, server = media
    result = fetch(Attachment(server.url + "/octet?what=png", "image/*"), local_policy(server), tmp_path)
    assert result.media_type == "image/png" and result.path.suffix == ".png"


@pytest.mark.parametrize("head, media_type", [
    (b"\xff\xd8\xff\xe0\0\x10JFIF", "image/jpeg"), (b"GIF89a\x01\0", "image/gif"),
    (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"), (b"\0\0\0\x20ftypisom", "video/mp4"),
    (b"\0\0\0\x1cftypavif", "image/avif"), (b"\x1a\x45\xdf\xa3\x9f", "video/webm"), (b"OggS\0\x02", "audio/ogg"),
    (b"ID3\x04\0", "audio/mpeg"), (b"<!DOCTYPE html>", ""), (b"", ""),
])
def test_sniff(head, media_type):
    assert sniff(head) == media_type


# -- HTTP errors -----------------------------------------------------------------------------

@pytest.mark.timeout(30)
@pytest.mark.parametrize("code", [404, 410, 403])
def test_a_missing_medium_is_permanent(media, tmp_path, code):
    _, server = media
    failure = fetch_failure(Attachment(server.url + f"/status/{code}"), local_policy(server), tmp_path)
    assert failure.verdict == PERMANENT and failure.status == code and failure.retry_at is None
    assert len(failure.detail["body"]) <= 500


@pytest.mark.timeout(30)
def test_a_busy_server_is_transient_with_its_retry_after(media, tmp_path):
    _, server = media
    before = datetime.now(timezone.utc)
    failure = fetch_failure(Attachment(server.url + "/status/503?retry_after=120"), local_policy(server), tmp_path)
    assert failure.verdict == RETRY and failure.status == 503
    assert before + timedelta(seconds=100) < failure.retry_at < before + timedelta(seconds=200)
    limited = fetch_failure(Attachment(server.url + "/status/429?retry_after=60"), local_policy(server), tmp_path)
    assert limited.verdict == RATE_LIMITED and limited.retry_at is not None


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
