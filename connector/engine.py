"""The connector at work: poll channels into the outbox, deliver the outbox into sinks.

:class:`Connector` is built from a validated :class:`~connector.config.Config`. The scheduler
(``connector worker``), ``connector run --once``, the demo and the tests all drive it through
:meth:`Connector.poll`, :meth:`Connector.deliver_due` and :meth:`Connector.run_once`.

Polling: each page a source yields is routed by the current mapping rules and saved, with its
deliveries and the channel's new cursor, in one transaction (:meth:`Store.save_page`).

Delivering: due deliveries are claimed oldest message first, so a parent is normally delivered
before its replies. ``follow_thread`` routings look up the parent's zaak; when the parent is still
on its way the reply waits, when it has no zaak the rule's fallback applies. Failures are handled by
verdict: ``permanent`` -> failed at once; ``retry``/``rate_limited`` -> retry_wait with exponential
backoff and jitter (``retry_at`` from the server honoured) until ``max_attempts``;
``configuration`` -> retry_wait without burning an attempt (an operator must fix something).
"""
from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import states
from .config import Config
from .failures import CONFIGURATION, PERMANENT, RATE_LIMITED, Failed, Failure
from .message import utcnow
from .routing import FOLLOW_THREAD, HOLD, IGNORE, Routing
from .rulesholder import RulesHolder
from .sinks import load_all as load_sinks
from .sources import load_all as load_sources
from .store import DeliveryPlan, DeliveryRow, Store

log = logging.getLogger(__name__)

PARENT_WAIT = timedelta(seconds=30)


@dataclass
class PollResult:
    channel: str
    pages: int = 0
    new: int = 0
    duplicates: int = 0
    quarantined: int = 0
    error: Failure | None = None
    skipped: str = ""


@dataclass
class DeliverResult:
    delivered: int = 0
    retrying: int = 0
    waiting: int = 0
    failed: int = 0
    held: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "DeliverResult") -> None:
        for name in ("delivered", "retrying", "waiting", "failed", "held"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors


class Connector:
    def __init__(self, config: Config, store: Store | None = None, rules: RulesHolder | None = None):
        sources, sinks = load_sources(), load_sinks()
        self.config = config
        # everything that can refuse the configuration comes before the store is opened, so a
        # broken mapping file or option leaves the previous state untouched
        self.rules = rules or RulesHolder(config.mappings, sink_names=[s.name for s in config.sinks])
        self.sources = {c.name: sources.get_class(c.kind)(c.name, c.options) for c in config.channels if c.enabled}
        self.sinks = {s.name: sinks.get_class(s.kind)(s.name, s.options) for s in config.sinks}
        self.store = store or Store(config.store)
        self.stopping = threading.Event()
        self.store.register({c.name: c.kind for c in config.channels}, {s.name: s.kind for s in config.sinks})

    # -- ingest -------------------------------------------------------------------------

    def plan(self, message) -> list[DeliveryPlan]:
        routing = self.rules.current().resolve(message)
        sink = routing.sink or self.config.default_sink
        state = {HOLD: states.HELD, IGNORE: states.IGNORED}.get(routing.action, states.PENDING)
        if state != states.PENDING:  # also in the audit trail; the log line is for the operator watching
            log.info("%s/%s %s by rule %s (%s): %s", message.channel, message.id, state, routing.rule,
                     routing.source, routing.reason)
        return [DeliveryPlan(sink=sink, routing=routing, state=state)]

    def poll(self, channel: str, now: datetime | None = None) -> PollResult:
        """Fetch what is new on one channel and store it. Never raises for channel trouble."""
        result = PollResult(channel)
        paused = self.store.channel_paused_until(channel)
        if paused and paused > (now or utcnow()):
            result.skipped = f"rate-limited until {paused.isoformat()}"
            return result
        self.rules.refresh()
        source = self.sources[channel]
        state = self.store.channel_state(channel)
        try:
            for page in source.poll(state):
                saved = self.store.save_page(channel, [(m, self.plan(m)) for m in page.messages],
                                             page.state, page.quarantined)
                result.pages += 1
                result.new += len(saved.new)
                result.duplicates += saved.duplicates
                result.quarantined += saved.quarantined
                if self.stopping.is_set():
                    break
        except Failed as exc:
            result.error = exc.failure
            paused_until = exc.failure.retry_at if exc.failure.verdict == RATE_LIMITED else None
            self.store.record_poll(channel, exc.failure, paused_until=paused_until)
            log.warning("channel %s: %s", channel, exc.failure.message)
            return result
        except Exception as exc:  # a bug in a source must not stop the other channels
            log.exception("channel %s crashed", channel)
            result.error = Failure("retry", f"internal error in source: {type(exc).__name__}: {exc}")
            self.store.record_poll(channel, result.error)
            return result
        self.store.record_poll(channel)
        return result

    # -- delivery -----------------------------------------------------------------------

    def deliver_due(self, limit: int | None = None, now: datetime | None = None) -> DeliverResult:
        """Claim and deliver one batch of due deliveries."""
        settings = self.config.delivery
        total = DeliverResult()
        rows = self.store.claim_due(limit or settings["batch_size"], int(settings["lease"]), now=now)
        for index, row in enumerate(rows):
            if self.stopping.is_set():
                for unstarted in rows[index:]:
                    self.store.release(unstarted.id)
                break
            total.add(self.deliver_one(row))
        return total

    def deliver_one(self, row: DeliveryRow) -> DeliverResult:
        result = DeliverResult()
        steps = self.store.steps(row.id)
        routing = row.routing
        if routing.action == FOLLOW_THREAD and not routing.zaak_url:
            routing = self._follow_thread(row, steps, result)
            if routing is None:
                return result
        sink = self.sinks.get(row.sink)
        if sink is None:
            failure = Failure(CONFIGURATION, f"sink {row.sink!r} is not configured")
            self.store.mark_failed(row.id, failure, states.RETRY_WAIT, utcnow() + timedelta(minutes=5),
                                   count_attempt=False)
            result.retrying += 1
            return result
        try:
            delivered = sink.deliver(row.message, routing, steps)
        except Failed as exc:
            return self._failed(row, exc.failure, result)
        except Exception as exc:  # a bug: keep the message, retry later, tell the operator
            log.exception("delivery %s crashed", row.id)
            return self._failed(row, Failure("retry", f"internal error in sink: {type(exc).__name__}: {exc}"), result)
        self.store.mark_delivered(row.id, delivered.zaak_url, delivered.zaak_identificatie,
                                  [vars(d) for d in delivered.documents])
        result.delivered += 1
        return result

    def _follow_thread(self, row: DeliveryRow, steps, result: DeliverResult) -> Routing | None:
        """The routing with the parent's zaak filled in, or ``None`` when the delivery is parked."""
        saved = steps.get("thread")
        if saved:
            return row.routing.evolve(zaak_url=saved["zaak_url"])
        parent = row.message.in_reply_to
        state, zaak_url = self.store.thread_zaak(row.message.channel, parent, row.sink) if parent else (None, None)
        if zaak_url:
            steps.save("thread", {"parent": parent, "zaak_url": zaak_url})
            return row.routing.evolve(zaak_url=zaak_url)
        if state in (states.PENDING, states.IN_PROGRESS, states.RETRY_WAIT, states.WAITING):
            self.store.mark_waiting(row.id, f"waiting for parent message {parent} to be delivered",
                                    utcnow() + PARENT_WAIT)
            result.waiting += 1
            return None
        fallback = row.routing.fallback or Routing(
            HOLD, rule=row.routing.rule, source=row.routing.source,
            reason=f"replies to {parent or 'nothing'}, which has no zaak, and the rule has no 'otherwise'")
        if fallback.action == FOLLOW_THREAD:  # the rules module refuses this; belt and braces
            fallback = fallback.evolve(action=HOLD, reason="a follow_thread fallback cannot follow the thread")
        if not fallback.delivers:
            new_state = states.IGNORED if fallback.action == IGNORE else states.HELD
            self.store.reroute(row.id, fallback, new_state)
            result.held += 1
            return None
        return fallback

    def _failed(self, row: DeliveryRow, failure: Failure, result: DeliverResult) -> DeliverResult:
        settings = self.config.delivery
        result.errors.append(f"delivery {row.id}: {failure.message}")
        if failure.verdict == PERMANENT:
            self.store.mark_failed(row.id, failure, states.FAILED)
            result.failed += 1
            return result
        configuration = failure.verdict == CONFIGURATION
        attempts = row.attempts + (0 if configuration else 1)
        if attempts >= settings["max_attempts"]:
            self.store.mark_failed(row.id, failure, states.FAILED)
            result.failed += 1
            return result
        delay = min(settings["backoff_max"], settings["backoff_base"] * (2 ** max(attempts - 1, 0)))
        delay = delay * (0.5 + random.random() / 2)  # full jitter on the upper half
        retry_at = utcnow() + timedelta(seconds=delay)
        if failure.retry_at and failure.retry_at > retry_at:
            retry_at = failure.retry_at
        self.store.mark_failed(row.id, failure, states.RETRY_WAIT, retry_at, count_attempt=not configuration)
        result.retrying += 1
        return result

    # -- one cycle ------------------------------------------------------------------------

    def drain(self) -> DeliverResult:
        """Deliver batches until nothing is due right now (retries and waits are due later)."""
        total = DeliverResult()
        while not self.stopping.is_set():
            batch = self.deliver_due()
            total.add(batch)
            if not (batch.delivered or batch.held):
                break
        return total

    def run_once(self) -> tuple[list[PollResult], DeliverResult]:
        """Poll every channel once, then deliver until nothing is due now."""
        polls = [self.poll(name) for name in self.sources]
        return polls, self.drain()

    def close(self) -> None:
        self.store.close()
