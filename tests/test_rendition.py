"""The readable HTML/text rendition of a message kept in the case file."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import lxml.html
import pytest

from connector.message import Author, Message, Raw, parse_iso
from connector.rendition import render_html

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "messages"


def load_message(name: str = "mastodon-status") -> Message:
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    raw = data["raw"]
    body = (FIXTURES / raw["file"]).read_bytes()
    return Message.from_dict(data["message"], raw=Raw(body, raw["media_type"], raw["page_url"],
                                                      parse_iso(raw["fetched_at"])))


def parse(message: Message):
    return lxml.html.document_fromstring(render_html(message))


def simple(**changes) -> Message:
    base = Message(channel="gemeente", id="1", kind="post", author=Author("9", "gemeente@social.example", "Gemeente"),
                   created_at=datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc), text="Hallo")
    return dataclasses.replace(base, **changes)


@pytest.fixture(params=["mastodon-status", "hostile"])
def any_message(request):
    return load_message(request.param)


def test_output_is_a_standalone_html5_document(any_message):
    output = render_html(any_message)
    assert output.startswith(b"<!DOCTYPE html>")
    output.decode("utf-8")  # strictly UTF-8
    root = lxml.html.document_fromstring(output)
    assert root.tag == "html" and root.get("lang") == "nl"
    assert root.xpath("//meta[@charset='utf-8']")
    assert root.findtext(".//title").strip()


def test_no_scripts_and_no_external_resources(any_message):
    root = parse(any_message)
    assert not root.xpath("//script|//iframe|//object|//embed|//img|//link|//base|//form|//svg|//video|//audio")
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            assert name.lower() not in ("src", "srcset", "style", "background"), (element.tag, name)
    for href in root.xpath("//@href"):
        assert href.startswith(("http://", "https://")), href


@pytest.mark.parametrize("needle", [
    "\"><script>alert('name')</script><img src=x onerror=alert(2)>",  # author name
    "@evil\"onmouseover=\"alert(1)@example.org",  # handle: attribute injection
    "</title><script>alert(12)</script>",  # content warning
    "#<svg/onload=alert(8)>",  # hashtag
    "</a><script>alert(10)</script>",  # attachment description
    "1\"><script>alert('id')</script>",  # platform id in the provenance block
])
def test_hostile_metadata_is_shown_as_text_not_markup(needle):
    root = parse(load_message("hostile"))
    assert needle in root.text_content()


def test_attribute_injection_in_author_names_creates_no_attributes():
    root = parse(load_message("hostile"))
    names = {name for element in root.iter() if isinstance(element.tag, str) for name in element.attrib}
    assert names <= {"lang", "charset", "http-equiv", "content", "name", "class", "href", "rel", "title"}, names


@pytest.mark.parametrize("url", ["javascript:alert('url')", "javascript:alert('attachment')",
                                 "javascript:alert('page')", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxMSk8L3NjcmlwdD4="])
def test_javascript_and_data_links_never_become_links(url):
    root = parse(load_message("hostile"))
    assert url in root.text_content()  # shown, so the records manager sees what was there
    assert url not in root.xpath("//@href")


def test_hostile_content_html_is_sanitised_again():
    root = parse(load_message("hostile"))
    content = root.xpath("//section[@class='inhoud']")[0]
    assert "alert(5)" not in content.text_content()  # <script> dropped with its text
    assert "body{display:none}" not in content.text_content()
    assert [a.get("href") for a in content.iter("a") if a.get("href")] == [
        "https://tracker.example/pixel.gif", "https://ok.example/"]


def test_images_in_content_become_links_not_loads():
    root = parse(load_message("hostile"))
    link = root.xpath("//section[@class='inhoud']//a[@href='https://tracker.example/pixel.gif']")[0]
    assert "pixel" in link.text_content()


@pytest.mark.parametrize("language,expected", [("en", "en"), ("nl", "nl"), ("fy-NL", "fy"), (None, "nl"),
                                               ("nl\" onload=\"x", "nl"), ("", "nl")])
def test_content_carries_the_message_language(language, expected):
    root = parse(simple(language=language))
    assert root.xpath("//section[@class='inhoud']/@lang") == [expected]


@pytest.mark.parametrize("moment,local,utc", [
    ("2025-02-18T20:38:26Z", "dinsdag 18 februari 2025 21:38:26", "2025-02-18T20:38:26Z"),  # CET, UTC+1
    ("2025-07-01T12:00:00Z", "dinsdag 1 juli 2025 14:00:00", "2025-07-01T12:00:00Z"),  # CEST, UTC+2
    ("2026-03-29T00:30:00Z", "zondag 29 maart 2026 01:30:00", "2026-03-29T00:30:00Z"),  # just before DST starts
    ("2026-03-29T01:30:00Z", "zondag 29 maart 2026 03:30:00", "2026-03-29T01:30:00Z"),  # just after
    ("2025-12-31T23:30:00Z", "donderdag 1 januari 2026 00:30:00", "2025-12-31T23:30:00Z"),  # new day locally
])
def test_date_and_time_shown_in_amsterdam_and_utc(moment, local, utc):
    text = parse(simple(created_at=parse_iso(moment))).text_content()
    assert local in text and utc in text


def test_provenance_block_names_channel_id_version_source_and_checksum():
    message = load_message("mastodon-status")
    block = parse(message).xpath("//section[@class='herkomst']")[0].text_content()
    expected_sha = hashlib.sha256((FIXTURES / "mastodon-status.raw.json").read_bytes()).hexdigest()
    for needle in ("fosstodon-schochastics", "114026814291152535", "oorspronkelijk", expected_sha,
                   "https://fosstodon.org/api/v1/accounts/109302436954721982/statuses",
                   "17 juli 2025 15:49:48", "2025-07-17T13:49:48Z"):
        assert needle in block


def test_message_without_raw_says_the_original_is_missing():
    block = parse(simple()).xpath("//section[@class='herkomst']")[0].text_content()
    assert "niet beschikbaar" in block
    assert "SHA-256" not in block


def test_metadata_shown_with_dutch_labels():
    root = parse(load_message("mastodon-status"))
    labels = [dt.text_content() for dt in root.iter("dt")]
    assert {"Afzender", "Account", "Datum en tijd", "Soort", "Adres", "Hashtags", "Kanaal"} <= set(labels)
    text = root.text_content()
    assert "David Schoch" in text and "@schochastics@fosstodon.org" in text and "#quartopub" in text
    assert root.xpath("//a[@href='https://fosstodon.org/@schochastics/114026814291152535']")


def test_reply_and_content_warning_and_edit_are_shown():
    message = simple(kind="reply", in_reply_to="777", spoiler_text="Let op: spoiler",
                     edited_at=datetime(2026, 1, 12, 10, 0, tzinfo=timezone.utc))
    text = parse(message).text_content()
    assert "reactie" in text and "777" in text and "Let op: spoiler" in text and "Bewerkt op" in text


def test_attachments_are_links_with_descriptions():
    root = parse(load_message("mastodon-status"))
    items = root.xpath("//h2[text()='Bijlagen']/following-sibling::ul/li")
    assert len(items) == 1
    assert items[0].xpath("a/@href") == [
        "https://cdn.fosstodon.org/media_attachments/files/114/026/812/043/159/708/original/1eae16ac3bd6085e.png"]
    assert "screenshot of a document" in items[0].text_content() and "image/png" in items[0].text_content()


def test_text_only_message_keeps_its_paragraphs():
    root = parse(simple(text="Eerste <alinea>\n\nTweede & laatste", html=""))
    paragraphs = [p.text_content() for p in root.xpath("//section[@class='inhoud']/p")]
    assert paragraphs == ["Eerste <alinea>", "Tweede & laatste"]


def test_rendition_is_deterministic():
    assert render_html(load_message("mastodon-status")) == render_html(load_message("mastodon-status"))


def test_where_it_was_fetched_from_is_shown_without_credentials():
    url = "https://reader:pw-in-the-url@feeds.example.nl/news.rss?api_key=key-in-the-url&lang=nl"
    message = simple(raw=Raw(b"<item/>", "application/rss+xml", url, datetime(2026, 1, 12, tzinfo=timezone.utc)))
    output = render_html(message).decode("utf-8")
    assert "https://***@feeds.example.nl/news.rss?api_key=***&" in output
    assert "pw-in-the-url" not in output and "key-in-the-url" not in output and "reader" not in output
