"""Media (issue 8): each attachment fetched under the channel's policy, streamed to disk, bounded.

Servers run on 127.0.0.1 (and 127.0.0.2, a loopback address the policies here do not trust);
"no connection" is proven by the servers' own request counts. Guard against hangs: pytest-timeout.
"""
from __future__ import annotations

import hashlib
import socket

import pytest

from connector.failures import PERMANENT
from connector.media import (MediaPolicy, MediaSession, Refused, check_url, fetch)
from connector.media import download as fetch_module
from connector.message import Attachment
from connector_doubles.serving import Running
from .media_support import LOCAL, MediaServer, PNG, fetch_failure, files_in, local_policy
from .media_support import media, other  # noqa: F401 (fixtures)


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


