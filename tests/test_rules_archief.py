"""The archival appraisal of a rule (``archief:``): checked with file and line, taken from the action or
the defaults (whole), carried in the Routing and stored with it."""
from __future__ import annotations

import json

import pytest

from connector.routing import Archief, Informatiecategorie, Routing, duration_problem
from connector.rules import check_rules, load_rules

from .conftest import run_cli
from .test_rules import HEADER, msg

SELECTIELIJST = "Selectielijst gemeenten en intergemeentelijke organen 2020"


def write(tmp_path, body: str, header: str = HEADER, name: str = "10-rules.yaml"):
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def rule_with(archief: str) -> str:
    """One rule whose action sets ``archief`` (YAML lines indented under it); its line is 3 of the body."""
    lines = "".join(f"        {line}\n" for line in archief.splitlines())
    return ("rules:\n  - name: r\n    when: {hashtag: afval}\n    then:\n      create: {zaaktype: X}\n"
            f"      archief:\n{lines}")


BODY_FIRST = HEADER.count("\n") + 1  # the line of "rules:"
ARCHIEF_LINE = BODY_FIRST + 5  # "archief:" in rule_with
FIRST_KEY = ARCHIEF_LINE + 1


# -- valid ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("archief, expected", [
    ("waardering: B", Archief("B")),
    ("waardering: N", Archief("N")),
    ("waardering: V\nbewaartermijn: P10Y", Archief("V", "P10Y")),
    ("waardering: V\nbewaartermijn: P1Y6M", Archief("V", "P1Y6M")),
    ("waardering: V\nbewaartermijn: P30D", Archief("V", "P30D")),
    ("waardering: V\nbewaartermijn: PT12H", Archief("V", "PT12H")),
    (f"waardering: B\ninformatiecategorie:\n  label: Raadsvergaderingen\n  selectielijst: {SELECTIELIJST}",
     Archief("B", None, Informatiecategorie("Raadsvergaderingen", SELECTIELIJST))),
    (f"waardering: V\nbewaartermijn: P5Y\ninformatiecategorie: {{label: Meldingen, code: '11.1.2',"
     f" selectielijst: {SELECTIELIJST}}}", Archief("V", "P5Y", Informatiecategorie("Meldingen", SELECTIELIJST,
                                                                                     "11.1.2"))),
])
def test_a_rule_s_archief_reaches_the_routing(tmp_path, archief, expected):
    write(tmp_path, rule_with(archief))
    routing = load_rules(tmp_path).resolve(msg(hashtags=["afval"]))
    assert routing.rule == "r" and routing.archief == expected


# -- invalid: file and line ------------------------------------------------------------------------

@pytest.mark.parametrize("archief, line, text", [
    ("waardering: V", ARCHIEF_LINE,
     "archief.bewaartermijn: waardering V (tijdelijk te bewaren) needs a bewaartermijn"),
    ("waardering: B\nbewaartermijn: P10Y", FIRST_KEY + 1, "archief.bewaartermijn: only with waardering V"),
    ("waardering: N\nbewaartermijn: P10Y", FIRST_KEY + 1, "only with waardering V"),
    ("waardering: v\nbewaartermijn: P10Y", FIRST_KEY, "archief.waardering: must be one of B, V, N"),
    ("waardering: X", FIRST_KEY, "must be one of B, V, N"),
    ("waardering: V\nbewaartermijn: 10 jaar", FIRST_KEY + 1, "is not an ISO 8601 duration like P10Y"),
    ("waardering: V\nbewaartermijn: P2W", FIRST_KEY + 1, "write weeks as days (P14D, not P2W)"),
    ("waardering: V\nbewaartermijn: -P1Y", FIRST_KEY + 1, "is not an ISO 8601 duration"),
    ("waardering: V\nbewaartermijn: P", FIRST_KEY + 1, "is not an ISO 8601 duration"),
    ("waardering: V\nbewaartermijn: 10", FIRST_KEY + 1, "YAML read 10 as a number"),
    ("bewaartermijn: P10Y", ARCHIEF_LINE, "archief.waardering: Missing data for required field"),
    ("waardering: B\nbewaren: altijd", FIRST_KEY + 1, "archief.bewaren: unknown key in archief"),
    ("waardering: B\ninformatiecategorie: {label: Meldingen}", FIRST_KEY + 1,
     "informatiecategorie.selectielijst: Missing data for required field"),
    ("waardering: B\ninformatiecategorie: {label: M, code: 11.1, selectielijst: S}", FIRST_KEY + 1,
     "informatiecategorie.code: must be text, but YAML read 11.1 as a number"),
])
def test_a_wrong_archief_is_refused_at_its_line(tmp_path, archief, line, text):
    path = write(tmp_path, rule_with(archief))
    problems = check_rules(tmp_path)
    assert len(problems) == 1, problems
    assert (problems[0].file, problems[0].line) == (str(path), line), problems[0]
    assert text in problems[0].message and "rules[0].then." in problems[0].message


def test_mappings_check_reports_a_v_without_bewaartermijn(tmp_path, capsys):
    path = write(tmp_path, rule_with("waardering: V"))
    code, out, _ = run_cli(capsys, "mappings", "check", str(tmp_path))
    assert code == 1
    assert f"{path}:{ARCHIEF_LINE}: rules[0].then.archief.bewaartermijn: waardering V" in out


def test_defaults_are_checked_too(tmp_path):
    path = write(tmp_path, "defaults:\n  archief:\n    waardering: V\nrules: []\n")
    problems = check_rules(tmp_path)
    assert [(p.file, p.line) for p in problems] == [(str(path), BODY_FIRST + 1)]
    assert "defaults.archief.bewaartermijn" in problems[0].message


# -- where it is taken from ------------------------------------------------------------------------

def test_archief_comes_from_the_action_else_defaults_else_global_defaults_and_whole(tmp_path):
    header = HEADER.replace("global_defaults:\n", "global_defaults:\n  archief: {waardering: N}\n")
    write(tmp_path, "defaults:\n  archief:\n    waardering: V\n    bewaartermijn: P1Y\n"
                    "    informatiecategorie: {label: Meldingen, selectielijst: S}\n"
                    "rules:\n"
                    "  - {name: own, when: {hashtag: eigen}, then: {create: {zaaktype: X}, archief: {waardering: B}}}\n"
                    "  - {name: file, when: {hashtag: bestand}, then: {create: {zaaktype: X}}}\n",
          header=header, name="10-a.yaml")
    write(tmp_path, "rules:\n  - {name: global, when: {hashtag: overal}, then: {attach: Z-1}}\n", header="",
          name="20-b.yaml")
    ruleset = load_rules(tmp_path)
    own = ruleset.resolve(msg(hashtags=["eigen"])).archief
    assert own == Archief("B")  # whole: no bewaartermijn nor informatiecategorie from the defaults
    assert ruleset.resolve(msg(hashtags=["bestand"])).archief == Archief("V", "P1Y", Informatiecategorie(
        "Meldingen", "S"))
    assert ruleset.resolve(msg(hashtags=["overal"])).archief == Archief("N")


def test_without_any_archief_the_routing_has_none(tmp_path):
    write(tmp_path, "rules:\n  - {name: r, when: {hashtag: afval}, then: {create: {zaaktype: X}}}\n")
    assert load_rules(tmp_path).resolve(msg(hashtags=["afval"])).archief is None


def test_follow_thread_and_its_otherwise_carry_their_own_archief(tmp_path):
    write(tmp_path, "rules:\n  - name: t\n    when: {is_reply: true}\n    then:\n"
                    "      archief: {waardering: B}\n"
                    "      follow_thread:\n        otherwise:\n          create: {zaaktype: X}\n"
                    "          archief: {waardering: V, bewaartermijn: P2Y}\n")
    routing = load_rules(tmp_path).resolve(msg(in_reply_to="9", kind="reply"))
    assert routing.action == "follow_thread" and routing.archief == Archief("B")
    assert routing.fallback.archief == Archief("V", "P2Y")
    assert Routing.from_dict(json.loads(json.dumps(routing.to_dict()))) == routing


# -- the Routing ---------------------------------------------------------------------------------

def test_a_routing_with_archief_round_trips_through_json():
    routing = Routing("create", zaaktype="X", archief=Archief("V", "P10Y", Informatiecategorie("M", "S", "1")))
    stored = json.loads(json.dumps(routing.to_dict()))
    assert stored["archief"] == {"waardering": "V", "bewaartermijn": "P10Y",
                                 "informatiecategorie": {"label": "M", "selectielijst": "S", "code": "1"}}
    assert Routing.from_dict(stored) == routing


def test_a_routing_stored_before_the_archival_fields_still_loads():
    stored = {"action": "create", "rule": "r", "source": "f.yaml:3", "sink": "zgw", "zaak_identificatie": None,
              "zaak_url": None, "zaaktype": "X", "zaak": {}, "informatieobjecttype": None,
              "vertrouwelijkheidaanduiding": "openbaar", "titel": "t", "reason": "", "fallback": None}
    routing = Routing.from_dict(stored)
    assert routing.archief is None and routing.sinks == ("zgw",)
    assert Routing.from_dict({**stored, "archief": None}).archief is None


@pytest.mark.parametrize("waardering, termijn, problem", [
    ("V", None, "needs a bewaartermijn"), ("B", "P1Y", "only with waardering V"), ("Q", None, "must be one of"),
    ("V", "P2W", "not an ISO 8601 duration"),
])
def test_an_archief_cannot_be_made_wrong_in_code_either(waardering, termijn, problem):
    with pytest.raises(ValueError, match=problem):
        Archief(waardering, termijn)


@pytest.mark.parametrize("text", ["P10Y", "P1Y6M", "P3M", "P30D", "P1DT12H", "PT30M", "PT1S", "P99999D"])
def test_durations_an_archive_can_compute_with(text):
    assert duration_problem(text) is None


@pytest.mark.parametrize("text", ["", "P", "PT", "P1YT", "10Y", "p10y", "P1.5Y", "P2W", "-P1Y", "P100000Y",
                                  "P10Y ", "P1Y\n"])
def test_not_durations(text):
    assert duration_problem(text)
