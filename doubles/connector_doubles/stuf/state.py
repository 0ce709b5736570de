"""The case system's memory: zaken, documents and reserved numbers, guarded by one lock."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import date


class State:
    """Everything the double stored, in arrival order. Use under ``lock`` (re-entrant).

    ``zaken`` and ``documents`` are lists, not maps: in lenient mode the same ``identificatie`` may
    arrive twice and both are kept, so that :meth:`census` can count them.
    """

    def __init__(self, zaak_prefix: str = "ZAAK-", document_prefix: str = "DOCUMENT-"):
        self.lock = threading.RLock()
        self.zaak_prefix = zaak_prefix
        self.document_prefix = document_prefix
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.zaken: list[dict] = []
            self.documents: list[dict] = []
            self.reservations: list[dict] = []
            self._numbers = Counter()

    def reserve(self, kind: str, operation: str, referentienummer: str | None) -> str:
        """A fresh identificatie (``ZAAK-2026-0000000001``, as Open Zaak numbers), recorded."""
        with self.lock:
            year = date.today().year
            self._numbers[kind, year] += 1
            prefix = self.zaak_prefix if kind == "zaak" else self.document_prefix
            identificatie = f"{prefix}{year}-{self._numbers[kind, year]:010d}"
            self.reservations.append({"kind": kind, "identificatie": identificatie,
                                      "operation": operation, "referentienummer": referentienummer})
            return identificatie

    def zaak(self, identificatie: str) -> dict | None:
        """The first zaak stored with ``identificatie``."""
        with self.lock:
            return next((z for z in self.zaken if z["identificatie"] == identificatie), None)

    def document(self, identificatie: str) -> dict | None:
        with self.lock:
            return next((d for d in self.documents if d["identificatie"] == identificatie), None)

    def census(self) -> dict[str, Counter]:
        with self.lock:
            return {"zaken": Counter(z["identificatie"] for z in self.zaken),
                    "documents": Counter(d["identificatie"] for d in self.documents),
                    "reservations": Counter(r["kind"] for r in self.reservations)}
