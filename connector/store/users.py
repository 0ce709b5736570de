"""The web UI's local accounts: a name, a role, a password hash; never the password itself.

* Passwords are hashed with werkzeug's :func:`~werkzeug.security.generate_password_hash` (scrypt,
  salted) before they reach SQLite; :meth:`UsersMixin.verify_password` compares with
  :func:`~werkzeug.security.check_password_hash`, and hashes a dummy password for an unknown
  name too, so the answer takes as long whether the name exists or not.
* No method returning users returns their hash: :meth:`UsersMixin.user` and :meth:`UsersMixin.users`
  leave it out, so a page or a command printing a user cannot show it.
* Roles (:data:`ROLES`, weakest first): ``helpdesk`` reads, ``archivist`` also archives on demand
  and retries, ``admin`` does everything. :func:`role_allows` says whether one role covers another.
* An account from single sign-on (``source`` ``oidc``, :meth:`UsersMixin.sso_user`) has no password and
  takes its role from the provider at each login; a local account is never taken over by one.
* Adding, changing and logging in are written to the audit trail (``user.added``, ``user.updated``,
  ``web.login``) with the user's name and role, never the password.
"""
from __future__ import annotations

import re

from werkzeug.security import check_password_hash, generate_password_hash

from .base import _now

#: the roles, weakest first: each covers what the ones before it may do
ROLES = ("helpdesk", "archivist", "admin")
MIN_PASSWORD = 12
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
_METHOD = "scrypt"
#: compared against for an unknown name, so a missing account costs as much time as a wrong password
_DUMMY_HASH = generate_password_hash("not-a-password-of-anyone", method=_METHOD)
_PUBLIC = "id, name, role, disabled, created_at, updated_at, last_login_at, password_changed_at, source"
#: an oidc account's password_hash: not a werkzeug hash, so no password ever matches it
NO_PASSWORD = "!oidc"


def role_allows(role: str | None, needed: str) -> bool:
    """Whether a user with ``role`` may do what ``needed`` may (``admin`` covers everything)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_new_password(password: str) -> None:
    """Raise ``ValueError`` (in Dutch, for the UI and the CLI) for a password too weak to set."""
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"het wachtwoord moet minstens {MIN_PASSWORD} tekens hebben")


class UsersMixin:
    """Accounts of the web UI: the part of :class:`connector.store.Store` login and ``connector users`` use."""

    def add_user(self, name: str, role: str, password: str) -> dict:
        """Create an account; ``ValueError`` for a bad name, role or password, or a name in use."""
        _check(name, role)
        check_new_password(password)
        hashed = generate_password_hash(password, method=_METHOD)
        now = _now()
        with self._write():  # one statement decides, so two admins adding the name at once get one account
            added = self.db.execute("insert into users (name, role, password_hash, disabled, created_at, updated_at,"
                                    " password_changed_at) values (?,?,?,0,?,?,?) on conflict (name) do nothing",
                                    [name, role, hashed, now, now, now]).rowcount
            if not added:
                raise ValueError(f"gebruiker {name} bestaat al")
            self._event("user.added", detail={"user": name, "role": role})
        return self.user(name)

    def update_user(self, name: str, role: str | None = None, password: str | None = None,
                    disabled: bool | None = None) -> dict:
        """Change an account's role, password or disabled flag; ``KeyError`` when there is none."""
        if role is not None:
            _check(name, role)
        changes: dict = {}
        if role is not None:
            changes["role"] = role
        if password is not None:
            check_new_password(password)
            changes["password_hash"] = generate_password_hash(password, method=_METHOD)
            changes["password_changed_at"] = _now()
        if disabled is not None:
            changes["disabled"] = 1 if disabled else 0
        with self._write():
            if not self.db.execute("select 1 from users where name = ?", [name]).fetchone():
                raise KeyError(name)
            if changes:
                changes["updated_at"] = _now()
                assignments = ", ".join(f"{column} = ?" for column in changes)
                self.db.execute(f"update users set {assignments} where name = ?", [*changes.values(), name])
                self._event("user.updated", detail={
                    "user": name, "changed": sorted(c for c in changes if not c.endswith("_at")),
                    **({"role": role} if role else {})})
        return self.user(name)

    def user(self, name: str) -> dict | None:
        """The account ``name`` (without its hash), or None."""
        rows = self.query(f"select {_PUBLIC} from users where name = ?", [name])
        return rows[0] if rows else None

    def users(self) -> list[dict]:
        """Every account (without hashes), by name."""
        return self.query(f"select {_PUBLIC} from users order by name")

    def verify_password(self, name: str, password: str) -> dict | None:
        """The account when ``password`` is its password and it is not disabled, else None.

        An unknown name is checked against a dummy hash: the time taken does not tell it apart.
        """
        with self._lock:
            row = self.db.execute("select password_hash, disabled from users where name = ?", [name]).fetchone()
        hashed = row[0] if row else _DUMMY_HASH
        matches = check_password_hash(hashed, password or "")
        if row is None or not matches or row[1]:
            return None
        return self.user(name)

    def sso_user(self, name: str, role: str, subject: str) -> dict:
        """The single sign-on account ``name`` with ``role`` as the provider says now, made on first use.

        ``subject`` is ``issuer sub``. ``ValueError`` (in Dutch) for a local account of that name (a
        provider must not take over a password account) or an account bound to another subject; a
        disabled account stays disabled (the caller refuses it).
        """
        _check(name, role)
        now = _now()
        with self._write():
            self._one_at_a_time(f"users:{name}")  # two first logins at once: one makes it, the other finds it
            row = self.db.execute("select source, subject, role from users where name = ?", [name]).fetchone()
            if row is None:
                self.db.execute("insert into users (name, role, password_hash, disabled, created_at, updated_at,"
                                " password_changed_at, source, subject) values (?,?,?,0,?,?,?,'oidc',?)",
                                [name, role, NO_PASSWORD, now, now, now, subject])
                self._event("user.added", detail={"user": name, "role": role, "source": "oidc"})
            elif row[0] != "oidc":
                raise ValueError(f"er is al een lokaal account {name}; single sign-on mag dat niet overnemen")
            elif row[1] != subject:
                raise ValueError(f"het account {name} hoort bij een andere persoon bij de identiteitsprovider")
            elif row[2] != role:
                self.db.execute("update users set role = ?, updated_at = ? where name = ?", [role, now, name])
                self._event("user.updated", detail={"user": name, "changed": ["role"], "role": role,
                                                    "source": "oidc"})
        return self.user(name)

    def record_login(self, name: str, ok: bool, ip: str | None = None, role: str | None = None,
                     reason: str | None = None) -> None:
        """A login (``ok``) or a refused attempt, in the audit trail as ``web.login``; a success also
        sets ``last_login_at``."""
        with self._write():
            if ok:
                self.db.execute("update users set last_login_at = ? where name = ?", [_now(), name])
            self._event("web.login", detail={"user": name, "role": role, "ok": ok, "ip": ip,
                                             **({"reason": reason} if reason else {})})


def _check(name: str, role: str) -> None:
    if not NAME.match(name or ""):
        raise ValueError(f"ongeldige gebruikersnaam {name!r}: letters, cijfers en _ . @ - (hoogstens 64)")
    if role not in ROLES:
        raise ValueError(f"onbekende rol {role!r}: kies uit {', '.join(ROLES)}")
