"""The regex dialect of mapping rules (RE2), as mappings/README.md describes it, and the keyword matcher.

The hostile cases (hangs, refusals at file:line) are in ``test_hostile_rules.py``; these tests pin
down what rules *mean* on RE2, where it differs from Python's ``re`` and where it must not.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timezone

import pytest
import re2

from connector.message import Author, Message
from connector.rules import load_rules
from connector.rules.conditions import Facts
from connector.rules.regex import (NOT_WORD_CHAR, SPACE_RUN, WORD_CHAR, PatternSet, RegexError,
                                   compile_keywords, compile_pattern, utf8)

HEADER = "global_defaults:\n  informatieobjecttype: Sociale-mediabericht\nunmatched:\n  hold: no rule matched\n"


def message(text: str, id: str = "1") -> Message:
    return Message(channel="c", id=id, kind="post", author=Author(id="1", handle="inwoner@social.example"),
                   created_at=datetime(2026, 3, 2, tzinfo=timezone.utc), text=text)


def matches(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).search(utf8(text)) is not None


@pytest.mark.parametrize("pattern, text, expected", [
    (r"zaak-\d+$", "over zaak-12", True),
    (r"zaak-\d+$", "over zaak-12\n", False),  # $ is the very end, not before a final line break
    (r"(?m)zaak-\d+$", "zaak-12\nmeer", True),
    (r"zaak-\d+\Z", "over zaak-12", True),  # Python's \Z is accepted: the end of the text
    (r"zaak-\d+\Z", "zaak-12 en meer", False),
    (r"zaak-\d+\z", "over zaak-12", True),
    (r"\\Z", "a \\Z b", True),  # an escaped backslash followed by Z stays literal
    (r"\d", "\u0661", False),  # \d is ASCII: not the Arabic-Indic digit one
    (r"\p{Nd}", "\u0661", True),
    (r"\w", "é", False),
    (r"a\sb", "a\u00a0b", False),  # \s is ASCII: not the no-break space
    (r"a\sb", "a\tb", True),
    (r"\pL", "é", True),
    (r"\b(?:café)\b", "een café hier", False),  # \b sees é as a non-letter
    (r"(?:^|[^\pL\pN_])café(?:[^\pL\pN_]|$)", "een café hier", True),
    (r"(?:^|[^\pL\pN_])café(?:[^\pL\pN_]|$)", "cafés", False),
    (r"(?i)ΑΘΗΝΑ", "αθηνα", True),  # ignore case for every script
    (r"(?i:zaak)-X", "ZAAK-X", True),
    (r"(?i:zaak)-X", "ZAAK-x", False),
    (r"(?s)a.b", "a\nb", True),
    (r"a.b", "a\nb", False),
    (r"caf\x{e9}", "café", True),
    (r"^a{,3}b", "aab", True),  # Python's {,n}: zero to n, which RE2 alone would read as literal text
    (r"^a{,3}b", "aaaab", False),
    (r"x\{,3}", "x{,3}", True),
    (r"[\]]x(?P<a>b)", "]xb", True),
    (r"\\bé", "\\bé", True),  # an escaped backslash, then b: no boundary
    (r"[{,3}]", ",", True),
    (r"(?i)\b(?P<zaaknummer>zaak-\d{4}-\d{10})\b", "Zie ZAAK-2026-0000000042.", True),
])
def test_regex_dialect_as_documented(pattern, text, expected):
    assert matches(pattern, text) is expected


@pytest.mark.parametrize("pattern", [r"(?P<nr>\d+)", r"(?<nr>\d+)"])
def test_named_groups_feed_templates(tmp_path, pattern):
    (tmp_path / "10.yaml").write_text(HEADER + f"rules:\n  - name: r\n    when: {{regex: 'melding {pattern}'}}\n"
                                               "    then: {hold: 'nr={match.nr}'}\n")
    assert load_rules(tmp_path).resolve(message("melding 42 over afval")).reason == "nr=42"


def test_groups_are_text_also_after_multibyte_characters(tmp_path):
    (tmp_path / "10.yaml").write_text(HEADER + "rules:\n  - name: r\n"
                                               "    when: {regex: '(?P<straat>\\pL+straat) (?P<nr>\\d+)'}\n"
                                               "    then: {hold: '{match.straat}/{match.nr}'}\n")
    routing = load_rules(tmp_path).resolve(message("👩‍👩‍👧 Kleine Ĳsselstraat 3 is vies"))
    assert routing.reason == "Ĳsselstraat/3"


def test_lone_surrogates_in_the_text_do_not_break_matching(tmp_path):
    """JSON can carry a lone surrogate; encoding it for RE2 must not raise in the worker."""
    (tmp_path / "10.yaml").write_text(HEADER + "rules:\n  - name: r\n    when: {regex: '(?P<x>zaak) \\d', "
                                               "keyword: zaak}\n    then: {hold: '{match.x}'}\n")
    assert load_rules(tmp_path).resolve(message("\ud800 zaak 1 \udfff")).reason == "zaak"


@pytest.mark.parametrize("pattern, reason", [
    ("(?P<a>x)|(?<a>y)", "the group name 'a' is used twice"),
    ("x" * 2001, "at most 2000"),
    (r"\u00e9", r"unsupported escape \u"),
    ("(?#note)x", "comments (?#...) are not supported"),
    ("a**", "a repetition of a repetition"),
    (r"\bcafé\b", r"\b next to 'é' does not work there: RE2's \b knows ASCII letters only"),
    (r"(?i)\Bé", r"\B next to 'é'"),
])
def test_refused_with_a_readable_reason(pattern, reason):
    with pytest.raises(RegexError) as info:
        compile_pattern(pattern)
    assert reason in str(info.value)


# -- the pattern set: one pass finds the candidates; it must never change a decision -------------

def test_pattern_set_hits_are_exactly_the_patterns_that_match():
    sources = [r"zaak-\d+$", r"(?i)AFVAL", r"^x", r"\bpark\b", r"(a+)+$", r"(?m)^b$", r"melding (?P<nr>\d+)", "é"]
    patterns = [compile_pattern(source) for source in sources]
    bank = PatternSet(patterns)
    texts = ["zaak-12", "Afval in het park", "x\nb", "melding 7 é", "aaaab", "aaaa", "", "parken"]
    for text in texts:
        assert bank.hits(utf8(text)) == {p for p in patterns if p.search(utf8(text)) is not None}, text


def test_pattern_set_that_cannot_decide_lets_every_rule_decide(tmp_path):
    (tmp_path / "10.yaml").write_text(HEADER + "rules:\n  - name: r\n    when: {regex: 'zaak (?P<nr>\\d+)'}\n"
                                               "    then: {hold: 'nr={match.nr}'}\n")
    ruleset = load_rules(tmp_path)

    class GaveUp:  # RE2's DFA out of memory: Set.Match finds nothing, not even the sentinel
        def Match(self, data):
            return []

    ruleset._patterns._set = GaveUp()
    assert ruleset.resolve(message("over zaak 12")).reason == "nr=12"
    assert ruleset.resolve(message("niets")).rule == "unmatched"


def test_facts_without_a_pattern_set_search_each_pattern():
    pattern = compile_pattern(r"zaak (?P<nr>\d+)")
    assert Facts(message("zaak 3")).search(pattern) == {"nr": "3"}


# -- keywords: RE2 with the same meaning as Python's \w and \s -----------------------------------

def _python_keywords(keywords):
    """The matcher keywords had before RE2: Python's re with lookaround (kept here as the reference)."""
    return re.compile("|".join(r"(?<!\w)" + r"\s+".join(re.escape(part) for part in keyword.split()) + r"(?!\w)"
                               for keyword in keywords))


def test_word_and_space_classes_equal_pythons_for_every_assigned_character():
    word, space = re2.compile(utf8(WORD_CHAR)), re2.compile(utf8(SPACE_RUN))
    python_word, python_space = re.compile(r"\w"), re.compile(r"\s")
    differ = []
    for code in range(0x110000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or unicodedata.category(char) == "Cn":
            continue  # surrogates; code points Python's Unicode tables do not know yet
        data = utf8(char)
        if (word.fullmatch(data) is None) != (python_word.fullmatch(char) is None) \
                or (space.fullmatch(data) is None) != (python_space.fullmatch(char) is None):
            differ.append(hex(code))
    assert differ == []
    assert NOT_WORD_CHAR == "[^" + WORD_CHAR[1:]


KEYWORDS = ["afval", "vraag aan de gemeente", "#afval", "strasse", "c++", "3d", "ĳzel", "naïef"]
TEXTS = ["veel afval hier", "de afvalbak", "afval_", "_afval", "een vraag  aan\nde gemeente: x",
         "vraag\u00a0aan de\u2003gemeente", "vraag aan degemeente", "echt #afval", "echt#afval", "in der strasse",
         "ik leer c++.", "c++x", "3d-print", "a3d", "ĳzel!", "ĳzelen", "naïef", "naïeve", "afval\u0301", "éafval",
         "١afval", "afval١", "", "afval"]


@pytest.mark.parametrize("text", TEXTS)
def test_keywords_match_as_before(text):
    folded = text.casefold()
    for keyword in KEYWORDS:
        before = _python_keywords([keyword]).search(folded) is not None
        assert (compile_keywords([keyword]).search(utf8(folded)) is not None) is before, (keyword, text)
