"""The commands behind ``connector``: each ``cmd_*`` takes the parsed arguments, returns the exit code.

A user's mistake goes through :func:`_refuse` (one line on stderr, exit 2), never a traceback.
"""
from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

DEFAULT_CONFIG = "connector.yaml"


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
    from ..config import ConfigError, load_config

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
    from ..engine import Connector
    from ..rules import RulesError
    from ..store import StoreError

    config = _load_config(args)
    try:
        return Connector(config)
    except RulesError as exc:
        _refuse(*(str(problem) for problem in exc.problems))
    except StoreError as exc:
        _refuse(str(exc))


def _open_store(args):
    """The configured store for the read-and-fix commands: never creates an empty one."""
    from ..store import Store, StoreError

    config = _load_config(args)
    try:
        return Store.for_config(config, create=False)
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
    from ..message import utcnow
    from ..states import DUE

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
    from ..worker import run_worker

    connector = _build(args)
    return run_worker(connector)


def cmd_serve(args) -> int:
    """Serve the web app on waitress, a production WSGI server (Werkzeug's is for development only).

    ``web.threads`` requests are handled at once. The URL printed is the one actually bound (port 0
    picks a free port). SIGTERM (and Ctrl-C) stop it: waitress finishes its loop, exit 0.
    """
    import signal

    from waitress import create_server

    from ..store import StoreError
    from ..web import create_app

    config = _load_config(args)
    try:
        app = create_app(config)
    except StoreError as exc:
        _refuse(str(exc))
    host = args.host or config.web["host"]
    port = args.port if args.port is not None else config.web["port"]
    try:
        server = create_server(app, host=host, port=port, threads=config.web["threads"])
    except OSError as exc:  # port taken, address not on this machine, unknown host name
        _refuse(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    listening = getattr(server, "effective_listen", None) or [(server.effective_host, server.effective_port)]
    for bound_host, bound_port in listening:
        shown = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        print(f"status: http://{shown}:{bound_port}/status", flush=True)

    def stop(signum, frame):
        raise SystemExit(0)  # waitress's loop takes this as the signal to shut down its threads

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
        app.config["STORE"].close()
    return 0


def cmd_messages_parse(args) -> int:
    from ..registry import SOURCES
    from ..sources import ParseError

    registry = SOURCES.load()
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
    """The rules alone; with ``--config`` also each rule against its target sinks (``validate_routing``)."""
    from ..rules import check_rules

    if getattr(args, "config", None):
        config = _load_config(args)
        path = args.path or str(config.mappings)
        problems = _check_rules_for_sinks(path, config)
    else:
        path = args.path or "mappings"
        problems = check_rules(path)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{path}: ok", file=sys.stderr)
    return 1 if problems else 0


def _check_rules_for_sinks(path, config) -> list:
    """Every problem in the rules at ``path``, with the sinks of ``config``: names and what each takes."""
    from ..registry import SINKS
    from ..rules import RulesError
    from ..rulesholder import RulesHolder

    registry = SINKS.load()
    sinks = {s.name: registry.get_class(s.kind)(s.name, s.options) for s in config.sinks}
    try:
        RulesHolder(path, sink_names=list(sinks), sinks=sinks, sink_configs=config.sinks)
    except RulesError as exc:
        return exc.problems
    return []


def cmd_mappings_test(args) -> int:
    from ..rules import RulesError, load_rules

    try:
        ruleset = load_rules(args.mappings or "mappings")
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for message in read_messages(args.messages):
        routing = ruleset.resolve(message)
        print(json.dumps({"channel": message.channel, "id": message.id, "version": message.version,
                          "rule": routing.rule, "source": routing.source, "routing": routing.to_dict()},
                         ensure_ascii=False))
    return 0


def read_messages(path: str):
    """The messages of a JSONL file as ``connector messages parse`` prints them (``-``: stdin); a line that is
    no such message, or bytes that are not UTF-8, refuse the command with file:line."""
    from ..message import Message

    try:
        handle = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as exc:
        _refuse(f"{path}: cannot read: {exc.strerror or exc}")
    number = 0
    with handle:
        try:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield Message.from_dict(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    _refuse(f"{path}:{number}: not a message as printed by 'connector messages parse': {exc}")
        except UnicodeDecodeError:
            _refuse(f"{path}:{number + 1}: not UTF-8 text")


def cmd_deliveries_list(args) -> int:
    store = _open_store(args)
    try:
        for row in store.deliveries(state=args.state, limit=args.limit):
            print(json.dumps(row, ensure_ascii=False))
    finally:
        store.close()
    return 0


def cmd_deliveries_requeue(args) -> int:
    from ..states import IllegalTransition

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
    try:
        from connector_doubles.demo import run_demo
    except ImportError as exc:
        print(f"connector demo needs the test doubles, which a production install leaves out ({exc}). Run it"
              " from a checkout: bash scripts/demo.sh (or pip install -e ./doubles)", file=sys.stderr)
        return 2

    return run_demo(port=args.port, workdir=args.workdir, seconds=args.seconds)

