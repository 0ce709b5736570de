"""A local fake Open Zaak 1.21.0 that checks all its traffic against the official ZGW specs.

It serves the parts of the Zaken 1.5.1, Documenten 1.4.3 and Catalogi 1.3.1 APIs the connector
needs, under ``/zaken/api/v1``, ``/documenten/api/v1`` and ``/catalogi/api/v1``, answering the way
Open Zaak does (error codes, 403/406/412, pagination). Every request and response is validated
against the VNG OpenAPI specs shipped in ``specs/``; anything wrong ends up in
``double.violations``, so a client test can simply assert ``double.violations == []``::

    from connector.doubles.zgw import ZgwDouble, serve
    double = ZgwDouble(secret="insecure-test-secret", client_ids=("connector",))
    server = serve(double, host="127.0.0.1", port=0)
    ...  # talk to server.zaken_url, server.documenten_url, server.catalogi_url
    assert double.violations == []
    server.shutdown()

Standalone: ``python -m connector.doubles.zgw --port 8001 --secret S --client-id connector``.
"""
from __future__ import annotations

import re
from pathlib import Path

try:  # the double is a test and demo tool: a production install (pip install .) leaves openapi-core out
    import openapi_core  # noqa: F401
except ImportError as exc:
    raise ImportError("the ZGW test double needs the 'demo' extra: pip install 'midoffice-connector[demo]'"
                      " (from a checkout: pip install -e '.[demo]')") from exc

from .app import Server, create_app
from .faults import Faults
from .state import State, absolute, resolve_seed

__all__ = ["ZgwDouble", "Faults", "Server", "serve", "create_app"]


class ZgwDouble:
    """State, settings and findings of one fake Open Zaak.

    :param secret: the shared HS256 secret clients sign their JWTs with.
    :param client_ids: the accepted ``client_id`` claims.
    :param seed: YAML seed file; relative paths are resolved against the repository root.
        Default: ``fixtures/zgw/catalogus.yaml``.
    :param validate: check requests and responses against the OpenAPI specs.
    :param latency: seconds added to every call (to imitate a real server in benchmarks); slept
        outside every lock, so concurrent calls overlap.
    :param page_size: results per page of list endpoints (Open Zaak: 100).
    :param jwt_expiry: seconds a token stays valid after its ``iat`` (Open Zaak default 3600).

    Attributes for tests: ``violations`` (list of readable strings), ``requests`` (list of
    ``(method, path)``), ``zaken``, ``documents``, ``zaakinformatieobjecten`` (resources as
    served), :meth:`document_content`, :meth:`reset`, and ``faults`` (:class:`Faults`: errors,
    timeouts, latency and outages to inject on purpose).
    """

    def __init__(self, secret: str = "insecure-test-secret", client_ids=("connector",),
                 seed: str | Path | None = None, validate: bool = True, latency: float = 0.0,
                 page_size: int = 100, jwt_expiry: int = 3600, leeway: int = 0):
        self.secret = secret
        self.client_ids = tuple(client_ids)
        self.validate = validate
        self.latency = latency
        self.page_size = page_size
        self.jwt_expiry = jwt_expiry
        self.leeway = leeway
        self.base_url = "http://testserver"   # replaced by serve() with the real address
        self.state = State(resolve_seed(seed))
        self.violations: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.faults = Faults()

    def record(self, method: str, path: str, finding: str) -> None:
        with self.state.lock:
            self.violations.append(f"{method} {path}: {finding}")

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

    def document_content(self, url_or_uuid: str) -> bytes:
        """The bytes stored for a document, by its URL or UUID (KeyError if unknown)."""
        match = re.search(r"([0-9a-fA-F-]{36})/?(?:download)?(?:\?.*)?$", url_or_uuid)
        uuid = match.group(1) if match else url_or_uuid
        with self.state.lock:
            return self.state.content[uuid]


def serve(double: ZgwDouble, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Start ``double`` on a threaded werkzeug server in a daemon thread; returns at once."""
    server = Server(double, host, port)
    double.base_url = server.url
    return server
