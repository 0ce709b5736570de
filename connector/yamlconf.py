"""YAML that remembers where everything came from, for ``file:line: message`` errors.

:func:`load` returns ordinary ``dict``/``list``/scalar data, except that mappings are
:class:`LineDict` and sequences :class:`LineList`, which know the line of themselves and of each
key/item. :func:`line_of` walks a path (as found in a marshmallow error dict) to the closest
line. :func:`flatten_errors` turns a marshmallow ``messages`` dict into sorted
:class:`Problem` s.

Only safe YAML is accepted (no tags that construct Python objects); duplicate keys are an error,
because the second one silently winning is a classic config trap. Aliases (``*name``, also in a
``<<: *name`` merge) are refused where they occur: a "billion laughs" file of a few lines of nested
aliases expands to billions of nodes, and no configuration or mapping file needs them. Nesting
deeper than :data:`MAX_DEPTH` is refused too, at its line, instead of overflowing Python's stack.
A file over :data:`MAX_BYTES` is refused before it is read or parsed (the largest real mapping
sets are tens of kilobytes; a file of gigabytes would fill memory).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

MAX_DEPTH = 50  # mappings and lists inside each other; real files need fewer than 10
MAX_BYTES = 4 * 1024 * 1024  # one configuration or mapping file


def too_big(size: int, filename: str) -> "Problem | None":
    """The problem with a file of ``size`` bytes, or ``None`` when it is within :data:`MAX_BYTES`."""
    if size <= MAX_BYTES:
        return None
    return Problem(filename, 1, f"the file is {size} bytes; a configuration or mapping file may be at most"
                                f" {MAX_BYTES} bytes ({MAX_BYTES // (1024 * 1024)} MiB)")


class LineDict(dict):
    line: int = 0
    key_lines: dict


class LineList(list):
    line: int = 0
    item_lines: list


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class YamlError(Exception):
    """The file is not valid YAML (or has duplicate keys). Carries the :class:`Problem`."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that we do not accept (an alias); reported without the "invalid YAML" prefix."""


class _Loader(yaml.SafeLoader):
    _depth = 0

    def compose_node(self, parent, index):
        # Refuse an alias before the constructor can expand it (the expansion is what explodes).
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(None, None, f"YAML aliases (*{event.anchor}) are not allowed: write the value out"
                                       " in full (an alias can make a small file expand without limit)",
                           event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep", self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader, node):
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def loads(text: str, filename: str = "<string>"):
    """Parse YAML text; raise :class:`YamlError` with file:line on a syntax error."""
    problem = too_big(len(text), filename)  # characters: at least as many bytes
    if problem is not None:
        raise YamlError(problem)
    try:
        return yaml.load(text, Loader=_Loader)
    except _Refused as exc:
        raise YamlError(Problem(filename, exc.problem_mark.line + 1, exc.problem)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        # an unterminated quote or bracket is only noticed far below; where it opened is the fix
        if exc.context_mark and (exc.context or "").startswith(("while scanning a quoted", "while parsing a flow")):
            mark = exc.context_mark
        line = mark.line + 1 if mark else 1
        reason = exc.problem or str(exc)
        if exc.context and exc.problem:
            reason = f"{exc.context}, {exc.problem}"
        raise YamlError(Problem(filename, line, f"invalid YAML: {reason}")) from None
    except yaml.YAMLError as exc:
        raise YamlError(Problem(filename, 1, f"invalid YAML: {exc}")) from None


def load(path) -> object:
    path = str(path)
    try:
        problem = too_big(os.path.getsize(path), path)
        if problem is not None:
            raise YamlError(problem)
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_BYTES + 1)  # never more: a larger file is refused below
    except UnicodeDecodeError as exc:
        raise YamlError(Problem(path, 1, f"not UTF-8 text: {exc}")) from None
    return loads(text, path)


def line_of(data, path) -> int:
    """Line of the deepest element of ``path`` (keys and list indexes) that exists in ``data``."""
    line = getattr(data, "line", 1) or 1
    node = data
    for part in path:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def flatten_errors(messages, data, filename: str, path=()) -> list[Problem]:
    """Marshmallow's nested ``{key: [msg] | {…}}`` errors as sorted file:line problems.

    Each message names the offending key as a dotted path (``channels[0].options.account``).
    """
    problems: list[Problem] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key == "_schema":
                problems += flatten_errors(value, data, filename, path)
            else:
                problems += flatten_errors(value, data, filename, path + (key,))
    elif isinstance(messages, list):
        if messages and all(isinstance(m, str) for m in messages):
            where = dotted(path)
            for text in messages:
                label = f"{where}: " if where else ""
                problems.append(Problem(filename, line_of(data, path), f"{label}{text}"))
        else:
            for item in messages:
                problems += flatten_errors(item, data, filename, path)
    else:
        where = dotted(path)
        problems.append(Problem(filename, line_of(data, path), f"{where}: {messages}" if where else str(messages)))
    return sorted(problems)


def dotted(path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text
