"""The web channel under attack: a URL pasted by a user, pages and resources written by anyone.

Each test names the attack; each checks both the refusal (its verdict and words) and, where it
matters, that the site never saw the request that was refused.
"""
from __future__ import annotations

import time

import pytest

from connector.failures import PERMANENT, RETRY
from connector.media import download
from connector.message import Message
from connector.sources.webpage_fetch import tidy_pasted

from .webpage_support import ARTICLE, refusal, responses, save, skipped
from .webpage_support import running_site

site = pytest.fixture(running_site, name="site")


# -- the pasted URL ---------------------------------------------------------------------------------

def test_credentials_in_the_url_are_refused_with_a_clear_error(site):
    web, server = site
    url = server.url.replace("http://", "http://ambtenaar:Geheim-Wachtwoord-1@") + ARTICLE
    failure = refusal(url)
    assert failure.verdict == PERMANENT
    assert "user name or password" in failure.message and "remove them" in failure.message
    assert "Geheim-Wachtwoord-1" not in failure.message + failure.url
    assert web.requests == []


@pytest.mark.parametrize("url,words", [
    ("ftp://example.org/file", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("data:text/html,<script>alert(1)</script>", "only http and https"),
    ("gopher://127.0.0.1:70/", "only http and https"),
    ("http://exa mple.org/", "blanks, control characters or backslashes"),
    ("http://example.org\\@127.0.0.1/", "blanks, control characters or backslashes"),
    ("http://example.org:99999/", "not a valid URL"),
    ("http:///path-only", "no host"),
])
def test_only_http_and_https_urls_with_a_host_are_fetched(url, words):
    failure = refusal(url)
    assert failure.verdict == PERMANENT and words in failure.message


def test_a_pasted_url_is_tidied():
    assert tidy_pasted("  https://www.gemeente.nl/a \n") == "https://www.gemeente.nl/a"
    assert tidy_pasted("www.gemeente.nl/nieuws") == "https://www.gemeente.nl/nieuws"
    assert tidy_pasted("javascript:alert(1)") == "javascript:alert(1)"  # refused later, never "fixed"


# -- server-side request forgery ---------------------------------------------------------------------

def test_loopback_is_refused_unless_trusted(site):
    web, server = site
    failure = refusal(server.url + ARTICLE, trusted_networks=[])
    assert failure.verdict == PERMANENT and "127.0.0.1 is a loopback address" in failure.message
    assert "trusted_networks" in failure.message
    assert web.requests == []


@pytest.mark.parametrize("host", ["169.254.169.254", "10.0.0.1", "192.168.1.1", "[::1]", "0.0.0.0", "[fe80::1]"])
def test_private_and_metadata_addresses_are_refused_before_connecting(host):
    failure = refusal(f"http://{host}/latest/meta-data/", trusted_networks=[])
    assert failure.verdict == PERMANENT and "public addresses only" in failure.message


@pytest.mark.parametrize("target,words", [
    ("http://127.0.0.2:{port}/secret", "127.0.0.2 is a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[::ffff:127.0.0.2]:{port}/", "loopback"),
])
def test_a_redirect_to_an_internal_address_is_refused(site, target, words):
    web, server = site
    target = target.format(port=server.port)
    failure = refusal(f"{server.url}/to?url={target}")
    assert failure.verdict == PERMANENT and "redirected to" in failure.message and words in failure.message
    assert web.paths() == ["/to"]


def test_a_name_that_resolves_to_an_internal_address_is_refused_when_connecting(site, monkeypatch):
    web, server = site
    monkeypatch.setattr(download, "_resolve", lambda host, port: ["127.0.0.2"] if host == "rebind.example"
                        else ["127.0.0.1"])
    failure = refusal(f"http://rebind.example:{server.port}{ARTICLE}")
    assert failure.verdict == PERMANENT and "resolves to 127.0.0.2" in failure.message
    assert web.requests == []


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1"])
def test_odd_spellings_of_loopback_are_refused_when_connecting(site, host):
    web, server = site
    failure = refusal(f"http://{host}:{server.port}{ARTICLE}", trusted_networks=[])
    assert failure.verdict in (PERMANENT, RETRY)  # refused, or no such name: never fetched
    assert web.requests == []


def test_page_hosts_limit_what_may_be_captured(site):
    web, server = site
    failure = refusal(server.url + ARTICLE, page_hosts=["www.gemeente.nl"])
    assert failure.verdict == PERMANENT and "page_hosts" in failure.message
    assert web.requests == []
    assert isinstance(save(server.url + ARTICLE, page_hosts=["127.0.0.1"]), Message)


# -- resources written by the page's author -------------------------------------------------------------

def test_bad_resources_are_skipped_and_listed_and_never_fail_the_capture(site):
    web, server = site
    started = time.monotonic()
    message = save(server.url + "/with-bad-resources.html", max_bytes=512 * 1024, deadline=3)
    took = time.monotonic() - started
    assert isinstance(message, Message) and took < 6
    why = skipped(message.raw.body)
    assert "page not found (HTTP 404)" in why[server.url + "/img/missing.png"]
    assert "may still take (max_bytes)" in why[server.url + "/big.png"]
    assert "deadline" in why[server.url + "/drip.png"]
    assert "link-local" in why["http://169.254.169.254/latest/meta-data/iam.png"]
    assert "loopback" in why["http://127.0.0.2:9/img/secret.png"]
    assert "deadline" in why[server.url + "/img/last.png"]  # the drip used up the capture's time
    assert server.url + "/css/site.css" in responses(message.raw.body)
    assert not {"/img/file.png", "/img/secret.png"} & set(web.paths())  # ftp:, data:, javascript: not fetched


def test_max_resources_bounds_what_is_fetched(site):
    web, server = site
    message = save(server.url + ARTICLE, max_resources=2)
    found = [uri for uri in responses(message.raw.body) if "/oembed" not in uri and uri != server.url + ARTICLE]
    assert found == [server.url + "/img/speeltuin.png", server.url + "/css/site.css"]
    why = skipped(message.raw.body)
    assert why[server.url + "/favicon.ico"] == "max_resources=2 reached"
    assert "/favicon.ico" not in web.paths()


# -- the page itself ---------------------------------------------------------------------------------------

def test_a_page_larger_than_max_bytes_is_cut_off_while_streaming(site):
    started = time.monotonic()
    failure = refusal(site[1].url + "/huge.html", max_bytes=256 * 1024)
    assert failure.verdict == PERMANENT and "max_bytes" in failure.message
    assert time.monotonic() - started < 5


def test_a_dripping_page_ends_at_the_deadline(site):
    started = time.monotonic()
    failure = refusal(site[1].url + "/drip.html", deadline=1)
    assert failure.verdict == RETRY and "deadline of 1 s" in failure.message
    assert time.monotonic() - started < 3


def test_a_hostile_page_comes_out_inert(site):
    web, server = site
    message = save(server.url + "/hostile.html")
    html = message.html.lower()
    for bad in ("<script", "javascript:", "onerror", "onload", "onclick", "<iframe", "<form", "<svg", "<object",
                "<style", "style=", "data:", "<input", "<meta"):
        assert bad not in html, bad
    assert "alert" not in message.text and "stolen" not in message.text
    assert "The end." in message.text and "<h1>Hostile page</h1>" in message.html
    assert "/img/missing.png" in web.paths()  # the image itself is a resource, its onerror nothing


@pytest.mark.parametrize("depth", [200, 100_000])
def test_a_deeply_nested_page_is_flattened_quickly(site, depth):
    started = time.monotonic()
    message = save(f"{site[1].url}/nested.html?depth={depth}")
    assert time.monotonic() - started < 5
    assert message.text.startswith("Nested")
    if depth < 256:  # libxml2 itself stops nesting at 256 levels: deeper content is not read at all
        assert "deep" in message.text and message.html.count("<blockquote") <= 64


def test_a_page_naming_thousands_of_missing_images_costs_max_resources_requests(site):
    web, server = site
    web.pages["/many.html"] = b"<html><body>" + b"".join(
        b'<img src="/missing/%d.png">' % n for n in range(5000)) + b"</body></html>"
    message = save(server.url + "/many.html", max_resources=10)
    assert sum(path.startswith("/missing/") for path in web.paths()) == 10
    why = skipped(message.raw.body)
    assert len(why) == 10 + 200 + 1  # the failures, the left-over listed, and how many more
    assert why["1790 more resources, not listed:"] == "max_resources=10 reached"
    assert len(message.raw.body) < len(web.pages["/many.html"]) + 50_000  # the page, and a short list
