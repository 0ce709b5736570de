"""Regular expressions for mapping rules, run by RE2: linear time, whatever the pattern and the text.

Python's ``re`` backtracks: a rule like ``(a+)+$`` takes exponential time on ``"a" * 40 + "b"`` and
would freeze the worker. RE2 (``google-re2``) runs every pattern in time linear in the text and
refuses, when the rules are loaded, the constructs that need backtracking (backreferences,
lookaround, atomic groups, possessive quantifiers, conditionals). Its compile errors are made
readable here, naming the construct, for ``file:line: message`` problems.

* :func:`compile_pattern` compiles a ``regex:`` condition into a :class:`Pattern`, or raises
  :class:`RegexError`. Where RE2 would silently read a Python pattern differently, the pattern is
  translated: Python's ``\\Z`` (end of text) becomes RE2's ``\\z`` and ``{,n}`` becomes ``{0,n}``;
  a group name used twice is refused, as Python does.
* :func:`compile_keywords` compiles a ``keyword:`` condition (whole words, phrases across any
  whitespace) into one RE2 pattern, with Unicode word and space classes.
* :class:`PatternSet` matches all patterns of a rule set in one pass over a message (``re2.Set``),
  so the rule set only tries the rules whose regex can match.

Texts are matched as UTF-8 bytes (:func:`utf8`), encoded once per message.
"""
from __future__ import annotations

import re

import re2

MAX_PATTERN_CHARS = 2000  # a rule's regex longer than this is refused before RE2 sees it
PATTERN_MEMORY = 4 << 20  # RE2's max_mem per pattern (default 8 MiB): bounds its compiled program and DFA cache
KEYWORD_MEMORY = 8 << 20  # a keyword list may be long; its pattern is plain literals
SET_MEMORY = 64 << 20  # the combined set of all patterns of a rule set
# Python's \w and \s on text (Unicode), which RE2's \w and \s (ASCII only) are not.
WORD_CHAR = r"[\pL\pN_]"
NOT_WORD_CHAR = r"[^\pL\pN_]"
NOT_WORD_BEFORE, NOT_WORD_AFTER = f"(?:^|{NOT_WORD_CHAR})", f"(?:{NOT_WORD_CHAR}|$)"  # word boundaries, any script
SPACE_RUN = r"[\t-\r\x{1c}-\x{1f}\x{85}\pZ]+"
_UP_TO = re.compile(r"\{,(\d+)\}")  # Python's a{,3} (0 to 3); RE2 would read "{,3}" as literal text

# RE2 refuses these group openings; what the admin reads instead. The first ones need backtracking.
_WHY = "RE2 runs every regex in linear time and refuses constructs that need backtracking"
_UNSUPPORTED = {
    "(?=": f"lookahead (?=...) is not supported: {_WHY}",
    "(?!": f"negative lookahead (?!...) is not supported: {_WHY}",
    "(?<=": f"lookbehind (?<=...) is not supported: {_WHY}",
    "(?<!": f"negative lookbehind (?<!...) is not supported: {_WHY}",
    "(?>": f"atomic groups (?>...) are not supported: {_WHY}",
    "(?(": f"conditionals (?(...)...) are not supported: {_WHY}",
    "(?P=": f"named backreferences (?P=name) are not supported: {_WHY}",
    "(?P>": f"recursion (?P>name) is not supported: {_WHY}",
    "(?#": "comments (?#...) are not supported in RE2 syntax",
    "(?x": "the verbose flag (?x) is not supported in RE2 syntax; write the pattern without spaces and comments",
    "(?a": "the ASCII flag (?a) is not supported in RE2 syntax (\\d, \\w, \\s and \\b are ASCII-only already)",
    "(?u": "the flag (?u) is not supported in RE2 syntax",
    "(?L": "the locale flag (?L) is not supported in RE2 syntax",
}


class RegexError(ValueError):
    """A pattern RE2 cannot (or should not) run; the message is meant for the admin."""


def options(max_mem: int) -> re2.Options:
    result = re2.Options()
    result.max_mem = max_mem
    result.log_errors = False  # errors are reported as problems, not logged by RE2 to stderr
    return result


_PATTERN_OPTIONS = options(PATTERN_MEMORY)
_KEYWORD_OPTIONS = options(KEYWORD_MEMORY)


def utf8(text: str) -> bytes:
    """``text`` as RE2 reads it. Lone surrogates (possible in JSON input) pass through as invalid
    UTF-8 that matches no literal character, instead of raising in the worker."""
    return text.encode("utf-8", "surrogatepass")


class Pattern:
    """A compiled ``regex:`` condition: ``source`` as written, ``groupindex`` its named groups."""

    __slots__ = ("source", "translated", "groupindex", "_regex")

    def __init__(self, source: str, translated: str, regex):
        self.source = source
        self.translated = translated  # what RE2 runs (\Z written as \z, {,n} as {0,n})
        self.groupindex = {name.decode("utf-8"): index for name, index in regex.groupindex.items()}
        self._regex = regex

    def search(self, data: bytes) -> dict | None:
        """The named groups that took part in the first match in ``data`` (UTF-8), or None."""
        found = self._regex.search(data)
        if found is None:
            return None
        return {name: value.decode("utf-8", "replace")
                for name, index in self.groupindex.items() if (value := found[index]) is not None}

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


def compile_pattern(source: str) -> Pattern:
    """Compile a rule's regex with RE2; :class:`RegexError` with a readable reason if it cannot run."""
    if len(source) > MAX_PATTERN_CHARS:
        raise RegexError(f"the regex is {len(source)} characters long; at most {MAX_PATTERN_CHARS}")
    translated, names, beside = _scan(source)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RegexError(f"the group name {duplicates[0]!r} is used twice; each named group needs its own name")
    if beside:
        boundary, letter = beside
        raise RegexError(f"{boundary} next to {letter!r} does not work there: RE2's {boundary} knows ASCII letters"
                         f" only, so {letter!r} counts as a non-letter; write {NOT_WORD_BEFORE} before a word and"
                         f" {NOT_WORD_AFTER} after it")
    try:
        regex = re2.compile(utf8(translated), _PATTERN_OPTIONS)
    except re2.error as exc:
        raise RegexError(readable(exc, translated)) from None
    return Pattern(source, translated, regex)


def compile_keywords(keywords) -> object:
    """One RE2 pattern that finds any of ``keywords`` (already case-folded) as whole words.

    A word boundary is the start or end of the text or a character that is not a letter, digit or
    ``_`` (in any script); the words of a phrase may be separated by any run of whitespace.
    """
    alternatives = "|".join(SPACE_RUN.join(re2.escape(part) for part in keyword.split()) for keyword in keywords)
    pattern = f"{NOT_WORD_BEFORE}(?:{alternatives}){NOT_WORD_AFTER}"
    try:
        return re2.compile(utf8(pattern), _KEYWORD_OPTIONS)
    except re2.error as exc:
        raise RegexError(f"the keywords are too many or too long to match safely ({readable(exc)})") from None


def readable(error: re2.error, source: str = "") -> str:
    """RE2's compile error in words an admin can act on, naming the construct."""
    text = error.args[0] if error.args else str(error)
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    kind, _, where = text.partition(": ")
    if kind == "invalid perl operator" or kind == "invalid named capture group":
        # RE2 quotes as little as "(?P"; the pattern itself tells (?P=name) from (?P>name).
        for start, reason in _UNSUPPORTED.items():
            if start.startswith(where) and start in source:
                return reason
        return f"unsupported group syntax {where} (RE2 syntax: named groups are (?P<name>...))"
    if kind == "invalid escape sequence":
        if len(where) >= 2 and where[1].isdigit():
            return f"backreferences like {where} are not supported: {_WHY}"
        return f"unsupported escape {where} (RE2 syntax; for example \\z is the end of the text)"
    if kind == "bad repetition operator":
        if where.endswith("+") and len(where) > 1:
            return f"possessive quantifiers like {where} are not supported: {_WHY}"
        return f"a repetition of a repetition ({where}) is not allowed"
    if kind == "invalid repetition size":
        return (f"repetition count too large at {where}: a count may be at most 1000, also when"
                " repetitions are nested ((a{10}){100} counts as 1000)")
    if kind == "missing )":
        return f"missing ), unterminated group: {where}"
    if kind == "missing ]":
        return f"missing ], unterminated character set: {where}"
    if "pattern too large" in text:
        return ("the regex is too large to run safely (its compiled form exceeds the memory limit);"
                " use smaller repetition counts or a simpler pattern")
    return text


def _scan(source: str) -> tuple[str, list[str], tuple[str, str] | None]:
    """``source`` with ``\\Z`` written as RE2's ``\\z`` and ``{,n}`` as ``{0,n}``; the names of its
    named groups; and ``(\\b or \\B, letter)`` when a non-ASCII letter is written right next to one.

    Escapes are taken in pairs and character classes skipped, so ``\\\\Z`` or ``[(?P<x>]`` are left
    alone. Anything malformed is left for RE2 to report.
    """
    out, names, beside = [], [], None
    index, length, in_class, class_start = 0, len(source), False, False
    while index < length:
        char = source[index]
        if char == "\\" and index + 1 < length:
            pair = source[index:index + 2]
            if pair in ("\\b", "\\B") and not in_class and beside is None:
                around = source[index - 1:index] + source[index + 2:index + 3]
                letter = next((c for c in around if not c.isascii() and c.isalpha()), None)
                beside = (pair, letter) if letter else None
            out.append("\\z" if pair == "\\Z" and not in_class else pair)
            index += 2
            class_start = False
            continue
        if in_class:
            if char == "]" and not class_start:
                in_class = False
            class_start = False
        elif char == "[":
            in_class, class_start = True, True
            if source.startswith("[^", index):
                out.append("[^")
                index += 2
                continue
        elif char == "{" and (up_to := _UP_TO.match(source, index)):
            out.append(f"{{0,{up_to.group(1)}}}")
            index = up_to.end()
            continue
        elif char == "(" and source.startswith(("(?P<", "(?<"), index):
            start = index + (4 if source.startswith("(?P<", index) else 3)
            end = source.find(">", start)
            if end > start and source[start] not in "=!":
                names.append(source[start:end])
        out.append(char)
        index += 1
    return "".join(out), names, beside


class PatternSet:
    """All patterns of a rule set, matched in one pass over a message with ``re2.Set``.

    :meth:`hits` gives the patterns that match somewhere in the text. When RE2 cannot decide
    (its DFA ran out of memory on a hostile text; a sentinel pattern that always matches tells),
    every pattern counts as a possible hit and each rule's own regex decides.
    """

    def __init__(self, patterns):
        self.patterns = tuple(dict.fromkeys(patterns))  # unique, in order
        self.domain = frozenset(self.patterns)
        self._set = re2.Set.SearchSet(options(SET_MEMORY))
        self._set.Add(b"")  # index 0: the sentinel, matches every text
        for pattern in self.patterns:
            self._set.Add(utf8(pattern.translated))
        self._set.Compile()

    def hits(self, data: bytes):
        found = self._set.Match(data)
        if not found:  # not even the sentinel: RE2 gave up; let each pattern decide
            return self.domain
        patterns = self.patterns
        return frozenset(patterns[index - 1] for index in found if index)

    @classmethod
    def build(cls, patterns) -> "PatternSet | None":
        """The set, or None when there are no patterns or they are too large to combine."""
        patterns = list(patterns)
        if not patterns:
            return None
        try:
            return cls(patterns)
        except re2.error:
            return None
