"""The rule editor's check as you type (POST /regels/<file>/controleer.json, used by static/regels.js) and the
diff between two saved versions (GET /regels/<file>/versies?van=A&naar=B), through Flask's test client.

The JSON check is the page's check: the same problems as file:line, admins only, with the CSRF token and the
size bound of the form. The page itself loads regels.js only for an admin, from /static (the CSP forbids
inline script)."""
from __future__ import annotations

import html
import re

import pytest

from connector.web.mappings_support import diff_lines

from .test_web_mappings import BROKEN_RULE, FILE, NEW_RULE, post, text_of, with_rule
from .web_support import csrf, logged_in, make_app


@pytest.fixture
def world(tmp_path):
    app, store, _ = make_app(tmp_path)
    yield app, store, tmp_path / "mappings" / FILE
    store.close()


def check(client, text: str, name: str = FILE):
    return post(client, "controleer.json", name=name, tekst=text)


def basis_of(client) -> str:
    return re.search(r'name="basis" value="([0-9a-f]+)"', text_of(client.get(f"/regels/{FILE}"))).group(1)


def test_valid_text_is_ok_with_no_problems(world):
    app, store, path = world
    answer = check(logged_in(app, store), with_rule(path.read_text(), NEW_RULE))
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.get_json() == {"ok": True, "problems": []}
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]


def test_invalid_text_names_the_file_and_the_line_of_the_problem(world):
    app, store, path = world
    edit = with_rule(path.read_text(), BROKEN_RULE)
    answer = check(logged_in(app, store), edit).get_json()
    assert answer["ok"] is False and answer["problems"]
    lines = edit.splitlines()
    broken = lines.index("  - name: zonder-then") + 1  # the rule without a then: starts here
    for problem in answer["problems"]:
        assert set(problem) == {"file", "line", "text"} and problem["file"] == FILE
        assert broken <= problem["line"] <= broken + 2, (problem, lines[problem["line"] - 1])
    assert str(path.parent) not in str(answer)  # the file's name, never the server's folder
    assert path.read_text() != edit  # a check writes nothing


def test_the_json_check_finds_what_the_page_check_finds(world):
    """One check: the page's "Controleren" lists exactly the problems the JSON answer holds."""
    app, store, path = world
    client = logged_in(app, store)
    edit = with_rule(path.read_text(), NEW_RULE.replace("      create:", "      sink: bestaat-niet\n      create:"))
    problems = check(client, edit).get_json()["problems"]
    page = text_of(post(client, "controleer", tekst=edit))
    shown = [html.unescape(p) for p in re.findall(r'<li class="fouttekst">([^<]*)</li>', page)]
    assert shown == [f"{p['file']}:{p['line']}: {p['text']}" for p in problems]
    assert len(problems) == 1 and "bestaat-niet" in problems[0]["text"] and "is not configured" in problems[0]["text"]
    assert edit.splitlines()[problems[0]["line"] - 1] == "  - name: fiets"


def test_a_yaml_syntax_error_has_its_line(world):
    app, store, path = world
    edit = path.read_text() + "rules: [\n"
    problems = check(logged_in(app, store), edit).get_json()["problems"]
    assert problems and problems[0]["file"] == FILE
    assert problems[0]["line"] >= len(path.read_text().splitlines())


def test_the_helpdesk_is_refused(world):
    app, store, path = world
    answer = check(logged_in(app, store, "hanna", "helpdesk"), path.read_text())
    assert answer.status_code == 403 and answer.get_json(silent=True) is None


def test_not_logged_in_is_sent_to_the_login_page(world):
    app, store, path = world
    client = app.test_client()
    answer = client.post(f"/regels/{FILE}/controleer.json", data={"csrf_token": csrf(client), "tekst": "rules: []\n"})
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_without_the_csrf_token_it_is_refused(world):
    app, store, path = world
    answer = logged_in(app, store).post(f"/regels/{FILE}/controleer.json", data={"tekst": path.read_text()})
    assert answer.status_code == 400 and answer.get_json(silent=True) is None


def test_too_much_text_is_refused(world):
    app, store, _ = world
    answer = check(logged_in(app, store), "#" * (1024 * 1024 + 1))
    assert answer.status_code == 413


@pytest.mark.parametrize("name", ["bestaat-niet.yaml", "connector.yaml", ".."])
def test_a_name_outside_the_mappings_folder_is_not_found(world, name):
    app, store, _ = world
    assert check(logged_in(app, store), "rules: []\n", name=name).status_code in (404, 400)


def test_the_page_loads_the_script_for_an_admin_only(world):
    app, store, _ = world
    admin = text_of(logged_in(app, store).get(f"/regels/{FILE}"))
    assert '<script src="/static/regels.js" defer></script>' in admin
    assert f'data-controle="/regels/{FILE}/controleer.json"' in admin and f'data-bestand="{FILE}"' in admin
    assert "<script>" not in admin  # nothing inline
    helpdesk = text_of(logged_in(app, store, "hanna", "helpdesk").get(f"/regels/{FILE}"))
    assert "regels.js" not in helpdesk and "data-controle" not in helpdesk


def test_the_script_is_served_with_the_csp_and_builds_no_html_from_text(world):
    app, store, _ = world
    answer = app.test_client().get("/static/regels.js")
    script = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "javascript" in answer.mimetype
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "document.write"):
        assert forbidden not in script, forbidden


def save(client, text: str, comment: str):
    answer = post(client, "opslaan", tekst=text, toelichting=comment, basis=basis_of(client))
    assert answer.status_code == 302, text_of(answer)


def test_the_diff_between_two_saved_versions(world):
    app, store, path = world
    original = path.read_text()
    client = logged_in(app, store)
    save(client, with_rule(original, NEW_RULE), "fietsen")                        # versions 1 (before) and 2
    save(client, with_rule(original, NEW_RULE.replace("Fiets", "Rijwiel")), "rijwiel")  # version 3
    page = text_of(client.get(f"/regels/{FILE}/versies?van=2&naar=3"))
    assert "Verschil tussen versie 2 en\n  versie 3" in page
    assert '<span class="kopregel">--- versie 2\n</span><span class="kopregel">+++ versie 3\n</span>' in page
    assert '<span class="eraf">-        omschrijving: &#34;Fiets {id}&#34;\n</span>' in page
    assert '<span class="erbij">+        omschrijving: &#34;Rijwiel {id}&#34;\n</span>' in page
    assert "+  - name: fiets" not in page  # in both versions
    whole = text_of(client.get(f"/regels/{FILE}/versies?van=1&naar=3"))
    assert '<span class="erbij">+  - name: fiets\n</span>' in whole
    same = text_of(client.get(f"/regels/{FILE}/versies?van=3&naar=huidig"))
    assert "Geen verschil." in same and "het huidige bestand" in same
    assert re.search(r'<option value="3" selected>versie 3</option>', page)  # the form shows the choice


def test_the_versions_form_offers_the_two_newest_by_default(world):
    app, store, path = world
    client = logged_in(app, store)
    save(client, with_rule(path.read_text(), NEW_RULE), "fietsen")
    page = text_of(client.get(f"/regels/{FILE}/versies"))
    assert '<form class="vergelijk" method="get"' in page
    assert re.search(r'<select id="van" name="van">.*<option value="1" selected>', page, re.S)
    assert re.search(r'<select id="naar" name="naar">.*<option value="2" selected>', page, re.S)
    assert "Verschil tussen" not in page


@pytest.mark.parametrize("query", ["van=1&naar=9", "van=9", "van=x&naar=1", "van=1&naar=-1", "van=1&naar=1" + "0" * 12])
def test_an_unknown_version_is_not_found(world, query):
    app, store, path = world
    client = logged_in(app, store)
    save(client, with_rule(path.read_text(), NEW_RULE), "fietsen")
    assert client.get(f"/regels/{FILE}/versies?{query}").status_code == 404


def test_the_helpdesk_may_compare_versions(world):
    app, store, path = world
    save(logged_in(app, store), with_rule(path.read_text(), NEW_RULE), "fietsen")
    page = text_of(logged_in(app, store, "hanna", "helpdesk").get(f"/regels/{FILE}/versies?van=1&naar=2"))
    assert '<span class="erbij">+  - name: fiets\n</span>' in page and "Terugzetten" not in page


@pytest.mark.parametrize("old, new, expected", [
    ("a\nb\n", "a\nb\n", []),
    ("a\nb\n", "a\nc\n", ["kopregel", "kopregel", "blok", "zelfde", "eraf", "erbij"]),
    ("a\n", "a", ["kopregel", "kopregel", "blok", "eraf", "erbij"]),  # only the last newline went: still a difference
])
def test_diff_lines_kinds(old, new, expected):
    assert [kind for kind, _ in diff_lines(old, new, "A", "B")] == expected
    assert all("\n" not in line for _, line in diff_lines(old, new, "A", "B"))
