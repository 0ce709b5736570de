""""Archiveer in zaak" in the web UI (connector/web/archive.py) with the Flask test client, delivering into
the ZGW double (which validates every request and response against the official OpenAPI specs): search a
zaak, archive now, create a zaak once per form, re-route, the outcome page; roles, CSRF, hostile zaak texts,
no secret in any page."""
from __future__ import annotations

import re

import pytest
import yaml

from connector import states
from connector.config import load_config
from connector.ondemand import holder
from connector.store import Store
from connector.web import create_app

from .conftest import ZGW_SECRET, make_message
from .status_support import AUTH
from .test_ondemand import RULES
from .web_support import SECRETS, logged_in, write_config
from .zgw_sink_support import ZAAK_42, by_identificatie

CHANNEL = "gemeente-mastodon"


@pytest.fixture
def world(tmp_path, zgw_server, store_url):
    """``(app, store, double, message_id)``: the web app whose sink ``openzaak`` is the ZGW double; one held
    message about the kermis."""
    double, server = zgw_server
    double.reset()
    path, environ = write_config(tmp_path, store=store_url)
    config = yaml.safe_load(path.read_text())
    (tmp_path / "mappings" / "rules.yaml").write_text(RULES)
    config["sinks"][0]["options"].update(zaken_url=server.zaken_url, documenten_url=server.documenten_url,
                                         catalogi_url=server.catalogi_url)
    path.write_text(yaml.safe_dump(config))
    config = load_config(path, environ={**environ, "TEST_ZGW_SECRET": ZGW_SECRET})  # the double's
    store = Store(config.store)
    app = create_app(config, store=store)
    with app.app_context():
        from connector.web.archive import connector
        engine = connector()
        message = make_message("1", channel=CHANNEL, text="over de kermis op het plein")
        [message_id] = store.save_page(CHANNEL, [(message, engine.plan(message))], None).new
    yield app, store, double, message_id
    app.extensions["connector.ondemand"].close()
    store.close()


def token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def linked(double, identificatie) -> int:
    zaak = by_identificatie(double.zaken, identificatie)[0]["url"].split("/api/v1")[-1]
    return sum(1 for z in double.zaakinformatieobjecten if z["zaak"].endswith(zaak))


def test_search_by_words_choose_and_archive_now(world):
    app, store, double, message_id = world
    client = logged_in(app, store, "bert", "archivist")
    page = client.get(f"/berichten/{message_id}/archiveren?zoek=stoeptegels").get_data(as_text=True)
    assert ZAAK_42 in page and "Losliggende stoeptegels Dorpsstraat" in page
    assert "SOCIAL-MELDING" in page and "SOCIAL-VRAAG" in page  # the zaaktypen for a new zaak
    response = client.post(f"/berichten/{message_id}/archiveren",
                           data={"csrf_token": token(page), "bestemming": "openzaak", "zaak": ZAAK_42})
    assert response.status_code == 302 and "/uitkomst" in response.location
    result = client.get(response.location).get_data(as_text=True)
    assert f"Gearchiveerd in zaak <strong>{ZAAK_42}</strong>" in result and "2 documenten" in result
    assert linked(double, ZAAK_42) == 2
    [audit] = store.query("select detail_json from events where kind = 'web.archive'")
    assert '"user": "bert"' in audit["detail_json"] and '"state": "delivered"' in audit["detail_json"]
    assert double.violations == []


def test_a_new_zaak_is_made_once_per_form_and_the_message_archived_into_it(world):
    app, store, double, message_id = world
    client = logged_in(app, store, "anna")
    page = client.get(f"/berichten/{message_id}/archiveren").get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token(page), "bestemming": "openzaak", "nonce": nonce, "zaaktype": "SOCIAL-VRAAG",
            "omschrijving": "Vraag over de kermis", "toelichting": ""}
    first = client.post(f"/berichten/{message_id}/nieuwe-zaak", data=form)
    second = client.post(f"/berichten/{message_id}/nieuwe-zaak", data=form)  # a double submit
    assert first.status_code == second.status_code == 302
    made = [z for z in double.zaken if z["omschrijving"] == "Vraag over de kermis"]
    assert len(made) == 1 and linked(double, made[0]["identificatie"]) == 2
    assert len(double.documents) == 2


def test_rerouting_a_delivered_message_moves_it_and_says_so(world):
    app, store, double, message_id = world
    client = logged_in(app, store, "bert", "archivist")
    page = client.get(f"/berichten/{message_id}/archiveren?zoek={ZAAK_42}").get_data(as_text=True)
    client.post(f"/berichten/{message_id}/archiveren",
                data={"csrf_token": token(page), "bestemming": "openzaak", "zaak": ZAAK_42})
    page = client.get(f"/berichten/{message_id}/archiveren?zoek=openingstijden").get_data(as_text=True)
    assert f"in zaak {ZAAK_42}" in page and "verplaatst" in page
    client.post(f"/berichten/{message_id}/archiveren",
                data={"csrf_token": token(page), "bestemming": "openzaak", "zaak": "ZAAK-2026-0000000043"})
    assert linked(double, "ZAAK-2026-0000000043") == 2 and len(double.documents) == 2
    row = store.query("select state, zaak_identificatie from deliveries where message_id = ?", [message_id])[0]
    assert (row["state"], row["zaak_identificatie"]) == (states.DELIVERED, "ZAAK-2026-0000000043")


def test_status_shows_the_web_process_holding_the_delivery_it_archives_and_not_afterwards(world, monkeypatch):
    """Issue 13: an on-demand claim names its holder (``web:USER@HOST:PID``): while the web process delivers,
    ``/status`` lists it beside the workers with the delivery in hand; once delivered it holds nothing."""
    app, store, double, message_id = world
    client = logged_in(app, store, "bert", "archivist")
    page = client.get(f"/berichten/{message_id}/archiveren?zoek=stoeptegels").get_data(as_text=True)
    engine = app.extensions["connector.ondemand"]
    deliver_one, during = engine.deliver_one, []

    def watched(row):  # the helpdesk asks /status while the delivery is in hand
        during.append(app.test_client().get("/status", headers=AUTH).json["workers"])
        return deliver_one(row)

    monkeypatch.setattr(engine, "deliver_one", watched)
    client.post(f"/berichten/{message_id}/archiveren",
                data={"csrf_token": token(page), "bestemming": "openzaak", "zaak": ZAAK_42})
    [holders] = during
    assert [(w["id"], w["deliveries"], w["channels"]) for w in holders] == [(holder("bert"), 1, [])]
    assert holder("bert").startswith("web:bert@")
    assert app.test_client().get("/status", headers=AUTH).json["workers"] == []
    assert linked(double, ZAAK_42) == 2


def test_an_unknown_zaak_ends_dead_with_the_reason_on_the_outcome_page(world):
    app, store, double, message_id = world
    client = logged_in(app, store, "bert", "archivist")
    page = client.get(f"/berichten/{message_id}/archiveren").get_data(as_text=True)
    response = client.post(f"/berichten/{message_id}/archiveren", follow_redirects=True,
                           data={"csrf_token": token(page), "bestemming": "openzaak", "zaak": "ZAAK-1999-1"})
    text = response.get_data(as_text=True)
    assert "status dead" in text and "ZAAK-1999-1 not found" in text
    assert double.documents == []


def test_the_helpdesk_may_not_archive_and_a_post_without_csrf_changes_nothing(world):
    app, store, double, message_id = world
    helpdesk = logged_in(app, store, "hanna", "helpdesk")
    assert helpdesk.get(f"/berichten/{message_id}/archiveren").status_code == 403
    assert helpdesk.get("/archiveren").status_code == 403
    assert "Archiveren</a>" not in helpdesk.get("/").get_data(as_text=True)
    page = helpdesk.get("/").get_data(as_text=True)
    assert helpdesk.post(f"/berichten/{message_id}/archiveren", data={
        "csrf_token": token(page), "bestemming": "openzaak", "zaak": ZAAK_42}).status_code == 403
    archivist = logged_in(app, store, "bert", "archivist")
    assert archivist.post(f"/berichten/{message_id}/archiveren",
                          data={"bestemming": "openzaak", "zaak": ZAAK_42}).status_code == 400
    assert double.documents == []
    assert store.query("select state from deliveries")[0]["state"] == states.HELD


def test_hostile_zaak_texts_are_escaped_and_no_secret_is_shown(world):
    app, store, double, message_id = world
    with app.app_context():
        from connector.web.archive import connector
        connector().sinks["openzaak"].create_zaak("SOCIAL-MELDING", '<script>alert(1)</script> kermis', "", "k")
    client = logged_in(app, store, "anna")
    page = client.get(f"/berichten/{message_id}/archiveren?zoek=kermis").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for path in (f"/berichten/{message_id}/archiveren?zoek=x", "/archiveren"):
        text = client.get(path).get_data(as_text=True)
        assert not any(secret in text for secret in (*SECRETS, ZGW_SECRET))


def test_unknown_messages_sinks_and_deliveries(world):
    app, store, double, message_id = world
    client = logged_in(app, store, "anna")
    assert client.get("/berichten/999/archiveren").status_code == 404
    assert client.get(f"/berichten/{2**70}/archiveren").status_code == 404
    assert client.get("/afleveringen/999/uitkomst").status_code == 404
    page = client.get(f"/berichten/{message_id}/archiveren").get_data(as_text=True)
    response = client.post(f"/berichten/{message_id}/archiveren",
                           data={"csrf_token": token(page), "bestemming": "elders", "zaak": ZAAK_42})
    assert response.status_code == 422 and "no sink &#39;elders&#39;" in response.get_data(as_text=True)


def test_a_pasted_url_no_channel_recognises_is_refused_naming_the_channels(world):
    app, store, double, message_id = world
    client = logged_in(app, store, "bert", "archivist")
    page = client.get("/archiveren").get_data(as_text=True)
    for url in ("https://elders.example/post/1", "javascript:alert(1)"):
        response = client.post("/archiveren", data={"csrf_token": token(page), "url": url})
        text = response.get_data(as_text=True)
        assert response.status_code == 422 and "Ophalen niet gelukt" in text
    assert "gemeente-mastodon (mastodon)" in text or "not an http" in text
