"""``connector users add`` and ``connector users list``: the web UI's local accounts.

A password never appears on the command line (where ``ps`` and the shell history would show it):
it comes from the environment variable named by ``--password-env``, or is asked twice (getpass,
not echoed) when stdin is a terminal. A password under 12 characters is refused. ``users list``
prints JSON lines without password hashes.
"""
from __future__ import annotations

import getpass
import json
import os
import sys

from .commands import _load_config, _open_store, _refuse


def _password(args) -> str:
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            _refuse(f"environment variable {args.password_env} is not set")
        return password
    if not sys.stdin.isatty():
        _refuse("no password: give --password-env VARIABLE, or run this in a terminal to be asked for it")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        _refuse("the two passwords differ; nothing changed")
    return first


def cmd_users_add(args) -> int:
    from ..store import Store, StoreError
    from ..store.users import NAME, check_new_password

    config = _load_config(args)
    if not NAME.match(args.name):
        _refuse(f"{args.name!r} is no user name: letters, digits and _ . @ - (at most 64, a letter or digit first)")
    password = _password(args)
    try:
        check_new_password(password)
    except ValueError:
        _refuse("the password is too short: use at least 12 characters")
    try:
        # the first account may come before the first worker run
        store = Store.for_config(config)
    except StoreError as exc:
        _refuse(str(exc))
    try:
        if store.user(args.name) is not None:
            if not args.update:
                _refuse(f"user {args.name} exists; add --update to set a new role and password")
            store.update_user(args.name, role=args.role, password=password, disabled=False)
            print(f"user {args.name} updated: role {args.role}")
        else:
            store.add_user(args.name, args.role, password)
            print(f"user {args.name} added: role {args.role}")
    finally:
        store.close()
    return 0


def cmd_users_list(args) -> int:
    store = _open_store(args)
    try:
        for user in store.users():
            print(json.dumps({"name": user["name"], "role": user["role"], "disabled": bool(user["disabled"]),
                              "created_at": user["created_at"], "last_login_at": user["last_login_at"]}))
    finally:
        store.close()
    return 0


def add_commands(group, command) -> None:
    """``users add`` and ``users list`` on the ``users`` group (``command`` as in ``build_parser``)."""
    from ..store.users import ROLES

    add = command(group, "add", "add a web UI account (password from --password-env or asked twice)", cmd_users_add)
    add.allow_abbrev = False  # "--password SECRET" must not pass for "--password-env": no password as an argument
    add.add_argument("name", metavar="NAME", help="the login name")
    add.add_argument("--role", required=True, choices=ROLES, help=f"one of {', '.join(ROLES)}")
    add.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    add.add_argument("--update", action="store_true", help="set a new role and password for an existing account")
    command(group, "list", "web UI accounts as JSON lines (never their password hashes)", cmd_users_list)
