"""The rule editor of the web UI (/regels): checked as 'connector mappings check' checks, a dry run that
shows only the messages whose rule changes, saving with a comment and a version, diff and roll back; only
admins may change anything, names outside the mappings folder are refused, and all text is escaped."""
from __future__ import annotations

import html
import re

import pytest

from connector.rulesholder import RulesHolder

from .conftest import make_message, sqlite_only
from .web_support import csrf, logged_in, make_app

FILE = "rules.yaml"
NEW_RULE = """  - name: fiets
    when:
      regex: 'fiets'
    then:
      create:
        zaaktype: SOCIAL-MELDING
        omschrijving: "Fiets {id}"
"""
BROKEN_RULE = """  - name: zonder-then
    when:
      regex: 'fiets'
"""


@pytest.fixture
def world(tmp_path, store_url):
    app, store, _ = make_app(tmp_path, store_url=store_url)
    messages = [make_message("1", channel="gemeente-mastodon", text="mijn fiets is gestolen"),
                make_message("2", channel="gemeente-mastodon", text="hallo"),
                make_message("3", channel="gemeente-mastodon", text="over ZAAK-2026-0000000001 en de fiets")]
    store.save_page("gemeente-mastodon", [(m, []) for m in messages], {})
    path = tmp_path / "mappings" / FILE
    yield app, store, path
    store.close()


def with_rule(original: str, rule: str) -> str:
    """The rules file with ``rule`` added as the last rule (before ``unmatched:``)."""
    return original.replace("unmatched:", rule + "unmatched:", 1)


def post(client, action: str, name: str = FILE, **data):
    token = csrf(client, "/regels")  # the page's logout form carries the session's token
    return client.post(f"/regels/{name}/{action}", data={"csrf_token": token, **data})


def text_of(response) -> str:
    return response.get_data(as_text=True)


def test_the_list_shows_the_files_and_that_they_are_valid(world):
    app, store, _ = world
    page = text_of(logged_in(app, store).get("/regels"))
    assert f'href="/regels/{FILE}"' in page and "De regelbestanden zijn geldig." in page
    assert logged_in(app, store, "bert").get("/mappings").headers["Location"].endswith("/regels")


def test_a_file_beginning_with_an_empty_line_keeps_it_in_the_textarea(world):
    """HTML drops one newline right after <textarea>: the page puts one there so the file's own stays."""
    app, store, path = world
    path.write_text("\n" + path.read_text())
    page = text_of(logged_in(app, store).get(f"/regels/{FILE}"))
    assert 'spellcheck="false">\n\n# Mapping rules' in page


def test_a_broken_edit_is_shown_with_file_and_line_and_nothing_is_written(world):
    app, store, path = world
    original = path.read_text()
    client = logged_in(app, store)
    answer = post(client, "controleer", tekst=with_rule(original, BROKEN_RULE))
    page = text_of(answer)
    assert answer.status_code == 200
    assert re.search(rf'class="fouttekst">{re.escape(FILE)}:\d+: ', page), page
    assert str(path.parent) not in page  # the file's name, not the server's folder
    assert path.read_text() == original
    good = post(client, "controleer", tekst=with_rule(original, NEW_RULE))
    assert "De regels zijn geldig." in text_of(good)


def test_the_check_is_the_one_of_mappings_check(world):
    """An unknown sink is refused in the editor as the holder refuses it."""
    app, store, path = world
    edit = with_rule(path.read_text(), NEW_RULE.replace("      create:", "      sink: bestaat-niet\n      create:"))
    page = text_of(post(logged_in(app, store), "controleer", tekst=edit))
    assert "bestaat-niet" in page and "is not configured" in page


def test_the_dry_run_lists_exactly_the_messages_whose_rule_changes(world):
    app, store, path = world
    ids = {row["platform_id"]: row["id"] for row in store.query("select id, platform_id from messages")}
    page = text_of(post(logged_in(app, store), "proef", tekst=with_rule(path.read_text(), NEW_RULE)))
    assert "3 opgeslagen berichten bekeken; bij 1 verandert" in page
    rows = re.findall(r"<tr><td><a href=\"/berichten/(\d+)\">\d+</a></td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", page)
    assert rows == [(str(ids["1"]), "gemeente-mastodon", "unmatched", "create", "fiets", "create")]


def test_saving_needs_a_comment_then_writes_the_file_records_the_version_and_the_rules_reload(world):
    app, store, path = world
    original = path.read_text()
    worker = RulesHolder(path.parent)  # the worker's own holder, as it runs beside the web app
    client = logged_in(app, store, "anna", "admin")
    basis = re.search(r'name="basis" value="([0-9a-f]+)"', text_of(client.get(f"/regels/{FILE}"))).group(1)
    edit = with_rule(original, NEW_RULE)
    refused = post(client, "opslaan", tekst=edit, toelichting="  ", basis=basis)
    assert refused.status_code == 422 and "Geef een toelichting" in text_of(refused)
    assert path.read_text() == original and store.rule_versions(FILE) == []
    saved = post(client, "opslaan", tekst=edit.replace("\n", "\r\n"), toelichting="fietsen apart", basis=basis)
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/regels/{FILE}/versies")
    assert path.read_text() == edit  # the browser's CRLF back to LF
    assert [p.name for p in path.parent.iterdir()] == [FILE]  # no temporary file left behind
    versions = store.rule_versions(FILE)
    assert [(v["version"], v["author"]) for v in versions] == [(2, "anna"), (1, "anna")]
    assert versions[0]["comment"] == "fietsen apart" and store.rule_version(FILE, 1)["content"] == original
    assert store.newest_rule_version(FILE)["content"] == edit
    events = store.query("select detail_json from events where kind = 'rules.saved' order by id")
    assert len(events) == 2 and '"anna"' in events[-1]["detail_json"]
    assert "fiets" in [r.name for r in app.config["RULES"].current().rules]
    assert worker.refresh() and "fiets" in [r.name for r in worker.current().rules]


def test_invalid_rules_and_a_stale_edit_are_not_saved(world):
    app, store, path = world
    original = path.read_text()
    client = logged_in(app, store)
    basis = re.search(r'name="basis" value="([0-9a-f]+)"', text_of(client.get(f"/regels/{FILE}"))).group(1)
    invalid = post(client, "opslaan", tekst=with_rule(original, BROKEN_RULE), toelichting="stuk", basis=basis)
    assert invalid.status_code == 422 and re.search(rf"{re.escape(FILE)}:\d+: ", text_of(invalid))
    stale = post(client, "opslaan", tekst=with_rule(original, NEW_RULE), toelichting="oud", basis="0" * 64)
    assert stale.status_code == 409
    assert path.read_text() == original and store.rule_versions(FILE) == []


def test_diff_and_rollback_restore_the_earlier_content(world):
    app, store, path = world
    original = path.read_text()
    client = logged_in(app, store)
    basis = re.search(r'name="basis" value="([0-9a-f]+)"', text_of(client.get(f"/regels/{FILE}"))).group(1)
    post(client, "opslaan", tekst=with_rule(original, NEW_RULE), toelichting="fietsen", basis=basis)
    diff = text_of(client.get(f"/regels/{FILE}/versies?versie=1"))
    assert "+  - name: fiets" in diff and "--- versie 1" in diff
    assert client.get(f"/regels/{FILE}/versies?versie=99").status_code == 404
    back = post(client, "terugzetten/1", toelichting="")
    assert back.status_code == 302 and path.read_text() == original
    newest = store.newest_rule_version(FILE)
    assert (newest["version"], newest["comment"], newest["content"]) == (3, "teruggezet naar versie 1", original)
    assert "fiets" not in [r.name for r in app.config["RULES"].current().rules]
    assert "Geen verschil." in text_of(client.get(f"/regels/{FILE}/versies?versie=1"))


def test_the_helpdesk_sees_no_form_and_cannot_post(world):
    app, store, path = world
    original = path.read_text()
    client = logged_in(app, store, "hanna", "helpdesk")
    page = text_of(client.get(f"/regels/{FILE}"))
    assert "readonly" in page and 'name="tekst"' not in page and "/opslaan" not in page
    assert "Terugzetten" not in text_of(client.get(f"/regels/{FILE}/versies"))
    for action in ("controleer", "proef", "opslaan", "terugzetten/1"):
        answer = post(client, action, tekst=with_rule(original, NEW_RULE), toelichting="mag niet")
        assert answer.status_code == 403, action
    assert path.read_text() == original and store.rule_versions(FILE) == []


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
def test_without_the_csrf_token_nothing_is_saved(world):
    app, store, path = world
    original = path.read_text()
    answer = logged_in(app, store).post(f"/regels/{FILE}/opslaan", data={"tekst": "rules: []\n", "toelichting": "x"})
    assert answer.status_code == 400 and path.read_text() == original


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
@pytest.mark.parametrize("name", ["..%2Fconnector.yaml", "%2E%2E", "connector.yaml", ".verborgen.yaml",
                                  "..", "rules.yaml%00", "bestaat-niet.yaml"])
def test_names_outside_the_mappings_folder_are_refused(world, name):
    app, store, path = world
    (path.parent / ".verborgen.yaml").write_text("rules: []\n")
    config = (path.parent.parent / "connector.yaml").read_text()
    client = logged_in(app, store)
    assert client.get(f"/regels/{name}").status_code == 404
    assert client.get(f"/regels/{name}/versies").status_code == 404
    answer = post(client, "opslaan", name=name, tekst="rules: []\n", toelichting="weg")
    assert answer.status_code in (404, 400), answer.status_code
    assert (path.parent.parent / "connector.yaml").read_text() == config
    assert (path.parent / ".verborgen.yaml").read_text() == "rules: []\n" and store.rule_versions(FILE) == []


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
def test_a_hostile_rule_name_text_and_comment_are_escaped(world):
    app, store, path = world
    hostile = "<script>alert(1)</script>"
    client = logged_in(app, store)
    edit = with_rule(path.read_text(), NEW_RULE.replace("fiets\n", f"'{hostile}'\n", 1) + f"# </textarea>{hostile}\n")
    page = text_of(post(client, "controleer", tekst=edit))
    assert hostile not in page and "</textarea><script>" not in page
    assert html.escape(hostile, quote=False) in page or "&lt;script&gt;" in page
    basis = re.search(r'name="basis" value="([0-9a-f]+)"', text_of(client.get(f"/regels/{FILE}"))).group(1)
    post(client, "opslaan", tekst=with_rule(path.read_text(), NEW_RULE), toelichting=hostile, basis=basis)
    versions = text_of(client.get(f"/regels/{FILE}/versies"))
    assert store.newest_rule_version(FILE)["comment"] == hostile
    assert hostile not in versions and "&lt;script&gt;alert(1)&lt;/script&gt;" in versions


@sqlite_only  # no store SQL of its own (escaping, headers, refusals): once is enough
def test_too_much_text_is_refused(world):
    app, store, path = world
    answer = post(logged_in(app, store), "controleer", tekst="#" * (1024 * 1024 + 1))
    assert answer.status_code == 413


def test_what_a_target_sink_cannot_take_is_refused_as_mappings_check_config_refuses_it(world):
    app, store, path = world
    edit = path.read_text().replace("informatieobjecttype: Sociale-mediabericht", "informatieobjecttype: " + "x" * 300)
    page = text_of(post(logged_in(app, store), "controleer", tekst=edit))
    assert re.search(rf"{re.escape(FILE)}:\d+: rule &#39;[\w-]+&#39;.*sink &#39;openzaak&#39;", page)


def test_one_mappings_file_instead_of_a_folder_is_edited_in_place(tmp_path):
    import yaml

    from connector.config import load_config
    from connector.store import Store
    from connector.web import create_app

    from .web_support import write_config

    path, environ = write_config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["mappings"] = str(tmp_path / "mappings" / FILE)
    path.write_text(yaml.safe_dump(config))
    loaded = load_config(path, environ=environ)
    store = Store(loaded.store)
    app = create_app(loaded, store=store)
    rules = tmp_path / "mappings" / FILE
    original = rules.read_text()
    client = logged_in(app, store)
    basis = re.search(r'name="basis" value="([0-9a-f]+)"', text_of(client.get(f"/regels/{FILE}"))).group(1)
    saved = post(client, "opslaan", tekst=with_rule(original, NEW_RULE), toelichting="los bestand", basis=basis)
    assert saved.status_code == 302 and rules.read_text() == with_rule(original, NEW_RULE)
    assert client.get("/regels/connector.yaml").status_code == 404
    store.close()
