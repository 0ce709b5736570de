"""The connector command line: poll, deliver, serve, check, and inspect mapping rules and deliveries.

This module builds the parser and runs a command; the commands are in :mod:`.commands` (``check``
and ``health`` in :mod:`.check`, ``config schema`` in :mod:`.schema`), the names ``check`` looks up
in :mod:`.names`.

Exit codes: 0 success; 1 a check found problems (or a cycle had errors); 2 bad input or usage
(``connector check``: an invalid configuration or mapping rules). ``connector health`` exits 0 or 1 only.
A user's mistake (a wrong path, a corrupted database, a bad option) is one line on stderr and
exit 2, never a traceback. ``--config`` and ``-v`` are accepted before and after the command;
after the command wins when both are given.
"""
from __future__ import annotations

import argparse
import sys

from .. import __version__, logs
from .check import cmd_check, cmd_health
from .commands import (DEFAULT_CONFIG, Refused, _config_path, cmd_deliveries_list, cmd_deliveries_requeue, cmd_demo,
                       cmd_mappings_check, cmd_mappings_test, cmd_messages_parse, cmd_run, cmd_serve, cmd_worker)
from .ingest import cmd_import, cmd_save
from .preview import cmd_preview
from .schema import cmd_config_schema
from .users import add_commands as add_users_commands

__all__ = ["build_parser", "main", "port_number"]

DESCRIPTION = "midoffice connector: archive government social-media messages as documents in case systems"


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
    from ..states import STATES

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
    serve = command(commands, "serve", "the web app: /healthz, /status and the web UI (/login)", cmd_serve)
    serve.add_argument("--host", help="address to listen on (default: web.host in the configuration)")
    serve.add_argument("--port", type=port_number, help="port to listen on (default: web.port in the configuration)")
    command(commands, "check", "check the configuration, reach every channel and sink, and look up the"
                               " names the mapping rules use in each sink's catalogue; exit 0 all passed, 1 a channel"
                               " or sink failed, 2 the configuration or mappings are invalid", cmd_check)
    command(commands, "health", "exit 0 when the store is writable and a worker beat recently (as /readyz), else 1:"
                                " the container's HEALTHCHECK", cmd_health)

    config = group("config", "describe the configuration")
    command(config, "schema", "the options of every installed channel and sink kind, as a markdown table",
            cmd_config_schema, config=False)

    messages = group("messages", "inspect platform payloads")
    parse = command(messages, "parse", "normalise saved platform responses, one JSON message per line",
                    cmd_messages_parse, config=False)
    parse.add_argument("kind", help="channel kind: mastodon, rss, x, facebook, instagram, youtube, linkedin,"
                                    " yammer, bluesky, web")
    parse.add_argument("files", nargs="+", metavar="FILE", help="a saved platform response")
    parse.add_argument("--channel", help="channel name to put in the output")

    mappings = group("mappings", "check and try out mapping rules")
    check = command(mappings, "check", "validate mapping files (exit 1 with file:line messages); with --config"
                                       " also against each configured sink", cmd_mappings_check)
    check.add_argument("path", nargs="?", help="folder or file (default: mappings, or the configuration's)")
    test = command(mappings, "test", "show the rule and routing for each message", cmd_mappings_test, config=False)
    test.add_argument("--mappings", help="folder or file (default: mappings)")
    test.add_argument("messages", metavar="MESSAGES.jsonl", help="messages as printed by 'messages parse' (- for stdin)")

    imports = command(commands, "import", "store a platform's data export (x-archive, facebook-export) on a"
                                          " channel, through the rules, for the worker to deliver; or record X"
                                          " compliance events (x-compliance) as deletions", cmd_import)
    imports.add_argument("kind", metavar="KIND", help="x-archive, facebook-export or x-compliance")
    imports.add_argument("path", metavar="PATH", help="the export: its zip file or unpacked folder")
    imports.add_argument("--channel", help="the configured channel to store it on (default: the only one of the"
                                           " export's platform)")
    save = command(commands, "save", "capture a web page now (page, resources and oEmbed into WARC) and store it"
                                     " on a 'web' channel, for the worker to deliver", cmd_save)
    save.add_argument("url", metavar="URL", help="the page's address (http or https)")
    save.add_argument("--channel", help="the configured 'web' channel (default: the only one)")

    preview = command(commands, "preview", "write the exact requests a sink would send for some messages, and send"
                                           " nothing", cmd_preview)
    preview.add_argument("--sink", required=True, help="the configured sink's name")
    preview.add_argument("messages", metavar="MESSAGES.jsonl", help="messages as printed by 'messages parse'")
    preview.add_argument("--out", required=True, help="folder for the request files and index.jsonl")

    deliveries = group("deliveries", "inspect and requeue deliveries")
    listing = command(deliveries, "list", "deliveries as JSON lines", cmd_deliveries_list)
    listing.add_argument("--state", choices=STATES, metavar="STATE",
                         help=f"only deliveries in this state: {', '.join(STATES)}")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    requeue = command(deliveries, "requeue", "deliver again (also delivered or dead ones)", cmd_deliveries_requeue)
    requeue.add_argument("id", type=int, help="delivery id, as shown by 'deliveries list'")

    add_users_commands(group("users", "web UI accounts"), command)

    # the helpdesk's view in a terminal: what GET /status and a message's story show (connector/cli/status.py)
    from .status import add_command as add_status_command
    add_status_command(commands, command)

    # moving to another database, PostgreSQL above all (connector/cli/store.py, connector/store/copy.py)
    from .store import add_command as add_store_command
    add_store_command(commands, command)

    demo = command(commands, "demo", "local Mastodon + ZGW case system + worker + web app, no account needed",
                   cmd_demo, config=False)
    demo.add_argument("--port", type=port_number, default=8080, help="web app port (default 8080)")
    demo.add_argument("--workdir", default="var/demo", help="where the demo keeps its config and database")
    demo.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0: run until Ctrl-C)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the configuration's logging section (text or JSON lines, level) for every command; never a credential
    logs.configure(logs.settings_for(_config_path(args)), verbose=args.verbose)
    try:
        return args.func(args) or 0
    except Refused as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        return 130
