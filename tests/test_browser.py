"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright's
``executable_path``): logging in through the form, the dashboard with data, finding a message with the
filter and opening its page, "Opnieuw afleveren" for an archivist and not for the helpdesk, a hostile post
rendered inert, the Content-Security-Policy on every response and no violation of it, logging out.

Screenshots of the main pages go to ``test-artifacts/screenshots/`` for review. Without Debian's
chromium (installed by ``scripts/setup.sh``) these tests skip and say why.
"""
from __future__ import annotations

import re

import pytest

from connector import states
from connector.config import load_config
from connector.store import Store
from connector.web import create_app

from .browser_support import CHANNEL, HOSTILE, SCREENSHOTS, chromium_path, seed
from .browser_support import browser, tab  # noqa: F401 (fixtures)
from .web_support import write_config

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                               "(the 'test' extra has it: bash scripts/setup.sh)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real app on a local port over a seeded store: ``(url, store, ids)``."""
    from connector_doubles.serving import Running

    chromium_path()  # skip before starting anything when there is no browser
    tmp_path = tmp_path_factory.mktemp("browser")
    path, environ = write_config(tmp_path, secure_cookies=False)  # plain http on 127.0.0.1
    config = load_config(path, environ=environ)
    store = Store(config.store)
    ids = seed(store)
    server = Running(create_app(config, store=store), "127.0.0.1", 0, name="web-ui")
    yield server.url, store, ids
    server.shutdown()
    store.close()




def delivery_state(store, message_id: int) -> str:
    return store.query("select state from deliveries where message_id = ?", [message_id])[0]["state"]


def test_login_dashboard_find_a_message_open_it_and_log_out(site, tab):
    url, store, ids = site
    page = tab.page
    response = tab.goto("/")
    assert page.url.startswith(url + "/login")  # not logged in: sent to the form
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    tab.shot("login")
    tab.login("anna")
    assert page.url == url + "/" and page.locator("h1").inner_text() == "Dashboard"
    assert "anna (admin)" in page.locator(".wie").inner_text()

    channel_row = page.locator("tr", has=page.locator(f"a:text-is('{CHANNEL}')"))
    assert channel_row.locator("td").last.inner_text() == "7"  # messages on that channel
    counts = {row.locator("td").first.inner_text(): row.locator("td").last.inner_text()
              for row in page.locator("section:has(h2:text-is('Afleveringen per status')) tr").all()}
    assert counts[states.PENDING] == "5" and counts[states.DELIVERED] == "2" and counts[states.DEAD] == "1"
    tab.shot("dashboard")

    page.click("nav >> text=Berichten")
    assert page.locator("h1").inner_text() == "Berichten"
    assert page.locator("tbody tr").count() == 8
    page.fill("input[name=tekst]", "kermis")
    page.select_option("select[name=kanaal]", CHANNEL)
    page.click("form.filter button[type=submit]")
    page.wait_for_url(re.compile(r".*/berichten\?.*tekst=kermis.*"))
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "over de kermis op het plein" in rows.first.inner_text()
    tab.shot("berichten")

    rows.first.locator(f"a:text-is('{ids['10']}')").click()
    page.wait_for_url(f"{url}/berichten/{ids['10']}")
    assert page.locator("h1").inner_text() == f"Bericht {ids['10']}"
    assert page.locator(".berichttekst").inner_text() == "over de kermis op het plein"
    assert "openzaak" in page.locator("table").first.inner_text() and "regel-1" in page.content()
    assert page.locator("td", has_text="message.stored").count() == 1  # the audit trail
    tab.shot("bericht")

    page.click("form.uit button[type=submit]")
    page.wait_for_url(re.compile(r".*/login$"))
    tab.goto(f"/berichten/{ids['10']}")
    assert "/login" in page.url  # the session is gone
    assert page.locator(".wie").count() == 0
    for name in ("login", "dashboard", "berichten", "bericht"):  # for review
        shot = SCREENSHOTS / f"{name}.png"
        assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_an_archivist_delivers_again_and_sees_it_pending(site, tab):
    url, store, ids = site
    page = tab.page
    assert delivery_state(store, ids["dood"]) == states.DEAD
    tab.login("bert")
    tab.goto(f"/berichten/{ids['dood']}")
    row = page.locator("tbody tr", has=page.locator("td.status"))
    assert row.locator("td.status").inner_text() == states.DEAD
    assert "HTTP 400 from the case system" in row.inner_text()
    tab.shot("bericht-archivaris")
    row.locator("button", has_text="Opnieuw afleveren").click()
    page.wait_for_url(f"{url}/berichten/{ids['dood']}")
    assert page.locator("td.status").inner_text() == states.PENDING
    assert page.locator("td.status-pending").count() == 1
    assert delivery_state(store, ids["dood"]) == states.PENDING
    events = page.locator("tr", has=page.locator("td:text-is('web.requeue')"))
    assert events.count() == 1 and "bert" in events.inner_text()


def test_the_helpdesk_sees_no_button_and_a_post_is_refused(site, tab):
    url, store, ids = site
    page = tab.page
    tab.login("hanna")
    target = ids["0"]  # delivered
    tab.goto(f"/berichten/{target}")
    assert page.locator("h1").inner_text() == f"Bericht {target}"
    assert page.locator("button", has_text="Opnieuw afleveren").count() == 0
    assert page.locator("form[action*='/opnieuw']").count() == 0
    delivery = store.query("select id from deliveries where message_id = ?", [target])[0]["id"]
    token = page.locator("form.uit input[name=csrf_token]").get_attribute("value")  # a valid token of this session
    answer = page.context.request.post(f"{url}/afleveringen/{delivery}/opnieuw", form={"csrf_token": token},
                                       max_redirects=0)
    assert answer.status == 403 and "Geen toegang" in answer.text()
    assert delivery_state(store, target) == states.DELIVERED
    assert "gebruikers" not in page.locator("nav").inner_text().lower()  # admins only


def test_a_hostile_post_renders_inert(site, tab):
    url, store, ids = site
    page = tab.page
    tab.login("anna")
    for path in (f"/berichten/{ids['666']}", "/berichten?tekst=script", "/berichten"):
        tab.goto(path)
        page.wait_for_load_state("load")
        if page.locator("details summary").count():
            page.locator("details summary").first.click()  # "HTML zoals ontvangen" opened
        page.wait_for_timeout(300)  # give any onerror/onload a chance to fire
        assert page.evaluate("typeof window.__pwned") == "undefined", path
        assert tab.dialogs == [], path
        # the one frame allowed: the message's rendition, sandboxed (no script; connector.web.trace)
        assert page.evaluate("document.querySelectorAll('script, img, svg, object, embed,"
                             " iframe:not(.weergave[sandbox=\"\"])').length") == 0
        hrefs = page.evaluate("[...document.querySelectorAll('[href], [src], [action]')]"
                              ".map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))")
        assert hrefs and not [h for h in hrefs if not re.match(r"^(/|https?://)", h.strip())], hrefs
        assert page.evaluate("[...document.querySelectorAll('*')].filter(e => [...e.attributes]"
                             ".some(a => a.name.startsWith('on'))).length") == 0
    tab.goto(f"/berichten/{ids['666']}")
    assert HOSTILE.split(" <img")[0] in page.locator(".berichttekst").inner_text()  # shown, as text
    assert "javascript:" in page.locator("dl.velden").inner_text()  # the address as text, not a link
    assert "<b>ZAAK</b>" in page.locator("tbody").first.inner_text()
    tab.shot("bericht-vijandig")

