"""The RSS/Atom source's messages: what feedparser read, checked against the fixture XML read with lxml."""
from __future__ import annotations

import email.utils
import re
from datetime import datetime, timezone

import lxml.etree
import pytest

from connector.htmltext import to_text
from connector.sources.rss import FeedSource

from .rss_support import ATOM, DC, REAL_FEEDS, expected_entries, fixture_bytes, poll, served, xml_root
from .rss_support import feeds  # noqa: F401 (a fixture)


# --- normalisation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", REAL_FEEDS)
def test_parse_payload_normalises_real_feeds(name):
    messages, quarantined = FeedSource.parse_payload(fixture_bytes(name), channel="news")
    expected = expected_entries(name)
    assert quarantined == []
    assert sorted(m.id for m in messages) == sorted(expected)
    for message in messages:
        want = expected[message.id]
        assert message.channel == "news"
        assert message.kind == "post"
        assert message.url == want["url"]
        assert message.created_at == want["created_at"]
        assert message.thread_id == message.id and message.in_reply_to is None
        assert message.author.name == want["author"]
        assert message.author.handle == (want["author"] or xml_root(name).findtext(".//title"))
        assert message.language == want["language"]
        assert [c.lower() for c in want["categories"]] == list(message.hashtags[:len(want["categories"])])
        assert message.text.startswith(to_text(want["title"]))
        updated = want["updated"]
        assert message.edited_at == (updated if updated and updated != want["created_at"] else None)


@pytest.mark.parametrize("name,media_type", [("TechCrunch.xml", "application/rss+xml"),
                                             ("FeedBurnerXHTML.xml", "application/atom+xml")])
def test_raw_is_the_entry_element_as_received(name, media_type):
    data = fixture_bytes(name)
    messages, _ = FeedSource.parse_payload(data)
    assert messages
    for message in messages:
        body = message.raw.body
        # the element's own bytes, cut from the document: not a re-serialisation
        assert data.count(body) == 1
        assert re.match(rb"<(item|entry)[\s>]", body) and re.search(rb"</(item|entry)>\Z", body)
        # prefixes are declared on the feed's root, so the slice alone only parses leniently
        element = lxml.etree.fromstring(body, lxml.etree.XMLParser(recover=True))
        ids = [c.text.strip() for c in element if isinstance(c.tag, str) and c.text
               and c.tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1] in ("guid", "id")]
        assert message.id in ids
        assert message.raw.media_type == media_type


def test_raw_carries_feed_url_and_fetch_time(feeds):
    source = served(feeds, "RSSWithComments.xml")
    before = datetime.now(timezone.utc)
    page = poll(source)
    for message in page.messages:
        assert message.raw.page_url == source.options["url"]
        assert before <= message.raw.fetched_at <= datetime.now(timezone.utc)


def test_hostile_html_is_sanitised():
    [message], _ = FeedSource.parse_payload(fixture_bytes("hostile.xml"))
    lowered = message.html.lower()
    for bad in ("<script", "javascript:", "onclick", "onerror", "<iframe", "<style", "steal()"):
        assert bad not in lowered
    assert 'href="https://hostile.example/safe"' in message.html
    assert "alert" not in message.text
    assert "Hello world" in message.text


def test_rich_entry_attachments_tags_mentions_language():
    messages, _ = FeedSource.parse_payload(fixture_bytes("rich.xml"))
    item = xml_root("rich.xml").find("channel/item")
    media = "{http://search.yahoo.com/mrss/}"
    message = next(m for m in messages if m.id == item.findtext("guid"))
    enclosure, content = item.find("enclosure"), item.find(f"{media}content")
    assert [(a.url, a.media_type) for a in message.attachments] == [
        (enclosure.get("url"), enclosure.get("type")), (content.get("url"), content.get("type"))]
    assert message.attachments[1].description == content.findtext(f"{media}description")
    assert message.hashtags == ("verkeer", "stationsplein", "bereikbaarheid")
    assert message.mentions == ("gemeentevoorbeeld@social.example",)
    assert message.language == "nl"
    assert message.author.name == item.findtext(f"{DC}creator")
    second = next(m for m in messages if m.id != message.id)
    assert second.hashtags == ("raad", "raad2024")


def test_atom_thread_reply_is_a_comment():
    [message], _ = FeedSource.parse_payload(fixture_bytes("comments-atom.xml"))
    reply = xml_root("comments-atom.xml").find(f"{ATOM}entry/{{http://purl.org/syndication/thread/1.0}}in-reply-to")
    assert message.kind == "comment"
    assert message.in_reply_to == reply.get("ref")
    assert message.language == "nl"


def titled(messages, title):
    return next(m for m in messages if m.text.startswith(title))


def test_entry_without_guid_or_link_is_identified_by_title_and_date():
    data = fixture_bytes("identity-and-dates.xml")
    messages, _ = FeedSource.parse_payload(data)
    hashed = titled(messages, "No guid and no link")
    assert hashed.id.startswith("sha256:")
    assert titled(FeedSource.parse_payload(data)[0], "No guid and no link").id == hashed.id
    reworded = data.replace(b"Identified by a hash", b"Still identified by a hash")
    assert titled(FeedSource.parse_payload(reworded)[0], "No guid and no link").id == hashed.id
    redated = data.replace(b"04 Jun 2024 10:00:00", b"04 Jun 2024 10:05:00")
    assert titled(FeedSource.parse_payload(redated)[0], "No guid and no link").id != hashed.id
    assert titled(messages, "Link only").id == "https://rules.example/link-only"


def test_entry_without_any_date_takes_the_feed_date():
    messages, _ = FeedSource.parse_payload(fixture_bytes("identity-and-dates.xml"))
    feed_date = email.utils.parsedate_to_datetime(xml_root("identity-and-dates.xml").findtext("channel/lastBuildDate"))
    assert titled(messages, "No date at all").created_at == feed_date


@pytest.mark.parametrize("marker,reason", [(b"the day after tomorrow", "unreadable published date"),
                                           (b"Nothing to identify", "no guid, id, link, title or date")])
def test_garbage_entries_are_quarantined_with_their_bytes(marker, reason):
    messages, quarantined = FeedSource.parse_payload(fixture_bytes("identity-and-dates.xml"))
    [entry] = [q for q in quarantined if marker in q.raw]
    assert reason in entry.reason
    assert lxml.etree.fromstring(entry.raw).tag == "item"
    assert all(marker not in m.raw.body for m in messages)


def test_quarantined_entry_is_reported_once(feeds):
    source = served(feeds, "identity-and-dates.xml")
    first = poll(source)
    assert len(first.quarantined) == 2
    assert poll(source, {"seen": first.state["seen"]}).quarantined == []


