"""``connector status``: what ``GET /status`` serves, read from the store directly, for a terminal.

The answer is built by :mod:`connector.web.status_data` and dumped through the schemas of
:mod:`connector.web.status_schemas`, exactly as the web app does, so ``--json`` prints the API's JSON
(``uptime_seconds`` of the web process is null here: this is no web process). Without ``--json``
the same answer is printed for a person: worker, mapping rules, channels, sinks, the backlog, the
oldest undelivered message and the dead deliveries. ``connector status CHANNEL ID`` prints one post's
story (``GET /status/messages/<channel>/<id>``). No server is needed, only ``--config`` and its store
(opened read-only in spirit: nothing here writes, and a missing store is refused, never created).

Exit codes: 0 healthy (or the post was found), 1 not healthy (or no such post), 2 bad input.
"""
from __future__ import annotations

import json
import sys

from .commands import _load_config, _open_store, _refuse


def add_command(commands, command) -> None:
    """Register ``status`` with the parser's ``command`` helper."""
    sub = command(commands, "status", "the connector's state as GET /status shows it (channels, sinks, backlog,"
                                      " oldest undelivered, dead, mapping rules, worker), read from the store;"
                                      " with CHANNEL ID one message's story", cmd_status)
    sub.add_argument("channel", nargs="?", metavar="CHANNEL", help="a configured channel's name")
    sub.add_argument("id", nargs="?", metavar="ID", help="the message's id on its platform (as /status/messages"
                                                         " lists it)")
    sub.add_argument("--json", action="store_true", help="print the status API's JSON")


def cmd_status(args) -> int:
    from .. import __version__
    from ..rulesholder import RulesHolder
    from ..web.status_data import message_story, problems, status_report
    from ..web.status_schemas import StatusSchema, StorySchema

    if args.channel is not None and args.id is None:
        _refuse("connector status CHANNEL ID: give the message's id too (find it with GET /status/messages)")
    config = _load_config(args)
    store = _open_store(args)
    try:
        if args.channel is not None:
            story = message_story(store, args.channel, args.id)
            if story is None:
                print(f"no message {args.id!r} stored on channel {args.channel!r}", file=sys.stderr)
                return 1
            body = StorySchema().dump(story)
            print(json.dumps(body, ensure_ascii=False, indent=2) if args.json else "\n".join(story_lines(body)))
            return 0
        rules = RulesHolder(config.mappings, sink_names=[s.name for s in config.sinks], strict=False)
        body = StatusSchema().dump(status_report(config, store, rules, __version__))
        if args.json:
            print(json.dumps(body, ensure_ascii=False, indent=2))
        else:
            print("\n".join(status_lines(body, problems(config, store))))
        return 0 if body["healthy"] else 1
    finally:
        store.close()


def _ago(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"


def status_lines(body: dict, found: list[str]) -> list[str]:
    """``GET /status`` (as dumped) for a terminal; ``found``: why it is not healthy, if it is not."""
    lines = [f"connector {body['version']} at {body['time']}: " + ("healthy" if body["healthy"] else "NOT HEALTHY")]
    lines += [f"  problem: {problem}" for problem in found]
    worker = body["worker"]
    if worker is None:
        lines.append("worker: none has reported (is 'connector worker' running?)")
    else:
        state = f"alive, up {_ago(worker['uptime_seconds'])}" if worker["alive"] else "NOT alive"
        lines.append(f"worker: {worker['id']} {state}, last beat {worker['beat_at']}"
                     + (f", stopped {worker['stopped_at']}" if worker["stopped_at"] else ""))
    for alive in body.get("workers") or []:  # several workers may share one store (issue 13): who holds what
        lines.append(f"  worker {alive['id']}: polling {', '.join(alive['channels']) or 'nothing'} now,"
                     f" {alive['deliveries']} deliveries in hand")
    rules = body["mappings"]
    lines.append(f"mapping rules: {rules['rules']} from the {rules['source']} ({rules['path']},"
                 f" fingerprint {(rules['fingerprint'] or '-')[:12]})")
    lines += [f"  rule error: {error}" for error in rules["errors"]]
    lines.append("channels:")
    for c in body["channels"]:
        line = (f"  {c['name']} ({c['kind']}{'' if c['enabled'] else ', disabled'}): last success"
                f" {c['last_success_at'] or 'never'}, next poll {c['next_poll_at'] or 'at the worker start'},"
                f" {c['messages_today']} today, {c['messages']} stored")
        if c["paused_until"]:
            line += f"; PAUSED until {c['paused_until']} ({c['paused_reason']})"
        if c["stalled"]:
            line += f"; STALLED, polling since {c['polling_since']}"
        lines.append(line)
        if c["last_error"]:
            lines.append(f"    last error ({c['consecutive_failures']} in a row): {c['last_error']}")
    lines.append("sinks:")
    for s in body["sinks"]:
        reach = {True: "reachable", False: "NOT reachable", None: "not tried yet"}[s["reachable"]]
        line = f"  {s['name']} ({s['kind']}): {reach}, last success {s['last_ok_at'] or 'never'}"
        if s["paused"]:
            line += f"; PAUSED until {s['paused_until']} ({s['paused_reason']})"
        lines.append(line)
        if s["last_error"]:
            lines.append(f"    last error: {s['last_error']}")
    lines.append("deliveries: " + ", ".join(f"{state} {n}" for state, n in body["deliveries"].items()))
    oldest = body["oldest_undelivered"]
    lines.append("oldest undelivered: " + (
        f"{oldest['channel']} {oldest['id']} to {oldest['sink']} ({oldest['state']}), stored {oldest['stored_at']},"
        f" {_ago(oldest['age_seconds'])} ago" if oldest else "none"))
    lines.append(f"dead: {body['dead']}" + (" (see 'connector deliveries list --state dead')" if body["dead"] else ""))
    return lines


def story_lines(story: dict) -> list[str]:
    """``GET /status/messages/<channel>/<id>`` (as dumped) for a terminal."""
    lines = [f"{story['channel']} {story['id']}: published {story['created_at']}  {story['url'] or ''}".rstrip()]
    if story["deleted"]:
        lines.append(f"deleted on the platform {story['deleted']['at']}: {story['deleted']['reason']}")
    for n, version in enumerate(story["versions"], 1):
        edit = f", {version['version']}" if version["version"] else ""
        lines.append(f"version {n} (message {version['message_id']}{edit}): fetched {version['fetched_at']},"
                     f" stored {version['stored_at']}, sha256 {version['sha256']}")
        for d in version["deliveries"]:
            zaak = d["zaak"] or {}
            into = f"; zaak {zaak.get('identificatie') or ''} {zaak.get('url') or ''}".rstrip() if zaak else ""
            lines.append(f"  {d['sink']}: {d['state']}; rule {d['rule'] or '-'} ({d['source'] or '?'}), {d['action']}"
                         f"{into}; {len(d['documents'])} document(s)")
            if d["last_error"]:
                lines.append(f"    last error: {d['last_error']}")
            for a in d["attempts"]:
                extra = ", ".join(str(x) for x in (a["verdict"], f"HTTP {a['status']}" if a["status"] else None,
                                                   a["error"]) if x)
                lines.append(f"    {a['at']} {a['state']}" + (f": {extra}" if extra else ""))
            if d["steps"]:
                lines.append("    steps: " + ", ".join(f"{s['name']} {s['saved_at']}" for s in d["steps"]))
        for notice in version["notices"]:
            lines.append(f"  told {notice['sink']} of the {notice['kind']}: {notice['state']}")
    return lines
