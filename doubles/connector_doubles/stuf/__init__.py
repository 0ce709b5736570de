"""A local fake StUF-ZDS case system (zaaksysteem/DMS) that checks all its traffic against the official XSDs.

It speaks one dialect of the koppelvlak Zaak- en Documentservices, ``"1.1"`` (ZDS 1.1.02: body roots
in the ZKN namespace, as Decos JOIN, Open Formulieren and Zaakbrug) or ``"1.2"`` (ZDS 1.2: ZDS roots),
chosen by a setting rather than guessed from each message: a real system speaks one. It serves six
operations (see :mod:`.catalogue` for the table checked against the WSDLs) on three endpoints,
SOAP 1.1 and 1.2 alike, answering in the version it was asked in::

    from connector_doubles.stuf import StufDouble, serve
    double = StufDouble(dialect="1.1")
    server = serve(double)
    ...  # POST to server.endpoints["VrijeBerichten"], ["OntvangAsynchroon"], ["BeantwoordVraag"]
    assert double.violations == []
    server.shutdown()

Every request body is validated against the dialect's schemas (loaded by :mod:`.schemas` from the
connector's ``connector/stufdata``) and so is every answer; what breaks the contract is answered with
a SOAP Fault (Fo02/Fo03, ``StUF055``, ``StUF022``) and listed in ``violations``.

Standalone: ``python -m connector_doubles.stuf --port 8002 --dialect 1.1 [--lenient]``.
"""
from __future__ import annotations

import time

from . import schemas
from .app import Server, create_app
from .catalogue import DEFAULT_ENDPOINTS, OPERATIONS, SERVICES
from .faults import Faults
from .state import State

__all__ = ["StufDouble", "Faults", "Server", "serve", "create_app", "OPERATIONS", "SERVICES"]


class StufDouble:
    """State, settings and findings of one fake StUF-ZDS system.

    :param dialect: ``"1.1"`` or ``"1.2"``; requests of the other dialect are refused (``StUF022``).
    :param lenient: accept a second zaak or document with an ``identificatie`` already stored and keep
        both (as many StUF systems do), so a test can count a client's duplicates (:meth:`census`).
        Strict (default): a Fo03 ``StUF058``.
    :param endpoints: service name -> path, for ``VrijeBerichten`` (the Di02 vrije berichten),
        ``OntvangAsynchroon`` (Lk01) and ``BeantwoordVraag`` (Lv01); defaults ``/<service>``.
    :param basic_auth: ``(user, password)``: requests without those HTTP Basic credentials get 401.
    :param username_token: ``(user, password)``: requests need a WS-Security UsernameToken with them
        (PasswordText) in the SOAP header, else a SOAP Fault ``StUF052``.
    :param validate: check requests and answers against the XSDs (compiled once per process).
    :param latency: seconds added to every call, slept outside every lock.
    :param zaak_prefix, document_prefix: how reserved numbers start (``ZAAK-2026-0000000001``).
    :param soap_versions: the SOAP versions served (default both); a request in another one gets 415
        and is a violation, as on a system with one SOAP binding only.

    For tests: ``violations`` (readable strings), ``requests`` (one dict per call: operation,
    soap_action, endpoint, dialect, soap_version, size, status), ``reservations`` (every number handed
    out: kind, identificatie, operation, referentienummer), ``zaken`` and ``documents`` (dicts, in
    arrival order, duplicates included), :meth:`census`, :meth:`document_content`, :meth:`reset`,
    ``faults`` (:class:`Faults`) and ``sleep`` (every pause goes through it; a test may replace it).
    """

    def __init__(self, dialect: str = "1.1", lenient: bool = False, endpoints: dict | None = None,
                 basic_auth: tuple[str, str] | None = None, username_token: tuple[str, str] | None = None,
                 validate: bool = True, latency: float = 0.0, zaak_prefix: str = "ZAAK-",
                 document_prefix: str = "DOCUMENT-", soap_versions=("1.1", "1.2")):
        if dialect not in schemas.DIALECTS:
            raise ValueError(f"dialect must be one of {schemas.DIALECTS}, got {dialect!r}")
        paths = {**DEFAULT_ENDPOINTS, **(endpoints or {})}
        if set(paths) != set(SERVICES) or len(set(paths.values())) != len(SERVICES) \
                or not all(p.startswith("/") for p in paths.values()):
            raise ValueError(f"endpoints: one distinct path starting with '/' for each of {SERVICES}")
        if not soap_versions or not set(soap_versions) <= {"1.1", "1.2"}:
            raise ValueError(f"soap_versions: '1.1', '1.2' or both, got {soap_versions!r}")
        self.dialect = dialect
        self.soap_versions = tuple(soap_versions)
        self.lenient = lenient
        self.endpoints = paths
        self.basic_auth = basic_auth
        self.username_token = username_token
        self.validate = validate
        self.latency = latency
        self.sleep = time.sleep
        self.state = State(zaak_prefix, document_prefix)
        self.violations: list[str] = []
        self.requests: list[dict] = []
        self.faults = Faults()

    def record(self, finding: str) -> None:
        with self.state.lock:
            self.violations.append(finding)

    def reset(self) -> None:
        """Forget zaken, documents, reservations, violations, recorded requests and faults."""
        with self.state.lock:
            self.state.reset()
            self.violations.clear()
            self.requests.clear()
        self.faults.reset()

    @property
    def zaken(self) -> list[dict]:
        with self.state.lock:
            return [dict(z) for z in self.state.zaken]

    @property
    def documents(self) -> list[dict]:
        """The documents as stored, without their content (see :meth:`document_content`)."""
        with self.state.lock:
            return [{k: v for k, v in d.items() if k != "inhoud"} for d in self.state.documents]

    @property
    def reservations(self) -> list[dict]:
        with self.state.lock:
            return [dict(r) for r in self.state.reservations]

    def census(self) -> dict:
        """How often each thing arrived: ``zaken`` and ``documents`` by identificatie (Counters; a
        lenient double keeps what a client sent twice), ``reservations`` by kind."""
        return self.state.census()

    def document_content(self, identificatie: str) -> bytes:
        """The decoded ``inhoud`` of the (first) document with ``identificatie``; KeyError if unknown."""
        document = self.state.document(identificatie)
        if document is None:
            raise KeyError(identificatie)
        return document["inhoud"]


def serve(double: StufDouble, host: str = "127.0.0.1", port: int = 0, ssl_context=None) -> Server:
    """Start ``double`` on a threaded werkzeug server in a daemon thread; returns at once.

    ``ssl_context``: serve HTTPS; an ``ssl.SSLContext`` with ``verify_mode = CERT_REQUIRED`` and the
    client CA loaded emulates a system that demands mutual TLS."""
    if double.validate:
        schemas.schema(double.dialect)   # compile before the first call, not during it
    return Server(double, host, port, ssl_context=ssl_context)
