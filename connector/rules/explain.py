"""Why a message got the rule it got: the rules tried in order, each condition held or not.

:func:`explain` answers "which rule decides this message, and why did the ones before it not?" for
the message page of the web UI. It is pure (no I/O, no clock) and walks the enabled rules in the
order :meth:`RuleSet.match <connector.rules.engine.RuleSet.match>` tries them (file order), deciding
with each rule's own compiled test (``Rule.test``, the code the engine runs), so the deciding rule
is the one ``match()`` returns: the engine's index only skips rules that cannot match, it never
changes which one decides. The per-condition breakdown compiles each condition of a shown rule with
the engine's own condition compiler (:mod:`.conditions`), on the same :class:`~.conditions.Facts`.

Bounded: at most ``limit`` rules are broken down (the first ones tried and the deciding one); the
rules tried in between are only counted (:attr:`Explanation.hidden`), so a rule set of thousands of
rules still gives a page of readable size. Values are shown as text, clipped to :data:`VALUE_MAX`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..message import Message
from ..routing import Routing
from .conditions import Facts, _compile, compile_when

VALUE_MAX = 200  # characters of a configured value shown
ACTUAL_MAX = 80  # characters of the message's own value shown for a failed condition
DEPTH_MAX = 3  # nested any/not shown this deep; deeper ones only say held or not
LIMIT = 25  # rules broken down by default


@dataclass(frozen=True)
class ConditionCheck:
    """One condition of a rule: its ``name`` (``hashtag``, ``any``, ``branch``, ...), the configured
    ``value`` as text, whether it ``held``, and for a failed one the message's own value
    (``actual``, briefly; None when there is nothing to compare, as for ``any``). ``parts``: the
    branches of an ``any`` or the conditions inside a ``not`` or a branch."""

    name: str
    value: str
    held: bool
    actual: str | None = None
    parts: tuple["ConditionCheck", ...] = ()


@dataclass(frozen=True)
class RuleCheck:
    """A rule as tried: ``name``, ``source`` (file:line), whether it ``matched``, its conditions."""

    name: str
    source: str
    matched: bool
    conditions: tuple[ConditionCheck, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Explanation:
    """The rules tried before the decision (``tried``, all not matching, at most ``limit - 1``),
    how many more were tried but not shown (``hidden``, they come between ``tried`` and the
    decision), the deciding rule (``decision``; the ``unmatched`` policy when ``unmatched``) and
    the :class:`Routing` it gives now."""

    tried: tuple[RuleCheck, ...]
    hidden: int
    decision: RuleCheck
    unmatched: bool
    routing: Routing

    @property
    def rule(self) -> str:
        return self.decision.name

    def differs_from(self, stored: Routing | None) -> bool:
        """Whether the decision stored with a delivery is not what these rules decide now: another
        rule, or another action (the stored one may be its own ``otherwise:``, after the engine fell
        back from follow_thread: that is the same decision)."""
        if stored is None:
            return True
        if stored.rule != self.routing.rule:
            return True
        now = self.routing
        actions = {now.action} | ({now.fallback.action} if now.fallback else set())
        return stored.action not in actions


def clip(text: str, size: int) -> str:
    return text if len(text) <= size else text[:size - 1] + "…"


def value_text(name: str, value) -> str:
    """A configured (normalised) condition value as text: lists joined, regexes as written."""
    if name == "any":
        return clip(" | ".join(_when_text(branch) for branch in value), VALUE_MAX)
    if name == "not":
        return clip(_when_text(value), VALUE_MAX)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, frozenset, set)):
        return clip(", ".join(getattr(item, "source", str(item)) for item in value), VALUE_MAX)
    return clip(getattr(value, "source", str(value)), VALUE_MAX)


def _when_text(when: dict) -> str:
    return "; ".join(f"{name}: {value_text(name, value)}" for name, value in when.items())


def actual_text(name: str, facts: Facts) -> str | None:
    """The message's own value a condition ``name`` looks at, briefly (None for any/not)."""
    message = facts.message
    if name == "channel":
        return message.channel
    if name == "account":
        return message.author.handle
    if name == "hashtag":
        return ", ".join(sorted(facts.hashtags))
    if name == "mention":
        return clip(", ".join(sorted(facts.mentions)), ACTUAL_MAX)
    if name in ("keyword", "regex"):
        return clip(" ".join(message.text.split()), ACTUAL_MAX)
    if name == "is_reply":
        return "true" if facts.is_reply else "false"
    if name == "language":
        return message.language or ""
    if name == "kind":
        return message.kind
    return None


def _check(name: str, value, facts: Facts, depth: int) -> ConditionCheck:
    held = _compile(name, value)(facts, {})
    parts: tuple[ConditionCheck, ...] = ()
    if depth < DEPTH_MAX and name == "any":
        parts = tuple(ConditionCheck("branch", _when_text(branch), compile_when(branch)(facts, {}),
                                     parts=_checks(branch, facts, depth + 1)) for branch in value)
    elif depth < DEPTH_MAX and name == "not":
        parts = _checks(value, facts, depth + 1)
    return ConditionCheck(name, value_text(name, value), held, None if held else actual_text(name, facts), parts)


def _checks(when: dict, facts: Facts, depth: int = 0) -> tuple[ConditionCheck, ...]:
    return tuple(_check(name, value, facts, depth) for name, value in when.items())


def _rule_check(rule, facts: Facts, matched: bool) -> RuleCheck:
    return RuleCheck(rule.name, rule.source, matched, _checks(rule.when, facts), rule.description)


def explain(ruleset, message: Message, limit: int = LIMIT) -> Explanation:
    """Why ``ruleset`` routes ``message`` as it does (see the module docstring); ``limit`` >= 1."""
    limit = max(1, int(limit))
    facts = Facts(message, getattr(ruleset, "_patterns", None))
    failed = []
    decided, groups = None, {}
    for rule in ruleset.rules:
        if not rule.enabled:
            continue
        found: dict = {}
        if rule.test(facts, found):
            decided, groups = rule, found
            break
        failed.append(rule)
    shown = failed[:limit - 1]
    tried = tuple(_rule_check(rule, facts, False) for rule in shown)
    if decided is None:
        unmatched = ruleset.unmatched
        decision = RuleCheck(unmatched.name, unmatched.source, True, (), unmatched.description)
        return Explanation(tried, len(failed) - len(shown), decision, True, unmatched.route(message, {}))
    return Explanation(tried, len(failed) - len(shown), _rule_check(decided, facts, True), False,
                       decided.route(message, groups))


__all__ = ["ConditionCheck", "Explanation", "RuleCheck", "explain"]
