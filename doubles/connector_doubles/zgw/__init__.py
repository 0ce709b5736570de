"""A local fake Open Zaak 1.21.0 that checks all its traffic against the official ZGW specs.

It serves the parts of the Zaken 1.5.1, Documenten 1.4.3 and Catalogi 1.3.1 APIs the connector
needs, under ``/zaken/api/v1``, ``/documenten/api/v1`` and ``/catalogi/api/v1``, answering the way
Open Zaak does (error codes, 403/406/412, pagination). Every request and response is validated
against the VNG OpenAPI specs shipped in ``specs/``; anything wrong ends up in
``double.violations``, so a client test can simply assert ``double.violations == []``::

    from connector_doubles.zgw import ZgwDouble, serve
    double = ZgwDouble(secret="insecure-test-secret", client_ids=("connector",))
    server = serve(double, host="127.0.0.1", port=0)
    ...  # talk to server.zaken_url, server.documenten_url, server.catalogi_url
    assert double.violations == []
    server.shutdown()

Standalone: ``python -m connector_doubles.zgw --port 8001 --secret S --client-id connector``
(``--lenient`` to accept duplicates, ``--latency-profile openzaak`` to answer as slowly as a real
Open Zaak).
"""
from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

try:  # the double is a test and demo tool: a production install (pip install .) leaves openapi-core out
    import openapi_core  # noqa: F401
except ImportError as exc:
    raise ImportError("the ZGW test double needs openapi-core, which the production install leaves out:"
                      " pip install -e ./doubles (from a checkout)") from exc

from .app import Server, create_app
from .faults import Faults
from .latency import PROFILES, LatencyProfile
from .state import State, absolute, resolve_seed

__all__ = ["ZgwDouble", "Faults", "LatencyProfile", "PROFILES", "Server", "serve", "create_app"]


class ZgwDouble:
    """State, settings and findings of one fake Open Zaak.

    :param secret: the shared HS256 secret clients sign their JWTs with.
    :param client_ids: the accepted ``client_id`` claims.
    :param seed: YAML seed file; relative paths are resolved against the repository root.
        Default: ``fixtures/zgw/catalogus.yaml``.
    :param validate: check requests and responses against the OpenAPI specs.
    :param latency: seconds added to every call (to imitate a real server in benchmarks); slept
        outside every lock, so concurrent calls overlap.
    :param latency_profile: name of a :data:`PROFILES` entry (``"openzaak"``): each call takes the
        time that profile gives its method and path, on top of ``latency``.
    :param lenient: behave like a case system without uniqueness rules (many StUF systems): a
        second zaak or document with the same ``identificatie`` and a second link of the same
        zaak and document are accepted and stored, where Open Zaak answers 400. Lets a test see
        duplicates a client makes instead of having the server refuse them (:meth:`census`).
    :param page_size: results per page of list endpoints (Open Zaak: 100).
    :param jwt_expiry: seconds a token stays valid after its ``iat`` (Open Zaak default 3600).
    :param part_size: bytes per bestandsdeel of the large-file flow (Open Zaak's default 4 GiB:
        one part; tests use e.g. 2 MiB to get several). See :mod:`.documents`.
    :param part_locks: ``"document"`` (as Open Zaak: every bestandsdeel carries the document's
        lock) or ``"own"`` (each part its own lock, which its PUT must send).
    :param forced: the client has ``documenten.geforceerd-bijwerken`` and ``-unlock`` (as an Open Zaak
        application with ``heeft_alle_autorisaties``): it may update a ``definitief`` document and
        unlock one without its lock. ``False``: 400 ``modify-status-definitief`` on such an update.

    Uploaded parts and the files they make are kept on disk, in ``state.upload_dir`` (a temporary
    folder removed with the double), never in memory.

    Attributes for tests: ``violations`` (list of readable strings), ``requests`` (list of
    ``(method, path)``), ``in_flight`` (calls being handled right now), ``zaken``, ``documents``,
    ``zaakinformatieobjecten`` (resources as served), :meth:`census`, :meth:`document_content`,
    :meth:`reset`, ``faults`` (:class:`Faults`: errors, timeouts, latency and outages to inject on
    purpose), and ``sleep`` (the function every pause goes through, ``time.sleep``; a test may
    replace it to see the pauses without waiting for them).
    """

    def __init__(self, secret: str = "insecure-test-secret", client_ids=("connector",),
                 seed: str | Path | None = None, validate: bool = True, latency: float = 0.0,
                 page_size: int = 100, jwt_expiry: int = 3600, leeway: int = 0,
                 lenient: bool = False, latency_profile: str | None = None,
                 part_size: int = 4 << 30, part_locks: str = "document", forced: bool = True):
        if part_size < 1 or part_locks not in ("document", "own"):
            raise ValueError("part_size must be positive, part_locks 'document' or 'own'")
        self.secret = secret
        self.client_ids = tuple(client_ids)
        self.validate = validate
        self.latency = latency
        self.latency_profile = LatencyProfile(latency_profile) if latency_profile else None
        self.lenient = lenient
        self.sleep = time.sleep
        self.in_flight = 0
        self.page_size = page_size
        self.jwt_expiry = jwt_expiry
        self.leeway = leeway
        self.part_size = part_size
        self.part_locks = part_locks
        self.forced = forced
        self.base_url = "http://testserver"   # replaced by serve() with the real address
        self.state = State(resolve_seed(seed))
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.faults = Faults()

    def record(self, method: str, path: str, finding: str) -> None:
        with self.state.lock:
            self.violations.append(f"{method} {path}: {finding}")

    def pause_for(self, method: str, path: str) -> float:
        """Seconds one call waits before it is handled: ``latency`` plus the profile's time."""
        profile = self.latency_profile.seconds(method, path) if self.latency_profile else 0.0
        return self.latency + profile

    def reset(self) -> None:
        """Back to the seed: created resources, violations, recorded requests and faults (with
        their counters) are dropped."""
        with self.state.lock:
            self.state.reset()
            self.violations.clear()
            self.requests.clear()
        self.faults.reset()

    def _served(self, store: dict) -> list[dict]:
        with self.state.lock:
            return [absolute(r, self.base_url) for r in store.values()]

    @property
    def zaken(self) -> list[dict]:
        return self._served(self.state.zaken)

    @property
    def documents(self) -> list[dict]:
        return self._served(self.state.documents)

    @property
    def zaakinformatieobjecten(self) -> list[dict]:
        return self._served(self.state.zios)

    def census(self) -> dict[str, Counter]:
        """How often each thing arrived: ``zaken`` and ``documents`` by ``identificatie``,
        ``links`` by ``(zaak URL, informatieobject URL)``. Against a strict double every count
        is 1; a lenient one (``lenient=True``) keeps whatever a client sent twice."""
        with self.state.lock:
            return {
                "zaken": Counter(z["identificatie"] for z in self.state.zaken.values()),
                "documents": Counter(d["identificatie"] for d in self.state.documents.values()),
                "links": Counter((absolute(link["zaak"], self.base_url),
                                  absolute(link["informatieobject"], self.base_url))
                                 for link in self.state.zios.values()),
            }

    def document_content(self, url_or_uuid: str) -> bytes:
        """The bytes stored for a document (its newest version), by its URL or UUID (KeyError
        if unknown). A large file is read from disk: meant for tests with small files."""
        match = re.search(r"([0-9a-fA-F-]{36})/?(?:download)?(?:\?.*)?$", url_or_uuid)
        uuid = match.group(1) if match else url_or_uuid
        with self.state.lock:
            return self.state.blob(self.state.content[uuid])


def serve(double: ZgwDouble, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Start ``double`` on a threaded werkzeug server in a daemon thread; returns at once."""
    server = Server(double, host, port)
    double.base_url = server.url
    return server
