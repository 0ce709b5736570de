"""Mapping rule templates: the whitelist, rendering, match groups, and cutting text to a limit."""
from __future__ import annotations

import pytest

from connector.rules import check_rules
from connector.rules.templates import parse, shorten

from .test_rules import HEADER, msg, one_rule


@pytest.mark.parametrize("template", [
    "{__class__}", "{author.__dict__}", "{author.__class__.__init__}", "{created_at:{}}", "{text:{}}",
    "{created_at.year}", "{text!r}", "{text[0]}", "{0}", "{}", "{match.}", "{match.a.b}", "{html}",
    "{created_at:%c}", "{created_at:%x}", "{text|truncate}", "{text|upper(1)}", "{text|__class__}", "{ {text} }",
    "{unclosed", "closing }",
])
def test_template_rejects_anything_outside_the_whitelist(tmp_path, template):
    (tmp_path / "10.yaml").write_text(HEADER + f"rules:\n  - name: r\n    when: {{}}\n"
                                      f"    then:\n      hold: {template!r}\n")
    problems = check_rules(tmp_path)
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(9, "rules[0].then.hold")]


@pytest.mark.parametrize("template, expected", [
    ("{created_at:%Y-%m-%d %H:%M}", "2026-03-02 09:15"),
    ("{created_at}", "2026-03-02T09:15:30Z"),
    ("{edited_at}|{edited_at:%Y}|{language}", "||nl"),
    ("{author.handle|upper} {author.name|lower}", "INWONER@SOCIAL.EXAMPLE inwoner"),
    ("{text|truncate(10)}", "Een lange…"),
    ("{text|oneline}", "Een lange tekst over de speeltuin"),
    ("{spoiler_text|default(geen)}", "geen"),
    ("{hashtags} {mentions}", "#afval #park @gemeente"),
    ("{{literal}} {kind}", "{literal} post"),
    ("tab\tand\x07bell", "tab\tandbell"),
])
def test_template_renders(template, expected):
    message = msg("Een lange\ntekst  over de speeltuin", hashtags=["afval", "park"], mentions=["gemeente"])
    assert parse(template).render(message) == expected


def test_match_group_from_the_any_branch_that_matched(tmp_path):
    ruleset = one_rule(tmp_path, r"{any: [{regex: 'melding (?P<nr>\d+)'}, {regex: 'zaak (?P<nr>\d+)'}]}",
                       "hold: 'nr={match.nr}'")
    assert ruleset.resolve(msg("over zaak 12")).reason == "nr=12"


def test_optional_group_that_did_not_take_part_renders_empty(tmp_path):
    ruleset = one_rule(tmp_path, r"{regex: 'zaak( (?P<nr>\d+))?'}", "hold: 'nr={match.nr|default(-)}'")
    assert ruleset.resolve(msg("een zaak")).reason == "nr=-"


@pytest.mark.parametrize("text, limit", [
    ("kort", 10), ("een heel lange zin met veel woorden", 12), ("x" * 100, 80),
    ("cafe\u0301" * 30, 7), ("👩\u200d👩\u200d👧" * 10, 9), ("👍🏽" * 10, 4),
])
def test_shorten_respects_the_limit_and_keeps_graphemes_whole(text, limit):
    out = shorten(text, limit)
    assert len(out) <= limit
    if out != text:
        body = out[:-1]
        assert out.endswith("…") and text.startswith(body)
        rest = text[len(body):]
        assert not rest or not (rest[0] in "\u0301\u200d" or body.endswith("\u200d") or "\U0001F3FB" <= rest[0] <= "\U0001F3FF")
