"""Fan-out: which sinks a message goes to, and what each sink says about the rules.

A message gets one delivery per **target sink**, each with its own state, steps, attempts and
pause, so a failing or paused sink never holds up another. The target sinks of a routing:

* every sink the rule names (``sink: a`` or ``sink: [a, b]``); when it names none, the first
  configured sink (a sink with ``receives: routed``, the default, gets only these);
* plus every sink with ``receives: all``, whatever sink the rule names.

Held and ignored messages get the same targets: one ``held`` or ``ignored`` delivery per target
sink, so the counts per sink on ``/status`` stay complete and a requeue works per sink.

Sink-specific limits (a ZGW field length, a required informatieobjecttype) are each sink's own
:meth:`~connector.sinks.base.Sink.validate_routing`. It runs twice: on what a rule fixes before
any message exists (:func:`rule_problems`: ``connector mappings check --config``, and at start,
where a problem refuses the rules with their file:line), and on each message's routing when it is
planned (a problem holds that sink's delivery with the reason; the other sinks go on).
"""
from __future__ import annotations

from typing import Iterator, Sequence

from .routing import ATTACH, CREATE, DELIVERING_ACTIONS, Routing
from .yamlconf import Problem

ROUTED, ALL = "routed", "all"
RECEIVES = (ROUTED, ALL)


def targets(named: Sequence[str], sinks: Sequence) -> list[str]:
    """The target sinks of a routing that names ``named``, given the configured ``sinks``.

    ``sinks`` are :class:`~connector.config.SinkConfig` (``name``, ``receives``), in configuration
    order, which is also the order of the result. A named sink that is not configured is kept (its
    delivery then fails as a configuration error, as before fan-out).
    """
    if not sinks:
        return list(dict.fromkeys(named))
    routed = set(named) if named else {sinks[0].name}
    chosen = [s.name for s in sinks if s.name in routed or getattr(s, "receives", ROUTED) == ALL]
    known = {s.name for s in sinks}
    return chosen + [name for name in dict.fromkeys(named) if name not in known]


def static_routings(ruleset) -> Iterator[tuple[object, str, Routing, list]]:
    """Each sending action of every rule (``otherwise:`` too) as a Routing of what it fixes.

    Values that only a message can tell (a templated zaak identificatie, omschrijving, titel)
    are ``None`` or left out, so a sink checks only what is known. Yields ``(rule, label, routing,
    named)``: ``label`` is ``""`` for the rule's action and ``" (otherwise:)"`` for its fallback,
    ``named`` the sink names (one tuple per level) whose targets the action can reach.
    """
    for rule in [*ruleset.rules, ruleset.unmatched]:
        if rule is None:
            continue
        action, label, named = rule.then, "", []
        while action is not None:
            # an otherwise: goes to its own sinks (a message replying to nothing) or to its rule's
            named = [action.own_sinks, *named]
            if action.action in DELIVERING_ACTIONS:
                yield rule, label, _static(action, rule), named
            action, label = action.otherwise, " (otherwise:)"


def _constant(value) -> str | None:
    """The text of a template without placeholders (or of plain text); ``None`` when templated."""
    parts = getattr(value, "parts", None)
    if parts is None:
        return value
    if all(isinstance(part, str) for part in parts):
        return " ".join("".join(parts).split())
    return None


def _static(action, rule) -> Routing:
    options = action.options
    fields = {"rule": rule.name, "source": rule.source, "sinks": action.own_sinks,
              "informatieobjecttype": options.get("informatieobjecttype"),
              "vertrouwelijkheidaanduiding": options.get("vertrouwelijkheidaanduiding", "openbaar"),
              "titel": _constant(options.get("titel")) or "", "archief": options.get("archief")}
    if action.action == ATTACH:
        fields["zaak_identificatie"] = _constant(action.params.get("zaak"))
    elif action.action == CREATE:
        fields["zaaktype"] = action.params.get("zaaktype")
        fields["zaak"] = {key: text for key in ("omschrijving", "toelichting") if key in action.params
                          for text in [_constant(action.params[key])] if text}
    return Routing(action.action, **fields)


def rule_problems(ruleset, sinks: dict, configs: Sequence) -> list[Problem]:
    """What each target sink's ``validate_routing`` finds in the rules, as file:line problems.

    ``sinks`` maps a sink name to its :class:`~connector.sinks.base.Sink`; ``configs`` are the
    :class:`~connector.config.SinkConfig` in order (for the targets).
    """
    problems = []
    for rule, label, routing, named in static_routings(ruleset):
        for name in dict.fromkeys(sink for sinks in named for sink in targets(sinks, configs)):
            sink = sinks.get(name)
            if sink is None:
                continue
            for text in sink.validate_routing(routing):
                file, _, line = rule.source.rpartition(":")
                problems.append(Problem(file or rule.source, int(line) if line.isdigit() else 1,
                                        f"rule {rule.name!r}{label}, sink {name!r}: {text}"))
    return sorted(set(problems))


def plan_routing(routing: Routing, sink) -> Routing:
    """The routing one sink gets: unchanged, or a hold saying why the sink cannot take it."""
    if sink is None or not routing.delivers:
        return routing
    problems = sink.validate_routing(routing)
    if not problems:
        return routing
    return Routing("hold", rule=routing.rule, source=routing.source, sinks=routing.sinks,
                   reason=f"sink {sink.name!r} cannot take this routing: {'; '.join(problems)}"[:1000])
