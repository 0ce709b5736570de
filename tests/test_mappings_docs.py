"""mappings/README.md stays true: its examples load (or fail, when marked), everything is documented,
and the shipped mappings/ folder is valid and does what its files say."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from connector.htmltext import to_text
from connector.message import KINDS, Author, Message, parse_iso
from connector.routing import VERTROUWELIJKHEIDAANDUIDINGEN
from connector.rules import check_rules, load_rules
from connector.rules.conditions import CONDITIONS
from connector.rules.schema import ACTION_KEYS, OPTION_KEYS, DefaultsSchema, FileSchema, RuleSchema
from connector.rules.templates import DATE_DIRECTIVES, FILTERS, VARIABLES

from .conftest import SHARED

ROOT = Path(__file__).resolve().parent.parent
MAPPINGS = ROOT / "mappings"
README = (MAPPINGS / "README.md").read_text(encoding="utf-8")
RECORDING = SHARED / "recordings" / "mastodon" / "get_account_statuses_default.yml"
BLOCKS = re.findall(r"```yaml\n(.*?)```", README, re.S)
SUPPORT = {
    "global_defaults": "global_defaults:\n  informatieobjecttype: Sociale-mediabericht\n",
    "unmatched": "unmatched:\n  hold: example\n",
}


def _check_block(tmp_path, block: str):
    """Check a README block as a mapping file, adding what a fragment leaves to other files."""
    (tmp_path / "50-example.yaml").write_text(block, encoding="utf-8")
    try:
        keys = set(yaml.safe_load(block) or {})
    except yaml.YAMLError:
        keys = set()
    for number, (key, text) in enumerate(SUPPORT.items()):
        if key not in keys:
            (tmp_path / f"{number}0-support.yaml").write_text(text, encoding="utf-8")
    return check_rules(tmp_path)


def test_readme_has_valid_and_invalid_examples():
    invalid = [b for b in BLOCKS if b.startswith("# invalid")]
    assert len(BLOCKS) - len(invalid) >= 5 and len(invalid) >= 4


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.startswith("# invalid")],
                         ids=lambda b: b.splitlines()[0][:40])
def test_readme_example_is_valid(tmp_path, block):
    assert _check_block(tmp_path, block) == []


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.startswith("# invalid")],
                         ids=lambda b: b.splitlines()[0][:60])
def test_readme_invalid_example_fails_for_the_stated_reason(tmp_path, block):
    reason = block.splitlines()[0].partition(":")[2].strip()
    problems = _check_block(tmp_path, block)
    assert len(problems) == 1 and reason in problems[0].message, problems


def _documented(name: str) -> bool:
    """Named in code style, alone or as `name:` / `name(...)`."""
    return any(f"`{name}{end}" in README for end in ("`", ":", "("))


@pytest.mark.parametrize("name", [
    *CONDITIONS, *ACTION_KEYS, *OPTION_KEYS, *VARIABLES, *FILTERS, *KINDS, *VERTROUWELIJKHEIDAANDUIDINGEN,
    *FileSchema._declared_fields, *RuleSchema._declared_fields, "otherwise", "zaaktype", "omschrijving",
    "toelichting", "unmatched",
])
def test_every_name_the_code_knows_is_documented(name):
    assert _documented(name), f"`{name}` is not in mappings/README.md"


def test_every_date_directive_and_default_option_is_documented():
    directives = set(re.findall(r"%(.)", README))
    assert DATE_DIRECTIVES <= directives
    assert set(DefaultsSchema._declared_fields) == set(OPTION_KEYS)


@pytest.mark.parametrize("command", ["connector mappings check [PATH]",
                                     "connector mappings test [--mappings PATH] MESSAGES.jsonl"])
def test_commands_are_documented(command):
    assert command in README


# -- the shipped mappings -----------------------------------------------------------------------

def test_shipped_mappings_are_valid():
    assert check_rules(MAPPINGS) == []


def test_readme_lists_every_shipped_file():
    for file in MAPPINGS.glob("*.y*ml"):
        assert _documented(file.name), file.name


def _samples():
    lines = (ROOT / "fixtures" / "rules" / "messages.jsonl").read_text(encoding="utf-8").splitlines()
    return {m.id: m for m in (Message.from_dict(json.loads(line)) for line in lines)}


@pytest.mark.parametrize("message_id, rule, action, detail", [
    ("1001", "melding-openbare-ruimte", "create", "SOCIAL-MELDING"),
    ("1002", "zaaknummer-quoted", "attach", "ZAAK-2026-0000000042"),
    ("1003", "reply-follows-parent", "follow_thread", "hold"),
    ("1004", "own-boosts", "ignore", None),
    ("1005", "vraag-aan-gemeente", "create", "SOCIAL-VRAAG"),
    ("1006", "unmatched", "create", "SOCIAL-MELDING"),
    ("1007", "zaaknummer-quoted", "attach", "ZAAK-2026-0000000042"),  # 10- comes before 20-threads
])
def test_shipped_mappings_route_the_sample_messages(message_id, rule, action, detail):
    routing = load_rules(MAPPINGS).resolve(_samples()[message_id])
    assert (routing.rule, routing.action) == (rule, action)
    seen = {"create": routing.zaaktype, "attach": routing.zaak_identificatie,
            "follow_thread": routing.fallback.action if routing.fallback else None}.get(action)
    assert seen == detail
    if routing.delivers:
        assert routing.informatieobjecttype == "Sociale-mediabericht" and routing.titel


def _recorded_statuses():
    cassette = yaml.safe_load(RECORDING.read_text(encoding="utf-8"))
    for interaction in cassette["http_interactions"]:
        for status in json.loads(interaction["response"]["body"]["string"]):
            yield Message(
                channel="fosstodon", id=status["id"], kind="reply" if status["in_reply_to_id"] else "post",
                author=Author(id=status["account"]["id"], handle=status["account"]["acct"] + "@fosstodon.org",
                              name=status["account"]["display_name"]),
                created_at=parse_iso(status["created_at"]), text=to_text(status["content"]),
                url=status["url"] or "", in_reply_to=status["in_reply_to_id"], language=status["language"],
                hashtags=tuple(t["name"].lower() for t in status["tags"]),
                mentions=tuple(m["acct"] for m in status["mentions"]))


@pytest.mark.skipif(not RECORDING.exists(), reason="needs /work/shared recordings")
def test_demo_recorded_posts_land_in_zaken():
    """The demo policy: every recorded fosstodon post ends up in a zaak (replies via their thread)."""
    ruleset = load_rules(MAPPINGS)
    routings = [ruleset.resolve(m) for m in _recorded_statuses()]
    assert routings and all(r.delivers for r in routings)
    posts = [r for r in routings if r.action == "create"]
    # one line; the ZGW sink cuts it to its 80 characters (routings are sink-neutral)
    assert posts and all(r.zaaktype == "SOCIAL-MELDING" and "\n" not in r.zaak["omschrijving"] for r in posts)
