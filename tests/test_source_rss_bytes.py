"""The RSS/Atom source's originals: each entry's exact bytes, or the whole response when they cannot be cut out; and the replay server."""
from __future__ import annotations


import pytest
import requests

from connector.sources.rss import FeedSource

from .pdf_support import flat, text_of
from .rss_support import FIXTURES, fixture_bytes
from .rss_support import feeds  # noqa: F401 (a fixture)


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
                 text_of(record.file(RENDITION).data)):
        assert flat(said) in flat(text.lower())  # (the PDF wraps its lines)


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
