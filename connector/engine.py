"""The connector at work: poll channels into the outbox, deliver the outbox into sinks.

:class:`Connector` is built from a validated :class:`~connector.config.Config`. The scheduler
(``connector worker``), ``connector run --once``, the demo and the tests all drive it through
:meth:`Connector.poll`, :meth:`Connector.deliver_due`, :meth:`Connector.drain` and
:meth:`Connector.run_once`.

Polling: each page a source yields is routed by the current mapping rules and saved, with its
deliveries and the channel's new cursor, in one transaction (:meth:`Store.save_page`), one
delivery per target sink (:mod:`connector.fanout`; held and ignored messages too), each on its own. A
rate-limited channel pauses until the platform's reset; other failures back off exponentially
(poll interval x 2^failures, at most an hour); other channels carry on.
Several workers on one store poll a channel one at a time: a poll runs under the channel's lease
(:mod:`connector.leases`), renewed page by page, and is skipped while another worker holds it.

Delivering (:mod:`connector.dispatch`): due deliveries are claimed oldest message first, only into
a sink's free slots (``parallel``), under a short lease renewed while they are worked on. Only what
must wait runs in order: the versions of a message that creates a zaak (made once), and a reply
after its parent when the parent is in hand or has no zaak yet; documents into an existing zaak go
at once. ``follow_thread`` routings look up the parent's zaak; when the parent is still on its way
the reply waits, when it has no zaak the rule's fallback applies. What a sink gets is the stored message
with its media (fetched once, :mod:`connector.media.stage`) and, for a reply, the newest stored version of
its parent (``Message.parent``, quoted in the record's PDF/A rendition; absent when it is not stored).

Failures by verdict:

``permanent``      the delivery is dead at once (an admin requeues it after a fix).
``retry``          retry_wait with exponential backoff and jitter until ``max_attempts``, then dead;
                   after ``breaker_threshold`` consecutive ones the whole sink pauses briefly (an
                   outage), so waiting messages do not spend their attempts meanwhile.
``rate_limited``   retry_wait at the server's ``retry_at``; the sink pauses until then.
``configuration``  the sink pauses (doubling up to ``pause_max``) and the delivery goes back to
                   pending without spending an attempt: an operator must act, status says so.
"""
from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import http, states, threads
from .capture import CaptureLog
from .config import Config
from .failures import CONFIGURATION, PERMANENT, RATE_LIMITED, RETRY, Failed, Failure
from .dispatch import DeliverResult, Dispatcher
from .fanout import plan_routing, targets
from .leases import ChannelLease, worker_id
from .logs import about, about_delivery
from .media.stage import MediaStage
from .message import utcnow
from .notices import deliver_notices
from .registry import SINKS, SOURCES
from .routing import CREATE, FOLLOW_THREAD, HOLD, IGNORE, Routing
from .rulesholder import RulesHolder
from .store import DeliveryPlan, DeliveryRow, Store

log = logging.getLogger(__name__)

CHANNEL_BACKOFF_MAX = 3600.0


@dataclass
class PollResult:
    channel: str
    pages: int = 0
    new: int = 0
    duplicates: int = 0
    quarantined: int = 0
    deleted: int = 0
    error: Failure | None = None
    skipped: str = ""


class Connector:
    def __init__(self, config: Config, store: Store | None = None, rules: RulesHolder | None = None):
        sources, sinks = SOURCES.load(), SINKS.load()
        self.config = config
        limits = config.limits
        http.set_defaults(timeout=limits["call_timeout"], deadline=limits["call_deadline"],
                          max_body=limits["max_response_bytes"])
        # everything that can refuse the configuration comes before the store is opened, so a
        # broken mapping file or option leaves the previous state untouched
        folder = config.capture_folder  # the capture log: every exchange with a platform into WARC files
        self.capture = CaptureLog(folder, config.capture["max_file_bytes"], config.capture["operator"]) \
            if folder is not None else None
        self.sources = {c.name: sources.get_class(c.kind)(c.name, c.options, session=http.Session(
            capture=self.capture, capture_label=c.name)) for c in config.channels if c.enabled}
        self.sinks = {s.name: sinks.get_class(s.kind)(s.name, s.options) for s in config.sinks}
        self.rules = rules or RulesHolder(config.mappings, sink_names=[s.name for s in config.sinks],
                                          sinks=self.sinks, sink_configs=config.sinks)
        self.store = store or Store.for_config(config)
        # each message's media, fetched once before its first delivery (connector.media.stage)
        self._trusted = tuple(config.media.get("trusted_networks") or ())
        self._policies: dict[str, object] = {}
        self.media = MediaStage(self.store, config.media_folder, self._media_policy,
                                max_attempts=config.media.get("max_attempts", 4))
        self.stopping = threading.Event()
        self.worker_id = worker_id()  # on its channel leases and claimed deliveries (connector.leases)
        # each sink's slots: claims fit them, a slow sink delays no other (connector.dispatch)
        self.dispatcher = Dispatcher(self.store, {s.name: s.parallel for s in config.sinks},
                                     self._deliver_checked, self.stopping, worker=self.worker_id)
        # what the worker is doing right now, for its heartbeat: channel -> poll start, "deliver" -> start
        self.activity: dict[str, str] = {}
        self.store.register({c.name: c.kind for c in config.channels}, {s.name: s.kind for s in config.sinks})
        self.siblings = threads.siblings(config.channels)


    # -- ingest -------------------------------------------------------------------------

    def plan(self, message) -> list[DeliveryPlan]:
        """One delivery per target sink (:mod:`connector.fanout`), each with its own routing and state;
        a routing one sink cannot take (its ``validate_routing``) is held for that sink only."""
        routing = self.rules.current().resolve(message)
        plans = []
        for sink in targets(routing.sinks, self.config.sinks):
            own = plan_routing(routing, self.sinks.get(sink))
            state = {HOLD: states.HELD, IGNORE: states.IGNORED}.get(own.action, states.PENDING)
            if state != states.PENDING:  # also in the audit trail; the log line is for the operator watching
                log.info("%s/%s to %s %s by rule %s (%s): %s", message.channel, message.id, sink, state, own.rule,
                         own.source, own.reason, extra=about(message, sink=sink))
            plans.append(DeliveryPlan(sink=sink, routing=own, state=state))
        return plans

    def poll(self, channel: str, now: datetime | None = None) -> PollResult:
        """Fetch what is new on one channel and store it, under the channel's lease (:mod:`connector.leases`:
        skipped while another worker polls it). Never raises for channel trouble."""
        result = PollResult(channel)
        lease = ChannelLease(self.store, channel, self.worker_id, self.config.limits["channel_lease"],
                             silent_after=self.config.limits["worker_stale_after"])
        holder = lease.take()  # before the pause and the cursor are read: what the last holder wrote counts
        if holder is not None:
            result.skipped = f"polled by worker {holder}"
            return result
        try:
            return self._poll(channel, now or utcnow(), result, lease)
        finally:
            lease.release()

    def _poll(self, channel: str, now: datetime, result: PollResult, lease: ChannelLease) -> PollResult:
        paused = self.store.channel_paused_until(channel)
        if paused and paused > now:
            result.skipped = f"paused until {paused.isoformat()}"
            return result
        self.rules.refresh()
        source = self.sources[channel]
        state = self.store.channel_state(channel)
        self.store.poll_started(channel)
        self.activity[f"poll:{channel}"] = now.isoformat()
        deadline = time.monotonic() + self.config.limits["poll_deadline"]
        try:
            for page in source.poll(state):
                if not lease.renew():  # it ran out and another worker polls now: the cursor is its to move
                    result.skipped = "lease lost: another worker took the channel over"
                    log.warning("channel %s: %s; this poll stops unsaved", channel, result.skipped,
                                extra=about(channel=channel))
                    break
                saved = self.store.save_page(channel, [(m, self.plan(m)) for m in page.messages],
                                             page.state, page.quarantined, page.deletions)
                result.pages += 1
                result.deleted += saved.deleted
                result.new += len(saved.new)
                result.duplicates += saved.duplicates
                result.quarantined += saved.quarantined
                if self.stopping.is_set():
                    break
                if time.monotonic() > deadline:  # the cursor is saved per page: the next poll goes on
                    log.info("channel %s: poll_deadline reached after %d page(s); continuing next poll",
                             channel, result.pages, extra=about(channel=channel))
                    break
        except Failed as exc:
            result.error = exc.failure
        except Exception as exc:  # a bug in a source must not stop the other channels
            log.exception("channel %s crashed", channel, extra=about(channel=channel))
            result.error = Failure(RETRY, f"internal error in source: {type(exc).__name__}: {exc}")
        finally:
            self.activity.pop(f"poll:{channel}", None)
        if result.skipped:
            return result
        if result.error is None:
            self.store.record_poll(channel)
            return result
        until, reason = self._channel_pause(channel, result.error, now)
        self.store.record_poll(channel, result.error, paused_until=until, paused_reason=reason)
        if result.error.verdict == CONFIGURATION:
            log.error("channel %s: %s; polling again at %s. Check the channel's options (URL, account,"
                      " token) in the configuration", channel, result.error.message, until.isoformat(),
                      extra=about(channel=channel))
        else:
            log.warning("channel %s: %s (%s until %s)", channel, result.error.message, reason, until.isoformat(),
                        extra=about(channel=channel))
        return result

    def _channel_pause(self, channel: str, failure: Failure, now: datetime) -> tuple[datetime, str]:
        if failure.verdict == RATE_LIMITED and failure.retry_at:
            return failure.retry_at, "rate_limited"
        failures = self.store.channel_failures(channel) + 1
        interval = next(c.poll_interval for c in self.config.channels if c.name == channel)
        delay = min(CHANNEL_BACKOFF_MAX, interval * 2 ** failures)
        if failure.retry_at and failure.retry_at > now + timedelta(seconds=delay):
            return failure.retry_at, "rate_limited" if failure.verdict == RATE_LIMITED else "backoff"
        return now + timedelta(seconds=delay), f"backoff after {failures} failed poll(s)"

    # -- delivery -----------------------------------------------------------------------

    def deliver_due(self, limit: int | None = None, now: datetime | None = None) -> DeliverResult:
        """One delivery run (:mod:`connector.dispatch`): up to ``limit`` (default ``batch_size``) due
        deliveries, claimed only into free slots, in parallel per sink where configured."""
        settings = self.config.delivery
        self.activity["deliver"] = utcnow().isoformat()
        try:
            return self.dispatcher.run(limit or settings["batch_size"], settings["lease"], now)
        finally:
            self.activity.pop("deliver", None)

    def _deliver_checked(self, row: DeliveryRow, now: datetime | None = None) -> DeliverResult:
        """Deliver ``row``, or give it back untouched when shutting down or its sink paused meanwhile."""
        paused, reason = self.store.sink_pause(row.sink)
        if self.stopping.is_set() or (paused and paused > (now or utcnow())):
            self.store.release(row.id, "shutting down" if self.stopping.is_set() else f"sink paused: {reason}")
            return DeliverResult(released=1)
        return self.deliver_one(row, now)

    def deliver_one(self, row: DeliveryRow, now: datetime | None = None) -> DeliverResult:
        result = DeliverResult()
        steps = self.store.steps(row.id)
        routing = row.routing
        if routing.action == FOLLOW_THREAD and not routing.zaak_url:
            routing = self._follow_thread(row, steps, result)
            if routing is None:
                return result
        sink = self.sinks.get(row.sink)
        if sink is None:
            return self._failed(row, Failure(CONFIGURATION, f"sink {row.sink!r} is not configured"), result)
        message = self._with_media(row, result, now)
        if message is None:
            return result
        message = self._with_parent(row, message, result)
        if message is None:
            return result
        routing = self._among_versions(row, routing)
        try:
            delivered = sink.deliver(message, routing, steps)
        except Failed as exc:
            return self._failed(row, exc.failure, result)
        except (OverflowError, UnicodeError) as exc:  # the message itself cannot be represented: retrying won't help
            log.exception("delivery %s: the message cannot be represented", row.id, extra=about_delivery(row))
            return self._failed(row, Failure(PERMANENT, f"the message cannot be represented for this sink:"
                                                        f" {type(exc).__name__}: {exc}"), result)
        except Exception as exc:  # a bug (or our disk): keep the message, retry later, tell the operator
            log.exception("delivery %s crashed", row.id, extra=about_delivery(row))
            # not an outage: one crashing message must not pause the sink for every other one
            return self._failed(row, Failure(RETRY, f"internal error in sink: {type(exc).__name__}: {exc}"), result,
                                trips_breaker=False)
        self.store.mark_delivered(row.id, delivered.zaak_url, delivered.zaak_identificatie,
                                  [vars(d) for d in delivered.documents])
        result.delivered += 1  # (mark_delivered also ended the sink's failure streak and pause doubling)
        return result

    def _among_versions(self, row: DeliveryRow, routing: Routing) -> Routing:
        """The routing as the message's other versions at this sink require: an edit routed to
        create a zaak goes into the zaak an earlier version went into (one case per message, in
        every sink); a version that arrives after a newer one was delivered (an admin requeued it)
        is archived beside it (``late_version``), so the newer stays the newest and nothing is lost."""
        if not routing.delivers:
            return routing
        others = self.store.other_versions(row.message_id, row.sink)
        if routing.action == CREATE and not routing.zaak_url and others["zaak_url"]:
            routing = routing.evolve(zaak_url=others["zaak_url"])
        return routing.evolve(late_version=True) if others["newer_delivered"] else routing

    def _with_media(self, row: DeliveryRow, result: DeliverResult, now: datetime | None = None):
        """The message with its media fetched or recorded missing (:mod:`connector.media.stage`), or
        ``None`` when the delivery waits for a medium's retry (no attempt spent) or the step failed."""
        try:
            prepared = self.media.prepare(row.message_id, row.message, now)
        except Exception as exc:  # a bug or our disk: keep the message, retry later, say so
            log.exception("delivery %s: preparing its media failed", row.id, extra=about_delivery(row))
            self._failed(row, Failure(RETRY, f"internal error while fetching media: {type(exc).__name__}: {exc}"),
                         result, trips_breaker=False)
            return None
        if prepared.retry_at is not None:
            self.store.mark_waiting(row.id, f"waiting for {prepared.waiting_for}", prepared.retry_at)
            result.waiting += 1
            return None
        return dataclasses.replace(row.message, media=prepared.items) if prepared.items else row.message

    def _with_parent(self, row: DeliveryRow, message, result: DeliverResult):
        """The message with the one it replies to (its newest stored version) for the record's rendition,
        or as it is when that is not stored; ``None`` when looking it up failed (retried later)."""
        if not message.in_reply_to:
            return message
        try:
            parent = self.store.message_by_platform_id(message.channel, message.in_reply_to)
        except Exception as exc:  # a bug or our disk: keep the message, retry later, say so
            log.exception("delivery %s: looking up its parent message failed", row.id, extra=about_delivery(row))
            self._failed(row, Failure(RETRY, f"internal error while looking up the parent message:"
                                             f" {type(exc).__name__}: {exc}"), result, trips_breaker=False)
            return None
        return dataclasses.replace(message, parent=parent) if parent is not None else message

    def _media_policy(self, channel: str):
        """The channel's media policy (``None``: the channel fetches no media), worked out once."""
        if channel not in self._policies:
            source = self.sources.get(channel)
            self._policies[channel] = source.media_policy(trusted_networks=self._trusted) if source else None
        return self._policies[channel]

    def _follow_thread(self, row: DeliveryRow, steps, result: DeliverResult) -> Routing | None:
        """The routing with the parent's zaak filled in, or ``None`` when the delivery is parked."""
        return threads.follow_thread(self, row, steps, result)

    def _failed(self, row: DeliveryRow, failure: Failure, result: DeliverResult,
                trips_breaker: bool = True) -> DeliverResult:
        settings = self.config.delivery
        result.errors.append(f"delivery {row.id}: {failure.message}")
        now = utcnow()
        if failure.verdict == PERMANENT:
            self.store.mark_failed(row.id, failure, states.DEAD)
            self._log_dead(row, failure, "the case system refused it")
            result.dead += 1
            return result
        if failure.verdict == CONFIGURATION:
            # nothing is wrong with this message: put it back and pause the sink until someone acts
            seconds = self.store.next_config_pause(row.sink, settings["pause_base"], settings["pause_max"])
            self.store.pause_sink(row.sink, now + timedelta(seconds=seconds), f"configuration: {failure.message}")
            log.error("sink %s paused for %d s: %s. Fix the sink's configuration (URLs, client_id, secret) or its"
                      " catalogue; deliveries wait without spending attempts and resume by themselves",
                      row.sink, seconds, failure.message, extra=about_delivery(row))
            self.store.mark_failed(row.id, failure, states.PENDING, now + timedelta(seconds=seconds),
                                   count_attempt=False)
            result.released += 1
            return result
        attempts = row.attempts + 1
        if attempts >= settings["max_attempts"]:
            self.store.mark_failed(row.id, failure, states.DEAD)
            self._log_dead(row, failure, f"all {attempts} attempts failed")
            result.dead += 1
            return result
        delay = min(settings["backoff_max"], settings["backoff_base"] * (2 ** (attempts - 1)))
        delay = delay * (0.5 + random.random() / 2)  # jitter in the upper half
        retry_at = now + timedelta(seconds=delay)
        if failure.retry_at and failure.retry_at > retry_at:
            retry_at = failure.retry_at
        self.store.mark_failed(row.id, failure, states.RETRY_WAIT, retry_at)
        if trips_breaker:
            self._trip_breaker(row.sink, failure, now)
        result.retrying += 1
        return result

    @staticmethod
    def _log_dead(row: DeliveryRow, failure: Failure, why: str) -> None:
        log.error("delivery %s (%s/%s to %s) is dead, %s: %s. See 'connector deliveries list --state dead';"
                  " after fixing the cause: 'connector deliveries requeue %s'", row.id, row.message.channel,
                  row.message.id, row.sink, why, failure.message, row.id, extra=about_delivery(row))

    def _trip_breaker(self, sink: str, failure: Failure, now: datetime) -> None:
        """A 429, or several transient failures in a row, pause the sink: it is down or overloaded."""
        settings = self.config.delivery
        streak = self.store.sink_failed(sink)  # in the store: every worker on it sees one streak
        if failure.verdict == RATE_LIMITED:
            until = failure.retry_at or now + timedelta(seconds=settings["pause_base"])
            self.store.pause_sink(sink, until, f"rate limited: {failure.message}")
            log.warning("sink %s rate limited until %s: %s", sink, until.isoformat(), failure.message,
                        extra=about(sink=sink))
        elif streak >= settings["breaker_threshold"]:
            seconds = min(settings["pause_max"], settings["pause_base"] * 2 ** (streak - settings["breaker_threshold"]))
            self.store.pause_sink(sink, now + timedelta(seconds=seconds),
                                  f"{streak} failures in a row, last: {failure.message}")
            log.warning("sink %s paused for %d s after %d failures in a row (is it down?), last: %s",
                        sink, seconds, streak, failure.message, extra=about(sink=sink))

    # -- one cycle ------------------------------------------------------------------------

    def drain(self) -> DeliverResult:
        """Deliver batches until nothing is due right now (retries and waits are due later)."""
        total = DeliverResult()
        deliver_notices(self)  # tell sinks about deletions first: one call each, bounded per run
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
        self.dispatcher.close()
        if self.capture is not None:
            self.capture.close()  # the open WARC file gets its final name
        self.store.close()
