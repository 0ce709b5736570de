"""Rule evaluation: 1,000 generated rules over 100,000 generated messages.

The rule mix imitates a large municipality: most rules key on a hashtag, an account or a channel
(indexable), some on keywords or regular expressions (evaluated for every message). Messages
carry random hashtags/keywords so that a realistic share matches somewhere in the list.
"""
from __future__ import annotations

import random
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from connector.message import Author, Message
from connector.rules import load_rules

RULES = 1000
MESSAGES = 100_000


def write_rules(folder: Path, count: int, rng: random.Random) -> None:
    lines = ["global_defaults:", "  informatieobjecttype: Sociale-mediabericht", "rules:"]
    for n in range(count):
        kind = rng.random()
        if kind < 0.4:
            when = f"hashtag: tag{n}"
        elif kind < 0.6:
            when = f"account: user{n}@social.example"
        elif kind < 0.8:
            when = f"{{channel: channel{n % 20}, keyword: 'word{n}'}}"
        elif kind < 0.9:
            when = f"regex: '\\\\bcase-{n}-(?P<nr>\\\\d+)'"
        else:
            when = f"keyword: 'phrase number {n}'"
        lines += [f"  - name: rule-{n}", f"    when: {{{when}}}" if not when.startswith("{") else f"    when: {when}",
                  "    then:", "      create: {zaaktype: SOCIAL-MELDING, omschrijving: 'rule " + str(n) + "'}"]
    lines += ["unmatched:", "  hold: no rule matched"]
    (folder / "rules.yaml").write_text("\n".join(lines) + "\n")


def make_messages(count: int, rng: random.Random) -> list[Message]:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    messages = []
    for n in range(count):
        words = " ".join(f"word{rng.randrange(2000)}" for _ in range(12))
        messages.append(Message(
            channel=f"channel{rng.randrange(25)}", id=str(n), kind="post",
            author=Author(id=str(n % 5000), handle=f"user{rng.randrange(3000)}@social.example"),
            created_at=start + timedelta(seconds=n), text=f"{words} case-{rng.randrange(2000)}-{n}",
            hashtags=(f"tag{rng.randrange(3000)}", f"tag{rng.randrange(3000)}")))
    return messages


def run() -> list[tuple[str, float, str]]:
    rng = random.Random(20261122)
    with tempfile.TemporaryDirectory() as folder:
        write_rules(Path(folder), RULES, rng)
        ruleset = load_rules(folder)
    messages = make_messages(MESSAGES, rng)
    started = time.perf_counter()
    matched = sum(1 for message in messages if ruleset.resolve(message).rule != ruleset.unmatched.name)
    seconds = time.perf_counter() - started
    print(f"{RULES} rules x {MESSAGES} messages: {seconds:.2f} s, {matched} matched a rule")
    return [(f"rules_{RULES}x{MESSAGES}_seconds", seconds, "s")]
