"""Mapping rules: which zaak a message belongs to, declared in YAML by integration admins.

Public API::

    ruleset = load_rules(path)           # folder of *.yaml/*.yml (by name) or one file; RulesError
    check_rules(path) -> list[Problem]   # [] when valid
    ruleset.resolve(message) -> Routing  # pure and deterministic
    ruleset.fingerprint                  # sha256 over the files' names and bytes
    ruleset.rules                        # [Rule(name, source="file:line", ...)]

The admin's reference is ``mappings/README.md``.
"""
from .engine import Rule, RuleSet, RulesError, check_rules, load_rules

__all__ = ["Rule", "RuleSet", "RulesError", "check_rules", "load_rules"]
