"""The catalogue names mapping rules use, for ``connector check`` to look up in each sink."""
from __future__ import annotations


def rule_names(ruleset, default_sink: str, sink_configs=None) -> tuple[dict, list[str]]:
    """The catalogue names the enabled rules use, per sink, and the ones only a message can tell.

    Returns ``({sink: {(kind, name): ["file:line: rule 'x'", ...]}}, [templated lines])`` where
    kind is ``zaaktype``, ``informatieobjecttype`` or ``zaak`` (an ``attach`` target by its
    identificatie). A value with placeholders is rendered per message, so it cannot be looked up
    now: it is listed as "not checked (templated)".
    """
    from ..fanout import targets
    from ..routing import ATTACH, CREATE, DELIVERING_ACTIONS

    names: dict[str, dict] = {}
    templated = []
    for rule in [r for r in ruleset.rules if r.enabled] + [ruleset.unmatched]:
        where = f"{rule.source}: rule {rule.name!r}"
        action = rule.then
        while action is not None:
            if action.action in DELIVERING_ACTIONS:
                refs = [("informatieobjecttype", action.options.get("informatieobjecttype"))]
                if action.action == CREATE:
                    refs.append(("zaaktype", action.params.get("zaaktype")))
                if action.action == ATTACH:
                    refs.append(("zaak", action.params.get("zaak")))
                for kind, value in refs:
                    text = _constant(value)
                    if text is None:
                        templated.append(f"{where}: {kind} {getattr(value, 'source', value)!r}: "
                                         f"not checked (templated)")
                    elif text:
                        named = action.own_sinks  # fan-out: each target sink
                        for sink in targets(named, sink_configs) if sink_configs else named or (default_sink,):
                            names.setdefault(sink, {}).setdefault((kind, text), []).append(where)
            action = action.otherwise
    return names, templated


def _constant(value) -> str | None:
    """The text of a plain value or of a template without placeholders; ``None`` when templated."""
    parts = getattr(value, "parts", None)
    if parts is None:
        return value or ""
    return "".join(parts) if all(isinstance(part, str) for part in parts) else None
