"""Archive one message now, into a zaak a person chose: "Archiveer in zaak" (the web UI's archive pages).

Three steps, each usable alone:

1. :func:`fetch_url` -- a pasted permalink: the first enabled channel (a web page channel last) whose source
   recognises it
   (:meth:`~connector.sources.base.Source.item_id_for_url`) fetches that one item
   (:meth:`~connector.sources.base.Source.fetch_item`); it is stored like a polled one, with the deliveries
   the rules plan for it (the channel's cursor is left alone), or found when it is stored already. A URL no
   channel recognises is refused with the channels that were asked.
2. :func:`find_zaken`, :func:`create_zaak` -- through the sink (:meth:`~connector.sinks.base.Sink.find_zaken`).
3. :func:`archive` -- the message's delivery to that sink gets a routing that attaches it to the chosen zaak
   (the rule's informatieobjecttype, vertrouwelijkheidaanduiding, titel and archival appraisal kept), is made
   due (:meth:`~connector.store.manual.ManualMixin.assign`, audited with the user) and, unless a worker holds
   it or its sink is paused, delivered at once in this process under a lease, exactly as a worker would. A
   delivery that fails stays in the outbox with its verdict (retried by the worker when transient); nothing
   is lost, and the documents made before a failure are not made again. While this process holds it, the
   delivery's ``claimed_by`` is :func:`holder` (``web:USER@HOST:PID``), so ``/status`` and ``connector status``
   list the web process and the person with the delivery in hand, beside the workers.
"""
from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass

from . import states
from .message import Message
from .routing import ATTACH, Routing

log = logging.getLogger(__name__)
MANUAL_RULE = "handmatig"  # the rule name a person's choice is stored under
MAX_URL = 2048


class OnDemandError(ValueError):
    """What a person asked cannot be done; the text says why (shown to them, in English for the log)."""


@dataclass
class Fetched:
    channel: str
    message_id: int
    new: bool


@dataclass
class Outcome:
    delivery_id: int
    state: str
    zaak_url: str | None = None
    zaak_identificatie: str | None = None
    error: str | None = None
    documents: int = 0


def recognise(connector, url: str) -> tuple[str, str]:
    """``(channel, item id)`` of the first enabled channel that recognises ``url``."""
    url = (url or "").strip()
    if not url or len(url) > MAX_URL or not url.lower().startswith(("http://", "https://")):
        raise OnDemandError("not an http(s) URL of a post")
    # a web channel without page_hosts takes any public page: the platforms' own channels are asked first
    ordered = sorted(connector.sources.items(), key=lambda item: item[1].kind == "web")
    for name, source in ordered:
        try:
            item = source.item_id_for_url(url)
        except Exception:  # noqa: BLE001 - the contract says never raises; a buggy source is no match
            log.exception("channel %s: item_id_for_url raised", name)
            item = None
        if item:
            return name, item
    asked = ", ".join(f"{name} ({source.kind})" for name, source in connector.sources.items()) or "none"
    raise OnDemandError(f"no configured channel recognises this URL as one of its posts (channels: {asked})")


def fetch_url(connector, url: str) -> Fetched:
    """Fetch and store the item at ``url`` (see the module docstring); :class:`OnDemandError` or
    :class:`connector.failures.Failed` (as the channel classified it) when that fails."""
    channel, item_id = recognise(connector, url)
    stored = connector.store.message_by_platform_id(channel, item_id)
    source = connector.sources[channel]
    page = source.fetch_item(url.strip())
    connector.rules.refresh()
    saved = connector.store.save_page(channel, [(m, connector.plan(m)) for m in page.messages], None,
                                      page.quarantined, page.deletions)
    if not page.messages:
        reasons = "; ".join(q.reason for q in page.quarantined) or "the platform returned no item"
        raise OnDemandError(f"the item could not be read and was quarantined: {reasons}"[:500])
    newest = page.messages[-1]
    found = connector.store.query("select id from messages where channel = ? and platform_id = ? and version = ?",
                                  [channel, newest.id, newest.version])
    connector.store.event("message.fetched_on_request", channel=channel, message_id=found[0]["id"],
                          detail={"url": url.strip()[:MAX_URL], "new": bool(saved.new)})
    return Fetched(channel=channel, message_id=found[0]["id"], new=bool(saved.new) or stored is None)


def _sink(connector, name: str):
    sink = connector.sinks.get(name)
    if sink is None:
        raise OnDemandError(f"no sink {name!r} is configured")
    return sink


def find_zaken(connector, sink: str, query: str, limit: int = 20):
    target = _sink(connector, sink)
    if not target.searches_zaken:
        raise OnDemandError(f"sink {sink!r} ({target.kind}) cannot search zaken")
    return target.find_zaken(query, limit)


def create_zaak(connector, sink: str, zaaktype: str, omschrijving: str, toelichting: str, key: str, who: str):
    target = _sink(connector, sink)
    zaak = target.create_zaak(zaaktype, omschrijving, toelichting, key)
    connector.store.event("zaak.created_on_request", sink=sink,
                          detail={"by": who, "zaak": zaak.url, "identificatie": zaak.identificatie,
                                  "zaaktype": zaaktype})
    return zaak


def routing_for(connector, message: Message, stored: Routing | None, sink: str, zaak_identificatie: str,
                who: str) -> Routing:
    """Attach to ``zaak_identificatie``, keeping what the rules said about the document itself."""
    base = stored if stored is not None and stored.delivers else None
    if base is None:  # held, ignored or never planned for this sink: what the rules say now, for the document
        base = Routing(ATTACH, **connector.rules.current().document(message))
    routing = base.evolve(action=ATTACH, zaak_identificatie=zaak_identificatie, zaak_url=None, zaaktype=None,
                          zaak={}, fallback=None, rule=MANUAL_RULE, source=f"web:{who}", sinks=(sink,),
                          reason=f"zaak chosen by {who}", late_version=False)
    problems = _sink(connector, sink).validate_routing(routing)
    if problems:
        raise OnDemandError("; ".join(problems))
    return routing


def holder(who: str) -> str:
    """Who holds a delivery this process delivers on ``who``'s request: ``web:USER@HOST:PID`` (a helpdesk
    reader sees the person and the web process; a worker id is ``HOST:PID:RANDOM``)."""
    return f"web:{who}@{socket.gethostname()}:{os.getpid()}"


def archive(connector, message_id: int, sink: str, zaak_identificatie: str, who: str,
            deliver_now: bool = True) -> Outcome:
    """Attach message ``message_id`` to ``zaak_identificatie`` in ``sink`` (see the module docstring)."""
    target = _sink(connector, sink)
    zaak_identificatie = (zaak_identificatie or "").strip()
    if not zaak_identificatie:
        raise OnDemandError("choose a zaak first")
    store = connector.store
    rows = store.query("select m.message_json, d.routing_json from messages m left join deliveries d"
                       " on d.message_id = m.id and d.sink = ? where m.id = ?", [sink, message_id])
    if not rows:
        raise OnDemandError(f"no message {message_id}")
    message = Message.from_dict(json.loads(rows[0]["message_json"]))
    stored = Routing.from_dict(_json(rows[0]["routing_json"])) if rows[0]["routing_json"] else None
    routing = routing_for(connector, message, stored, sink, zaak_identificatie, who)
    try:
        delivery_id = store.assign(message_id, sink, routing, who, redo=target.redo_on_reroute)
    except states.IllegalTransition as exc:
        raise OnDemandError(str(exc)) from exc
    if deliver_now:
        row = store.claim_delivery(delivery_id, connector.config.delivery["lease"], holder=holder(who))
        if row is not None:
            connector.deliver_one(row)
    return outcome(store, delivery_id)


def outcome(store, delivery_id: int) -> Outcome:
    row = store.query("select state, zaak_url, zaak_identificatie, last_error, documents_json from deliveries"
                      " where id = ?", [delivery_id])[0]
    documents = _json(row["documents_json"]) or []
    return Outcome(delivery_id=delivery_id, state=row["state"], zaak_url=row["zaak_url"],
                   zaak_identificatie=row["zaak_identificatie"], error=row["last_error"],
                   documents=len(documents) if row["state"] == states.DELIVERED else 0)


def _json(text):
    return json.loads(text) if text else None


__all__ = ["Fetched", "OnDemandError", "Outcome", "archive", "create_zaak", "fetch_url",
           "find_zaken", "holder", "recognise"]
