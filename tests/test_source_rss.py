"""The RSS/Atom source against the local feed replay server (127.0.0.1 only).

Expected values are read from the fixture XML with lxml here, independently of feedparser.
"""
from __future__ import annotations

import copy
import email.utils
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import lxml.etree
import marshmallow
import pytest
import requests

from connector_doubles.feeds import FeedDouble, serve
from connector.failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed
from connector.htmltext import to_text
from connector.message import iso
from connector.sources.base import SOURCES, ParseError
from connector.sources.rss import FeedSource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rss"
ATOM = "{http://www.w3.org/2005/Atom}"
DC = "{http://purl.org/dc/elements/1.1/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
REAL_FEEDS = ["RSSWithComments.xml", "TechCrunch.xml", "FeedBurnerXHTML.xml"]


# --- helpers -------------------------------------------------------------------------------------

def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def xml_root(name: str):
    # TechCrunch.xml has a blank line before <?xml ...?>; lstrip makes it well-formed for lxml
    return lxml.etree.fromstring(fixture_bytes(name).lstrip())


def expected_entries(name: str) -> dict[str, dict]:
    """What the fixture XML itself says about each entry, keyed by its identifier."""
    root = xml_root(name)
    result = {}
    if root.tag == f"{ATOM}feed":
        for entry in root.iter(f"{ATOM}entry"):
            links = [link.get("href") for link in entry.findall(f"{ATOM}link")
                     if link.get("rel", "alternate") == "alternate"]
            content = entry.find(f"{ATOM}content")
            lang = (content.get(XML_LANG) if content is not None else None) or root.get(XML_LANG)
            result[entry.findtext(f"{ATOM}id").strip()] = {
                "url": links[0] if links else "",
                "title": entry.findtext(f"{ATOM}title").strip(),
                "author": entry.findtext(f"{ATOM}author/{ATOM}name") or "",
                "created_at": datetime.fromisoformat(entry.findtext(f"{ATOM}published").replace("Z", "+00:00")),
                "updated": datetime.fromisoformat(entry.findtext(f"{ATOM}updated").replace("Z", "+00:00")),
                "categories": [c.get("term") for c in entry.findall(f"{ATOM}category")],
                "language": lang.split("-")[0].lower() if lang else None,
            }
    else:
        channel = root.find("channel")
        language = channel.findtext("language")
        for item in channel.iter("item"):
            key = (item.findtext("guid") or item.findtext("link")).strip()
            result[key] = {
                "url": item.findtext("link").strip(),
                "title": item.findtext("title").strip(),
                "author": item.findtext(f"{DC}creator") or "",
                "created_at": email.utils.parsedate_to_datetime(item.findtext("pubDate")),
                "updated": None,
                "categories": [c.text for c in item.findall("category")],
                "language": language.split("-")[0].lower() if language else None,
            }
    return result


@pytest.fixture
def feeds():
    double = FeedDouble()
    running = serve(double)
    yield double, running
    running.shutdown()


def make_source(url: str, **options) -> FeedSource:
    return FeedSource("news", {"url": url, **options})


def poll(source: FeedSource, state=None):
    pages = list(source.poll(state))
    assert len(pages) == 1
    return pages[0]


def served(feeds, name: str, path: str = "/feed.xml", **options):
    double, running = feeds
    double.replace(path, FIXTURES / name)
    return make_source(running.url + path, **options)


# --- polling ---------------------------------------------------------------------------------------

def test_source_is_registered_as_rss():
    assert SOURCES.get_class("rss") is FeedSource


def test_first_poll_yields_every_entry_once_oldest_first(feeds):
    source = served(feeds, "RSSWithComments.xml")
    page = poll(source)
    expected = expected_entries("RSSWithComments.xml")
    ids = [m.id for m in page.messages]
    assert sorted(ids) == sorted(expected)
    assert all(m.version == "" for m in page.messages)
    times = [m.created_at for m in page.messages]
    assert times == sorted(times)
    assert set(page.state["seen"]) == set(expected)
    assert page.state["etag"] and page.state["last_modified"]


@pytest.mark.parametrize("validator,header", [("etag", "if_none_match"), ("last_modified", "if_modified_since")])
def test_second_poll_is_conditional_and_304_yields_nothing(feeds, validator, header):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    first = poll(source)
    state = {validator: first.state[validator], "seen": first.state["seen"]}
    second = poll(source, state)
    assert getattr(double.requests[-1], header) == first.state[validator]
    assert double.requests[-1].status == 304
    assert second.messages == []
    assert second.state["seen"] == first.state["seen"]
    assert second.state[validator] == first.state[validator]


def test_changed_feed_yields_only_the_new_entry(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    state = poll(source).state
    double.replace("/feed.xml", FIXTURES / "RSSWithComments-new-entry.xml")
    page = poll(source, state)
    new_keys = set(expected_entries("RSSWithComments-new-entry.xml")) - set(expected_entries("RSSWithComments.xml"))
    assert len(new_keys) == 1
    assert [m.id for m in page.messages] == list(new_keys)
    assert page.messages[0].version == ""
    assert double.requests[-1].if_none_match == state["etag"]


def test_changed_updated_yields_a_new_version(feeds):
    double, _ = feeds
    source = served(feeds, "FeedBurnerXHTML.xml")
    state = poll(source).state
    double.replace("/feed.xml", FIXTURES / "FeedBurnerXHTML-edited.xml")
    page = poll(source, state)
    before, after = expected_entries("FeedBurnerXHTML.xml"), expected_entries("FeedBurnerXHTML-edited.xml")
    edited = [key for key in after if after[key]["updated"] != before[key]["updated"]]
    assert len(edited) == 1
    [message] = page.messages
    assert message.id == edited[0]
    assert message.version == iso(after[edited[0]]["updated"])
    assert message.edited_at == after[edited[0]]["updated"]
    assert message.created_at == after[edited[0]]["created_at"]
    # the same edit seen again is not a third version
    double.replace("/feed.xml", FIXTURES / "FeedBurnerXHTML-edited.xml")
    assert poll(source, {"seen": page.state["seen"]}).messages == []


def test_server_without_conditional_get_repeats_nothing(feeds):
    source = served(feeds, "TechCrunch.xml")
    first = poll(source)
    again = poll(source, {"seen": first.state["seen"]})  # no validators: a full 200 response
    assert again.messages == []
    assert again.state["seen"] == first.state["seen"]


def test_initial_latest_skips_the_backlog(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml", initial="latest")
    first = poll(source)
    assert first.messages == []
    assert set(first.state["seen"]) == set(expected_entries("RSSWithComments.xml"))
    double.replace("/feed.xml", FIXTURES / "RSSWithComments-new-entry.xml")
    assert [m.url for m in poll(source, first.state).messages] == ["https://example.org/a-new-story"]


def test_seen_map_is_bounded_but_keeps_current_entries(feeds):
    source = served(feeds, "RSSWithComments.xml", keep_seen=35)
    old = {f"https://old.example/{n}": "" for n in range(50)}
    page = poll(source, {"seen": old})
    current = set(expected_entries("RSSWithComments.xml"))
    assert len(page.state["seen"]) == 35
    assert current <= set(page.state["seen"])
    # the oldest forgotten first: what remains of the old keys is the most recent of them
    assert [k for k in page.state["seen"] if k in old] == list(old)[-5:]


def test_poll_does_not_mutate_the_given_state(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    state = poll(source).state
    frozen = copy.deepcopy(state)
    double.replace("/feed.xml", FIXTURES / "RSSWithComments-new-entry.xml")
    poll(source, state)
    assert state == frozen


# --- failures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("streaming", [False, True], ids=["content-length", "streamed"])
def test_body_over_max_bytes_is_refused(feeds, streaming):
    double, _ = feeds
    double.streaming = streaming
    source = served(feeds, "TechCrunch.xml", max_bytes=50_000)
    with pytest.raises(Failed) as caught:
        poll(source)
    assert caught.value.failure.verdict == CONFIGURATION
    assert "max_bytes" in caught.value.failure.message


def test_body_at_max_bytes_is_accepted(feeds):
    source = served(feeds, "RSSWithComments.xml", max_bytes=len(fixture_bytes("RSSWithComments.xml")))
    assert len(poll(source).messages) == len(expected_entries("RSSWithComments.xml"))


def test_server_error_is_retry_and_leaves_state_unchanged(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    state = poll(source).state
    frozen = copy.deepcopy(state)
    double.fail_next(500, body=b"upstream broke")
    with pytest.raises(Failed) as caught:
        poll(source, state)
    assert caught.value.failure.verdict == RETRY
    assert caught.value.failure.status == 500
    assert state == frozen
    assert poll(source, state).messages == []  # the next poll carries on from the same cursor


def test_rate_limit_with_retry_after_gives_retry_at(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    double.fail_next(429, retry_after=120)
    before = datetime.now(timezone.utc)
    with pytest.raises(Failed) as caught:
        poll(source)
    failure = caught.value.failure
    assert failure.verdict == RATE_LIMITED
    assert before + timedelta(seconds=119) <= failure.retry_at <= datetime.now(timezone.utc) + timedelta(seconds=121)


def test_connection_refused_is_retry():
    double = FeedDouble()
    running = serve(double)
    url = running.url + "/feed.xml"
    running.shutdown()
    with pytest.raises(Failed) as caught:
        poll(make_source(url))
    assert caught.value.failure.verdict == RETRY


def test_html_page_instead_of_feed_is_permanent_with_position(feeds):
    source = served(feeds, "not-a-feed.html")
    with pytest.raises(Failed) as caught:
        poll(source)
    assert caught.value.failure.verdict == PERMANENT
    assert "line" in caught.value.failure.message


@pytest.mark.parametrize("name,line", [("truncated-header.xml", 6), ("not-a-feed.html", 8)])
def test_malformed_xml_is_a_parse_error_with_a_line(name, line):
    with pytest.raises(ParseError) as caught:
        FeedSource.parse_payload(fixture_bytes(name))
    assert caught.value.position.startswith(f"line {line}")
    assert caught.value.reason


def test_well_formed_xml_that_is_no_feed_is_a_parse_error():
    with pytest.raises(ParseError):
        FeedSource.parse_payload(b'<?xml version="1.0"?>\n<invoice><total>12</total></invoice>')


def test_truncated_feed_is_a_parse_error_at_its_end():
    # feedparser would still make a message of the cut-off item (no date, half its text)
    data = fixture_bytes("RSSWithComments-truncated.xml")
    with pytest.raises(ParseError) as caught:
        FeedSource.parse_payload(data)
    last_line = len(data.splitlines())
    assert caught.value.position == f"line {last_line}"
    assert "truncated" in caught.value.reason


def test_truncated_feed_stores_no_half_entry_and_is_retried(feeds):
    # bug: the cut-off item was stored with the fetch time as its date and remembered as seen, so
    # the complete item never came through on later polls
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    double.fail_next(200, body=fixture_bytes("RSSWithComments-truncated.xml"))
    with pytest.raises(Failed) as caught:
        poll(source)
    assert caught.value.failure.verdict == RETRY
    page = poll(source)  # nothing was stored, so the next poll starts from no state at all
    expected = expected_entries("RSSWithComments.xml")
    assert sorted(m.id for m in page.messages) == sorted(expected)
    assert all(m.created_at == expected[m.id]["created_at"] for m in page.messages)


def test_feed_with_comment_after_the_root_is_not_truncated():
    data = fixture_bytes("FeedBurnerXHTML.xml")
    assert data.rstrip().endswith(b"-->")  # FeedBurner appends a comment after </feed>
    messages, _ = FeedSource.parse_payload(data)
    assert len(messages) == len(expected_entries("FeedBurnerXHTML.xml"))


def test_duplicate_guid_in_one_feed_is_one_message():
    data = fixture_bytes("RSSWithComments.xml")
    start, end = data.index(b"<item>"), data.index(b"</item>") + len(b"</item>")
    repeated = data[:end] + data[start:end] + data[end:]  # the server repeats the first item
    messages, quarantined = FeedSource.parse_payload(repeated)
    assert sorted(m.id for m in messages) == sorted(expected_entries("RSSWithComments.xml"))
    assert quarantined == []


def test_rate_limit_with_retry_after_http_date(feeds):
    double, _ = feeds
    source = served(feeds, "RSSWithComments.xml")
    # within the day that failures.MAX_RETRY_AFTER allows (a later date is capped to it)
    until = (datetime.now(timezone.utc) + timedelta(hours=2)).replace(microsecond=0)
    double.fail_next(429, retry_after=email.utils.format_datetime(until, usegmt=True))
    with pytest.raises(Failed) as caught:
        poll(source)
    assert (caught.value.failure.verdict, caught.value.failure.retry_at) == (RATE_LIMITED, until)


def test_body_that_looks_like_a_path_is_not_opened(tmp_path):
    # feedparser.parse(bytes) would open a local file of that name; a hostile server must not get that
    local = tmp_path / "local.xml"
    local.write_bytes(fixture_bytes("RSSWithComments.xml"))
    with pytest.raises(ParseError):
        FeedSource.parse_payload(str(local).encode())


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


# --- options and check -------------------------------------------------------------------------

@pytest.mark.parametrize("options", [
    {},
    {"url": "ftp://example.org/feed"},
    {"url": "http://127.0.0.1/feed", "initial": "newest"},
    {"url": "http://127.0.0.1/feed", "max_bytes": 0},
    {"url": "http://127.0.0.1/feed", "colour": "blue"},
])
def test_invalid_options_are_rejected(options):
    with pytest.raises(marshmallow.ValidationError):
        FeedSource("news", options)


def test_option_defaults():
    options = make_source("http://127.0.0.1/feed").options
    assert (options["max_bytes"], options["initial"], options["keep_seen"]) == (10 * 1024 * 1024, "all", 1000)


@pytest.mark.parametrize("name,ok", [("RSSWithComments.xml", True), ("not-a-feed.html", False)])
def test_check_reports_connection(feeds, name, ok):
    checks = served(feeds, name).check()
    assert [c.name for c in checks] == ["settings", "connection"]
    assert checks[-1].ok is ok


# --- the replay server itself ------------------------------------------------------------------

def test_double_replace_changes_etag_and_last_modified(feeds):
    double, running = feeds
    double.replace("/a.xml", b"<rss version='2.0'><channel/></rss>")
    first = requests.get(running.url + "/a.xml", timeout=5)
    double.replace("/a.xml", b"<rss version='2.0'><channel><title>x</title></channel></rss>")
    second = requests.get(running.url + "/a.xml", headers={"If-Modified-Since": first.headers["Last-Modified"]},
                          timeout=5)
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    again = requests.get(running.url + "/a.xml", headers={"If-None-Match": second.headers["ETag"]}, timeout=5)
    assert again.status_code == 304


def test_double_fault_applies_to_the_next_request_only(feeds):
    double, running = feeds
    double.replace("/a.xml", b"<rss version='2.0'><channel/></rss>")
    double.fail_next(503)
    assert requests.get(running.url + "/a.xml", timeout=5).status_code == 503
    assert requests.get(running.url + "/a.xml", timeout=5).status_code == 200
    assert [(r.path, r.status) for r in double.requests] == [("/a.xml", 503), ("/a.xml", 200)]


@pytest.mark.parametrize("name,media_type", [("TechCrunch.xml", "application/rss+xml"),
                                             ("FeedBurnerXHTML.xml", "application/atom+xml"),
                                             ("not-a-feed.html", "text/html")])
def test_double_serves_the_feed_media_type(feeds, name, media_type):
    double, running = feeds
    double.replace("/f", FIXTURES / name)
    response = requests.get(running.url + "/f", timeout=5)
    assert response.headers["Content-Type"] == media_type
    assert response.content == fixture_bytes(name)


# -- exact entry bytes and stray bytes ----------------------------------------------------------

TRICKY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY x "<item>not one</item>">]>
<rss version="2.0" xmlns:ext="urn:example:extension" xmlns:atom="http://www.w3.org/2005/Atom">
  <channel><!-- <item> in a comment is no item -->
    <title>Tricky</title>
    <item data-note='a > in a quoted attribute'><guid>one</guid><title>One</title>
      <description><![CDATA[<item>in CDATA</item> ]]> ]]&gt;</description>
      <ext:item><item>an item nested in an item</item></ext:item>
    </item>
    <item/>
    <?pi <item>?>
    <item ><guid>three</guid><title>Three</title></item >
  </channel>
</rss>
"""


def test_entry_spans_skip_comments_cdata_doctype_and_nested_items():
    from connector.sources.feedspans import entry_spans
    spans = [TRICKY[a:b] for a, b in entry_spans(TRICKY)]
    assert len(spans) == 3
    assert spans[0].startswith(b"<item data-note='a > in") and spans[0].endswith(b"</ext:item>\n    </item>")
    assert spans[1] == b"<item/>" and spans[2] == b"<item ><guid>three</guid><title>Three</title></item >"


def test_entry_spans_follow_namespaces_not_prefixes():
    from connector.sources.feedspans import entry_spans
    data = (b'<a:feed xmlns:a="http://www.w3.org/2005/Atom" xmlns="urn:other"><entry>no</entry>'
            b'<a:entry><a:id>yes</a:id></a:entry><entry xmlns="http://www.w3.org/2005/Atom">too</entry></a:feed>')
    assert [data[a:b] for a, b in entry_spans(data)] == [
        b"<a:entry><a:id>yes</a:id></a:entry>", b'<entry xmlns="http://www.w3.org/2005/Atom">too</entry>']


@pytest.mark.parametrize("data", [b"<rss><channel><item></channel></rss>", b"<rss><item>a < b</item></rss>",
                                  b"<rss><item><!-- never closed </item></rss>", "<rss/>".encode("utf-16")])
def test_entry_spans_give_up_on_what_they_cannot_read_with_certainty(data):
    from connector.sources.feedspans import entry_spans
    assert entry_spans(data) is None


# feedparser reads both, but no entry can be cut out with certainty: an unclosed <br> (not
# well-formed, read in bozo mode), and an item nested in an item (one span, two entries)
NOT_WELL_FORMED = fixture_bytes("RSSWithComments.xml").replace(b"<title>Dall-E 2</title>",
                                                               b"<title>Dall-E <br> 2</title>")
UNPAIRED = (b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>Nested</title>\n'
            b'<item><guid>outer</guid><title>Outer</title><pubDate>Wed, 6 Apr 2022 21:07:47 +0000</pubDate>\n'
            b'  <item><guid>inner</guid><title>Inner</title><pubDate>Wed, 6 Apr 2022 21:08:47 +0000</pubDate></item>\n'
            b'</item>\n</channel></rss>\n')


@pytest.mark.parametrize("data,count", [(NOT_WELL_FORMED, 30), (UNPAIRED, 2)], ids=["not-well-formed", "unpaired"])
def test_an_entry_that_cannot_be_cut_out_exactly_keeps_the_whole_response(data, count):
    from connector.sources.feedspans import entry_spans
    spans = entry_spans(data)
    assert spans is None or len(spans) != count  # the case this is about: spans cannot be paired
    messages, quarantined = FeedSource.parse_payload(data)
    assert quarantined == [] and len(messages) == count
    for message in messages:
        assert message.raw.body == data, message.id  # the platform's bytes, all of them, never re-serialised
        assert message.raw.scope == "response", message.id


def test_entries_without_any_identity_are_told_apart_when_they_share_the_whole_response():
    data = (b'<rss version="2.0"><channel><title>Not <br> well-formed</title>'
            b'<item><description>one</description></item><item><description>two</description></item></channel></rss>')
    messages, quarantined = FeedSource.parse_payload(data)
    assert messages == [] and [q.raw for q in quarantined] == [data, data]
    keys = [q.item_id for q in quarantined]
    assert len(set(keys)) == 2 and all(k.startswith("sha256:") for k in keys)  # both reported, not one
    assert [q.item_id for q in FeedSource.parse_payload(data)[1]] == keys  # and the same keys next poll


def test_a_whole_response_original_is_said_so_in_the_record():
    from connector.record import ORIGINAL, RENDITION, build_record
    [message, _] = FeedSource.parse_payload(UNPAIRED)[0]
    record = build_record(message)
    assert record.provenance.original_scope == "response"
    assert record.file(ORIGINAL).data == UNPAIRED and record.provenance.original_sha256 == message.raw.sha256
    said = "het bericht kon niet exact uit het antwoord van het platform worden geknipt; " \
           "het origineel is het hele antwoord zoals ontvangen"
    for text in (record.file(ORIGINAL).description, record.file(RENDITION).description,
                 record.file(RENDITION).data.decode()):
        assert said in text.lower()


def test_raw_keeps_a_stray_latin1_byte_and_the_other_entries_stay_utf8():
    data = fixture_bytes("RSSWithComments.xml")
    first = data.index(b"<title>AWS Lambda")
    stray = data[:first] + b"<title>Caf\xe9 " + data[first + len(b"<title>"):]
    messages, quarantined = FeedSource.parse_payload(stray)
    assert quarantined == []
    by_title = {m.text.split("\n")[0]: m for m in messages}
    cafe = next(m for title, m in by_title.items() if title.startswith("Caf"))
    assert cafe.text.startswith("Café AWS Lambda")  # the stray byte read as Windows-1252
    assert b"Caf\xe9 AWS Lambda" in cafe.raw.body and stray.count(cafe.raw.body) == 1  # the bytes received
    # the other entries are the UTF-8 they were (feedparser alone re-reads all of them as cp1252)
    assert any(title.startswith("\u03bb-2D") for title in by_title)
