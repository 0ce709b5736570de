"""Quotes are first-class: a quote post carries the quoted message's id, permalink, text and author
(``Message.quote``), keeps it through the store, and its renditions show the quoted text."""
from __future__ import annotations

import dataclasses
import json

from connector.message import Message, Quote
from connector.record import RENDITION, build_record
from connector.rendition import render_html
from connector.sources.mastodon import MastodonSource

from .conftest import make_message
from .mastodon_support import FIXTURES
from .pdf_support import flat, flat_text

QUOTE_FILE = FIXTURES / "derived" / "quote_status.json"


def test_a_mastodon_quote_carries_the_quoted_status_and_drops_the_re_fallback():
    status = json.loads(QUOTE_FILE.read_text(encoding="utf-8"))
    quoted = status["quote"]["quoted_status"]
    (message,), quarantined = MastodonSource.parse_payload(QUOTE_FILE.read_bytes(), channel="social")
    assert not quarantined
    assert message.quote == Quote(id=quoted["id"], url=quoted["url"], text="Toot number 0!",
                                  handle=quoted["account"]["acct"] + "@localhost")
    assert message.kind == "post"
    assert message.text == "Toot number 1!"  # not "RE: http://...": the quote is kept as itself
    assert "quote-inline" not in message.html and quoted["url"] not in message.html


def test_a_shallow_quote_keeps_the_id_and_a_quote_without_a_status_is_none():
    status = json.loads(QUOTE_FILE.read_text(encoding="utf-8"))
    quoted_id = status["quote"]["quoted_status"]["id"]
    status["quote"] = {"state": "accepted", "quoted_status_id": quoted_id}
    (message,), _ = MastodonSource.parse_payload(json.dumps(status).encode(), channel="social")
    assert message.quote == Quote(id=quoted_id)
    status["quote"] = {"state": "revoked", "quoted_status_id": None}
    (message,), _ = MastodonSource.parse_payload(json.dumps(status).encode(), channel="social")
    assert message.quote is None


def test_a_malformed_quote_quarantines_the_status():
    status = json.loads(QUOTE_FILE.read_text(encoding="utf-8"))
    status["quote"] = "117020580452511285"
    messages, quarantined = MastodonSource.parse_payload(json.dumps(status).encode(), channel="social")
    assert not messages and "quote: expected an object" in quarantined[0].reason


def test_a_message_without_a_quote_prints_and_stores_as_before():
    plain = make_message()
    assert "quote" not in plain.to_dict()
    quoting = dataclasses.replace(plain, quote=Quote("9", "https://social.example/@a/9", "quoted", "a@social.example"))
    data = quoting.to_dict()
    assert data["quote"] == {"id": "9", "url": "https://social.example/@a/9", "text": "quoted",
                             "handle": "a@social.example"}
    assert Message.from_dict(json.loads(json.dumps(data))) == quoting


def test_the_store_keeps_the_quote(fresh_store):
    quote = Quote("9", "https://social.example/@a/9", "het geciteerde bericht", "a@social.example")
    message = dataclasses.replace(make_message(id="5"), quote=quote)
    fresh_store.save_page("test", [(message, [])], {})
    assert fresh_store.message_by_platform_id("test", "5").quote == quote


def test_the_renditions_show_the_quoted_text_and_permalink():
    quote = Quote("9", "https://social.example/@wethouder/9", "Het oorspronkelijke besluit van de raad",
                  "wethouder@social.example")
    message = dataclasses.replace(make_message(text="Zie hieronder"), quote=quote)
    pdf = flat_text(build_record(message).file(RENDITION).data)
    assert flat("Citeert: @wethouder@social.example") in pdf and flat(quote.text) in pdf and flat(quote.url) in pdf
    assert flat(quote.text) not in flat_text(build_record(make_message(text="Zie hieronder")).file(RENDITION).data)
    html = render_html(message).decode()
    assert "Het oorspronkelijke besluit van de raad" in html and 'href="https://social.example/@wethouder/9"' in html


def test_hostile_quoted_text_is_inert_in_the_html_rendition():
    quote = Quote("9", "javascript:alert(1)", "<script>alert(1)</script><img src=x onerror=alert(2)>", "a")
    html = render_html(dataclasses.replace(make_message(), quote=quote)).decode()
    assert "<script>alert" not in html and "<img src=x" not in html and 'href="javascript:' not in html
