"""Latency profiles: how long a real case system takes per call, so the double can imitate it.

A profile is a list of ``(method, path pattern, seconds)`` rows; the first row whose method and
pattern (a regular expression matched against the whole request path) fit a request gives that
request's time, and a ``("*", ".*", seconds)`` row at the end catches the rest.

``openzaak``: Open Zaak 1.21.0 on loopback (``../shared/specs/zgw/README.md``: reads 15-55 ms,
writes 40-140 ms per call). The three calls the connector makes for every message were measured
one by one: the zaak lookup ``GET /zaken?identificatie=`` about 55 ms, a document
``POST /enkelvoudiginformatieobjecten`` about 80 ms, a link ``POST /zaakinformatieobjecten``
about 125 ms. The other rows are placed inside the measured ranges, by what the call does: a
filtered list is as slow as the zaak lookup, a detail read is at the fast end, creating a zaak is
a write like the document create.
"""
from __future__ import annotations

import re

from .state import CATALOGI, DOCUMENTEN, ZAKEN

_ID = r"/[0-9a-fA-F-]{36}"

PROFILES: dict[str, list[tuple[str, str, float]]] = {
    "openzaak": [
        ("GET", rf"{ZAKEN}/zaken", 0.055),
        ("POST", rf"{ZAKEN}/zaken", 0.080),
        ("GET", rf"{ZAKEN}/zaken{_ID}", 0.020),
        ("GET", rf"{ZAKEN}/zaakinformatieobjecten", 0.055),
        ("POST", rf"{ZAKEN}/zaakinformatieobjecten", 0.125),
        ("GET", rf"{DOCUMENTEN}/enkelvoudiginformatieobjecten", 0.055),
        ("POST", rf"{DOCUMENTEN}/enkelvoudiginformatieobjecten", 0.080),
        ("GET", rf"{DOCUMENTEN}/enkelvoudiginformatieobjecten{_ID}/download", 0.030),
        ("GET", rf"{CATALOGI}/[a-z-]+", 0.040),
        ("GET", r".*", 0.020),
        ("*", r".*", 0.080),
    ],
}


class LatencyProfile:
    """Seconds per call by method and path, from one of :data:`PROFILES`.

    >>> LatencyProfile("openzaak").seconds("POST", "/zaken/api/v1/zaakinformatieobjecten")
    0.125
    """

    def __init__(self, name: str):
        if name not in PROFILES:
            raise ValueError(f"unknown latency profile {name!r}; known: {', '.join(sorted(PROFILES))}")
        self.name = name
        self._rows = [(method, re.compile(pattern)) for method, pattern, _ in PROFILES[name]]
        self._seconds = [seconds for _, _, seconds in PROFILES[name]]

    def seconds(self, method: str, path: str) -> float:
        """The time this profile gives one call (0.0 when no row fits)."""
        for (row_method, pattern), seconds in zip(self._rows, self._seconds):
            if row_method in ("*", method) and pattern.fullmatch(path):
                return seconds
        return 0.0

    def __repr__(self) -> str:
        return f"<LatencyProfile {self.name}>"
