"""Results of ``check()`` on a source or sink: settings, then connection, then credentials.

A check's message is redacted on creation (:mod:`connector.redact`): ``connector check`` prints
what went wrong with a channel's URL without the credentials inside it.

A failed check says what went wrong; :func:`fix_for` says what to do about it, by the check's name
(``settings``, ``connection``, ``credentials``, then what the platform or case system must hold:
``account``, ``group``, ``catalogus``). ``connector check`` prints it under each failure, so an
operator can act on the report without reading code. A check that was skipped because an earlier
one failed ("not checked: ...") points back at that one.
"""
from __future__ import annotations

from dataclasses import dataclass

from .redact import redact_text


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str = ""

    def __post_init__(self):
        object.__setattr__(self, "message", redact_text(self.message))

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}" + (f": {self.message}" if self.message else "")


_ACCOUNT = ("check the account, page or group named in the options of {what}: it must exist on the platform"
            " and its credentials must be allowed to read it")

# What an operator does about a failed check, by the check's name. ``{what}`` is "channel NAME" or
# "sink NAME", ``{config}`` the configuration file.
FIXES = {
    "settings": "correct the options of {what} in {config} ('connector config schema' lists each option)",
    "connection": ("check the URL (or folder) in the options of {what} in {config}, and that this machine can reach"
                   " it: DNS, proxy, firewall, TLS certificate (for a folder: that it exists and this user may"
                   " write in it)"),
    "credentials": ("renew the token or secret of {what} ({variables}), and check the rights of that client"
                    " or account on the platform or case system"),
    "account": _ACCOUNT,
    "group": _ACCOUNT,
    "catalogus": ("add the name to the case system's catalogue, or correct the mapping rule (its file:line is"
                  " above) or the option of {what} that names it, then run 'connector check' again"),
}
GENERAL_FIX = "see the message above; correct the options of {what} in {config} or the system it names"


def fix_for(check: Check, what: str, config: str, variables: list[str] = ()) -> str:
    """What to do about the failed ``check`` of ``what`` ("channel x", "sink y") configured in ``config``;
    ``variables``: the environment variables its secrets come from (named, never their values)."""
    if check.message.startswith("not checked"):
        return "fix the failure above first; this check runs once that one passes"
    named = ("environment variable " + ", ".join(variables)) if variables else \
        "the environment variable its ${...} reference in the configuration names"
    return FIXES.get(check.name, GENERAL_FIX).format(what=what, config=config, variables=named)
