"""Mapping rules: conditions, actions, order, the unmatched policy, validation, purity (templates: test_rules_templates.py)."""
from __future__ import annotations

import copy
import random
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from connector.message import Author, Message
from connector.routing import Routing
from connector.rules import RulesError, check_rules, load_rules

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "rules"
HEADER = """\
global_defaults:
  informatieobjecttype: Sociale-mediabericht
unmatched:
  hold: no rule matched
"""


def msg(text="Hallo gemeente", *, channel="gemeente-mastodon", handle="inwoner@social.example", kind="post",
        hashtags=(), mentions=(), in_reply_to=None, language="nl", id="1", **extra):
    return Message(channel=channel, id=id, kind=kind, author=Author(id="7", handle=handle, name="Inwoner"),
                   created_at=datetime(2026, 3, 2, 9, 15, 30, tzinfo=timezone.utc), text=text,
                   url=f"https://social.example/@x/{id}", in_reply_to=in_reply_to, language=language,
                   hashtags=tuple(hashtags), mentions=tuple(mentions), **extra)


def rules_from(tmp_path, body: str, name="10-rules.yaml", header=HEADER):
    (tmp_path / name).write_text(header + body, encoding="utf-8")
    return load_rules(tmp_path)


def one_rule(tmp_path, when: str, then: str = "hold: matched"):
    return rules_from(tmp_path, f"rules:\n  - name: r\n    when: {when}\n    then: {{{then}}}\n")


# -- conditions -------------------------------------------------------------------------------

CONDITION_CASES = [
    ("{channel: gemeente-mastodon}", {}, True),
    ("{channel: other}", {}, False),
    ("{channel: [other, gemeente-mastodon]}", {}, True),
    ("{account: inwoner@social.example}", {}, True),
    ("{account: '@Inwoner@Social.Example'}", {}, True),
    ("{account: inwoner}", {"handle": "inwoner@elsewhere.example"}, True),
    ("{account: inwoner@other.example}", {}, False),
    ("{account: '@inwoner'}", {"handle": "@INWONER"}, True),
    ("{account: gemeente}", {}, False),
    ("{hashtag: afval}", {"hashtags": ["afval", "dorpsstraat"]}, True),
    ("{hashtag: '#Afval'}", {"hashtags": ["afval"]}, True),
    ("{hashtag: [grofvuil, afval]}", {"hashtags": ["afval"]}, True),
    ("{hashtag: afval}", {"hashtags": ["grofvuil"]}, False),
    ("{mention: gemeente}", {"mentions": ["gemeente@social.overheid.nl"]}, True),
    ("{mention: '@gemeente@social.overheid.nl'}", {"mentions": ["Gemeente@Social.Overheid.nl"]}, True),
    ("{mention: gemeente@elders.nl}", {"mentions": ["gemeente@social.overheid.nl"]}, False),
    ("{keyword: afval}", {"text": "Veel AFVAL hier."}, True),
    ("{keyword: afval}", {"text": "De afvalbak is vol"}, False),
    ("{keyword: 'vraag aan de gemeente'}", {"text": "Een Vraag  aan\nde gemeente: waarom?"}, True),
    ("{keyword: [lantaarnpaal, stoeptegel]}", {"text": "losse stoeptegel!"}, True),
    ("{keyword: straße}", {"text": "In der STRASSE"}, True),
    ("{keyword: '#afval'}", {"text": "echt #afval"}, True),
    ("{regex: 'ZAAK-\\d{4}'}", {"text": "over ZAAK-2026-1"}, True),
    ("{regex: 'ZAAK-\\d{4}'}", {"text": "over zaak-2026-1"}, False),
    ("{regex: '(?i)ZAAK-\\d{4}'}", {"text": "over zaak-2026-1"}, True),
    ("{regex: ['^nope', 'ja$']}", {"text": "zeg ja"}, True),
    ("{is_reply: true}", {"in_reply_to": "9", "kind": "reply"}, True),
    ("{is_reply: true}", {}, False),
    ("{is_reply: false}", {}, True),
    ("{language: nl}", {"language": "nl-BE"}, True),
    ("{language: [en, de]}", {"language": "nl"}, False),
    ("{language: nl}", {"language": None}, False),
    ("{language: nl-be}", {"language": "nl-BE"}, True),
    ("{kind: [share, comment]}", {"kind": "share"}, True),
    ("{kind: post}", {"kind": "comment"}, False),
    ("{not: {hashtag: afval}}", {"hashtags": ["afval"]}, False),
    ("{not: {hashtag: afval}}", {}, True),
    ("{any: [{hashtag: afval}, {keyword: vuilnis}]}", {"text": "vuilnis!"}, True),
    ("{any: [{hashtag: afval}, {keyword: vuilnis}]}", {"text": "niets"}, False),
    ("{hashtag: afval, language: en}", {"hashtags": ["afval"]}, False),  # conditions are ANDed
    ("{hashtag: afval, language: nl}", {"hashtags": ["afval"]}, True),
    ("{}", {}, True),
]


@pytest.mark.parametrize("when, fields, matches", CONDITION_CASES)
def test_condition(tmp_path, when, fields, matches):
    routing = one_rule(tmp_path, when).resolve(msg(**fields))
    assert routing.rule == ("r" if matches else "unmatched")


# -- actions ----------------------------------------------------------------------------------

def test_attach_uses_the_named_group(tmp_path):
    ruleset = one_rule(tmp_path, r"{regex: '(?i)(?P<nr>zaak-\d{4}-\d{10})'}", "attach: '{match.nr|upper}'")
    routing = ruleset.resolve(msg("Hoe staat zaak-2026-0000000042 ervoor?"))
    assert (routing.action, routing.zaak_identificatie) == ("attach", "ZAAK-2026-0000000042")
    assert routing.informatieobjecttype == "Sociale-mediabericht"


def test_attach_with_empty_identificatie_is_held(tmp_path):
    ruleset = one_rule(tmp_path, r"{regex: '^(?P<nr>.*)$'}", "attach: '{match.nr}'")
    routing = ruleset.resolve(msg(""))
    assert routing.action == "hold" and "identificatie" in routing.reason


def test_attach_identificatie_length_is_the_sinks_business(tmp_path):
    """41 characters is too long for ZGW, not for the rules: the ZGW sink holds it (tests/test_fanout_zgw.py)."""
    ruleset = one_rule(tmp_path, r"{regex: '^(?P<nr>.*)$'}", "attach: '{match.nr}'")
    routing = ruleset.resolve(msg("x" * 41))
    assert (routing.action, routing.zaak_identificatie) == ("attach", "x" * 41)


def test_create_renders_zaak_fields_sink_neutral(tmp_path):
    ruleset = rules_from(tmp_path, """\
rules:
  - name: melding
    when: {hashtag: afval}
    then:
      create:
        zaaktype: SOCIAL-MELDING
        omschrijving: "Melding: {text}"
        toelichting: "{text}"
      vertrouwelijkheidaanduiding: zaakvertrouwelijk
      titel: "{author.handle} {created_at:%Y-%m-%d}"
      sink: zgw
""")
    text = "Zwerfvuil\nbij de speeltuin " + "heel veel " * 200
    routing = ruleset.resolve(msg(text, hashtags=["afval"]))
    assert routing.action == "create" and routing.zaaktype == "SOCIAL-MELDING"
    # one line, but not cut to ZGW's 80 / 1000 characters: the ZGW sink cuts (tests/test_sink_zgw.py)
    assert "\n" not in routing.zaak["omschrijving"] and len(routing.zaak["omschrijving"]) > 80
    assert routing.zaak["omschrijving"].startswith("Melding: Zwerfvuil bij de speeltuin")
    assert len(routing.zaak["toelichting"]) > 1000 and "\n" in routing.zaak["toelichting"]
    assert (routing.vertrouwelijkheidaanduiding, routing.titel, routing.sinks) == (
        "zaakvertrouwelijk", "inwoner@social.example 2026-03-02", ("zgw",))


def test_follow_thread_carries_the_otherwise_fallback(tmp_path):
    ruleset = one_rule(tmp_path, "{is_reply: true}",
                       "follow_thread: {otherwise: {create: {zaaktype: SOCIAL-VRAAG}}}")
    routing = ruleset.resolve(msg(kind="reply", in_reply_to="5"))
    assert routing.action == "follow_thread"
    assert routing.fallback.action == "create" and routing.fallback.zaaktype == "SOCIAL-VRAAG"
    assert routing.fallback.rule == "r"


def test_follow_thread_without_otherwise_leaves_the_fallback_to_the_pipeline(tmp_path):
    routing = one_rule(tmp_path, "{is_reply: true}", "follow_thread: ").resolve(msg(kind="reply", in_reply_to="5"))
    assert routing.action == "follow_thread" and routing.fallback is None


@pytest.mark.parametrize("then, expected", [
    ("follow_thread: {otherwise: {ignore: not a reply}}", ("ignore", "not a reply")),
    ("follow_thread: ", ("hold", "follow_thread: the message replies to nothing")),
])
def test_follow_thread_on_a_message_that_replies_to_nothing_decides_at_once(tmp_path, then, expected):
    routing = one_rule(tmp_path, "{}", then).resolve(msg())
    assert (routing.action, routing.reason) == expected


@pytest.mark.parametrize("then, action, reason", [
    ("hold: 'check {author.handle}'", "hold", "check inwoner@social.example"),
    ("hold: ", "hold", "held by rule 'r'"),
    ("ignore: spam", "ignore", "spam"),
])
def test_hold_and_ignore_carry_their_reason(tmp_path, then, action, reason):
    routing = one_rule(tmp_path, "{}", then).resolve(msg())
    assert (routing.action, routing.reason, routing.informatieobjecttype) == (action, reason, None)


def test_defaults_precedence_rule_over_file_over_global(tmp_path):
    ruleset = rules_from(tmp_path, """\
defaults:
  vertrouwelijkheidaanduiding: intern
  informatieobjecttype: Bijlage
rules:
  - name: file-default
    when: {hashtag: a}
    then: {create: {zaaktype: Z}}
  - name: own
    when: {hashtag: b}
    then: {create: {zaaktype: Z}, vertrouwelijkheidaanduiding: geheim}
""")
    (tmp_path / "20-other.yaml").write_text("rules:\n  - name: global\n    when: {hashtag: c}\n"
                                            "    then: {create: {zaaktype: Z}}\n")
    ruleset = load_rules(tmp_path)
    seen = {tag: ruleset.resolve(msg(hashtags=[tag])) for tag in "abc"}
    assert (seen["a"].vertrouwelijkheidaanduiding, seen["a"].informatieobjecttype) == ("intern", "Bijlage")
    assert seen["b"].vertrouwelijkheidaanduiding == "geheim"
    assert (seen["c"].vertrouwelijkheidaanduiding, seen["c"].informatieobjecttype) == (
        "openbaar", "Sociale-mediabericht")


# -- order and the unmatched policy -------------------------------------------------------------

def test_first_match_wins_in_file_order(tmp_path):
    ruleset = rules_from(tmp_path, """\
rules:
  - name: first
    when: {keyword: afval}
    then: {hold: first}
  - name: second
    when: {hashtag: afval}
    then: {hold: second}
""")
    assert ruleset.resolve(msg("afval", hashtags=["afval"])).rule == "first"
    assert ruleset.resolve(msg("niets", hashtags=["afval"])).rule == "second"


def test_files_are_read_in_name_order(tmp_path):
    (tmp_path / "20-b.yml").write_text("rules:\n  - {name: b, when: {}, then: {hold: b}}\n")
    ruleset = rules_from(tmp_path, "rules:\n  - {name: a, when: {}, then: {hold: a}}\n", name="10-a.yaml")
    assert [r.name for r in ruleset.rules] == ["a", "b"]
    assert ruleset.resolve(msg()).rule == "a"
    assert ruleset.rules[0].source == f"{tmp_path}/10-a.yaml:6"  # the "- " of the rule


def test_disabled_rule_is_skipped(tmp_path):
    ruleset = rules_from(tmp_path, "rules:\n  - {name: switched-off, enabled: false, when: {}, then: {ignore: x}}\n")
    assert ruleset.resolve(msg()).rule == "unmatched"


def test_unmatched_policy_decides_when_no_rule_matches(tmp_path):
    routing = one_rule(tmp_path, "{hashtag: afval}").resolve(msg())
    assert (routing.action, routing.rule, routing.reason) == ("hold", "unmatched", "no rule matched")
    assert routing.source == f"{tmp_path}/10-rules.yaml:3"


def test_missing_unmatched_policy_is_an_error(tmp_path):
    (tmp_path / "10.yaml").write_text("rules:\n  - {name: a, when: {}, then: {hold: a}}\n")
    problems = check_rules(tmp_path)
    assert [(p.file, p.line) for p in problems] == [(str(tmp_path), 0)]
    assert "no unmatched: policy" in problems[0].message


def test_syntax_error_in_the_policy_file_is_not_also_reported_as_missing_policy(tmp_path):
    (tmp_path / "10.yaml").write_text("rules: []\n")
    (tmp_path / "90-unmatched.yaml").write_text("unmatched:\n  hold: 'unclosed\n")
    problems = check_rules(tmp_path)
    assert len(problems) == 1 and problems[0].file.endswith("90-unmatched.yaml")
    assert problems[0].message.startswith("invalid YAML")


@pytest.mark.parametrize("setup, message", [
    (lambda path: None, "no mapping files"),
    (lambda path: path.rmdir(), "no such file or folder"),
])
def test_nothing_to_load_is_an_error(tmp_path, setup, message):
    folder = tmp_path / "mappings"
    folder.mkdir()
    setup(folder)
    with pytest.raises(RulesError) as caught:
        load_rules(folder)
    assert message in str(caught.value)


def _naive(ruleset, message):
    """First match by evaluating every rule in order: what the index must not change."""
    from connector.rules.conditions import Facts
    facts = Facts(message)
    for rule in ruleset.rules:
        if rule.enabled and rule.test(facts, {}):
            return rule.name
    return "unmatched"


def test_index_keeps_first_match_order(tmp_path):
    rng = random.Random(20260302)
    words, tags, people = ["afval", "vuil", "park", "lamp"], ["a", "b", "c"], ["p", "q@x.nl", "r"]
    conditions = [
        lambda: f"hashtag: {rng.sample(tags, 2)}", lambda: f"keyword: {rng.choice(words)}",
        lambda: f"account: {rng.choice(people)}", lambda: f"mention: {rng.choice(people)}",
        lambda: f"channel: {rng.choice(['c1', 'c2'])}", lambda: f"regex: '{rng.choice(words)}$'",
        lambda: f"not: {{hashtag: {rng.choice(tags)}}}", lambda: "is_reply: true",
    ]
    lines = ["rules:"]
    for number in range(60):
        when = ", ".join(make() for make in rng.sample(conditions, rng.randint(1, 2)))
        lines.append(f"  - {{name: r{number}, when: {{{when}}}, then: {{hold: x}}}}")
    (tmp_path / "10.yaml").write_text(HEADER + "\n".join(lines) + "\n")
    ruleset = load_rules(tmp_path)
    for number in range(400):
        message = msg(" ".join(rng.sample(words, 2)), channel=rng.choice(["c1", "c2"]),
                      handle=rng.choice(["p@a.nl", "q@x.nl", "r@b.nl", "s@c.nl"]),
                      hashtags=rng.sample(tags, rng.randint(0, 2)), mentions=rng.sample(["p", "r@z.nl"], 1),
                      in_reply_to=rng.choice([None, "1"]), id=str(number))
        assert ruleset.resolve(message).rule == _naive(ruleset, message)


# -- validation: every broken fixture reports exactly its marked problems, all at once ------------

def _expected(folder_or_file: Path) -> set[tuple[str, int, str]]:
    files = sorted(folder_or_file.glob("*.yaml")) if folder_or_file.is_dir() else [folder_or_file]
    marks = set()
    for file in files:
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            found = re.search(r"# expect: (.+)$", line)
            if found:
                marks.add((str(file), number, found.group(1).replace("{dir}", str(folder_or_file))))
    return marks


BROKEN = sorted((FIXTURES / "broken").glob("*.yaml")) + sorted(p for p in (FIXTURES / "broken-folders").iterdir())


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_mapping_reports_every_problem_at_its_line(path):
    expected = _expected(path)
    assert expected, f"{path} has no '# expect:' markers"
    problems = check_rules(path)
    got = {(p.file, p.line): p.message for p in problems}
    assert len(problems) == len(got) == len(expected), "\n".join(map(str, problems))
    for file, line, text in expected:
        message = got.get((file, line), "")
        assert all(part in message for part in text.split(" ... ")), f"{file}:{line}: want {text!r}, got {message!r}"


def test_load_rules_raises_with_all_problems(tmp_path):
    with pytest.raises(RulesError) as caught:
        load_rules(FIXTURES / "broken" / "bad-templates.yaml")
    assert len(caught.value.problems) == len(_expected(FIXTURES / "broken" / "bad-templates.yaml"))
    assert str(caught.value).count("\n") == len(caught.value.problems) - 1


def test_overrides_check_an_unsaved_edit_with_the_other_files(tmp_path):
    rules_from(tmp_path, "rules: []\n")
    problems = check_rules(tmp_path, overrides={"20-new.yaml": "rules:\n  - {name: x, when: {hashtag: '#'}}\n"})
    assert {p.file for p in problems} == {f"{tmp_path}/20-new.yaml"}
    assert check_rules(tmp_path) == []


# -- purity and fingerprint ---------------------------------------------------------------------

def test_resolve_is_pure(tmp_path):
    ruleset = load_rules(FIXTURES.parent.parent / "mappings")
    again = load_rules(FIXTURES.parent.parent / "mappings")
    messages = [Message.from_dict(__import__("json").loads(line))
                for line in (FIXTURES / "messages.jsonl").read_text().splitlines()]
    for message in messages:
        before = copy.deepcopy(message.to_dict())
        first = ruleset.resolve(message)
        assert isinstance(first, Routing)
        assert first == ruleset.resolve(message) == again.resolve(message)
        assert message.to_dict() == before


def test_fingerprint_follows_the_bytes_not_the_folder(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    first = rules_from(a, "rules: []\n").fingerprint
    assert rules_from(b, "rules: []\n").fingerprint == first
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert rules_from(b, "rules: []  # edited\n").fingerprint != first


def test_rule_lists_its_sinks(tmp_path):
    ruleset = one_rule(tmp_path, "{is_reply: true}",
                       "follow_thread: {otherwise: {create: {zaaktype: Z}, sink: archief}}, sink: zgw")
    assert (ruleset.rules[0].then.own_sinks, ruleset.rules[0].sinks) == (("zgw",), ("zgw", "archief"))


# -- performance ----------------------------------------------------------------------------------
# Measured in bench/ (`python -m bench rules`), not asserted with timings here: a timing test is
# flaky on a loaded CI machine and proves nothing the benchmark does not show.
