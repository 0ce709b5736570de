"""Conditions (the ``when:`` of a rule), compiled once at load into plain Python closures.

A compiled condition is ``test(facts, groups) -> bool``. :class:`Facts` holds what every
condition needs from a message, computed once per message (lower-cased text, hashtag set, the
text as UTF-8 for RE2, ...), so a thousand rules do not lower-case or encode the same text a
thousand times. ``groups`` collects the named groups of the regexes that matched; the action's
templates read them as ``match.<group>``.

``regex`` and ``keyword`` run on RE2 (:mod:`.regex`): linear time whatever the rule and the text.

:func:`index_keys` names the cheapest condition a rule can be found by (its hashtags, account,
..., or its regexes, found for all rules at once by a :class:`~.regex.PatternSet`), so the rule
set can skip rules that cannot match a message without evaluating them.
"""
from __future__ import annotations

import re

from ..message import Message
from .regex import PatternSet, compile_keywords, utf8

# In the order in which they are tried as index keys: the most selective first.
INDEXABLE = ("hashtag", "account", "mention", "keyword", "regex", "channel")
CONDITIONS = ("channel", "account", "hashtag", "mention", "keyword", "regex", "is_reply",
              "language", "kind", "any", "not")

_WORD = re.compile(r"\w+")


def handle_key(handle: str) -> str:
    """A handle without leading ``@``, lower-case: ``@Gemeente@Social.example`` -> ``gemeente@social.example``."""
    return handle.strip().lstrip("@").lower()


def normalise(name: str, value: str) -> str:
    """The form in which a condition value is compared (and indexed)."""
    if name in ("account", "mention"):
        return handle_key(value)
    if name == "hashtag":
        return value.strip().lstrip("#").casefold()
    if name in ("keyword", "language"):
        return " ".join(value.casefold().split())
    return value


class Facts:
    """What the conditions look at, derived once from one message."""

    __slots__ = ("message", "channel", "text", "low", "hashtags", "handle", "handle_local",
                 "mentions", "mentions_local", "language", "kind", "is_reply", "_words",
                 "_utf8", "_low_utf8", "_patterns", "_hits")

    def __init__(self, message: Message, patterns: PatternSet | None = None):
        self.message = message
        self.channel = message.channel
        self.text = message.text
        self.low = message.text.casefold()
        self.hashtags = frozenset(h.lstrip("#").casefold() for h in message.hashtags)
        self.handle = handle_key(message.author.handle)
        self.handle_local = self.handle.split("@", 1)[0]
        self.mentions = frozenset(handle_key(m) for m in message.mentions)
        self.mentions_local = frozenset(m.split("@", 1)[0] for m in self.mentions)
        self.language = (message.language or "").casefold()
        self.kind = message.kind
        self.is_reply = bool(message.in_reply_to)
        self._words = None
        self._utf8 = self._low_utf8 = self._hits = None
        self._patterns = patterns

    @property
    def words(self) -> frozenset[str]:
        """The words of the text (lower-case), for the keyword index."""
        if self._words is None:
            self._words = frozenset(_WORD.findall(self.low))
        return self._words

    @property
    def utf8(self) -> bytes:
        """The text as RE2 reads it (encoded once per message)."""
        if self._utf8 is None:
            self._utf8 = utf8(self.text)
        return self._utf8

    @property
    def low_utf8(self) -> bytes:
        if self._low_utf8 is None:
            self._low_utf8 = utf8(self.low)
        return self._low_utf8

    @property
    def hits(self) -> frozenset:
        """The rule set's patterns that match somewhere in the text (one pass for all of them)."""
        if self._hits is None:
            self._hits = self._patterns.hits(self.utf8) if self._patterns else frozenset()
        return self._hits

    def search(self, pattern) -> dict | None:
        """The named groups of ``pattern``'s first match in the text, or None when it does not match."""
        if self._patterns is not None and pattern in self._patterns.domain and pattern not in self.hits:
            return None
        return pattern.search(self.utf8)


def compile_when(when: dict):
    """The AND of the conditions in ``when`` (already validated and normalised by the schema)."""
    tests = [_compile(name, value) for name, value in when.items()]
    if not tests:
        return lambda facts, groups: True
    if len(tests) == 1:
        return tests[0]

    def all_of(facts, groups):
        for test in tests:
            if not test(facts, groups):
                return False
        return True
    return all_of


def _compile(name: str, value):
    if name == "channel":
        channels = frozenset(value)
        return lambda facts, groups: facts.channel in channels
    if name in ("account", "mention"):
        full = frozenset(v for v in value if "@" in v)
        bare = frozenset(v for v in value if "@" not in v)
        if name == "account":  # a value without host matches that user on any host
            return lambda facts, groups: facts.handle in full or facts.handle_local in bare
        return lambda facts, groups: bool(facts.mentions & full or facts.mentions_local & bare)
    if name == "hashtag":
        tags = frozenset(value)
        return lambda facts, groups: not tags.isdisjoint(facts.hashtags)
    if name == "keyword":
        # Word boundaries on both sides; a phrase matches across any run of whitespace.
        pattern = compile_keywords(value)
        return lambda facts, groups: pattern.search(facts.low_utf8) is not None
    if name == "regex":
        return _regex(value)
    if name == "is_reply":
        return lambda facts, groups: facts.is_reply is value
    if name == "language":
        exact = frozenset(value)
        prefixes = tuple(v + "-" for v in value)
        return lambda facts, groups: facts.language in exact or facts.language.startswith(prefixes)
    if name == "kind":
        kinds = frozenset(value)
        return lambda facts, groups: facts.kind in kinds
    if name == "not":
        inner = compile_when(value)
        return lambda facts, groups: not inner(facts, {})  # groups inside not: never used
    if name == "any":
        branches = [compile_when(branch) for branch in value]

        def any_of(facts, groups):
            for branch in branches:
                found = {}
                if branch(facts, found):
                    groups.update(found)  # only the branch that matched contributes groups
                    return True
            return False
        return any_of
    raise ValueError(f"unknown condition {name!r}")  # the schema makes this unreachable


def _regex(patterns):
    def test(facts, groups):
        for pattern in patterns:
            found = facts.search(pattern)
            if found is not None:
                groups.update(found)
                return True
        return False
    return test


def regex_groups(when: dict) -> frozenset[str]:
    """Named groups a template may use: from ``regex`` and from ``any`` branches, not from ``not``."""
    names = set()
    for pattern in when.get("regex", ()):
        names.update(pattern.groupindex)
    for branch in when.get("any", ()):
        names.update(regex_groups(branch))
    return frozenset(names)


def patterns_of(when: dict):
    """Every regex pattern in ``when``, also inside ``any`` and ``not``."""
    yield from when.get("regex", ())
    for branch in when.get("any", ()):
        yield from patterns_of(branch)
    if "not" in when:
        yield from patterns_of(when["not"])


def index_keys(when: dict, regex: bool = False) -> tuple[str, frozenset] | None:
    """``(condition, keys)`` such that the rule can only match a message having one of ``keys``.

    Keys are compared with :func:`message_keys`. ``None`` when no top-level condition fits
    (the rule is then evaluated for every message). ``regex``: the rule set matches all its
    patterns at once (a :class:`~.regex.PatternSet`), so a top-level ``regex`` can be a key.
    """
    for name in INDEXABLE:
        values = when.get(name)
        if not values or (name == "regex" and not regex):
            continue
        if name in ("account", "mention"):
            return name, frozenset(v.split("@", 1)[0] for v in values)
        if name == "keyword":
            firsts = [_WORD.match(v) for v in values]
            if all(firsts):  # a keyword starting with a non-word character cannot be indexed
                return name, frozenset(f.group(0) for f in firsts)
            continue
        return name, frozenset(values)
    return None


def message_keys(name: str, facts: Facts):
    """The keys of a message under which indexed rules are looked up."""
    if name == "hashtag":
        return facts.hashtags
    if name == "account":
        return (facts.handle_local,)
    if name == "mention":
        return facts.mentions_local
    if name == "keyword":
        return facts.words
    if name == "regex":
        return facts.hits
    return (facts.channel,)
