"""``connector store copy --from URL --to URL``: move the whole store to another database, verified.

The work is :func:`connector.store.copy.copy_store` (see its module for how it copies and verifies); this
module only registers the command and turns a refusal into the CLI's exit 2. Exit codes: 0 every table
matches, 1 a table differs after the copy, 2 bad arguments (a password in a URL, a missing source, a
target that already holds rows, a table the copy does not know how to copy). URLs are printed redacted.
"""
from __future__ import annotations

from .commands import _refuse


def add_command(commands, command) -> None:
    """Register ``store copy`` with the parser's ``command`` helper."""
    group = commands.add_parser("store", help="move the store to another database",
                                description="move the store to another database")
    subcommands = group.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    copy = command(subcommands, "copy", "copy every table of the store at --from into the empty store at --to"
                                        " (ids kept), then verify each table's rows and SHA-256; exit 0 all match,"
                                        " 1 a table differs, 2 bad arguments", cmd_store_copy, config=False)
    copy.add_argument("--from", dest="source", required=True, metavar="URL",
                      help="the store to copy: a path, sqlite:///path or postgresql://user@host:port/db")
    copy.add_argument("--to", dest="target", required=True, metavar="URL",
                      help="an empty store (created and migrated); the password from PGPASSWORD, never in the URL")
    copy.add_argument("--verify-only", action="store_true",
                      help="copy nothing: compare the two stores table by table, as after a copy")


def cmd_store_copy(args) -> int:
    from ..store import StoreError
    from ..store.copy import CopyRefused, copy_store

    try:
        return copy_store(args.source, args.target, verify_only=args.verify_only)
    except CopyRefused as exc:
        _refuse(*exc.lines)
    except StoreError as exc:
        _refuse(str(exc))
