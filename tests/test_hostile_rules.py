"""Hostile rules and files: no regex, keyword list, message or YAML file can stall the worker.

Each test runs under a pytest-timeout guard instead of a timing assertion: before these were fixed,
each of them ran for minutes (or, for ``(a+)+$``, for hours) and the guard failed it.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import yaml

from connector.cli import main
from connector.config import ConfigError, load_config
from connector_doubles import feeds
from connector.engine import Connector
from connector.message import Author, Message
from connector.rules import check_rules, load_rules

from .conftest import FIXTURES, ZGW_SECRET

HOSTILE = FIXTURES / "hostile"
CATASTROPHIC = HOSTILE / "catastrophic-regex"
UNSUPPORTED = FIXTURES / "rules" / "broken" / "unsupported-regex.yaml"
HEADER = "global_defaults:\n  informatieobjecttype: Sociale-mediabericht\nunmatched:\n  hold: no rule matched\n"


def message(text: str) -> Message:
    return Message(channel="c", id="1", kind="post", author=Author(id="1", handle="inwoner@social.example"),
                   created_at=datetime(2026, 3, 2, tzinfo=timezone.utc), text=text)


@pytest.mark.timeout(10)
def test_catastrophic_regex_resolves_in_bounded_time(tmp_path):
    (tmp_path / "10.yaml").write_text(HEADER + "rules:\n  - name: r\n    when: {regex: '(a+)+$'}\n"
                                               "    then: {hold: matched}\n")
    ruleset = load_rules(tmp_path)
    assert ruleset.resolve(message("a" * 40 + "b")).rule == "unmatched"
    assert ruleset.resolve(message("a" * 40)).rule == "r"


@pytest.mark.timeout(10)
def test_catastrophic_regex_inside_any_and_not_is_bounded_too(tmp_path):
    (tmp_path / "10.yaml").write_text(HEADER + "rules:\n  - name: r\n"
                                               "    when: {any: [{regex: '(x+x+)+y'}], not: {regex: '(a|aa)+$'}}\n"
                                               "    then: {hold: matched}\n")
    assert load_rules(tmp_path).resolve(message("x" * 5000 + " " + "a" * 5000 + "b")).rule == "unmatched"


@pytest.mark.timeout(20)
def test_long_keyword_list_on_a_long_message_is_bounded(tmp_path):
    """5,000 phrases over a 240 kB message: Python's re tried every phrase at every position."""
    keywords = json.dumps([f"woord{n} extra{n}" for n in range(5000)])
    (tmp_path / "10.yaml").write_text(HEADER + f"rules:\n  - name: r\n    when: {{keyword: {keywords}}}\n"
                                               "    then: {hold: matched}\n")
    ruleset = load_rules(tmp_path)
    text = "woord " * 40_000 + "woord1"
    assert ruleset.resolve(message(text)).rule == "unmatched"
    assert ruleset.resolve(message(text + "\n extra1!")).rule == "r"


def _marked(path):
    """``(line, text)`` of every ``# expect: text`` comment in the file."""
    marks = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if "# expect: " in line:
            marks.append((number, line.split("# expect: ", 1)[1]))
    return marks


def test_mappings_check_refuses_backtracking_constructs_at_their_line(capsys):
    code = main(["mappings", "check", str(UNSUPPORTED)])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.strip().splitlines()
    marks = _marked(UNSUPPORTED)
    assert len(lines) == len(marks), out
    for number, text in marks:
        assert any(line.startswith(f"{UNSUPPORTED}:{number}: ") and text in line for line in lines), (number, text)


@pytest.mark.parametrize("pattern, construct", [
    (r"(\w+) \1", r"backreferences like \1"),
    ("zaak(?=-)", "lookahead (?=...)"),
    ("(?<!#)afval", "negative lookbehind (?<!...)"),
    ("(((a{100}){100}){100})", "repetition count too large"),
])
def test_mappings_check_names_the_construct(tmp_path, capsys, pattern, construct):
    path = tmp_path / "rules.yaml"
    path.write_text(HEADER + f"rules:\n  - name: r\n    when:\n      regex: '{pattern}'\n    then: {{hold: x}}\n")
    code = main(["mappings", "check", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith(f"{path}:8: rules[0].when.regex: invalid regular expression: {construct}"), out


@pytest.mark.timeout(60)
def test_worker_routes_and_delivers_past_a_catastrophic_regex(tmp_path, zgw_server, monkeypatch):
    """The real path: feed -> poll -> rules -> store -> ZGW; a post that is exponential for Python's re."""
    zgw_double, zgw = zgw_server
    zgw_double.reset()
    feed = feeds.FeedDouble({"/feed.xml": str(CATASTROPHIC / "feed.xml")})
    feed_server = feeds.serve(feed)
    monkeypatch.setenv("HOSTILE_ZGW_SECRET", ZGW_SECRET)
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({
        "store": str(tmp_path / "connector.db"),
        "mappings": str(CATASTROPHIC / "mappings"),
        "channels": [{"name": "feed", "kind": "rss", "options": {"url": feed_server.url + "/feed.xml"}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw.zaken_url, "documenten_url": zgw.documenten_url, "catalogi_url": zgw.catalogi_url,
            "client_id": "connector", "secret": "${HOSTILE_ZGW_SECRET}", "bronorganisatie": "002220647"}}],
    }))
    connector = Connector(load_config(config))
    try:
        polls, _ = connector.run_once()
        assert [p.error for p in polls] == [None]
        rows = connector.store.query(
            "select m.platform_id, d.state, d.rule, d.zaak_url from deliveries d"
            " join messages m on m.id = d.message_id order by m.platform_id")
    finally:
        connector.close()
        feed_server.shutdown()
    by_id = {row["platform_id"]: row for row in rows}
    assert (by_id["hostile-aaab"]["rule"], by_id["hostile-aaab"]["state"]) == ("after-the-catastrophic-one",
                                                                               "delivered")
    assert (by_id["hostile-aaaa"]["rule"], by_id["hostile-aaaa"]["state"]) == ("catastrophic", "held")
    (zaak,) = [z for z in zgw_double.zaken if z["url"] == by_id["hostile-aaab"]["zaak_url"]]
    assert zaak["omschrijving"] == "Forty a's and a b"


@pytest.mark.timeout(10)
def test_alias_bomb_in_a_mapping_file_is_refused_at_the_alias(capsys):
    path = HOSTILE / "alias-bomb" / "mapping.yaml"
    (problem,) = check_rules(path)
    assert (problem.file, problem.line) == (str(path), 7)
    assert "YAML aliases (*lol0) are not allowed" in problem.message
    code = main(["mappings", "check", str(path)])
    assert code == 1 and capsys.readouterr().out.startswith(f"{path}:7: YAML aliases (*lol0)")


@pytest.mark.timeout(10)
def test_alias_bomb_in_the_configuration_is_refused_at_the_alias():
    path = HOSTILE / "alias-bomb" / "connector.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (str(path), 7)
    assert "YAML aliases (*lol0) are not allowed" in problem.message


@pytest.mark.timeout(10)
def test_deeply_nested_mapping_file_is_a_problem_at_its_line_not_a_crash(tmp_path):
    """Nesting overflowed Python's stack: a RecursionError escaped load_rules and every reload."""
    path = tmp_path / "10.yaml"
    path.write_text(HEADER + "rules:\n  - name: deep\n    when: {}\n    then: {hold: x}\n"
                             "    description: " + "[" * 5000 + "]" * 5000 + "\n")
    (problem,) = check_rules(path)
    assert (problem.line, problem.message) == (9, "nested more than 50 levels deep")
