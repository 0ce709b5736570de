"""Loading mapping files into a :class:`RuleSet`, and resolving a message to a :class:`Routing`.

Files are read in filename order, rules in file order, and the first enabled rule whose
conditions hold decides. Exactly one file declares the ``unmatched:`` policy for messages no
rule matches. Every problem in every file is collected before anything is refused, each as a
:class:`~connector.yamlconf.Problem` with file and line, so an admin fixes a file in one go.

Options (informatieobjecttype, vertrouwelijkheidaanduiding, titel, sink, archief) are taken from
the action itself, else the file's ``defaults:``, else the one ``global_defaults:``, else built-in.
``archief`` is taken whole: a rule's ``archief:`` replaces the default's, keys are not merged (a
merged B from one place and a bewaartermijn from another would be an appraisal nobody made).

The rules are sink-neutral: they do not know a target system's field lengths or required values
(a ZGW omschrijving of 80 characters, an informatieobjecttype). Rendered texts are only capped at
:data:`TEXT_MAX`; each sink cuts and checks them for itself
(:meth:`connector.sinks.base.Sink.validate_routing`).
"""
from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import ValidationError

from ..message import Message
from ..routing import ATTACH, CREATE, FOLLOW_THREAD, HOLD, IGNORE, Routing
from ..yamlconf import LineDict, Problem, YamlError, dotted, flatten_errors, line_of, loads, too_big
from . import templates
from .conditions import Facts, compile_when, index_keys, message_keys, patterns_of, regex_groups
from .regex import PatternSet, RegexError
from .schema import ACTION_KEYS, OPTION_KEYS, UNMATCHED_RULE, FileSchema, RuleSchema

SUFFIXES = (".yaml", ".yml")
DEFAULT_TITEL = templates.parse("{channel}: {kind} by {author.handle}, {created_at:%Y-%m-%d %H:%M} UTC")
BUILTIN_DEFAULTS = {"vertrouwelijkheidaanduiding": "openbaar", "titel": DEFAULT_TITEL}
# A sink-neutral cap on a rendered text (a template over a 1 MiB message must not copy it into
# every delivery); each sink cuts further to its own field lengths.
TEXT_MAX = 10000
REASON_MAX = 1000


class RulesError(Exception):
    """The mapping files are invalid; ``problems`` lists every problem found (file:line: message)."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class Action:
    """A compiled ``then:`` (or ``otherwise:`` / ``unmatched:``) block."""

    action: str
    params: dict  # attach: template; create: {zaaktype, omschrijving?, toelichting?}; hold/ignore: template|None
    options: dict  # informatieobjecttype, vertrouwelijkheidaanduiding, titel, sink, archief
    otherwise: "Action | None" = None

    def route(self, message: Message, groups: dict, rule: str, source: str) -> Routing:
        common = {"rule": rule, "source": source, "sinks": self.own_sinks}  # held, ignored: same sinks
        if self.action in (HOLD, IGNORE):
            template = self.params.get("reason")
            reason = templates.oneline(template.render(message, groups)) if template else ""
            return Routing(self.action, reason=templates.shorten(reason or f"held by rule {rule!r}", REASON_MAX),
                           **common)
        if self.action == FOLLOW_THREAD and not message.in_reply_to:
            # Nothing to follow: decide now rather than leave the pipeline to find no parent.
            if self.otherwise:
                return self.otherwise.route(message, groups, rule, source)
            return Routing(HOLD, reason="follow_thread: the message replies to nothing", **common)
        delivery = dict(common, **self.document(message, groups))
        if self.action == ATTACH:
            identificatie = templates.oneline(self.params["zaak"].render(message, groups))
            if not identificatie or len(identificatie) > TEXT_MAX:  # a sink checks its own limit
                return Routing(HOLD, reason=f"attach: the zaak identificatie {identificatie[:100]!r} is empty or"
                                            f" longer than {TEXT_MAX} characters", **common)
            return Routing(ATTACH, zaak_identificatie=identificatie, **delivery)
        if self.action == CREATE:
            zaak = {}
            for key, flatten in (("omschrijving", True), ("toelichting", False)):
                if key in self.params:
                    text = self.params[key].render(message, groups)
                    text = templates.shorten(templates.oneline(text) if flatten else text.strip(), TEXT_MAX)
                    if text:
                        zaak[key] = text
            return Routing(CREATE, zaaktype=self.params["zaaktype"], zaak=zaak, **delivery)
        fallback = self.otherwise.route(message, groups, rule, source) if self.otherwise else None
        return Routing(FOLLOW_THREAD, fallback=fallback, **delivery)

    def document(self, message: Message, groups: dict) -> dict:
        """The document fields of this action's options, whatever the action (a held message may be archived)."""
        titel = templates.shorten(templates.oneline(self.options["titel"].render(message, groups)), TEXT_MAX)
        return {"titel": titel or templates.oneline(DEFAULT_TITEL.render(message)),
                **{key: self.options.get(key) for key in ("informatieobjecttype", "vertrouwelijkheidaanduiding",
                                                          "archief")}}

    @property
    def own_sinks(self) -> tuple[str, ...]:
        """The sinks this action names (``sink: a`` or ``sink: [a, b]``); empty when it names none."""
        return tuple(self.options.get("sink") or ())

    @property
    def sinks(self) -> tuple[str, ...]:
        return self.own_sinks + (self.otherwise.sinks if self.otherwise else ())


@dataclass
class Rule:
    """One rule as loaded: ``name``, ``source`` ("file:line"), the compiled test and action."""

    name: str
    source: str
    when: dict
    then: Action
    description: str = ""
    enabled: bool = True
    test: object = field(default=None, repr=False)

    @property
    def sinks(self) -> tuple[str, ...]:
        """Every sink this rule can send to (its own and its ``otherwise:``'s)."""
        return self.then.sinks

    def route(self, message: Message, groups: dict | None = None) -> Routing:
        return self.then.route(message, groups or {}, self.name, self.source)


class RuleSet:
    """The loaded rules of one mappings folder (or file). Immutable once built."""

    def __init__(self, rules: list[Rule], unmatched: Rule, files: list[str], fingerprint: str):
        self.rules = rules
        self.unmatched = unmatched
        self.files = files
        self.fingerprint = fingerprint
        # The index: per condition, key -> positions of rules that need that key to match.
        # Rules without an indexable condition are "always" candidates. Positions keep file order.
        self._active = [rule for rule in rules if rule.enabled]
        # All regexes in one RE2 set: one pass over a message finds which of them can match.
        self._patterns = PatternSet.build(p for rule in self._active for p in patterns_of(rule.when))
        self._always: list[int] = []
        self._index: dict[str, dict[str, list[int]]] = {}
        for position, rule in enumerate(self._active):
            found = index_keys(rule.when, regex=self._patterns is not None)
            if found is None:
                self._always.append(position)
                continue
            buckets = self._index.setdefault(found[0], {})
            for key in found[1]:
                buckets.setdefault(key, []).append(position)

    def match(self, message: Message) -> tuple[Rule, dict]:
        """The deciding rule (``unmatched`` when none) and the regex groups it matched."""
        facts = Facts(message, self._patterns)
        candidates = set()
        for name, buckets in self._index.items():
            for key in message_keys(name, facts):
                found = buckets.get(key)
                if found:
                    candidates.update(found)
        if not candidates:
            order = self._always
        elif self._always:
            order = heapq.merge(sorted(candidates), self._always)
        else:
            order = sorted(candidates)
        active = self._active
        for position in order:
            groups = {}
            rule = active[position]
            if rule.test(facts, groups):
                return rule, groups
        return self.unmatched, {}

    def document(self, message: Message) -> dict:
        """Pure: the deciding rule's document fields for ``message`` (:meth:`Action.document`)."""
        rule, groups = self.match(message)
        return rule.then.document(message, groups)

    def resolve(self, message: Message) -> Routing:
        """Pure: the Routing for ``message``; no I/O, no clock, the message is not changed."""
        rule, groups = self.match(message)
        return rule.route(message, groups)


def check_rules(path, *, overrides: dict[str, str] | None = None) -> list[Problem]:
    """Every problem in the mapping files at ``path`` (``[]`` when they are valid)."""
    try:
        load_rules(path, overrides=overrides)
    except RulesError as exc:
        return exc.problems
    return []


def load_rules(path, *, overrides: dict[str, str] | None = None) -> RuleSet:
    """Load a mappings folder (all ``*.yaml``/``*.yml``, by name) or one file.

    ``overrides`` maps a file name to text used instead of (or in addition to) the file on disk:
    the web editor checks an unsaved edit together with the other files this way.
    """
    files, problems = _read(Path(path), overrides or {})
    all_read = bool(files) and not problems
    digest = hashlib.sha256()
    parsed = []
    for name, data in files:
        digest.update(Path(name).name.encode() + b"\0" + data + b"\0")  # not the folder: same rules, same print
        loaded, file_problems = _parse(name, data)
        problems += file_problems
        if loaded is not None:
            parsed.append(loaded)
    # A file that could not be parsed may hold the unmatched policy: do not also report it missing.
    ruleset_problems, rules, unmatched = _compile(parsed, str(path), complete=all_read and len(parsed) == len(files))
    problems += ruleset_problems
    if problems:
        raise RulesError(problems)
    return RuleSet(rules, unmatched, [name for name, _ in files], digest.hexdigest())


def _read(path: Path, overrides: dict[str, str]) -> tuple[list[tuple[str, bytes]], list[Problem]]:
    if path.is_dir():
        names = {p.name: p for p in path.iterdir()
                 if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file()}
        for name in overrides:
            names.setdefault(name, path / name)
        files = []
        if not names:
            return [], [Problem(str(path), 0, "no mapping files (*.yaml, *.yml) in this folder")]
        chosen = [(name, names[name]) for name in sorted(names)]
    elif path.name in overrides or path.is_file():
        chosen = [(path.name, path)]
    else:
        return [], [Problem(str(path), 0, "no such file or folder")]
    files, problems = [], []
    for name, file in chosen:
        try:
            problem = None if name in overrides else too_big(file.stat().st_size, str(file))
            if problem is not None:
                problems.append(problem)
                continue
            data = overrides[name].encode() if name in overrides else file.read_bytes()
        except OSError as exc:  # e.g. removed while an editor saves it: report, do not crash a reload
            problems.append(Problem(str(file), 0, f"cannot read: {exc.strerror or exc}"))
            continue
        files.append((str(file), data))
    return files, problems


@dataclass
class _File:
    name: str
    raw: LineDict
    loaded: dict
    rules: list  # (index, raw item, loaded rule or None)


def _parse(name: str, data: bytes) -> tuple[_File | None, list[Problem]]:
    try:
        raw = loads(data.decode("utf-8"), name)
    except UnicodeDecodeError as exc:
        return None, [Problem(name, 1, f"not UTF-8 text: {exc}")]
    except YamlError as exc:
        return None, [exc.problem]
    if raw is None:  # an empty file (or only comments) is allowed
        raw = LineDict()
        raw.line, raw.key_lines = 1, {}
    if not isinstance(raw, LineDict):
        return None, [Problem(name, getattr(raw, "line", 1),
                              "a mapping file is a mapping with rules:, defaults:, global_defaults:, unmatched:")]
    problems = _secrets(raw, name)
    try:
        loaded = FileSchema().load(raw)
    except ValidationError as exc:
        problems += flatten_errors(exc.messages, raw, name)
        loaded = exc.valid_data or {}
    rules = []
    items = raw.get("rules") if isinstance(raw.get("rules"), list) else []
    for index, item in enumerate(items):
        try:
            rules.append((index, item, RuleSchema().load(item)))
        except ValidationError as exc:
            problems += flatten_errors(exc.messages, raw, name, ("rules", index))
            rules.append((index, item, None))
    return _File(name, raw, loaded, rules), problems


def _secrets(root: LineDict, name: str) -> list[Problem]:
    """Mapping files are shared and shown in the web UI: refuse ``${...}`` environment references."""
    problems, stack = [], [((), root)]
    while stack:
        path, node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, (dict, list)):
                stack.append((path + (key,), value))
            elif any(isinstance(text, str) and "${" in text for text in (key, value)):
                problems.append(Problem(name, line_of(root, path + (key,)), (
                    f"{dotted(path + (key,))}: '${{...}}' environment references are not allowed in mapping"
                    " files; mapping files must not hold secrets (credentials belong in the connector"
                    " configuration)")))
    return problems


def _compile(files: list[_File], where: str, complete: bool) -> tuple[list[Problem], list[Rule], Rule | None]:
    """Cross-file checks, defaults and the compiled rules (only for rules that passed the schema)."""
    problems: list[Problem] = []
    global_defaults, unmatched_at = {}, []
    first_global = None
    for file in files:
        if "global_defaults" in file.raw:
            here = f"{file.name}:{file.raw.key_lines['global_defaults']}"
            if first_global:
                problems.append(Problem(file.name, file.raw.key_lines["global_defaults"],
                                        f"global_defaults: declared twice (first at {first_global});"
                                        " only one file may declare it"))
            else:
                first_global, global_defaults = here, file.loaded.get("global_defaults", {})
        if "unmatched" in file.raw:
            unmatched_at.append(file)
    for extra in unmatched_at[1:]:
        first = unmatched_at[0]
        problems.append(Problem(extra.name, extra.raw.key_lines["unmatched"],
                                f"unmatched: declared twice (first at {first.name}:"
                                f"{first.raw.key_lines['unmatched']}); exactly one file declares the policy"
                                " for messages no rule matches"))
    if complete and not unmatched_at:
        problems.append(Problem(where, 0, "no unmatched: policy; exactly one mapping file must say what happens"
                                          " to messages no rule matches (e.g. unmatched: {hold: ...})"))

    rules, seen = [], {}
    unmatched = None
    for file in files:
        defaults = {**BUILTIN_DEFAULTS, **global_defaults, **file.loaded.get("defaults", {})}
        for index, item, loaded in file.rules:
            path = ("rules", index)
            line = line_of(file.raw, path)
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                if name in seen:
                    problems.append(Problem(file.name, line_of(file.raw, path + ("name",)),
                                            f"{dotted(path)}.name: duplicate rule name {name!r}"
                                            f" (first at {seen[name]})"))
                else:
                    seen[name] = f"{file.name}:{line}"
            if loaded is None:
                continue
            groups = regex_groups(loaded["when"])
            then, then_problems = _action(loaded["then"], defaults, groups, file, path + ("then",))
            problems += then_problems
            try:
                test = compile_when(loaded["when"])
            except RegexError as exc:  # a keyword list too large for RE2
                problems.append(Problem(file.name, line_of(file.raw, path + ("when",)),
                                        f"{dotted(path + ('when',))}: {exc}"))
                continue
            if then is not None:
                rules.append(Rule(loaded["name"], f"{file.name}:{line}", loaded["when"], then,
                                  description=loaded.get("description", ""), enabled=loaded.get("enabled", True),
                                  test=test))
        if unmatched_at and file is unmatched_at[0] and "unmatched" in file.loaded:
            then, then_problems = _action(file.loaded["unmatched"], defaults, frozenset(), file, ("unmatched",))
            problems += then_problems
            if then is not None:
                unmatched = Rule(UNMATCHED_RULE, f"{file.name}:{file.raw.key_lines['unmatched']}", {}, then)
    return problems, rules, unmatched


def _action(block: dict, defaults: dict, groups: frozenset, file: _File, path: tuple):
    """Compile one action block; check the match groups its templates use and the needed options."""
    problems = []
    action = next(key for key in ACTION_KEYS if key in block)
    value = block[action]
    params, otherwise = {}, None
    if action == ATTACH:
        params = {"zaak": value}
    elif action == CREATE:
        params = dict(value)
    elif action in (HOLD, IGNORE):
        params = {"reason": value}
    elif value and "otherwise" in value:
        otherwise, more = _action(value["otherwise"], defaults, groups, file, path + (action, "otherwise"))
        problems += more
    options = {**defaults, **{key: block[key] for key in OPTION_KEYS if key in block}}
    used = [(path + (action,), value)] if isinstance(value, templates.Template) else []
    used += [(path + (action, key), v) for key, v in params.items()
             if action == CREATE and isinstance(v, templates.Template)]
    if "titel" in block:
        used.append((path + ("titel",), block["titel"]))
    for where, template in used:
        missing = sorted(template.groups - groups)
        if missing:
            have = ", ".join(sorted(groups)) or "none"
            problems.append(Problem(file.name, line_of(file.raw, where),
                                    f"{dotted(where)}: uses {', '.join('{match.' + g + '}' for g in missing)} but"
                                    f" this rule's regex has no such named group (groups: {have})"))
    # no informatieobjecttype is fine here: a sink may have a default (Sink.validate_routing says)
    if problems:
        return None, problems
    return Action(action, params, options, otherwise), problems
