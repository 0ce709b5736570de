"""Helpers for the status API's tests: a store filled the way the worker fills it, through its own methods."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from connector import states
from connector.failures import Failure
from connector.routing import Routing
from connector.store import DeliveryPlan

from .conftest import make_message
from .web_support import STATUS_TOKEN

CHANNEL = "gemeente-mastodon"
SINK = "openzaak"
AUTH = {"Authorization": f"Bearer {STATUS_TOKEN}"}
ZAAK_URL = "https://openzaak.example.nl/zaken/api/v1/zaken/1"


def store_post(store, platform_id: str, text: str = "een vraag", version: str = "", channel: str = CHANNEL,
               created: datetime | None = None, rule: str = "regel-1", sinks=(SINK,)) -> int:
    """Store one post (one version) with a delivery per sink, as a poll does; its store id."""
    message = make_message(platform_id, channel=channel, text=text, version=version)
    if created is not None:
        message = replace(message, created_at=created)
    routing = Routing("attach", rule=rule, source="rules.yaml:7", zaak_identificatie="ZAAK-1")
    [mid] = store.save_page(channel, [(message, [DeliveryPlan(sink, routing) for sink in sinks])], None).new
    return mid


def delivery_of(store, message_id: int, sink: str = SINK) -> int:
    return store.query("select id from deliveries where message_id = ? and sink = ?", [message_id, sink])[0]["id"]


def deliver(store, message_id: int, sink: str = SINK) -> int:
    """Claim, run two steps and deliver the message's delivery to ``sink``: its delivery id."""
    delivery = delivery_of(store, message_id, sink)
    with store._write():
        store._transition(delivery, states.IN_PROGRESS)
    store.save_step(delivery, "zaak", {"url": ZAAK_URL, "identificatie": "ZAAK-1"})
    store.save_step(delivery, "document", {"url": "https://openzaak.example.nl/documenten/1", "lock": "geheim-slot"})
    store.mark_delivered(delivery, ZAAK_URL, "ZAAK-1", [{"url": "https://openzaak.example.nl/documenten/1"}])
    return delivery


def fail(store, message_id: int, new_state: str = states.RETRY_WAIT, status: int = 503, sink: str = SINK) -> int:
    """One failed attempt of the message's delivery to ``sink``, ending in ``new_state``: its delivery id."""
    delivery = delivery_of(store, message_id, sink)
    with store._write():
        store._transition(delivery, states.IN_PROGRESS)
    store.mark_failed(delivery, Failure("retry" if new_state == states.RETRY_WAIT else "permanent",
                                        f"the server answered {status}", status=status), new_state)
    return delivery


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)
