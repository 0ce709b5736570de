"""Results of ``check()`` on a source or sink: settings, then connection, then credentials."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str = ""

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.name}" + (f": {self.message}" if self.message else "")
