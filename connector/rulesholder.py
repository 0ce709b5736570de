"""The mapping rules in force, reloaded when their files change.

An invalid edit is refused: the last valid rules keep running and :attr:`RulesHolder.error`
carries the problems (file:line) for the status endpoint. The holder also checks that every
``sink`` a rule names is configured and, given the sinks themselves, that each rule's target
sinks can take what the rule fixes (:func:`connector.fanout.rule_problems`).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from .yamlconf import Problem

log = logging.getLogger(__name__)


def _snapshot(path: Path) -> tuple:
    """Cheap change detection: names, sizes and mtimes of the rule files."""
    files = [path] if path.is_file() else sorted(p for p in path.glob("*") if p.suffix in (".yaml", ".yml"))
    out = []
    for file in files:
        try:
            stat = file.stat()
            out.append((str(file), stat.st_size, stat.st_mtime_ns))
        except FileNotFoundError:
            continue
    return tuple(out)


class RulesHolder:
    def __init__(self, path: str | Path, sink_names: list[str] | None = None, strict: bool = True,
                 sinks: dict | None = None, sink_configs: list | None = None):
        """``strict=False`` (for the web app) records a first-load failure instead of raising.

        ``sinks`` (name -> :class:`~connector.sinks.base.Sink`) with their ``sink_configs`` (in
        configuration order) also check the rules against each target sink's ``validate_routing``.
        """
        self.path = Path(path)
        self.strict = strict
        self.sink_names = sink_names
        self.sinks, self.sink_configs = sinks, sink_configs
        self._lock = threading.Lock()
        self._snapshot = None
        self._ruleset = None
        self.error: list[Problem] | None = None
        self.refresh(initial=True)

    def load(self):
        from .rules import RulesError, load_rules

        ruleset = load_rules(self.path)
        if self.sink_names is not None:
            unknown = [Problem(*_split(rule.source),
                               f"rule {rule.name!r}: sink {sink!r} is not configured"
                               f" (configured: {', '.join(self.sink_names)})")
                       for rule in _all_rules(ruleset) for sink in _rule_sinks(rule) if sink not in self.sink_names]
            if unknown:
                raise RulesError(unknown)
        if self.sinks:
            from .fanout import rule_problems

            problems = rule_problems(ruleset, self.sinks, self.sink_configs or [])
            if problems:
                raise RulesError(problems)
        return ruleset

    def refresh(self, initial: bool = False) -> bool:
        """Reload when the files changed. Raises only on the first load (there is nothing to fall back to)."""
        from .rules import RulesError

        with self._lock:
            snapshot = _snapshot(self.path)
            if snapshot == self._snapshot:
                return False
            try:
                ruleset = self.load()
            except RulesError as exc:
                self._snapshot = snapshot
                self.error = exc.problems
                if self.strict and (initial or self._ruleset is None):
                    raise
                log.error("mapping rules not reloaded, keeping the previous ones:\n%s",
                          "\n".join(str(p) for p in exc.problems))
                return False
            self._ruleset, self._snapshot, self.error = ruleset, snapshot, None
            if not initial:
                log.info("mapping rules reloaded (%s)", ruleset.fingerprint[:12])
            return True

    def current(self):
        return self._ruleset


def _split(source: str) -> tuple[str, int]:
    file, _, line = source.rpartition(":")
    return (file or source, int(line) if line.isdigit() else 1)


def _all_rules(ruleset) -> list:
    unmatched = getattr(ruleset, "unmatched", None)
    return list(ruleset.rules) + ([unmatched] if unmatched is not None else [])


def _rule_sinks(rule) -> list[str]:
    return [sink for sink in getattr(rule, "sinks", ()) if sink]
