"""What mapping rules decide for a message: the :class:`Routing`.

Produced by the pure ``connector.rules.resolve(message)`` and stored with the delivery, so the
decision is auditable later even when the rules have changed since.

Actions
-------
``attach``         add the document to an existing zaak, found by ``zaak_identificatie``.
``create``         create a new zaak of ``zaaktype`` with the fields in ``zaak`` (omschrijving, ...).
``follow_thread``  use the zaak of the message this one replies to; when that message has no zaak
                   (unknown, held, ignored), ``fallback`` (another Routing) applies, else hold.
``hold``           keep for manual triage (``reason`` says why); nothing is sent.
``ignore``         deliberately not archived (``reason`` is logged and kept).

``zaaktype`` and ``informatieobjecttype`` are either full Catalogi API URLs or the admin-friendly
names (zaaktype ``identificatie``, informatieobjecttype ``omschrijving``) that a sink resolves
against its catalogus; ``informatieobjecttype`` may be ``None`` (a sink then uses its own default).
``zaak_url`` is filled in by the delivery pipeline for ``follow_thread`` once the parent's zaak is
known; sinks use it directly when present.

A Routing is sink-neutral: it says what the rules decided, not what one target system can take.
Field lengths and required values of a target system are that sink's business
(:meth:`connector.sinks.base.Sink.validate_routing`). ``sinks`` are the sinks the rule named
(empty: the rule named none); which sinks a message goes to is decided by :mod:`connector.fanout`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

ATTACH = "attach"
CREATE = "create"
FOLLOW_THREAD = "follow_thread"
HOLD = "hold"
IGNORE = "ignore"
ACTIONS = (ATTACH, CREATE, FOLLOW_THREAD, HOLD, IGNORE)
DELIVERING_ACTIONS = (ATTACH, CREATE, FOLLOW_THREAD)

VERTROUWELIJKHEIDAANDUIDINGEN = (
    "openbaar", "beperkt_openbaar", "intern", "zaakvertrouwelijk",
    "vertrouwelijk", "confidentieel", "geheim", "zeer_geheim",
)


@dataclass(frozen=True)
class Routing:
    action: str
    rule: str = ""
    source: str = ""  # "file:line" of the rule that decided, for the operator
    sinks: tuple[str, ...] = ()
    zaak_identificatie: str | None = None
    zaak_url: str | None = None
    zaaktype: str | None = None
    zaak: dict = field(default_factory=dict)
    informatieobjecttype: str | None = None
    vertrouwelijkheidaanduiding: str = "openbaar"
    titel: str = ""
    reason: str = ""
    fallback: "Routing | None" = None

    def __post_init__(self):
        if self.action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, not {self.action!r}")
        if self.vertrouwelijkheidaanduiding not in VERTROUWELIJKHEIDAANDUIDINGEN:
            raise ValueError(f"unknown vertrouwelijkheidaanduiding {self.vertrouwelijkheidaanduiding!r}")

    @property
    def delivers(self) -> bool:
        return self.action in DELIVERING_ACTIONS

    def to_dict(self) -> dict:
        data = asdict(self)
        data["sinks"] = list(self.sinks)
        data["fallback"] = self.fallback.to_dict() if self.fallback else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Routing":
        data = dict(data)
        fallback = data.pop("fallback", None)
        sink = data.pop("sink", None)  # stored before fan-out: one sink name
        data["sinks"] = tuple(data.get("sinks") or ((sink,) if sink else ()))
        return cls(**data, fallback=cls.from_dict(fallback) if fallback else None)

    def evolve(self, **changes) -> "Routing":
        return replace(self, **changes)
