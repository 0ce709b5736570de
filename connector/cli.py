"""The connector command line: poll, deliver, serve, check, and inspect mapping rules and deliveries.

Exit codes: 0 success; 1 a check found problems (or a cycle had errors); 2 bad input or usage.
A user's mistake (a wrong path, a corrupted database, a bad option) is one line on stderr and
exit 2, never a traceback. ``--config`` and ``-v`` are accepted before and after the command;
after the command wins when both are given.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from . import __version__

DEFAULT_CONFIG = "connector.yaml"
DESCRIPTION = "midoffice connector: archive government social-media messages as documents in case systems"


def _config_path(args) -> str:
    return args.config or os.environ.get("CONNECTOR_CONFIG") or DEFAULT_CONFIG


class Refused(Exception):
    """The user's input is wrong: ``main`` prints ``lines`` on stderr and exits 2 (``SystemExit``,
    as argparse does for a bad option)."""

    def __init__(self, *lines: str):
        super().__init__("\n".join(lines))
        self.lines = lines


def _refuse(*lines: str):
    raise Refused(*lines)


def _load_config(args):
    from .config import ConfigError, load_config

    path = _config_path(args)
    if Path(path).is_dir():
        _refuse(f"{path}: is a folder; give the configuration file itself, e.g. {Path(path) / DEFAULT_CONFIG}")
    try:
        return load_config(path)
    except ConfigError as exc:
        _refuse(*(str(problem) for problem in exc.problems))
    except OSError as exc:  # unreadable: permissions, a broken link, ...
        _refuse(f"{path}: cannot read: {exc.strerror or exc}")


def _build(args):
    from .engine import Connector
    from .rules import RulesError
    from .store import StoreError

    config = _load_config(args)
    try:
        return Connector(config)
    except RulesError as exc:
        _refuse(*(str(problem) for problem in exc.problems))
    except StoreError as exc:
        _refuse(str(exc))


def _open_store(args):
    """The configured store for the read-and-fix commands: never creates an empty one."""
    from .store import Store, StoreError

    config = _load_config(args)
    try:
        return Store(config.store, create=False)
    except StoreError as exc:
        _refuse(str(exc))


# -- commands ---------------------------------------------------------------------------------

def cmd_run(args) -> int:
    if not args.once:
        print("use 'connector run --once' for one cycle, or 'connector worker' to keep running", file=sys.stderr)
        return 2
    connector = _build(args)
    try:
        polls, delivered = connector.run_once()
        paused = _paused_sinks(connector)
    finally:
        connector.close()
    errors = 0
    for poll in polls:
        line = f"channel {poll.channel}: {poll.new} new, {poll.duplicates} already known, {poll.quarantined} quarantined"
        if poll.skipped:
            line += f" (skipped: {poll.skipped})"
        if poll.error:
            line += f" -- error: {poll.error.message}"
            errors += 1
        print(line)
    print(f"deliveries: {delivered.delivered} delivered, {delivered.retrying} to retry, {delivered.waiting} waiting,"
          f" {delivered.held} held, {delivered.dead} dead, {delivered.released} put back")
    for error in delivered.errors:
        print(f"  {error}", file=sys.stderr)
    for line in paused:
        print(line)
    # Failed: an attempt failed (dead, to retry, or put back by a configuration error), or a sink
    # paused by a failure holds deliveries back. Put back because of a shutdown, or waiting for a
    # parent message, is no failure.
    failed = errors or delivered.errors or delivered.dead or delivered.retrying or paused
    return 1 if failed else 0


def _paused_sinks(connector) -> list[str]:
    """One line per sink that is paused now while deliveries wait for it: until when and why."""
    from .message import utcnow
    from .states import DUE

    lines = []
    for name in connector.sinks:
        until, reason = connector.store.sink_pause(name)
        if not until or until <= utcnow():
            continue
        waiting = connector.store.query(
            f"select count(*) as n from deliveries where sink = ? and state in ({', '.join('?' * len(DUE))})",
            [name, *DUE])[0]["n"]
        if waiting:
            lines.append(f"sink {name} paused until {until.isoformat(timespec='seconds')}"
                         f" ({waiting} deliveries wait): {reason}")
    return lines


def cmd_worker(args) -> int:
    from .worker import run_worker

    connector = _build(args)
    return run_worker(connector)


def cmd_serve(args) -> int:
    from .store import StoreError
    from .web import create_app

    config = _load_config(args)
    try:
        app = create_app(config)
    except StoreError as exc:
        _refuse(str(exc))
    host = args.host or config.web["host"]
    port = args.port if args.port is not None else config.web["port"]
    from werkzeug.serving import run_simple

    print(f"status: http://{host}:{port}/status", flush=True)
    run_simple(host, port, app, threaded=True)
    return 0


def cmd_check(args) -> int:
    connector = _build(args)
    names, templated = rule_names(connector.rules.current(), connector.config.default_sink)
    failed = False
    try:
        for name, sink in connector.sinks.items():
            sink.expect_names(names.get(name, {}))
        for kind, items in (("channel", connector.sources), ("sink", connector.sinks)):
            for name, item in items.items():
                for check in item.check():
                    print(f"{kind} {name}: {check}")
                    failed |= not check.ok
    finally:
        connector.close()
    for line in templated:
        print(f"rules: {line}")
    return 1 if failed else 0


def rule_names(ruleset, default_sink: str) -> tuple[dict, list[str]]:
    """The catalogue names the enabled rules use, per sink, and the ones only a message can tell.

    Returns ``({sink: {(kind, name): ["file:line: rule 'x'", ...]}}, [templated lines])`` where
    kind is ``zaaktype``, ``informatieobjecttype`` or ``zaak`` (an ``attach`` target by its
    identificatie). A value with placeholders is rendered per message, so it cannot be looked up
    now: it is listed as "not checked (templated)".
    """
    from .routing import ATTACH, CREATE, DELIVERING_ACTIONS

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
                        sink = action.options.get("sink") or default_sink
                        names.setdefault(sink, {}).setdefault((kind, text), []).append(where)
            action = action.otherwise
    return names, templated


def _constant(value) -> str | None:
    """The text of a plain value or of a template without placeholders; ``None`` when templated."""
    parts = getattr(value, "parts", None)
    if parts is None:
        return value or ""
    return "".join(parts) if all(isinstance(part, str) for part in parts) else None


def cmd_messages_parse(args) -> int:
    from .sources import ParseError, load_all

    registry = load_all()
    status = 0
    try:
        source_class = registry.get_class(args.kind)
    except KeyError as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    for filename in args.files:
        try:
            data = Path(filename).read_bytes()
        except OSError as exc:
            print(f"{filename}: {exc.strerror}", file=sys.stderr)
            return 2
        try:
            messages, quarantined = source_class.parse_payload(data, channel=args.channel or "")
        except ParseError as exc:
            print(f"{filename}:{_position(exc.position)}{exc.reason}", file=sys.stderr)
            return 2
        for message in messages:
            print(message.to_json())
        for item in quarantined:
            print(f"{filename}: item {item.item_id or '(no id)'} skipped: {item.reason}", file=sys.stderr)
        status = 2 if quarantined else status
    return status


def _position(position: str) -> str:
    """"line 3 column 5" -> "3:5: " (the file:line:col form editors jump to); others kept as words."""
    match = re.fullmatch(r"line (\d+)(?: column (\d+))?", position or "")
    if match:
        return ":".join(g for g in match.groups() if g) + ": "
    return f" {position}: " if position else " "


def cmd_mappings_check(args) -> int:
    from .rules import check_rules

    path = args.path or "mappings"
    problems = check_rules(path)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{path}: ok", file=sys.stderr)
    return 1 if problems else 0


def cmd_mappings_test(args) -> int:
    from .message import Message
    from .rules import RulesError, load_rules

    try:
        ruleset = load_rules(args.mappings or "mappings")
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        handle = sys.stdin if args.messages == "-" else open(args.messages, encoding="utf-8")
    except OSError as exc:
        _refuse(f"{args.messages}: cannot read: {exc.strerror or exc}")
    number = 0
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    message = Message.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    _refuse(f"{args.messages}:{number}: not a message as printed by 'connector messages parse': {exc}")
                routing = ruleset.resolve(message)
                print(json.dumps({"channel": message.channel, "id": message.id, "version": message.version,
                                  "rule": routing.rule, "source": routing.source, "routing": routing.to_dict()},
                                 ensure_ascii=False))
        except UnicodeDecodeError:
            _refuse(f"{args.messages}:{number + 1}: not UTF-8 text")
    return 0


def cmd_deliveries_list(args) -> int:
    store = _open_store(args)
    try:
        for row in store.deliveries(state=args.state, limit=args.limit):
            print(json.dumps(row, ensure_ascii=False))
    finally:
        store.close()
    return 0


def cmd_deliveries_requeue(args) -> int:
    from .states import IllegalTransition

    store = _open_store(args)
    try:
        store.requeue(args.id, who=os.environ.get("USER", "admin"))
    except (KeyError, IllegalTransition) as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"delivery {args.id} requeued")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(port=args.port, workdir=args.workdir, seconds=args.seconds)


# -- parser -----------------------------------------------------------------------------------

def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (0 to 65535)")
    return value


CONFIG_HELP = f"configuration file (default: $CONNECTOR_CONFIG or {DEFAULT_CONFIG})"
VERBOSE_HELP = "log debug output"


def _global_options(parser: argparse.ArgumentParser, config: bool, default) -> None:
    """``-v`` (and ``-c``) on ``parser``; subcommands get ``default=SUPPRESS`` so that a value
    given before the command is not overwritten by the subcommand's default."""
    parser.add_argument("-v", "--verbose", action="store_true", default=False if default is None else default,
                        help=VERBOSE_HELP)
    if config:
        parser.add_argument("-c", "--config", default=default, help=CONFIG_HELP)


def build_parser() -> argparse.ArgumentParser:
    from .states import STATES

    parser = argparse.ArgumentParser(prog="connector", description=DESCRIPTION,
                                     epilog="--config and -v may also be given after the command.")
    parser.add_argument("--version", action="version", version=f"connector {__version__}",
                        help="print the version and exit")
    _global_options(parser, config=True, default=None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(group, name: str, help: str, func, config: bool = True) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=help, description=help)
        _global_options(sub, config=config, default=argparse.SUPPRESS)
        sub.set_defaults(func=func)
        return sub

    def group(name: str, help: str):
        sub = commands.add_parser(name, help=help, description=help)
        return sub.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")

    run = command(commands, "run", "poll every channel and deliver, once", cmd_run)
    run.add_argument("--once", action="store_true", help="one poll-and-deliver cycle, then exit")
    command(commands, "worker", "keep polling and delivering on a schedule", cmd_worker)
    serve = command(commands, "serve", "the web app: /healthz and /status", cmd_serve)
    serve.add_argument("--host", help="address to listen on (default: web.host in the configuration)")
    serve.add_argument("--port", type=port_number, help="port to listen on (default: web.port in the configuration)")
    command(commands, "check", "check the configuration, reach every channel and sink, and look up the"
                               " names the mapping rules use in each sink's catalogue", cmd_check)

    messages = group("messages", "inspect platform payloads")
    parse = command(messages, "parse", "normalise saved platform responses, one JSON message per line",
                    cmd_messages_parse, config=False)
    parse.add_argument("kind", help="channel kind: mastodon, rss")
    parse.add_argument("files", nargs="+", metavar="FILE", help="a saved platform response")
    parse.add_argument("--channel", help="channel name to put in the output")

    mappings = group("mappings", "check and try out mapping rules")
    check = command(mappings, "check", "validate mapping files (exit 1 with file:line messages)",
                    cmd_mappings_check, config=False)
    check.add_argument("path", nargs="?", help="folder or file (default: mappings)")
    test = command(mappings, "test", "show the rule and routing for each message", cmd_mappings_test, config=False)
    test.add_argument("--mappings", help="folder or file (default: mappings)")
    test.add_argument("messages", metavar="MESSAGES.jsonl", help="messages as printed by 'messages parse' (- for stdin)")

    deliveries = group("deliveries", "inspect and requeue deliveries")
    listing = command(deliveries, "list", "deliveries as JSON lines", cmd_deliveries_list)
    listing.add_argument("--state", choices=STATES, metavar="STATE",
                         help=f"only deliveries in this state: {', '.join(STATES)}")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    requeue = command(deliveries, "requeue", "deliver again (also delivered or dead ones)", cmd_deliveries_requeue)
    requeue.add_argument("id", type=int, help="delivery id, as shown by 'deliveries list'")

    demo = command(commands, "demo", "local Mastodon + ZGW case system + worker + web app, no account needed",
                   cmd_demo, config=False)
    demo.add_argument("--port", type=port_number, default=8080, help="web app port (default 8080)")
    demo.add_argument("--workdir", default="var/demo", help="where the demo keeps its config and database")
    demo.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0: run until Ctrl-C)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # every job run and every request is noise for an operator
        for name in ("apscheduler", "werkzeug"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return args.func(args) or 0
    except Refused as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
