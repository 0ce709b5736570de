"""``connector``: the command line.

Exit codes: 0 success; 1 a check found problems (or a cycle had errors); 2 bad input or usage.
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


def _config_path(args) -> str:
    return args.config or os.environ.get("CONNECTOR_CONFIG") or DEFAULT_CONFIG


def _load_config(args):
    from .config import ConfigError, load_config

    try:
        return load_config(_config_path(args))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(2)


def _build(args):
    from .engine import Connector
    from .rules import RulesError

    config = _load_config(args)
    try:
        return Connector(config)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise SystemExit(2)


# -- commands ---------------------------------------------------------------------------------

def cmd_run(args) -> int:
    if not args.once:
        print("use 'connector run --once' for one cycle, or 'connector worker' to keep running", file=sys.stderr)
        return 2
    connector = _build(args)
    try:
        polls, delivered = connector.run_once()
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
    return 1 if errors or delivered.dead else 0


def cmd_worker(args) -> int:
    from .worker import run_worker

    connector = _build(args)
    return run_worker(connector)


def cmd_serve(args) -> int:
    from .web import create_app

    config = _load_config(args)
    app = create_app(config)
    host = args.host or config.web["host"]
    port = args.port if args.port is not None else config.web["port"]
    from werkzeug.serving import run_simple

    print(f"status: http://{host}:{port}/status", flush=True)
    run_simple(host, port, app, threaded=True)
    return 0


def cmd_check(args) -> int:
    connector = _build(args)
    failed = False
    for kind, items in (("channel", connector.sources), ("sink", connector.sinks)):
        for name, item in items.items():
            for check in item.check():
                print(f"{kind} {name}: {check}")
                failed |= not check.ok
    connector.close()
    return 1 if failed else 0


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
    handle = sys.stdin if args.messages == "-" else open(args.messages, encoding="utf-8")
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                message = Message.from_dict(json.loads(line))
            except (ValueError, KeyError, TypeError) as exc:
                print(f"{args.messages}:{number}: not a message as printed by 'connector messages parse': {exc}",
                      file=sys.stderr)
                return 2
            routing = ruleset.resolve(message)
            print(json.dumps({"channel": message.channel, "id": message.id, "version": message.version,
                              "rule": routing.rule, "source": routing.source, "routing": routing.to_dict()},
                             ensure_ascii=False))
    return 0


def cmd_deliveries_list(args) -> int:
    from .store import Store

    config = _load_config(args)
    store = Store(config.store)
    for row in store.deliveries(state=args.state, limit=args.limit):
        print(json.dumps(row, ensure_ascii=False))
    return 0


def cmd_deliveries_requeue(args) -> int:
    from .states import IllegalTransition
    from .store import Store

    config = _load_config(args)
    store = Store(config.store)
    try:
        store.requeue(args.id, who=os.environ.get("USER", "admin"))
    except (KeyError, IllegalTransition) as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    print(f"delivery {args.id} requeued")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(port=args.port, workdir=args.workdir, seconds=args.seconds)


# -- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connector", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"connector {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub):
        sub.add_argument("-c", "--config", help=f"configuration file (default: $CONNECTOR_CONFIG or {DEFAULT_CONFIG})")
        return sub

    run = with_config(commands.add_parser("run", help="poll every channel and deliver, once"))
    run.add_argument("--once", action="store_true", help="one poll-and-deliver cycle, then exit")
    run.set_defaults(func=cmd_run)
    with_config(commands.add_parser("worker", help="keep polling and delivering on a schedule")).set_defaults(
        func=cmd_worker)
    serve = with_config(commands.add_parser("serve", help="the web app: /healthz and /status"))
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)
    with_config(commands.add_parser("check", help="check the configuration and reach every channel and sink")
                ).set_defaults(func=cmd_check)

    messages = commands.add_parser("messages", help="inspect platform payloads").add_subparsers(
        dest="subcommand", required=True, metavar="SUBCOMMAND")
    parse = messages.add_parser("parse", help="normalise saved platform responses, one JSON message per line")
    parse.add_argument("kind", help="channel kind: mastodon, rss")
    parse.add_argument("files", nargs="+", metavar="FILE")
    parse.add_argument("--channel", help="channel name to put in the output")
    parse.set_defaults(func=cmd_messages_parse)

    mappings = commands.add_parser("mappings", help="check and try out mapping rules").add_subparsers(
        dest="subcommand", required=True, metavar="SUBCOMMAND")
    check = mappings.add_parser("check", help="validate mapping files (exit 1 with file:line messages)")
    check.add_argument("path", nargs="?", help="folder or file (default: mappings)")
    check.set_defaults(func=cmd_mappings_check)
    test = mappings.add_parser("test", help="show the rule and routing for each message")
    test.add_argument("--mappings", help="folder or file (default: mappings)")
    test.add_argument("messages", metavar="MESSAGES.jsonl", help="messages as printed by 'messages parse' (- for stdin)")
    test.set_defaults(func=cmd_mappings_test)

    deliveries = commands.add_parser("deliveries", help="inspect and requeue deliveries").add_subparsers(
        dest="subcommand", required=True, metavar="SUBCOMMAND")
    listing = with_config(deliveries.add_parser("list", help="deliveries as JSON lines"))
    listing.add_argument("--state")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(func=cmd_deliveries_list)
    requeue = with_config(deliveries.add_parser("requeue", help="deliver again (also delivered or dead ones)"))
    requeue.add_argument("id", type=int)
    requeue.set_defaults(func=cmd_deliveries_requeue)

    demo = commands.add_parser("demo", help="local Mastodon + ZGW case system + worker + web app, no account needed")
    demo.add_argument("--port", type=int, default=8080, help="web app port (default 8080)")
    demo.add_argument("--workdir", default="var/demo", help="where the demo keeps its config and database")
    demo.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0: run until Ctrl-C)")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .redact import install_log_redaction  # no credentials in any log line, whatever logs it
    install_log_redaction()
    if not args.verbose:  # every job run and every request is noise for an operator
        for name in ("apscheduler", "werkzeug"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
