"""Helpers for the browser tests (tests/test_browser.py): Debian's chromium through Playwright's
``executable_path``, the real app on a local port over a seeded store, logging in through the form,
screenshots for review.

Without Debian's ``chromium`` (``scripts/setup.sh`` installs it with apt-get; a machine without apt-get
has none) or without the ``playwright`` package, the browser tests skip and say why.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from connector import states
from connector.failures import Failure
from connector.message import Attachment
from connector.routing import Routing
from connector.store import DeliveryPlan

from .conftest import ROOT, make_message
from .web_support import PASSWORD

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHANNEL = "gemeente-mastodon"
# every way a post could try to run script: each would set window.__pwned or open a dialog
HOSTILE = ('<script>window.__pwned=1;alert("pwned")</script> <img src=x onerror="window.__pwned=1;alert(1)">'
           ' <a href="javascript:window.__pwned=1;alert(2)">klik</a> <svg onload="window.__pwned=1"></svg>')
HOSTILE_URL = "javascript:window.__pwned=1;alert(3)"
# run before any page script (Playwright's init scripts are not subject to the page's CSP): records
# every CSP violation the page causes, whatever the console says
CSP_WATCH = ("window.__csp = [];"
             "document.addEventListener('securitypolicyviolation',"
             " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));")
USERS = {"anna": "admin", "bert": "archivist", "hanna": "helpdesk"}


def chromium_path() -> str:
    """Debian's chromium, or a skip that says why it is not there."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it with apt-get; "
                    "this machine has no apt-get, or the install failed)")
    return path


def launch(playwright):
    """Headless chromium; ``--no-sandbox`` when running as root (its sandbox refuses root)."""
    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)


@pytest.fixture(scope="module")
def browser(site):
    """Debian's chromium for one test module; the module's ``site`` fixture starts first (and skips when
    there is no chromium). Test modules import this fixture and ``tab``."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture
def tab(site, browser):
    """A fresh browser context (no cookies) with a watched page; checks it stayed clean at the end."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    watched = Watched(context.new_page(), site[0])
    yield watched
    watched.assert_clean()
    context.close()


def plan(sink: str = "openzaak", rule: str = "regel-1"):
    return [DeliveryPlan(sink, Routing("attach", rule=rule, zaak_identificatie="ZAAK-2026-1"))]


def seed(store) -> dict:
    """Messages on both channels (one delivered, one dead, the rest pending), a hostile post, and a user
    of each role. Returns the ids the tests look for."""
    ids = {}

    def save(channel, id, text, minute, message=None):
        message = message or make_message(id, channel=channel, text=text, created_minute=minute)
        [ids[id]] = store.save_page(channel, [(message, plan())], {"n": id}).new
        return ids[id]

    delivered = save(CHANNEL, "0", "gewoon bericht 0", 0)
    ids["dood"] = save("nieuws", "20", "een afgewezen melding", 20)
    hostile = make_message("666", channel=CHANNEL, text="x", url=HOSTILE_URL, spoiler_text=HOSTILE, created_minute=30,
                           attachments=(Attachment(url=HOSTILE_URL, media_type="image/png", description=HOSTILE),))
    hostile = type(hostile)(**{**hostile.__dict__, "text": HOSTILE, "html": f"<p>{HOSTILE}</p>"})
    ids["hostile"] = save(CHANNEL, "666", "", 30, hostile)
    store.event("delivery.note", message_id=ids["hostile"], detail={"error": HOSTILE})
    for row in store.claim_due(limit=100):   # delivered, dead, and the hostile one "delivered" to a hostile zaak
        mid = store.query("select message_id from deliveries where id = ?", [row.id])[0]["message_id"]
        if mid == delivered:
            store.mark_delivered(row.id, "https://zaken.example/zaken/1", "ZAAK-2026-1",
                                 [{"kind": "rendition", "url": "https://docs.example/documenten/d1"}])
        elif mid == ids["dood"]:
            store.mark_failed(row.id, Failure("permanent", "HTTP 400 from the case system"), states.DEAD)
        else:
            store.mark_delivered(row.id, HOSTILE_URL, "<b>ZAAK</b>", [{"url": HOSTILE}])
    for n in range(1, 5):  # pending
        save(CHANNEL, str(n), f"gewoon bericht {n}", n)
    ids["kermis"] = save(CHANNEL, "10", "over de kermis op het plein", 10)
    store.record_poll(CHANNEL)
    for name, role in USERS.items():
        store.add_user(name, role, PASSWORD)
    return ids


class Watched:
    """A browser page with what it must never see collected: dialogs, CSP violations in the console,
    responses without the CSP header."""

    def __init__(self, page, base: str):
        self.page, self.base = page, base
        self.dialogs: list[str] = []
        self.console_csp: list[str] = []
        self.without_csp: list[str] = []
        page.add_init_script(CSP_WATCH)
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("response", self._response)

    def _dialog(self, dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console_csp.append(message.text)

    def _response(self, response) -> None:
        if response.url.startswith(self.base) and "content-security-policy" not in response.headers:
            self.without_csp.append(response.url)

    def goto(self, path: str):
        return self.page.goto(self.base + path)

    def login(self, name: str, password: str = PASSWORD) -> None:
        """Log in through the form on /login (its CSRF token comes with it)."""
        self.goto("/login")
        self.page.fill("input[name=naam]", name)
        self.page.fill("input[name=wachtwoord]", password)
        self.page.click("form.aanmelden button[type=submit]")
        self.page.wait_for_load_state()

    def shot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        """Nothing ran from a post, no CSP violation from our pages, every response of ours had the CSP."""
        assert self.page.evaluate("typeof window.__pwned") == "undefined"
        assert self.dialogs == []
        assert self.page.evaluate("window.__csp") == [], "CSP violations"
        assert self.console_csp == []
        assert self.without_csp == []
