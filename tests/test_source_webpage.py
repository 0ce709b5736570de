"""Capturing a web page into one WARC file, against the local web site (127.0.0.1 only).

Expected values come from the fixture files and what the site serves, read here independently.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from connector.failures import PERMANENT, RATE_LIMITED, RETRY
from connector.message import Message
from connector.sources.base import SOURCES
from connector.sources.webpage import WebPageSource
from connector.sources.webpage_capture import builtin_oembed
from connector.sources.webpage_message import canonical_id, normalise_url

from .webpage_support import ARTICLE, PREZI, SITE, metadata, refusal, responses, save, served, sha256, skipped, \
    warc_records
from .webpage_support import running_site

site = pytest.fixture(running_site, name="site")

RESOURCES = {"/img/speeltuin.png": "og:image", "/css/site.css": "stylesheet", "/img/ontwerp-groot.png": "image",
             "/js/site.js": "script", "/favicon.ico": "icon"}


def fixture_json(name: str, base: str) -> dict:
    from urllib.parse import quote
    text = (SITE / name).read_text().replace("{{BASE_Q}}", quote(base, safe="")).replace("{{BASE}}", base)
    return json.loads(text)


def test_source_is_registered_as_web():
    assert SOURCES.get_class("web") is WebPageSource


def test_article_capture_is_one_warc_with_every_record(site):
    _, server = site
    message = save(server.url + ARTICLE)
    assert isinstance(message, Message)
    assert message.raw.media_type == "application/warc" and message.raw.scope == "response"
    assert message.raw.page_url == server.url + ARTICLE
    records = warc_records(message.raw.body)
    assert records[0].type == "warcinfo" and records[-1].type == "metadata"
    pairs = records[1:-1]
    assert [r.type for r in pairs] == ["request", "response"] * (len(pairs) // 2)
    for request, response in zip(pairs[::2], pairs[1::2]):
        assert request.concurrent == response.id and request.uri == response.uri
        assert response.date.startswith(str(datetime.now(timezone.utc).year)) and response.status == "200"
    assert records[-1].refers == pairs[1].id  # the metadata record refers to the page's response
    assert records[-1].content_type == "application/warc-fields"


def test_page_payload_is_exactly_what_the_site_served(site):
    _, server = site
    message = save(server.url + ARTICLE)
    page = responses(message.raw.body)[server.url + ARTICLE]
    body = served(server, ARTICLE)
    assert sha256(page.payload) == sha256(body)
    assert message.version == sha256(body)[:16]


def test_oembed_answer_and_resources_are_recorded(site):
    web, server = site
    message = save(server.url + ARTICLE)
    found = responses(message.raw.body)
    [oembed_uri] = [uri for uri in found if "/oembed?" in uri]
    assert json.loads(found[oembed_uri].payload) == fixture_json("oembed-article.json", server.url)
    for path in RESOURCES:
        assert server.url + path in found, path
    assert found[server.url + "/css/site.css"].payload == (SITE / "site.css").read_bytes()
    kept = [value for name, value in metadata(message.raw.body) if name == "resource"]
    assert kept == [f"{server.url}{path} ({what})" for path, what in RESOURCES.items()]
    assert "/img/ontwerp-klein.png" not in web.paths() and "/img/ontwerp.png" not in web.paths()  # srcset: best only


def test_article_message_fields(site):
    _, server = site
    message = save(server.url + ARTICLE + "?utm_source=nieuwsbrief")
    canonical = server.url + "/nieuws/speeltuin-stadspark"  # <link rel=canonical>, the tracking parameter gone
    assert message.id == message.url == message.thread_id == canonical
    assert message.kind == "post" and message.channel == "web"
    assert message.author.handle == "127.0.0.1" and message.author.name == "Afdeling Communicatie"
    assert message.created_at == datetime(2025, 5, 20, 7, 30, tzinfo=timezone.utc)  # article:published_time
    assert message.edited_at is None and message.language == "nl"
    assert message.text.startswith("Nieuwe speeltuin in het Stadspark | Gemeente Voorbeeld\n\n")
    assert "Kinderen uit de buurt hebben meegedacht" in message.text
    assert "tracking" not in message.text and "Home" not in message.text  # scripts and navigation dropped
    assert "<strong>1 juni</strong>" in message.html and "<script" not in message.html
    assert [a.url for a in message.attachments] == [server.url + "/img/speeltuin.png"]
    assert message.attachments[0].media_type == "image/png"


def test_prezi_like_page_takes_title_and_author_from_oembed(site):
    _, server = site
    message = save(server.url + PREZI)
    oembed = fixture_json("oembed-prezi.json", server.url)
    assert message.author.name == oembed["author_name"] and message.author.id == oembed["author_url"]
    assert message.author.handle == "127.0.0.1"
    assert f">{oembed['title']}</a> (Prezi)" in message.html
    assert message.text.startswith("Omgevingsvisie 2040 by Gemeente Voorbeeld on Prezi")
    assert "needs JavaScript" not in message.text
    assert [a.url for a in message.attachments] == [oembed["thumbnail_url"]]  # og:image and thumbnail: once
    assert any("/oembed?url=" in uri for uri in responses(message.raw.body))


@pytest.mark.parametrize("page,endpoint", [
    ("https://prezi.com/p/abc123def/omgevingsvisie-2040/", "https://prezi.com/api/oembed/?url=https%3A%2F%2Fprezi"),
    ("https://prezi.com/view/XyZ/", "https://prezi.com/api/oembed/?url="),
    ("https://www.youtube.com/watch?v=fiOwHYFkUz0", "https://www.youtube.com/oembed?format=json&url="),
    ("https://youtu.be/fiOwHYFkUz0", "https://www.youtube.com/oembed?format=json&url="),
    ("https://vimeo.com/76979871", "https://vimeo.com/api/oembed.json?url="),
    ("https://www.gemeente.nl/nieuws", ""),
    ("https://prezi.com.evil.example/p/x/", ""),
])
def test_built_in_oembed_providers(page, endpoint):
    found = builtin_oembed(page)
    assert found.startswith(endpoint) if endpoint else found == ""


def test_pdf_is_captured_as_itself(site):
    _, server = site
    message = save(server.url + "/files/jaarverslag-2024.pdf")
    pdf = (SITE / "report.pdf").read_bytes()
    [page] = [r for r in warc_records(message.raw.body) if r.type == "response"]
    assert page.payload == pdf and message.version == sha256(pdf)[:16]
    assert message.text == "Jaarverslag 2024"  # its /Title
    assert message.id == server.url + "/files/jaarverslag-2024.pdf"


def test_image_is_captured_as_itself_with_itself_as_attachment(site):
    _, server = site
    message = save(server.url + "/img/kaart.png")
    assert message.text == "kaart.png"
    assert [(a.url, a.media_type) for a in message.attachments] == [(server.url + "/img/kaart.png", "image/png")]


def test_redirect_chain_is_followed_and_recorded(site):
    _, server = site
    message = save(server.url + "/redirect/3")
    statuses = [(r.uri, r.status) for r in warc_records(message.raw.body) if r.type == "response"][:4]
    assert statuses == [(server.url + "/redirect/3", "301"), (server.url + "/redirect/2", "302"),
                        (server.url + "/redirect/1", "301"), (server.url + ARTICLE, "200")]
    assert message.id == server.url + "/nieuws/speeltuin-stadspark"
    assert dict(metadata(message.raw.body))["final-url"] == server.url + ARTICLE


def test_endless_redirects_stop(site):
    failure = refusal(site[1].url + "/loop", max_redirects=3)
    assert failure.verdict == PERMANENT and "more than 3 redirects" in failure.message
    assert site[0].paths().count("/loop") == 4


def test_page_not_found_is_permanent(site):
    failure = refusal(site[1].url + "/nowhere")
    assert failure.verdict == PERMANENT and failure.status == 404 and "page not found" in failure.message


def test_server_error_is_retried_later(site):
    web, server = site
    web.fail_next(503, retry_after=30)
    failure = refusal(server.url + ARTICLE)
    assert failure.verdict == RETRY and failure.status == 503 and failure.retry_at is not None


def test_a_failing_oembed_does_not_fail_the_capture(site):
    web, server = site
    web.broken["/oembed"] = 500
    message = save(server.url + ARTICLE)
    assert isinstance(message, Message)
    [why] = [why for url, why in skipped(message.raw.body).items() if "/oembed?" in url]
    assert "HTTP 500" in why


def test_canonical_on_another_site_is_not_trusted():
    final = "https://www.gemeente.nl/nieuws/a?b=1#top"
    assert canonical_id("https://evil.example/other", final) == "https://www.gemeente.nl/nieuws/a?b=1"
    assert canonical_id("https://gemeente.nl/nieuws/a", final) == "https://gemeente.nl/nieuws/a"  # www. aside
    assert normalise_url("HTTPS://WWW.Gemeente.NL:443?utm_medium=x&id=3") == "https://www.gemeente.nl/?id=3"
    # on a shared host a page cannot pass itself off as another account's page
    assert canonical_id("https://medium.com/@gemeente/besluit", "https://medium.com/@evil/nep") == \
        "https://medium.com/@evil/nep"


def test_resource_urls_are_sent_as_a_browser_sends_them(site):
    web, server = site
    web.pages["/spaces.html"] = ('<html><body><img src="/img/met spatie.png"><img src="/img/caf\u00e9.png">'
                                 '</body></html>').encode("utf-8")
    message = save(server.url + "/spaces.html")
    found = responses(message.raw.body)
    assert server.url + "/img/met%20spatie.png" in found and server.url + "/img/caf%C3%A9.png" in found
    assert {"/img/met spatie.png", "/img/caf\u00e9.png"} <= set(web.paths())


def test_parse_of_a_capture_gives_the_page_only_even_when_a_resource_answered_html(site):
    web, server = site
    web.pages["/page.html"] = b'<html><head><title>P</title><link rel="stylesheet" href="/style.html"></head></html>'
    web.pages["/style.html"] = b"<html><head><title>Not a stylesheet</title></head></html>"
    captured = save(server.url + "/page.html")
    assert server.url + "/style.html" in responses(captured.raw.body)
    [parsed], _ = WebPageSource.parse_payload(captured.raw.body)
    assert parsed.id == server.url + "/page.html"


def test_a_rate_limited_page_says_when_to_come_back(site):
    web, server = site
    web.fail_next(429, retry_after=120)
    failure = refusal(server.url + ARTICLE)
    assert failure.verdict == RATE_LIMITED and failure.retry_at is not None


def test_a_page_sent_in_tiny_chunks_counts_its_framing_against_max_bytes(site):
    web, server = site
    failure = refusal(server.url + "/chunked.html?size=40000", max_bytes=64 * 1024)
    assert failure.verdict == PERMANENT and "framing" in failure.message
    assert isinstance(save(server.url + "/chunked.html?size=5000", max_bytes=64 * 1024), Message)


@pytest.mark.parametrize("body", [
    b"<html><head><title>Bad &#xD800; and &#0; and &#x110000;</title></head><body><p>x\x00y</p></body></html>",
    b"<html><head><title>Caf\xe9</title></head><body><p>Stray Latin-1 in a UTF-8 page \xe9</p></body></html>",
    b"\xff\xfe<\x00h\x00t\x00m\x00l\x00>\x00",
    b"",
    b"<?xml version='1.0' encoding='utf-8'?><html><body><p>xhtml</p></body></html>",
    b'<html><head><meta property="article:published_time" content="9999-12-31T23:59:59Z"></head></html>',
    b'<html><head><meta property="article:published_time" content="0001-01-01T00:00:00+01:00"></head></html>',
    b'<html><body><main><time datetime="1970-01-01">long ago</time></main></body></html>',
    b"<html><body><p>" + b"huge text " * 120_000 + b"</p></body></html>",
])
def test_odd_bytes_dates_and_sizes_give_a_storable_message(site, body):
    web, server = site
    web.pages["/odd.html"] = body
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    message = save(server.url + "/odd.html")
    assert isinstance(message, Message)  # check_message ran: no lone surrogate, no NUL, a possible date
    assert "\x00" not in message.text + message.html
    assert message.created_at >= before  # an impossible date on a page is passed over: the capture's time
    assert len(message.text) <= 100_000
