"""Why a rule decides (connector.rules.explain): the rules tried in order, each condition held or not,
the unmatched policy, the bound on rules shown, and never a different decision than RuleSet.match."""
from __future__ import annotations

import json

import pytest

from connector.message import Message
from connector.routing import Routing
from connector.rules import load_rules
from connector.rules.explain import explain

from .conftest import FIXTURES, ROOT
from .test_rules import CONDITION_CASES, msg, one_rule, rules_from

RULES = """\
rules:
  - name: uitgezet
    enabled: false
    when: {hashtag: afval}
    then: {hold: never}
  - name: english-afval
    when: {hashtag: afval, language: en}
    then: {hold: english}
  - name: quoted
    when: {regex: '(?P<nr>ZAAK-\\d{4})'}
    then: {attach: "{match.nr}"}
  - name: vraag
    when:
      any: [{hashtag: vraag}, {keyword: "vraag aan de gemeente"}]
      not: {account: gemeente}
    then:
      create: {zaaktype: SOCIAL-VRAAG}
"""


@pytest.fixture
def ruleset(tmp_path):
    return rules_from(tmp_path, RULES)


def conditions(check):
    return {c.name: c for c in check.conditions}


def test_a_matching_rule_after_a_failed_one_with_its_failed_condition(ruleset):
    explained = explain(ruleset, msg("over ZAAK-2026 en zo", hashtags=["afval"]))
    assert [r.name for r in explained.tried] == ["english-afval"]  # the disabled rule is not tried
    failed = conditions(explained.tried[0])
    assert failed["hashtag"].held and failed["hashtag"].actual is None and failed["hashtag"].value == "afval"
    assert not failed["language"].held and failed["language"].actual == "nl" and failed["language"].value == "en"
    assert explained.decision.name == explained.rule == "quoted" and explained.decision.matched
    assert explained.decision.source.endswith("10-rules.yaml:13") and not explained.unmatched
    assert conditions(explained.decision)["regex"].value == "(?P<nr>ZAAK-\\d{4})"
    assert (explained.routing.action, explained.routing.zaak_identificatie) == ("attach", "ZAAK-2026")
    assert explained.hidden == 0


def test_any_and_not_show_their_parts(ruleset):
    explained = explain(ruleset, msg("Een vraag aan de gemeente", handle="gemeente@social.example"))
    assert explained.unmatched and explained.rule == "unmatched" and explained.routing.action == "hold"
    vraag = conditions(explained.tried[-1])
    assert vraag["any"].held and [b.held for b in vraag["any"].parts] == [False, True]
    assert vraag["any"].parts[0].parts[0].actual == ""  # the message has no hashtags
    assert not vraag["not"].held and vraag["not"].parts[0].held and vraag["not"].value == "account: gemeente"


def test_the_default_decides_when_no_rule_matches(ruleset):
    explained = explain(ruleset, msg("niets bijzonders"))
    assert [r.name for r in explained.tried] == ["english-afval", "quoted", "vraag"]
    assert not any(r.matched for r in explained.tried)
    assert conditions(explained.tried[1])["regex"].actual == "niets bijzonders"
    assert explained.decision.name == "unmatched" and explained.decision.conditions == ()
    assert explained.routing.reason == "no rule matched"


def test_long_rule_sets_are_shown_bounded_with_a_count(tmp_path):
    body = "rules:\n" + "".join(f"  - name: r{n}\n    when: {{hashtag: tag{n}}}\n    then: {{hold: h}}\n"
                                for n in range(40))
    ruleset = rules_from(tmp_path, body)
    explained = explain(ruleset, msg(hashtags=["tag30"]), limit=5)
    assert [r.name for r in explained.tried] == ["r0", "r1", "r2", "r3"]
    assert explained.hidden == 26 and explained.rule == "r30"
    explained = explain(ruleset, msg(), limit=5)
    assert len(explained.tried) == 4 and explained.hidden == 36 and explained.unmatched


def test_values_and_the_messages_text_are_clipped(tmp_path):
    ruleset = one_rule(tmp_path, "{keyword: [" + ", ".join(f"woord{n}" for n in range(100)) + "]}")
    explained = explain(ruleset, msg("lang " * 500))
    keyword = conditions(explained.tried[0])["keyword"]
    assert len(keyword.value) == 200 and keyword.value.endswith("…")
    assert len(keyword.actual) == 80 and keyword.actual.startswith("lang lang")


def test_the_stored_decision_is_compared(ruleset):
    explained = explain(ruleset, msg("over ZAAK-2026"))
    assert not explained.differs_from(Routing("attach", rule="quoted", zaak_identificatie="ZAAK-2026"))
    assert explained.differs_from(Routing("hold", rule="quoted"))
    assert explained.differs_from(Routing("hold", rule="unmatched"))
    assert explained.differs_from(None)


def test_a_fallen_back_follow_thread_is_the_same_decision(tmp_path):
    ruleset = rules_from(tmp_path, "rules:\n  - name: t\n    when: {is_reply: true}\n"
                                   "    then: {follow_thread: {otherwise: {hold: geen zaak}}}\n")
    explained = explain(ruleset, msg(in_reply_to="9", kind="reply"))
    assert explained.routing.action == "follow_thread"
    assert not explained.differs_from(Routing("hold", rule="t", reason="geen zaak"))
    assert explained.differs_from(Routing("create", rule="t", zaaktype="X"))


@pytest.mark.parametrize("when, fields, matches", CONDITION_CASES)
def test_each_condition_case_agrees_with_the_engine(tmp_path, when, fields, matches):
    ruleset = one_rule(tmp_path, when)
    explained = explain(ruleset, msg(**fields))
    assert explained.rule == ruleset.match(msg(**fields))[0].name == ("r" if matches else "unmatched")
    if not matches:
        assert not all(c.held for c in explained.tried[0].conditions)


def _fixture_messages():
    lines = (FIXTURES / "rules" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    found = [Message.from_dict(json.loads(line)) for line in lines]
    for name in ("mastodon-status.json", "hostile.json"):
        data = json.loads((FIXTURES / "messages" / name).read_text(encoding="utf-8"))
        found.append(Message.from_dict(data["message"]))
    return found


@pytest.mark.parametrize("folder", [ROOT / "mappings", FIXTURES / "e2e" / "mappings"])
def test_for_every_fixture_message_the_deciding_rule_is_matchs(folder):
    ruleset = load_rules(folder)
    messages = _fixture_messages()
    assert len(messages) >= 9
    for message in messages:
        rule, groups = ruleset.match(message)
        explained = explain(ruleset, message)
        assert explained.rule == rule.name, message.id
        assert explained.routing == ruleset.resolve(message), message.id
        assert all(not r.matched for r in explained.tried)
        assert all(c.held for c in explained.decision.conditions)
