"""``connector preview``: the exact requests a sink would send (:mod:`connector.preview`)."""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

from .commands import _config_path, _load_config, _refuse, read_messages


def cmd_preview(args) -> int:
    """The exact requests a sink would send for each message (:mod:`connector.preview`); nothing is sent."""
    from ..fanout import plan_routing, targets
    from ..failures import Failed
    from ..preview import PreviewSession, message_folder
    from ..registry import SINKS
    from ..routing import ATTACH, FOLLOW_THREAD
    from ..rules import RulesError, load_rules
    from ..sinks.base import MemorySteps

    config = _load_config(args)
    chosen = next((s for s in config.sinks if s.name == args.sink), None)
    if chosen is None:
        _refuse(f"no sink {args.sink!r} in {_config_path(args)}; configured: {', '.join(s.name for s in config.sinks)}")
    try:
        ruleset = load_rules(config.mappings)
    except RulesError as exc:
        _refuse(*(str(problem) for problem in exc.problems))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = dict(chosen.options)
    if chosen.kind == "archive":   # a sink that writes files: into the preview folder
        options["folder"] = str(out / "archive")
    session = PreviewSession()
    sink_class = SINKS.load().get_class(chosen.kind)
    # a sink that talks HTTP takes a session (ours records instead of sending); one that writes files does not
    takes_session = "session" in inspect.signature(sink_class).parameters
    sink = sink_class(chosen.name, options, **({"session": session} if takes_session else {}))
    lines, status = [], 0
    for message in read_messages(args.messages):
        routing = ruleset.resolve(message)
        where = {"channel": message.channel, "id": message.id, "version": message.version, "rule": routing.rule}
        if chosen.name not in targets(routing.sinks, config.sinks):
            lines.append({**where, "skipped": f"rule {routing.rule!r} does not route it to sink {chosen.name!r}"})
            continue
        own = plan_routing(routing, sink)
        if not own.delivers:
            lines.append({**where, "skipped": f"{own.action}: {own.reason}"})
            continue
        if own.action == FOLLOW_THREAD and not own.zaak_url:   # the parent's zaak is not known here
            own = own.evolve(action=ATTACH, zaak_identificatie="PREVIEW-PARENT-ZAAK")
        session.start(out / message_folder(message), message, attach=own.action == ATTACH)
        first = len(session.index)
        try:
            sink.deliver(message, own, MemorySteps())
        except Failed as exc:
            lines.append({**where, "error": exc.failure.message})
            status = 1
        lines.extend({**entry, "rule": routing.rule} for entry in session.index[first:])
    with open(out / "index.jsonl", "w", encoding="utf-8") as index:
        for entry in lines:
            index.write(json.dumps(entry, ensure_ascii=False) + "\n")
    requests_written = sum(1 for entry in lines if "file" in entry)
    print(f"{out}: {requests_written} request(s) for {len({(e['channel'], e['id'], e['version']) for e in lines})}"
          f" message(s), listed in index.jsonl", file=sys.stderr)
    return status
