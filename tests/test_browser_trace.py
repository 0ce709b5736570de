"""A message's trace in a real headless Chromium (see tests/test_browser.py for the set-up): the page with the
rule and why, the delivery steps and the original, the rendition framed in its sandboxed ``<iframe>`` showing
the post's text, a hostile post inert inside the frame too, and no Content-Security-Policy violation.
Screenshot ``bericht-trace.png`` for review. Without Debian's chromium these tests skip and say why."""
from __future__ import annotations

import pytest

from connector.config import load_config
from connector.store import Store
from connector.web import create_app

from .browser_support import HOSTILE, SCREENSHOTS, chromium_path, seed
from .browser_support import browser, tab  # noqa: F401 (fixtures)
from .web_support import write_config

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                               "(the 'test' extra has it: bash scripts/setup.sh)")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real app on a local port over the seeded store, with the delivered message's steps saved."""
    from connector_doubles.serving import Running

    chromium_path()
    tmp_path = tmp_path_factory.mktemp("browser-trace")
    path, environ = write_config(tmp_path, secure_cookies=False)
    config = load_config(path, environ=environ)
    store = Store(config.store)
    ids = seed(store)
    delivery = store.query("select id from deliveries where message_id = ?", [ids["0"]])[0]["id"]
    store.save_step(delivery, "zaak", {"url": "https://zaken.example/zaken/1", "identificatie": "ZAAK-2026-1"})
    store.save_step(delivery, "document:rendition", {"url": "https://docs.example/documenten/d1",
                                                     "bestandsomvang": 2048, "inhoud": "QUJD" * 2000})
    server = Running(create_app(config, store=store), "127.0.0.1", 0, name="web-ui-trace")
    yield server.url, store, ids
    server.shutdown()
    store.close()



def test_the_trace_page_frames_the_rendition_with_the_post_text(site, tab):
    url, _, ids = site
    page = tab.page
    tab.login("hanna")  # the helpdesk reads it
    tab.goto(f"/berichten/{ids['0']}")
    page.wait_for_load_state("load")
    frame = page.frame_locator("iframe.weergave")
    assert "gewoon bericht 0" in frame.locator("section.inhoud").inner_text()
    assert page.locator("iframe.weergave").get_attribute("sandbox") == ""
    assert "Geen regel past" in page.locator(".besluit").inner_text()  # the e2e rules: unmatched decides
    assert "quoted-zaak" in page.locator("ol.regels-geprobeerd").inner_text()
    assert "bestandsomvang: 2048" in page.locator("table.stappen").inner_text()
    assert "(8000 tekens)" in page.locator("table.stappen").inner_text()  # the base64 body clipped
    assert '"content": "gewoon bericht 0"' in page.locator("pre.origineel").inner_text()
    shot = tab.shot("bericht-trace")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.parent == SCREENSHOTS


def test_a_hostile_post_is_inert_in_the_framed_rendition(site, tab):
    _, _, ids = site
    page = tab.page
    tab.login("anna")
    tab.goto(f"/berichten/{ids['666']}")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # give any onerror/onload a chance to fire
    frame = page.frame_locator("iframe.weergave")
    assert HOSTILE.split(" <img")[0] in frame.locator("p.waarschuwing").inner_text()  # shown, as text
    assert frame.locator("script, img, svg, iframe, object, embed").count() == 0
    assert tab.dialogs == [] and page.evaluate("typeof window.__pwned") == "undefined"
