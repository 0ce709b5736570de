"""The rule editor (/regels) in a real headless Chromium, as issue 11 asks for its proof: an admin types an error
and sees the problem with its line appear without submitting (static/regels.js), fixes it and sees "Geldig";
edits a rule so that a stored message matches another rule and sees it in the dry run with its old and new rule;
saves with a comment, compares two versions and rolls back; a helpdesk user gets no form and its POSTs are
refused. No page violates the Content-Security-Policy (``Watched.assert_clean`` after every test).

Each test stands alone (pytest-xdist may give them to different workers, each with its own server over a
seeded store and a copy of the e2e mappings in tmp_path). Screenshots ``regels-bewerken.png``,
``regels-proef.png`` and ``regels-versies.png`` go to ``test-artifacts/screenshots/`` for review.
"""
from __future__ import annotations

import re

import pytest

from connector.config import load_config
from connector.store import Store
from connector.web import create_app
from connector.web.security import CSP

from .browser_support import CHANNEL, SCREENSHOTS, chromium_path, seed
from .browser_support import browser, tab  # noqa: F401 (fixtures)
from .web_support import write_config

pytestmark = pytest.mark.slow
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                               "(the 'test' extra has it: bash scripts/setup.sh)")
expect = sync_api.expect

FILE = "rules.yaml"
KERMIS_RULE = """  - name: kermis
    when:
      regex: 'kermis'
    then:
      create:
        zaaktype: SOCIAL-KERMIS
        omschrijving: "Kermis {id}"
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real app on a local port over a seeded store: ``(url, store, ids, rules file)``."""
    from connector_doubles.serving import Running

    chromium_path()  # skip before starting anything when there is no browser
    tmp_path = tmp_path_factory.mktemp("browser-rules")
    path, environ = write_config(tmp_path, secure_cookies=False)  # plain http on 127.0.0.1; mappings copied
    config = load_config(path, environ=environ)
    store = Store(config.store)
    ids = seed(store)
    server = Running(create_app(config, store=store), "127.0.0.1", 0, name="web-rules")
    yield server.url, store, ids, tmp_path / "mappings" / FILE
    server.shutdown()
    store.close()




def with_rule(original: str, rule: str) -> str:
    return original.replace("unmatched:", rule + "unmatched:", 1)


def posts(tab) -> list[str]:
    """Record the paths of the POSTs the page makes from now on."""
    seen: list[str] = []
    tab.page.on("request", lambda r: seen.append(r.url[len(tab.base):]) if r.method == "POST" else None)
    return seen


def test_an_admin_types_an_error_sees_its_line_then_fixes_it_and_sees_geldig(site, tab):
    url, store, ids, rules = site
    page = tab.page
    original = rules.read_text()
    tab.login("anna")
    tab.goto(f"/regels/{FILE}")
    panel, area = page.locator("#controle"), page.locator("#tekst")
    expect(panel).to_have_text("Geldig")  # the text as opened is checked at once
    assert page.locator(".regelnummers div").count() == len(original.split("\n"))
    sent = posts(tab)

    area.click()
    page.keyboard.press("Control+End")
    area.press_sequentially("onbekend: 1")  # typed, nothing submitted
    problem = panel.locator("li")
    expect(problem).to_have_count(1)
    bad_line = len(original.splitlines()) + 1
    expect(problem).to_contain_text(f"{FILE}:{bad_line}: onbekend: unknown key in a mapping file")
    expect(page.locator(".regelnummers div.fout")).to_have_text([str(bad_line)])
    assert page.url == f"{url}/regels/{FILE}" and page.locator("h2", has_text="Fouten").count() == 0
    assert sent and set(sent) == {f"/regels/{FILE}/controleer.json"}  # only the JSON check, no form
    assert rules.read_text() == original
    tab.shot("regels-bewerken")

    area.evaluate("a => a.setSelectionRange(0, 0)")
    problem.locator("button.naar-regel").click()  # jumps to the line of the problem
    selected = area.evaluate("a => a.value.slice(a.selectionStart, a.selectionEnd)")
    assert selected == "onbekend: 1"

    area.press("End")
    for _ in "onbekend: 1":
        area.press("Backspace")
    expect(panel).to_have_text("Geldig")
    expect(page.locator(".regelnummers div.fout")).to_have_count(0)
    assert area.input_value() == original and rules.read_text() == original

    area.fill(original + "# regel\n" * 80)  # longer than the textarea: the line numbers scroll with it
    expect(page.locator(".regelnummers div")).to_have_count(len(original.splitlines()) + 81)
    area.evaluate("a => { a.scrollTop = 600; }")
    page.wait_for_function("() => document.querySelector('.regelnummers').scrollTop"
                           " === document.querySelector('#tekst').scrollTop")
    assert area.evaluate("a => a.scrollTop") > 0


def test_an_answer_to_an_older_edit_is_ignored(site, tab):
    """The check of an edit is held back by the network; a newer edit is checked meanwhile. When the
    older answer (invalid) finally arrives, the panel keeps showing the newer one (valid)."""
    url, store, ids, rules = site
    page = tab.page
    original = rules.read_text()
    tab.login("anna")
    tab.goto(f"/regels/{FILE}")
    panel = page.locator("#controle")
    expect(panel).to_have_text("Geldig")
    held = []

    def hold_the_first(route):
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(f"**/regels/{FILE}/controleer.json", hold_the_first)
    area = page.locator("#tekst")
    area.fill(original + "rules: [\n")  # broken YAML: its check is held
    while not held:
        page.wait_for_timeout(50)
    area.fill(with_rule(original, KERMIS_RULE))  # valid
    expect(panel).to_have_text("Geldig")
    stale = {"ok": False, "problems": [{"file": FILE, "line": 1, "text": "het oude antwoord"}]}
    try:
        held[0].fulfill(status=200, json=stale, headers={"Content-Security-Policy": CSP})
    except sync_api.Error:
        pass  # the page already gave up that request (a newer edit aborts it): nothing to deliver
    page.wait_for_timeout(300)  # room for a late answer to be (wrongly) shown
    expect(panel).to_have_text("Geldig")
    assert page.locator(".regelnummers div.fout").count() == 0


def test_the_dry_run_shows_the_message_with_its_old_and_new_rule(site, tab):
    url, store, ids, rules = site
    page = tab.page
    original = rules.read_text()
    tab.login("anna")
    tab.goto(f"/regels/{FILE}")
    edit = with_rule(original, KERMIS_RULE)
    page.locator("#tekst").fill(edit)
    expect(page.locator("#controle")).to_have_text("Geldig")
    page.locator("button", has_text="Proefdraaien").click()
    page.wait_for_url(f"{url}/regels/{FILE}/proef")
    assert page.locator("h2", has_text="Proefdraaien").count() == 1
    rows = page.locator("table.proef tbody tr")
    expect(rows).to_have_count(1)  # only the kermis message changes
    cells = rows.first.locator("td").all_inner_texts()
    assert cells == [str(ids["10"]), CHANNEL, "unmatched", "create", "kermis", "create"]
    assert page.locator("#tekst").input_value() == edit  # the edit is kept for saving
    assert rules.read_text() == original  # a dry run writes nothing
    tab.shot("regels-proef")


def test_save_with_a_comment_compare_two_versions_and_roll_back(site, tab):
    url, store, ids, rules = site
    page = tab.page
    original = rules.read_text()
    before = len(store.rule_versions(FILE))
    tab.login("anna")
    tab.goto(f"/regels/{FILE}")
    edit = with_rule(original, KERMIS_RULE)
    page.locator("#tekst").fill(edit)
    page.locator("button", has_text="Opslaan").click()  # without a comment: refused
    page.wait_for_url(f"{url}/regels/{FILE}/opslaan")
    assert "Geef een toelichting" in page.locator("ul.fouten").inner_text() and rules.read_text() == original

    page.locator("#toelichting").fill("kermis apart")
    page.locator("button", has_text="Opslaan").click()
    page.wait_for_url(f"{url}/regels/{FILE}/versies")
    assert rules.read_text() == edit  # the file on disk changed
    saved = before + 2 if before == 0 else before + 1  # the first save keeps the file as it was first
    newest = page.locator("table.versies tbody tr").first.locator("td").all_inner_texts()
    assert newest[0] == str(saved) and newest[2] == "anna" and newest[3] == "kermis apart"

    page.select_option("#van", str(saved - 1))
    page.select_option("#naar", str(saved))
    page.locator("form.vergelijk button").click()
    page.wait_for_url(re.compile(rf".*/versies\?van={saved - 1}&naar={saved}$"))
    diff = page.locator("pre.verschil")
    assert diff.locator("span.erbij").first.inner_text().rstrip("\n") == "+  - name: kermis"
    assert f"--- versie {saved - 1}" in diff.inner_text() and f"+++ versie {saved}" in diff.inner_text()
    assert diff.locator("span.eraf").count() == 0  # only added lines
    tab.shot("regels-versies")

    row = page.locator("table.versies tbody tr", has=page.locator(f"td:text-is('{saved - 1}')"))
    row.locator("button", has_text="Terugzetten").click()
    page.wait_for_url(f"{url}/regels/{FILE}/versies")
    assert rules.read_text() == original  # the old content again
    newest = page.locator("table.versies tbody tr").first.locator("td").all_inner_texts()
    assert newest[0] == str(saved + 1) and newest[3] == f"teruggezet naar versie {saved - 1}"
    for name in ("regels-versies",):
        assert (SCREENSHOTS / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_helpdesk_user_sees_no_form_and_a_post_is_refused(site, tab):
    url, store, ids, rules = site
    page = tab.page
    original = rules.read_text()
    versions = len(store.rule_versions(FILE))
    tab.login("hanna")
    tab.goto(f"/regels/{FILE}")
    assert page.locator("textarea#tekst").get_attribute("readonly") is not None
    assert page.locator("form.regelsformulier").count() == 0 and page.locator("button", has_text="Opslaan").count() == 0
    assert page.locator("script").count() == 0  # no editor script for a reader
    assert page.locator("#controle").count() == 0
    token = page.locator("form.uit input[name=csrf_token]").get_attribute("value")  # a valid token of this session
    edit = with_rule(original, KERMIS_RULE)
    for action in ("controleer.json", "proef", "opslaan", "terugzetten/1"):
        answer = page.context.request.post(f"{url}/regels/{FILE}/{action}", max_redirects=0,
                                           form={"csrf_token": token, "tekst": edit, "toelichting": "mag niet"})
        assert answer.status == 403 and "Geen toegang" in answer.text(), action
    tab.goto(f"/regels/{FILE}/versies")
    assert page.locator("button", has_text="Terugzetten").count() == 0
    assert rules.read_text() == original and len(store.rule_versions(FILE)) == versions


def test_a_check_after_the_session_ended_says_so(site, tab):
    url, store, ids, rules = site
    page = tab.page
    tab.login("anna")
    tab.goto(f"/regels/{FILE}")
    expect(page.locator("#controle")).to_have_text("Geldig")
    page.context.clear_cookies()  # logged out elsewhere, or the session expired
    page.locator("#tekst").press_sequentially("# x")
    expect(page.locator("#controle")).to_contain_text("uw sessie of dit formulier is verlopen")
    assert page.url == f"{url}/regels/{FILE}"  # the edit stays in the page
    assert page.locator("#tekst").input_value().startswith("# x")
