"""A message's full trace in the web UI (connector.web.trace): the rule and why (stored then, and the
rules of now), every delivery step and attempt with clipped values, the original as a byte-identical
download and as escaped text on the page, the rendition framed under its own sandboxing CSP."""
from __future__ import annotations

import hashlib
import html
import json
import re

import lxml.html
import pytest

from connector import states
from connector.failures import Failure
from connector.message import Raw
from connector.routing import Routing
from connector.store import DeliveryPlan

from .conftest import make_message, sqlite_only
from .test_web_pages import HOSTILE, hostile_message
from .web_support import SECRETS, logged_in, make_app

CHANNEL = "gemeente-mastodon"
ZAAK = "ZAAK-2026-0000000042"  # the e2e mappings' rule "quoted-zaak" attaches to it


@pytest.fixture
def web(tmp_path, store_url):
    app, store, _ = make_app(tmp_path, store_url=store_url)
    client = logged_in(app, store, "anna", "admin")
    yield client, store, app
    store.close()


def save(store, message, routing=None, sink="openzaak"):
    routing = routing or Routing("attach", rule="regel-1", source="oud.yaml:3", zaak_identificatie="ZAAK-1")
    [mid] = store.save_page(message.channel, [(message, [DeliveryPlan(sink, routing)])], None).new
    return mid


def page_of(client, mid) -> str:
    response = client.get(f"/berichten/{mid}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end, page.index(start))]


def test_the_matching_rule_with_its_condition_and_the_stored_decision(web):
    client, store, _ = web
    mid = save(store, make_message("1", channel=CHANNEL, text=f"Hoe staat {ZAAK} ervoor?"),
               Routing("attach", rule="quoted-zaak", source="rules.yaml:7", zaak_identificatie=ZAAK))
    uitleg = section(page_of(client, mid), 'id="regel"', 'id="stappen"')
    assert "Besluit bij het plannen voor openzaak" in uitleg and "<code>rules.yaml:7</code>" in uitleg
    assert "Deze regel beslist: <strong>quoted-zaak</strong>" in uitleg
    assert "<code>regex</code>: <code>(?P&lt;nr&gt;ZAAK-\\d{4}-\\d{10})</code>" in uitleg
    assert f"Actie nu: attach, zaak {ZAAK}" in uitleg
    assert "De regels van nu beslissen hetzelfde." in uitleg and "anders dan toen" not in uitleg


def test_an_earlier_rule_that_failed_shows_its_failed_condition(web):
    client, store, _ = web
    mid = save(store, make_message("2", channel=CHANNEL, in_reply_to="1", text="ik ben het eens"))
    uitleg = section(page_of(client, mid), "Met de regels van nu", 'id="stappen"')
    tried = section(uitleg, '<ol class="regels-geprobeerd">', "</ol>")
    assert "<strong>quoted-zaak</strong>" in tried and "past niet" in tried
    failed = re.search(r'<li class="niet-gehouden"><span class="oordeel">klopt niet</span>\s*<code>regex</code>'
                       r'.*?\(het bericht: ([^)]*)\)', tried, re.S)
    assert failed and failed.group(1) == "ik ben het eens"
    assert "Deze regel beslist: <strong>replies</strong>" in uitleg
    assert '<span class="oordeel">klopt</span>\n    <code>is_reply</code>: <code>true</code>' in uitleg


def test_the_default_decides_and_a_different_stored_decision_is_flagged(web):
    client, store, _ = web
    mid = save(store, make_message("3", channel=CHANNEL, text="gewoon een bericht"))
    uitleg = section(page_of(client, mid), 'id="regel"', 'id="stappen"')
    assert "Geen regel past: de standaard (<strong>unmatched</strong>" in uitleg
    assert uitleg.count("past niet") == 2  # quoted-zaak and replies, in file order
    assert uitleg.index("quoted-zaak") < uitleg.index("replies")
    assert "Actie nu: create, zaaktype SOCIAL-MELDING" in uitleg
    assert "regel-1" in uitleg and "<code>oud.yaml:3</code>" in uitleg  # what was decided then
    said = " ".join(uitleg.split())
    assert "De regels van nu beslissen voor dit bericht anders dan toen voor openzaak werd besloten." in said


def test_without_rules_of_now_the_page_says_so(web):
    client, store, app = web
    mid = save(store, make_message("4", channel=CHANNEL))

    class NoRules:
        def current(self):
            return None

    app.config["RULES"] = NoRules()
    page = page_of(client, mid)
    assert "De regels van nu konden niet worden geladen" in page and "Besluit bij het plannen" in page


def test_steps_and_attempts_are_shown_with_clipped_values(web):
    client, store, _ = web
    mid = save(store, make_message("5", channel=CHANNEL))
    [row] = store.claim_due(limit=1)
    inhoud = "QUJD" * 5000  # a base64 body of 20,000 characters
    store.save_step(row.id, "zaak", {"url": "https://zaken.example/zaken/z1", "identificatie": ZAAK})
    store.save_step(row.id, "document:rendition", {"url": "https://docs.example/d1", "bestandsomvang": 1234,
                                                   "sha256": "ab" * 32, "inhoud": inhoud, "link": "javascript:x"})
    store.save_step(row.id, "document:rendition:lock", {"lock": "geheim-slot-123"})
    problem = {"type": "https://zaken.example/fouten/ValidationError", "status": 400,
               "invalidParams": [{"name": "titel", "reason": "te lang " * 400}]}
    store.mark_failed(row.id, Failure("permanent", "HTTP 400 from the case system", status=400, detail=problem),
                      states.DEAD)
    stappen = section(page_of(client, mid), 'id="stappen"', "<h2>Gebeurtenissen</h2>")
    assert '<a href="https://zaken.example/zaken/z1" rel="noopener noreferrer">' in stappen
    assert f"identificatie: {ZAAK}" in stappen and "bestandsomvang: 1234" in stappen and "ab" * 32 in stappen
    assert inhoud not in stappen and "inhoud: " + "QUJD" * 50 + "… (20000 tekens)" in stappen
    assert "lock: ***" in stappen and "geheim-slot-123" not in stappen
    assert "link: javascript:x" in stappen and 'href="javascript' not in stappen  # a link only when http(s)
    rows = re.findall(r'<td class="staat staat-(\w+)">\w+</td><td>([\w-]+)</td>', stappen)
    assert rows == [("pending", "-"), ("in_progress", "pending"), ("dead", "in_progress")]
    assert "<td>permanent</td><td>400</td>" in stappen and "HTTP 400 from the case system" in stappen
    shown = html.unescape(re.search(r'<pre class="probleem">(.*?)</pre>', stappen, re.S).group(1))
    assert shown.startswith('{\n "invalidParams": [\n  {\n   "name": "titel",\n   "reason": "te lang te lang')
    assert len(shown) < 2100 and shown.endswith("tekens)")
    assert "te lang " * 400 not in shown  # clipped


def test_the_original_downloads_byte_identical_with_its_headers(web):
    client, store, _ = web
    body = b'{"id": "6", "content": "caf\xc3\xa9 \xff niet-utf8"}'
    message = make_message("6", channel=CHANNEL)
    message = type(message)(**{**message.__dict__, "raw": Raw(body=body, media_type="application/activity+json")})
    mid = save(store, message)
    response = client.get(f"/berichten/{mid}/origineel")
    assert response.status_code == 200 and response.data == body
    assert response.headers["Content-Type"] == "application/activity+json"
    assert response.headers["Content-Disposition"] == f'attachment; filename="bericht-{mid}-origineel.json"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_a_media_type_that_is_no_media_type_is_not_sent(web):
    client, store, _ = web
    message = make_message("7", channel=CHANNEL)
    message = type(message)(**{**message.__dict__, "raw": Raw(body=b"<x/>", media_type='text/html"; x=\r\ny')})
    response = client.get(f"/berichten/{save(store, message)}/origineel")
    assert response.headers["Content-Type"] == "application/octet-stream" and response.data == b"<x/>"


@pytest.mark.parametrize("stored, sent", [
    ('application/ld+json; profile="https://www.w3.org/ns/activitystreams"', "application/ld+json"),
    ("text/xml;charset=UTF-8", "text/xml; charset=UTF-8"),
    ("", "application/octet-stream"),
    ("tekst", "application/octet-stream"),
])
def test_the_download_keeps_the_media_type_and_charset_only(stored, sent):
    from connector.web.trace import download_type

    assert download_type(stored) == sent


def test_the_page_shows_the_original_pretty_printed_with_size_and_hash(web):
    client, store, _ = web
    message = make_message("8", channel=CHANNEL, text="hallo")
    mid = save(store, message)
    origineel = section(page_of(client, mid), 'id="origineel"', 'id="regel"')
    assert f"{len(message.raw.body)} bytes, SHA-256 <code>{message.raw.sha256}</code>" in origineel
    text = html.unescape(re.search(r'<pre class="origineel">(.*?)</pre>', origineel, re.S).group(1))
    assert text == json.dumps(json.loads(message.raw.body), indent=2)
    assert f'href="/berichten/{mid}/origineel"' in origineel and "eerste 64 KiB" not in origineel


def test_a_large_original_is_clipped_on_the_page(web):
    client, store, _ = web
    body = json.dumps({"content": "<b>x</b>" * 20000}).encode()
    message = make_message("9", channel=CHANNEL)
    message = type(message)(**{**message.__dict__, "raw": Raw(body=body, media_type="application/json")})
    mid = save(store, message)
    origineel = section(page_of(client, mid), 'id="origineel"', 'id="regel"')
    text = html.unescape(re.search(r'<pre class="origineel">(.*?)</pre>', origineel, re.S).group(1))
    assert text == body[:64 * 1024].decode() and "Alleen de eerste 64 KiB" in origineel
    assert f"{len(body)} bytes, SHA-256 <code>{hashlib.sha256(body).hexdigest()}</code>" in origineel
    assert client.get(f"/berichten/{mid}/origineel").data == body


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
def test_the_rendition_is_framed_under_its_own_sandboxing_csp(web):
    client, store, _ = web
    mid = save(store, make_message("10", channel=CHANNEL, text="de tekst in de weergave"))
    page = client.get(f"/berichten/{mid}")
    assert f'<iframe class="weergave" sandbox src="/berichten/{mid}/weergave"' in page.get_data(as_text=True)
    assert "frame-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]  # the page itself: never framed
    response = client.get(f"/berichten/{mid}/weergave")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "de tekst in de weergave" in response.get_data(as_text=True)
    policy = [p.strip() for p in response.headers["Content-Security-Policy"].split(";")]
    for directive in ("sandbox", "default-src 'none'", "img-src data:", "style-src 'unsafe-inline'",
                      "frame-ancestors 'self'"):
        assert directive in policy, directive
    assert not any("script-src" in p for p in policy)


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
def test_a_hostile_post_stays_inert_in_the_rendition_and_the_payload_escaped(web):
    client, store, _ = web
    mid = hostile_message(store)
    rendition = client.get(f"/berichten/{mid}/weergave").get_data(as_text=True)
    tree = lxml.html.document_fromstring(rendition)
    assert tree.xpath("//script | //iframe | //object | //embed | //img[@src] | //svg") == []
    assert [a for e in tree.iter() if isinstance(e.tag, str) for a in e.attrib if a.lower().startswith("on")] == []
    assert all(re.match(r"https?://", href) for href in tree.xpath("//@href"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendition  # the text, shown as text
    payload = HOSTILE.encode() + b"</pre><script>alert(9)</script>"
    message = make_message("667", channel=CHANNEL)
    message = type(message)(**{**message.__dict__, "raw": Raw(body=payload, media_type="text/html")})
    for page in (page_of(client, mid), page_of(client, save(store, message))):
        assert "<script" not in page and "<img" not in page and 'href="javascript:' not in page
    origineel = section(page, 'id="origineel"', 'id="regel"')
    assert "&lt;/pre&gt;&lt;script&gt;alert(9)&lt;/script&gt;" in origineel and "text/html" in origineel


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("path", ["/berichten/{mid}", "/berichten/{mid}/origineel", "/berichten/{mid}/weergave"])
def test_no_secret_in_any_trace_response(web, path):
    client, store, _ = web
    mid = save(store, make_message("11", channel=CHANNEL))
    [row] = store.claim_due(limit=1)
    store.save_step(row.id, "zaak", {"url": "https://zaken.example/zaken/z1", "client_secret": "geheim-1234"})
    store.mark_failed(row.id, Failure("retry", "HTTP 503"), states.RETRY_WAIT)
    body = client.get(path.format(mid=mid)).get_data(as_text=True)
    for secret in (*SECRETS, "geheim-1234"):
        assert secret not in body


@pytest.mark.parametrize("path", ["/berichten/999/origineel", "/berichten/999/weergave",
                                  "/berichten/99999999999999999999999/weergave", "/berichten/-1/origineel"])
def test_unknown_messages_are_a_dutch_404(web, path):
    client, _, _ = web
    response = client.get(path)
    assert response.status_code == 404 and "Niet gevonden" in response.get_data(as_text=True)


def test_a_helpdesk_user_reads_it_and_a_stranger_is_sent_to_login(web, tmp_path):
    client, store, app = web
    mid = save(store, make_message("12", channel=CHANNEL, text="voor de helpdesk"))
    helpdesk = logged_in(app, store, "hanna", "helpdesk")
    for path in (f"/berichten/{mid}", f"/berichten/{mid}/origineel", f"/berichten/{mid}/weergave"):
        assert helpdesk.get(path).status_code == 200, path
        response = app.test_client().get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_the_actions_offer_archive_or_move_to_an_archivist_and_nothing_to_the_helpdesk(web):
    client, store, app = web
    waiting = save(store, make_message("13", channel=CHANNEL))
    delivered = save(store, make_message("14", channel=CHANNEL))
    row = next(r for r in store.claim_due(limit=2) if r.message_id == delivered)
    store.mark_delivered(row.id, "https://zaken.example/zaken/1", "ZAAK-1", [])
    actions = re.compile(r'<h1>Bericht \d+</h1>\n<div id="acties">(.*?)</div>', re.S)
    assert f'href="/berichten/{waiting}/archiveren">Archiveer in zaak<' in actions.search(page_of(client, waiting))[1]
    assert "Naar een andere zaak verplaatsen" in actions.search(page_of(client, delivered))[1]
    helpdesk = logged_in(app, store, "hanna", "helpdesk")
    assert actions.search(page_of(helpdesk, waiting))[1] == ""


def test_a_step_result_is_summarised_bounded_and_masked():
    from connector.store.webviews import summary

    result = {"zaak": {"url": "https://z.example/1", "lock": "slot", "rollen": [{"naam": "a"}, {"naam": "b"}]},
              "token": "t0ken-waarde", **{f"veld{n}": n for n in range(40)}}
    pairs = summary(result, limit=10)
    assert pairs[:4] == [("zaak.url", "https://z.example/1"), ("zaak.lock", "***"), ("zaak.rollen[0].naam", "a"),
                         ("zaak.rollen[1].naam", "b")]
    assert pairs[4] == ("token", "***") and len(pairs) == 11 and pairs[-1] == ("…", "nog 35 waarden niet getoond")
    assert summary({}) == [] and summary({"leeg": {}}) == [("leeg", "{}")]


def test_only_the_newest_state_changes_are_shown_with_a_count(web, monkeypatch):
    from connector.store import webviews

    client, store, _ = web
    mid = save(store, make_message("14", channel=CHANNEL))
    for _ in range(3):
        [row] = store.claim_due(limit=1)
        store.release(row.id)
    monkeypatch.setattr(webviews, "ATTEMPTS_MAX", 4)
    [trace] = store.delivery_trace(mid)
    assert [a["state"] for a in trace["attempts"]] == ["in_progress", "pending", "in_progress", "pending"]
    assert trace["attempts_hidden"] == 3 and trace["attempts"][-1]["other"] == [("reason", "released unstarted")]
    assert "3 oudere statuswijziging(en) niet getoond." in page_of(client, mid)
