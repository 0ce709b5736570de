"""What the RSS/Atom source tests share: fixture feeds, expected values read with lxml, the replay server."""
from __future__ import annotations

import email.utils
from datetime import datetime
from pathlib import Path

import lxml.etree
import pytest

from connector_doubles.feeds import FeedDouble, serve
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

