""""Archiveer in zaak" in a real headless Chromium (Debian's ``chromium`` through Playwright's
``executable_path``), delivering into the ZGW double, which validates every request and response against
the official OpenAPI specs: an archivist searches the case system, chooses a zaak, archives a held message
now and sees the documents arrive in the double; makes a new zaak; the helpdesk gets no button.

Screenshots go to ``test-artifacts/screenshots/``. Without Debian's chromium these tests skip and say why.
"""
from __future__ import annotations

import pytest
import yaml

from connector import states
from connector.config import load_config
from connector.store import Store
from connector.web import create_app

from .browser_support import USERS, chromium_path
from .browser_support import browser, tab  # noqa: F401 (fixtures)
from .conftest import ZGW_SECRET, make_message
from .mastodon_support import REPLAY, replay
from .test_web_archive import RULES, linked
from .web_support import PASSWORD, write_config
from .zgw_sink_support import ZAAK_42

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                               "(the 'test' extra has it: bash scripts/setup.sh)")
CHANNEL = "gemeente-mastodon"


@pytest.fixture(scope="module")
def site(tmp_path_factory, zgw_server):
    """The real app on a local port, its sink the ZGW double: ``(url, store, double, ids)``."""
    from connector_doubles.mastodon import MastodonDouble
    from connector_doubles.mastodon import serve as serve_mastodon
    from connector_doubles.serving import Running

    chromium_path()
    double, server = zgw_server
    double.reset()
    tmp_path = tmp_path_factory.mktemp("browser-archive")
    path, environ = write_config(tmp_path, secure_cookies=False)
    (tmp_path / "mappings" / "rules.yaml").write_text(RULES)
    config = yaml.safe_load(path.read_text())
    config["sinks"][0]["options"].update(zaken_url=server.zaken_url, documenten_url=server.documenten_url,
                                         catalogi_url=server.catalogi_url)
    mastodon = serve_mastodon(MastodonDouble(REPLAY))
    config["channels"][0]["options"].update(base_url=mastodon.url, account="schochastics")
    config["delivery"]["parent_grace"] = 0
    path.write_text(yaml.safe_dump(config))
    config = load_config(path, environ={**environ, "TEST_ZGW_SECRET": ZGW_SECRET})
    store = Store(config.store)
    app = create_app(config, store=store)
    with app.app_context():
        from connector.web.archive import connector
        engine = connector()
        ids = {}
        for id, text in (("1", "over de kermis op het plein"), ("2", "de kermis was te luid")):
            message = make_message(id, channel=CHANNEL, text=text, created_minute=int(id))
            [ids[id]] = store.save_page(CHANNEL, [(message, engine.plan(message))], None).new
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    ids["mastodon"] = mastodon.url
    running = Running(app, "127.0.0.1", 0, name="web-ui-archive")
    yield running.url, store, double, ids
    running.shutdown()
    mastodon.shutdown()
    app.extensions["connector.ondemand"].close()
    store.close()




def test_an_archivist_finds_a_zaak_and_archives_a_held_message_into_it(site, tab):
    url, store, double, ids = site
    page = tab.page
    tab.login("bert")
    tab.goto(f"/berichten/{ids['1']}/archiveren")
    assert page.locator("h1").inner_text() == f"Archiveer bericht {ids['1']} in een zaak"
    assert "openzaak: held" in page.locator("dl.velden").inner_text()
    page.fill("input[name=zoek]", "stoeptegels")
    page.click("form.filter button[type=submit]")
    page.wait_for_url("**/archiveren?*zoek=stoeptegels*")
    row = page.locator("tbody tr", has_text=ZAAK_42)
    assert "Losliggende stoeptegels Dorpsstraat" in row.inner_text()
    tab.shot("archiveren-zoeken")
    row.locator("input[type=radio]").check()
    page.click("text=Archiveer nu in de gekozen zaak")
    page.wait_for_url("**/uitkomst")
    assert f"Gearchiveerd in zaak {ZAAK_42}" in page.locator("p.gelukt").inner_text()
    assert "2 documenten" in page.locator("p.gelukt").inner_text()
    tab.shot("archiveren-uitkomst")
    assert linked(double, ZAAK_42) == 2  # the documents arrived in the ZGW double
    assert double.violations == []
    state = store.query("select state from deliveries where message_id = ?", [ids["1"]])[0]["state"]
    assert state == states.DELIVERED
    page.click("text=Naar het bericht")
    page.wait_for_url(f"{url}/berichten/{ids['1']}")
    assert page.locator("td", has_text="delivery.rerouted").count() == 1  # in the audit trail


def test_an_admin_makes_a_new_zaak_and_archives_into_it(site, tab):
    url, store, double, ids = site
    page = tab.page
    tab.login("anna")
    tab.goto(f"/berichten/{ids['2']}/archiveren")
    page.select_option("select[name=zaaktype]", "SOCIAL-VRAAG")
    page.fill("input[name=omschrijving]", "Geluidsoverlast kermis")
    page.fill("textarea[name=toelichting]", "Aangemaakt vanuit de webinterface")
    tab.shot("archiveren-nieuwe-zaak")
    page.click("text=Maak de zaak en archiveer nu")
    page.wait_for_url("**/uitkomst")
    made = [z for z in double.zaken if z["omschrijving"] == "Geluidsoverlast kermis"]
    assert len(made) == 1 and linked(double, made[0]["identificatie"]) == 2
    assert made[0]["identificatie"] in page.locator("p.gelukt").inner_text()


def test_the_helpdesk_has_no_archive_menu_and_is_refused(site, tab):
    url, store, double, ids = site
    page = tab.page
    tab.login("hanna")
    assert "Archiveren" not in page.locator("nav").inner_text()
    response = tab.goto(f"/berichten/{ids['2']}/archiveren")
    assert response.status == 403 and "Geen toegang" in page.content()


def test_an_archivist_pastes_a_post_url_and_archives_that_post_into_a_zaak(site, tab):
    url, store, double, ids = site
    page = tab.page
    status = replay("schochastics")["statuses"][5]
    tab.login("bert")
    page.click("nav >> text=Archiveren")
    page.fill("input[name=url]", f"{ids['mastodon']}/@schochastics/{status['id']}")
    tab.shot("archiveren-link")
    page.click("text=Ophalen")
    page.wait_for_url("**/archiveren")
    message_id = store.query("select id from messages where platform_id = ?", [status["id"]])[0]["id"]
    assert page.url.endswith(f"/berichten/{message_id}/archiveren")
    page.fill("input[name=zoek]", "openingstijden")
    page.click("form.filter button[type=submit]")
    page.locator("tbody tr", has_text="ZAAK-2026-0000000043").locator("input[type=radio]").check()
    page.click("text=Archiveer nu in de gekozen zaak")
    page.wait_for_url("**/uitkomst")
    assert "Gearchiveerd in zaak ZAAK-2026-0000000043" in page.locator("p.gelukt").inner_text()
    assert linked(double, "ZAAK-2026-0000000043") >= 2
    page.click("nav >> text=Archiveren")
    page.fill("input[name=url]", "https://elders.example/@iemand/1")
    page.click("text=Ophalen")
    assert "Ophalen niet gelukt" in page.locator("p.fout").inner_text()
    assert "gemeente-mastodon (mastodon)" in page.locator("p.fout").inner_text()
