"""Results of ``check()`` on a source or sink: settings, then connection, then credentials.

A check's message is redacted on creation (:mod:`connector.redact`): ``connector check`` prints
what went wrong with a channel's URL without the credentials inside it.
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
