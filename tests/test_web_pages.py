"""The web UI's pages: dashboard, messages list (filters, keyset pages), a message's page; hostile
content rendered inert; no secret in any page; the users migration on an existing store."""
from __future__ import annotations

import html
import re
import secrets
from datetime import datetime, timezone

import pytest
from sqlite_utils import Database, Migrations

from connector.failures import Failure
from connector.message import Attachment, utcnow
from connector.routing import Routing
from connector.sources.base import Deletion
from connector.store import DeliveryPlan, Store

from . import pg_support
from .conftest import make_message, sqlite_only
from .web_support import SECRETS, logged_in, make_app

CHANNEL = "gemeente-mastodon"
HOSTILE = '<script>alert(1)</script> <img src=x onerror=alert(1)> <a href="javascript:alert(2)">klik</a>'


@pytest.fixture
def web(tmp_path, store_url):
    app, store, _ = make_app(tmp_path, store_url=store_url)
    client = logged_in(app, store, "anna", "admin")
    yield client, store
    store.close()


def plan(sink="openzaak"):
    return [DeliveryPlan(sink, Routing("attach", rule="regel-1", zaak_identificatie="ZAAK-1"))]


def store_messages(store, count, channel=CHANNEL, text="bericht {n}", start=0):
    ids = []
    for n in range(start, start + count):
        message = make_message(str(n), channel=channel, text=text.format(n=n))
        ids += store.save_page(channel, [(message, plan())], {"n": n}).new
    return ids


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-utf8"])
def text_store(request, tmp_path, monkeypatch):
    """``(store, folds every letter?)``: SQLite (its ``like`` folds A to Z only); PostgreSQL in the test cluster's
    ``C`` locale (``ilike`` folds as the database's ``LC_CTYPE``: A to Z only) and in a ``C.utf8`` one (every
    letter, as in a database made in a UTF-8 locale, the usual production case). README: "web UI"."""
    if request.param == "sqlite":
        store = Store(tmp_path / "c.db")
    elif request.param == "postgresql":
        store = Store(request.getfixturevalue("pg_url"))
    else:
        running = pg_support.cluster()
        monkeypatch.setenv("PGPASSWORD", running.password)
        name = f"t_utf8_{secrets.token_hex(6)}"
        with running.connect(autocommit=True) as admin:
            try:
                admin.execute(f"create database {name} template template0 lc_ctype 'C.utf8' lc_collate 'C'")
            except Exception as exc:  # noqa: BLE001 - a server without that locale
                pytest.skip(f"no C.utf8 locale on this PostgreSQL: {exc}")
        store = Store(running.url(name))
    yield store, request.param == "postgresql-utf8"
    store.close()
    if request.param == "postgresql-utf8":
        with running.connect(autocommit=True) as admin:
            admin.execute(f"drop database if exists {name} with (force)")


def test_the_text_filter_finds_text_the_json_escapes(text_store):
    """The JSON pre-test (a LIKE on message_json) only runs for text JSON writes as it is; the rest is found too."""
    store, folds_every_letter = text_store
    texts = ['zei "hallo" daar', "pad C:\\temp\\x", "café Été", "regel een\nregel twee", "gewoon 50%_korting"]
    for n, text in enumerate(texts):
        store_messages(store, 1, text=text, start=n)

    def found(text):
        return [row["text"] for row in store.message_list(text=text)[0]]

    assert found('"hallo"') == [texts[0]]
    assert found("C:\\temp") == [texts[1]]
    assert found("café") == found("CAFé") == [texts[2]]  # ASCII case is folded on both
    assert found("CAFÉ") == found("été") == ([texts[2]] if folds_every_letter else [])
    assert found("een\nregel") == [texts[3]]
    assert found("50%_KORTING") == [texts[4]]
    assert found("text") == found("hallo\\") == []  # a JSON key; an escape of the JSON, not the text


def test_the_dashboard_shows_channels_sinks_deliveries_and_deletions(web):
    client, store = web
    [first, _] = store_messages(store, 2)
    row = store.claim_due(limit=1)[0]
    store.mark_delivered(row.id, "https://zaken.example/zaken/1", "ZAAK-1", [])
    store.record_poll("nieuws", Failure("rate_limited", "HTTP 429 te veel verzoeken"),
                      paused_until=utcnow().replace(year=2099), paused_reason="rate_limited")
    store.record_poll(CHANNEL)
    store.pause_sink("openzaak", utcnow().replace(year=2099), "configuration: HTTP 403 invalid-jwt-signature")
    store.save_page(CHANNEL, [], None, deletions=[Deletion("0", "404 Not Found on re-check",
                                                          datetime(2026, 2, 1, tzinfo=timezone.utc))])
    page = client.get("/").get_data(as_text=True)
    assert "HTTP 429 te veel verzoeken" in page and "2099-" in page and "limiet van het platform" in page
    assert "configuration: HTTP 403 invalid-jwt-signature" in page
    counts = dict(re.findall(r'status=(\w+)">\w+</a></td><td>(\d+)</td>', page))
    assert counts["delivered"] == "1" and counts["pending"] == "1" and counts["dead"] == "0"
    assert "404 Not Found on re-check" in page and f'/berichten/{first}"' in page
    assert "2026-02-01 00:00:00 UTC" in page


def test_the_dashboard_lists_the_newest_failures_with_their_reason(web):
    client, store = web
    assert "Geen mislukte afleveringen." in client.get("/").get_data(as_text=True)
    ids = store_messages(store, 13)
    rows = store.claim_due(limit=13)
    for n, row in enumerate(rows[:12]):
        state = "dead" if n % 2 else "retry_wait"
        store.mark_failed(row.id, Failure("permanent" if n % 2 else "retry", f"storing nummer {n} <b>"), state)
    page = client.get("/").get_data(as_text=True)
    section = page.split("Laatste mislukte afleveringen")[1].split("</section>")[0]
    assert section.count("<tr>") == 1 + 10  # the header and the newest ten
    assert "storing nummer 11 &lt;b&gt;" in section and "storing nummer 0 " not in section
    assert f'/berichten/{ids[11]}"' in section and "status-dead" in section and "status-retry_wait" in section
    assert f'/berichten/{ids[12]}"' not in section  # in progress is no failure


def test_the_messages_list_is_newest_first_in_keyset_pages(web):
    client, store = web
    ids = store_messages(store, 120)
    seen, url = [], "/berichten"
    while url:
        page = client.get(url).get_data(as_text=True)
        shown = [int(i) for i in re.findall(r'<td><a href="/berichten/(\d+)">', page)]
        assert len(shown) <= 50
        seen += shown
        more = re.search(r'<a href="(/berichten\?voor=\d+)">Oudere berichten</a>', page)
        url = html.unescape(more.group(1)) if more else None
    assert seen == sorted(ids, reverse=True)  # every message once, newest first


# SQLite only (conftest's fresh_store): it counts the statements with sqlite3's trace callback
def test_the_store_reads_one_page_and_no_originals(fresh_store):
    store_messages(fresh_store, 7)
    statements = []
    fresh_store.db.conn.set_trace_callback(statements.append)
    rows, before = fresh_store.message_list(limit=3)
    fresh_store.db.conn.set_trace_callback(None)
    assert [r["id"] for r in rows] == [7, 6, 5] and before == 5
    assert "raw" not in rows[0] and rows[0]["deliveries"] == [{"sink": "openzaak", "state": "pending"}]
    listing = next(s for s in statements if "from messages m" in s)
    assert "limit" in listing and "m.raw" not in listing
    rows, before = fresh_store.message_list(limit=3, before=2)
    assert [r["id"] for r in rows] == [1] and before is None


def test_account_rule_zaak_and_date_filters_narrow_the_list_and_the_next_page_keeps_them(web):
    client, store = web
    other = make_message("50", channel=CHANNEL, text="van iemand anders", created_minute=30)
    other = type(other)(**{**other.__dict__, "author": type(other.author)(id="9", handle="Inwoner@elders.example",
                                                                          name="Inwoner")})
    store.save_page(CHANNEL, [(other, [DeliveryPlan("openzaak", Routing("hold", rule="triage"))])], None)
    store_messages(store, 3, text="bericht {n}")
    row = store.claim_due(limit=1)[0]
    store.mark_delivered(row.id, "https://zaken.example/zaken/7", "ZAAK-7", [])

    def shown(query):
        return re.findall(r'<td class="tekst">([^<]*)', client.get("/berichten" + query).get_data(as_text=True))

    assert shown("?account=%40inwoner") == ["van iemand anders"]
    assert len(shown("?account=gemeente")) == 3 and shown("?account=emeente") == []  # the handle's beginning
    assert shown("?regel=triage") == ["van iemand anders"] and len(shown("?regel=regel-1")) == 3
    delivered = shown("?zaak=ZAAK-7")
    assert len(delivered) == 1 and delivered == shown("?zaak=https%3A%2F%2Fzaken.example%2Fzaken%2F7")
    assert len(shown("?van=2026-01-01&tot=2026-01-01")) == 4
    assert shown("?van=2026-01-02") == [] and shown("?tot=2025-12-31") == []
    assert len(shown("?van=gisteren&tot=2026-13-45")) == 4  # an odd date filters nothing
    page = client.get("/berichten?regel=regel-1&van=2026-01-01").get_data(as_text=True)
    assert 'value="regel-1"' in page and 'value="2026-01-01"' in page
    for n in range(60):  # a second page: its link keeps the filters
        store_messages(store, 1, text="meer {n}", start=100 + n)
    page = client.get("/berichten?regel=regel-1&van=2026-01-01").get_data(as_text=True)
    link = html.unescape(re.search(r'href="(/berichten\?[^"]*voor=[^"]*)"', page).group(1))
    assert "regel=regel-1" in link and "van=2026-01-01" in link


def test_the_filters_narrow_the_list(web):
    client, store = web
    store_messages(store, 3, text="over de kermis {n}")
    store_messages(store, 2, channel="nieuws", text="verkeer 100%_zeker {n}", start=10)
    row = store.claim_due(limit=1)[0]  # the oldest: "over de kermis 0"
    store.mark_delivered(row.id, "https://zaken.example/zaken/1", "ZAAK-1", [])

    def shown(query):
        return re.findall(r'<td class="tekst">([^<]*)', client.get("/berichten" + query).get_data(as_text=True))

    assert len(shown("")) == 5
    assert shown("?kanaal=nieuws") == ["verkeer 100%_zeker 11", "verkeer 100%_zeker 10"]
    assert shown("?status=delivered") == ["over de kermis 0"]
    assert shown("?tekst=KERMIS+2") == ["over de kermis 2"]
    assert shown("?tekst=100%25_") == ["verkeer 100%_zeker 11", "verkeer 100%_zeker 10"]
    assert len(shown("?tekst=social.example")) == 5  # the author's handle
    assert shown("?tekst=11") == ["verkeer 100%_zeker 11"]  # the text, or the platform id itself
    assert shown("?tekst=author") == []  # the JSON's keys are not searched
    assert shown("?tekst=s%25") == []  # % is no wildcard ("kermis" would match s%)
    assert shown("?status=bestaat-niet") == shown("")  # an unknown state filters nothing
    assert 'value="nieuws" selected' in client.get("/berichten?kanaal=nieuws").get_data(as_text=True)


def test_the_message_page_shows_fields_deliveries_events_and_deletion(web):
    client, store = web
    [mid] = store_messages(store, 1, text="de tekst van het bericht")
    row = store.claim_due(limit=1)[0]
    store.mark_delivered(row.id, "https://zaken.example/zaken/abc", "ZAAK-2026-7",
                         [{"kind": "rendition", "url": "https://docs.example/documenten/d1"}])
    store.save_page(CHANNEL, [], None, deletions=[Deletion("0", "404 Not Found on re-check",
                                                          datetime(2026, 2, 1, tzinfo=timezone.utc))])
    page = client.get(f"/berichten/{mid}").get_data(as_text=True)
    assert "de tekst van het bericht" in page and "gemeente@social.example" in page
    assert '<a href="https://zaken.example/zaken/abc" rel="noopener noreferrer">ZAAK-2026-7</a>' in page
    assert "https://docs.example/documenten/d1" in page and "regel-1" in page
    for kind in ("message.stored", "delivery.pending", "delivery.in_progress", "delivery.delivered",
                 "message.deleted_on_platform"):
        assert f"<td>{kind}</td>" in page, kind
    assert "Verwijderd op het platform op 2026-02-01 00:00:00 UTC" in page
    assert "openzaak (deletion): pending" in page


@pytest.mark.parametrize("path", ["/berichten/999", "/berichten/99999999999999999999999", "/berichten/-1"])
def test_an_unknown_message_is_a_dutch_404(web, path):
    client, _ = web
    response = client.get(path)
    assert response.status_code == 404 and "Niet gevonden" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["voor=99999999999999999999999", "voor=-5", "voor=abc", "tekst=" + "x" * 5000])
def test_odd_list_parameters_are_no_error(web, query):
    client, store = web
    store_messages(store, 2)
    assert client.get("/berichten?" + query).status_code == 200


def hostile_message(store):
    message = make_message("666", channel=CHANNEL, text="x", url="javascript:alert(3)",
                           attachments=(Attachment(url="javascript:alert(4)", media_type="image/png",
                                                   description=HOSTILE),),
                           spoiler_text=HOSTILE)
    message = type(message)(**{**message.__dict__, "text": HOSTILE, "html": f"<p>{HOSTILE}</p>"})
    [mid] = store.save_page(CHANNEL, [(message, plan())], None).new
    store.event("delivery.note", message_id=mid, detail={"error": HOSTILE})
    return mid


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("path", ["/berichten", "/berichten/{mid}", "/berichten?tekst=script"])
def test_a_hostile_post_renders_inert(web, path):
    client, store = web
    mid = hostile_message(store)
    row = store.claim_due(limit=1)[0]
    store.mark_delivered(row.id, "javascript:alert(5)", "<b>ZAAK</b>", [{"url": HOSTILE}])
    page = client.get(path.format(mid=mid)).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown, as text
    for live in ("<script", "<img", 'href="javascript:', "<b>ZAAK", "javascript:alert(2)\">"):
        assert live not in page, live
    assert not re.search(r"<a [^>]*href=\"(?!/|https?://)", page)  # every link is ours or http(s)
    assert "style=" not in page and "<script" not in page


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("path", ["/login", "/", "/berichten", "/berichten/{mid}", "/regels", "/kanalen",
                                  "/gebruikers", "/bestaat-niet"])
def test_no_secret_in_any_page(web, path):
    client, store = web
    [mid] = store_messages(store, 1)
    hashes = [r["password_hash"] for r in store.query("select password_hash from users")]
    page = client.get(path.format(mid=mid)).get_data(as_text=True)
    for secret in (*SECRETS, *hashes, "scrypt:"):
        assert secret not in page
    assert "openzaak" in client.get("/kanalen").get_data(as_text=True)  # the names, not the options


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
def test_the_stylesheet_is_served_and_referenced(web):
    client, _ = web
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/connector.css">' in page
    response = client.get("/static/connector.css")
    assert response.status_code == 200 and b"berichttekst" in response.data
    response.close()


# SQLite only: an existing SQLite file from before the users table
def test_the_users_migration_keeps_an_existing_store(tmp_path):
    """A store written before m010_users (all migrations up to m009) opens, gains users, keeps its data."""
    from connector.store import schema

    path = tmp_path / "old.db"
    old = Migrations("connector")
    for name in [n for n in dir(schema) if re.fullmatch(r"m00\d_\w+", n)]:
        old()(getattr(schema, name))
    db = Database(path)
    old.apply(db)
    assert "users" not in db.table_names()
    db["messages"].insert({"channel": CHANNEL, "platform_id": "1", "version": "", "message_json": '{"text": "oud"}',
                           "stored_at": "2026-01-01T00:00:00.000Z"})
    db.close()
    store = Store(path)
    try:
        assert "users" in store.db.table_names()
        applied = [r["name"] for r in store.query("select name from _sqlite_migrations order by id")]
        # every migration, in order: m010_users and the ones after it
        assert applied[9] == "m010_users"
        assert applied == [m.name for m in schema.migrations.pending(Database(memory=True))]
        store.add_user("anna", "admin", "een-lang-wachtwoord-42")
        assert store.verify_password("anna", "een-lang-wachtwoord-42")["role"] == "admin"
        assert store.message_list()[0][0]["text"] == "oud"
    finally:
        store.close()


def test_the_templates_the_stylesheet_and_the_scripts_ship_with_the_package():
    """They are package data through MANIFEST.in (include_package_data); a file type not listed there
    would be missing from the wheel and the image."""
    from .conftest import ROOT

    manifest = (ROOT / "MANIFEST.in").read_text().splitlines()
    assert "recursive-include connector/web/templates *.html" in manifest
    assert "recursive-include connector/web/static *.css *.js" in manifest
    web = ROOT / "connector" / "web"
    assert {p.suffix for p in (web / "templates").iterdir() if p.is_file()} == {".html"}
    assert {p.suffix for p in (web / "static").iterdir() if p.is_file()} == {".css", ".js"}
