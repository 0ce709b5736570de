"""The sink contract: one class per target system (ZGW, StUF-ZDS, MDTO export, ...).

A sink is configured with a ``name`` and ``options`` validated by its marshmallow
``options_schema`` on construction. It offers:

* :meth:`Sink.check` -- settings, then connection, then credentials, as :class:`Check` results.
* :meth:`Sink.deliver` -- put one message into the target system as one or more documents,
  following the :class:`~connector.routing.Routing` the rules chose.

Step memoisation (the lesson of Open Formulieren's duplicate-zaak incident): a delivery is a
series of named steps ("zaak", "document:rendition", "link:rendition", ...). Each step's result
is saved through :class:`Steps` the moment it succeeds, so that a retry resumes where the last
attempt stopped instead of creating a second zaak or document. Where a crash can fall between a
successful remote call and saving its result, the sink must detect the earlier success itself
(deterministic identificatie, lookup before create).

Failures are raised as :class:`connector.failures.Failed` with a classified verdict; a server's
problem+json body goes into ``Failure.detail`` verbatim.

Each sink classifies its own HTTP answers (:meth:`Sink.classify_response`): the shared
:func:`connector.failures.classify_response` is the default, a sink extends its status table
with ``error_mapping`` (Airbyte style, ``{status: verdict}``) or overrides the method to read the
body (a SOAP fault arrives as HTTP 500, and a fault about the request itself is not worth a
retry). A sink's HTTP client classifies through its sink: assigning ``self.client`` binds a
client that offers ``classify_through(sink)`` to the sink's method.
"""
from __future__ import annotations

import abc
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Protocol

import marshmallow

from .. import failures
from ..checks import Check
from ..message import Message, parse_iso
from ..registry import SINKS  # noqa: F401 - re-exported: plugins register with @SINKS.register
from ..routing import Routing


class Steps(Protocol):
    """Memoised step results of one delivery, persisted by the store."""

    def get(self, name: str) -> dict | None: ...

    def save(self, name: str, result: dict) -> None: ...

    def run(self, name: str, action: Callable[[], dict]) -> dict:
        """Return the saved result of ``name``, or run ``action``, save and return its result."""


class MemorySteps:
    """A :class:`Steps` kept in a dict: for tests and dry runs."""

    def __init__(self, initial: dict | None = None):
        self.results: dict[str, dict] = dict(initial or {})
        self.ran: list[str] = []

    def get(self, name):
        return self.results.get(name)

    def save(self, name, result):
        self.results[name] = result

    def run(self, name, action):
        if name in self.results:
            return self.results[name]
        result = action()
        self.ran.append(name)
        self.save(name, result)
        return result


@dataclass
class Document:
    """One document created in the target system."""

    role: str  # "rendition", "original", later "media"
    url: str
    identificatie: str = ""
    titel: str = ""


@dataclass
class Delivered:
    """Outcome of a successful delivery."""

    zaak_url: str = ""
    zaak_identificatie: str = ""
    documents: list[Document] = field(default_factory=list)


@dataclass(frozen=True)
class ZaakSummary:
    """A zaak as a search in the target system shows it ("Archiveer in zaak" in the web UI)."""

    identificatie: str
    url: str = ""
    omschrijving: str = ""
    zaaktype: str = ""  # its identificatie where the sink knows it, else its URL
    startdatum: str = ""


class Sink(abc.ABC):
    """Base class of all sinks.

    A plugin sets ``kind`` (its entry point's name, used in ``connector.yaml``) and
    ``options_schema`` (a marshmallow schema; give each field ``metadata={"description": ...}``
    for the generated options table), and implements :meth:`deliver`. It may refine
    :meth:`check`, :meth:`classify_response` and ``error_mapping``.
    """

    kind: ClassVar[str] = ""
    options_schema: ClassVar[type[marshmallow.Schema]] = marshmallow.Schema
    # status -> verdict, consulted before the shared table (connector.failures.ERROR_MAPPING)
    error_mapping: ClassVar[dict[int, str]] = {}

    def __init__(self, name: str, options: dict):
        self.name = name
        self.options = self.options_schema().load(options)

    # -- failure classification ---------------------------------------------------------------
    def classify_response(self, response, what: str = "") -> failures.Failure | None:
        """``None`` for a successful answer, else the :class:`~connector.failures.Failure` it means.

        The default is the shared classification with this sink's ``error_mapping`` on top.
        """
        return failures.classify_response(response, what, mapping=self.error_mapping)

    @property
    def client(self):
        """This sink's HTTP client (``None`` until the sink sets one)."""
        return self.__dict__.get("_client")

    @client.setter
    def client(self, value) -> None:
        # a client that can classify through its sink does so from now on (see the module docstring)
        if callable(getattr(type(value), "classify_through", None)):
            value.classify_through(self)
        self.__dict__["_client"] = value

    def check(self) -> list[Check]:
        return [Check("settings", True)]

    def expect_names(self, names: dict[tuple[str, str], list[str]]) -> None:
        """Before :meth:`check`: the names the mapping rules will ask this sink to resolve.

        ``names`` maps ``(kind, name)`` (kind ``zaaktype``, ``informatieobjecttype`` or ``zaak``)
        to where each is used ("file:line: rule 'x'"). A sink that can look names up in its target
        system reports each missing one from ``check()``, with those places; the default only
        keeps them.
        """
        self.expected_names = dict(names)

    @abc.abstractmethod
    def deliver(self, message: Message, routing: Routing, steps: Steps) -> Delivered:
        """Put ``message`` into the target system as ``routing`` says, memoising each step in ``steps``."""
        raise NotImplementedError

    # -- on demand: "Archiveer in zaak" (connector.ondemand, the web UI) ------------------------
    def find_zaken(self, query: str, limit: int = 20) -> list[ZaakSummary]:
        """Zaken in the target system whose identificatie is ``query`` or whose omschrijving contains
        it, at most ``limit``, newest first. Raises :class:`NotImplementedError` when the target
        system cannot be searched (the default): the web UI then offers only what the rules decided.
        Failures as :class:`~connector.failures.Failed`."""
        raise NotImplementedError(f"sink {self.name!r} ({self.kind}) cannot search zaken")

    @property
    def searches_zaken(self) -> bool:
        return type(self).find_zaken is not Sink.find_zaken

    @property
    def creates_zaken(self) -> bool:
        return type(self).create_zaak is not Sink.create_zaak

    def zaaktypen(self) -> list[tuple[str, str]]:
        """``(identificatie, omschrijving)`` of the zaaktypen a new zaak may have (published ones)."""
        return []

    def create_zaak(self, zaaktype: str, omschrijving: str, toelichting: str, key: str) -> ZaakSummary:
        """Create a zaak of ``zaaktype`` (identificatie or URL) for a user who asked for one. ``key`` is
        unique per request (a form's nonce): the same key twice (a double submit, a retry after a lost
        answer) gives the same zaak, never a second one."""
        raise NotImplementedError(f"sink {self.name!r} ({self.kind}) cannot create a zaak on request")

    def redo_on_reroute(self, step: str) -> bool:
        """Whether the memoised step ``step`` must run again when a delivery is re-routed to another
        zaak (:meth:`connector.store.Store.assign`). The default, every step, suits a target system
        whose documents belong to one zaak; a sink whose documents can be linked to another zaak keeps
        its document steps, so the documents are not made twice."""
        return True

    # -- fan-out: what this sink can take (see connector.fanout) ------------------------------
    def validate_routing(self, routing: Routing) -> list[str]:
        """What this sink cannot deliver in ``routing``, one sentence each; ``[]`` when it can.

        Routings are sink-neutral; a target system's own limits and required values (field
        lengths, a document type it needs) are checked here. Pure: no I/O. A field that is
        ``None`` is not known yet (a templated value checked before any message exists) and is
        not checked. Called for each rule by ``connector mappings check --config`` and at start,
        and for each message's routing when it is planned. The default: no problems.
        """
        return []


def settled(steps: Steps, name: str, seconds: float, call: str = "call") -> bool:
    """Was ``name`` sent before without a result saved (a ``<name>:sent`` marker)? Then wait until
    that call has settled, and return True: the caller looks the item up before creating it.

    A call the client gave up on (its timeout) may still be processed by the target system a
    moment later; a lookup made before then finds nothing and the retry would create a second one.
    So a retry looks up only once ``seconds`` have passed since the earlier call was sent; before
    that it is put back (transient, with that time as ``retry_at``). False: never sent.
    """
    marker = steps.get(f"{name}:sent")
    if marker is None:
        return False
    try:
        sent = parse_iso(marker["at"])
    except (KeyError, TypeError, ValueError):
        return True
    due = sent + timedelta(seconds=seconds)
    if datetime.now(timezone.utc) < due:
        raise failures.Failed(failures.Failure(
            failures.RETRY, f"{name}: an earlier attempt's {call} (sent {marker['at']}) may still be in progress"
                            f" at the target system; it is looked up from {due.isoformat()}", retry_at=due))
    return True
