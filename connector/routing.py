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

``archief`` (an :class:`Archief`, or ``None`` when no rule or default set it) is the archival
appraisal of the rule: ``waardering`` (B, V or N of the MDTO list "Waarderingen"),
``bewaartermijn`` (an ISO 8601 duration such as ``P10Y``, only and always with V) and
``informatiecategorie`` (the category of the selectielijst it is based on). An archive sink writes
them into the MDTO metadata (:mod:`connector.mdto`); a case system may ignore them.
"""
from __future__ import annotations

import re
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

# MDTO "Begrippenlijst Waarderingen" (closed): code -> label
WAARDERINGEN = {"B": "Blijvend te bewaren", "V": "Tijdelijk te bewaren", "N": "Nader te bepalen"}
TIJDELIJK = "V"
# An xsd:duration as an archive can compute with: years, months, days (and a time part), no sign, no
# weeks (ISO 8601 allows P2W, xsd:duration does not), at most five digits per number.
_DURATION = re.compile(r"P(?!\Z)(\d{1,5}Y)?(\d{1,5}M)?(\d{1,5}D)?(T(?=\d)(\d{1,5}H)?(\d{1,5}M)?(\d{1,5}S)?)?\Z")


def duration_problem(text: str) -> str | None:
    """Why ``text`` is not a bewaartermijn (``None`` when it is one, like ``P10Y`` or ``P1Y6M``)."""
    if _DURATION.match(text):
        return None
    hint = "; write weeks as days (P14D, not P2W)" if "W" in text.upper() else ""
    return (f"{text[:40]!r} is not an ISO 8601 duration like P10Y (years), P6M (months) or P30D (days),"
            f" at most five digits per number{hint}")


def archief_problems(waardering: str, bewaartermijn: str | None) -> dict[str, str]:
    """What is wrong with this waardering and bewaartermijn, per field (empty when nothing)."""
    if waardering not in WAARDERINGEN:
        return {"waardering": f"must be one of {', '.join(WAARDERINGEN)} ({', '.join(WAARDERINGEN.values())}),"
                              f" not {waardering!r}"}
    if waardering == TIJDELIJK and not bewaartermijn:
        return {"bewaartermijn": "waardering V (tijdelijk te bewaren) needs a bewaartermijn from the selectielijst,"
                                 " an ISO 8601 duration such as P10Y"}
    if waardering != TIJDELIJK and bewaartermijn:
        return {"bewaartermijn": f"only with waardering V (tijdelijk te bewaren): with {waardering}"
                                 f" ({WAARDERINGEN[waardering].lower()}) nothing is destroyed"}
    if bewaartermijn and duration_problem(bewaartermijn):
        return {"bewaartermijn": duration_problem(bewaartermijn)}
    return {}


@dataclass(frozen=True)
class Informatiecategorie:
    """A category of a selectielijst: its ``label`` (title), ``code`` and the ``selectielijst`` it is in."""

    label: str
    selectielijst: str
    code: str = ""


@dataclass(frozen=True)
class Archief:
    """The archival appraisal a rule gives its messages (see the module docstring)."""

    waardering: str
    bewaartermijn: str | None = None
    informatiecategorie: Informatiecategorie | None = None

    def __post_init__(self):
        problems = archief_problems(self.waardering, self.bewaartermijn)
        if problems:
            raise ValueError("; ".join(f"{key}: {text}" for key, text in problems.items()))

    @classmethod
    def from_dict(cls, data: dict) -> "Archief":
        categorie = data.get("informatiecategorie")
        return cls(waardering=data["waardering"], bewaartermijn=data.get("bewaartermijn"),
                   informatiecategorie=Informatiecategorie(**categorie) if categorie else None)


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
    archief: Archief | None = None
    # set by the engine, never by a rule: this version of the message reached the sink after a
    # newer one, so it is archived beside it, not as its newest version (connector.engine)
    late_version: bool = False

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
        archief = data.pop("archief", None)  # stored before the archival fields: none
        return cls(**data, fallback=cls.from_dict(fallback) if fallback else None,
                   archief=Archief.from_dict(archief) if archief else None)

    def evolve(self, **changes) -> "Routing":
        return replace(self, **changes)
