"""Prometheus metrics computed from the store at scrape time (``GET /metrics``, :mod:`connector.web.metrics`).

Why a collector and no counters in memory: the worker and ``connector serve`` are separate processes (and
there may be several workers), so a counter the web app increments would only count what the web app
does. The store is where every process writes what happened, so :class:`StoreCollector` reads it at each
scrape and every web process, however many, reports the same numbers.

Every read is bounded and indexed, so a scrape costs about the same with 100,000 messages stored as with
ten (``bench/pages.py``: the ``metrics`` line):

* The counters (``*_total``) count rows of the two tables that are only ever appended to, ``messages``
  and ``events`` (the audit trail). The collector keeps a tally per process and reads only the rows
  added since its previous scrape (a range of ``id``); its first scrape reads each counted kind of event
  once through the ``events(kind, at)`` index. Numbers never go down, as Prometheus expects of a counter.
* The gauges read small tables (channels, sinks, workers) or indexes: the backlog per sink and state is
  the ``deliveries(state, sink)`` index alone; the oldest undelivered one reads the backlog's rows only.
* The latency histogram is taken over the newest :data:`~connector.store.charts.LATENCY_SAMPLE`
  deliveries, as the dashboard does (:mod:`connector.store.charts`): it is a picture of recent
  deliveries, not a running total, so its buckets may go down; use it as a gauge, not with ``rate()``.

The same collector reads a SQLite and a PostgreSQL store (issue 13): the few fragments that differ (a JSON
member, the seconds between two timestamps) come from the store's dialect (``store.db.dialect``,
:mod:`connector.store.backend`). SQLite's query plans are kept as measured: its unary ``+`` (``+id``,
``+kind``) stops SQLite's planner from taking an index that would read more; PostgreSQL's planner needs no
such hint (and has no unary ``+`` on text), so :func:`_hint` drops it there.
"""
from __future__ import annotations

import threading
from collections import Counter
from typing import Iterator

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                    InfoMetricFamily, Metric)
from prometheus_client.registry import Collector

from . import states
from .message import parse_iso, utcnow
from .store.charts import LATENCY_SAMPLE

#: the upper bounds (seconds) of the latency histogram: a minute to a week
LATENCY_BUCKETS = (60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0, 259200.0, 604800.0)
#: the states of a delivery still on its way (held, ignored and dead wait for a person, not for the connector)
BACKLOG = (states.PENDING, states.IN_PROGRESS, states.RETRY_WAIT, states.WAITING)
#: the events the counters count. A failed attempt's verdict is in its detail; one with the verdict
#: ``configuration`` puts the delivery back to pending, among the many ``delivery.pending`` events of new
#: deliveries, but it always pauses the sink (``sink.paused``, reason ``configuration: ...``), once: so those
#: are counted as the failures with that verdict, and the pending events need not be read
FAILED = ("delivery.retry_wait", "delivery.dead")
COUNTED = ("delivery.delivered", *FAILED, "channel.error", "sink.paused")
CHANNEL_PAUSES = ("rate_limited", "backoff")
SINK_PAUSES = ("configuration", "rate_limited", "outage")

# one row per (kind, channel, sink, verdict) of the counted events in a range of ids: a failure's verdict
# from its detail; for a sink's pause, the start of its reason (enough for sink_pause_reason, few values)
_EVENT_TALLY = (
    "select kind, coalesce(channel, '') as channel, coalesce(sink, '') as sink,"
    " case kind when 'delivery.delivered' then null"
    " when 'sink.paused' then substr({reason}, 1, 13)"
    " else {verdict} end as verdict, count(*) as n"
    " from events where {where} group by 1, 2, 3, 4")


def _event_tally(dialect, where: str) -> str:
    """:data:`_EVENT_TALLY` in ``dialect`` for the rows ``where`` selects."""
    return _EVENT_TALLY.format(where=where, reason=dialect.json_text("detail_json", "reason"),
                               verdict=dialect.json_text("detail_json", "verdict"))


def _hint(dialect, column: str) -> str:
    """``column`` with SQLite's unary ``+`` (use no index for it: the plan measured best there); as it is on
    PostgreSQL, whose planner chooses by its statistics (and which has no ``+`` for text)."""
    return f"+{column}" if dialect.name == "sqlite" else column


class StoreCollector(Collector):
    """The connector's metrics, read from ``store`` at each :meth:`collect` (see the module docstring).

    ``config`` gives the configured channels and sinks (so a series exists from the start, at 0) and
    ``limits.worker_stale_after``; ``version`` goes into ``connector_info``. One instance per web app:
    its tallies of the append-only tables are shared by the app's threads, under a lock.
    """

    def __init__(self, store, config, version: str):
        self.store = store
        self.config = config
        self.version = version
        self._lock = threading.Lock()
        self._messages_seen = 0
        self._messages: Counter = Counter()
        self._events_seen = 0
        self._events: Counter = Counter()

    def describe(self) -> list:
        return []  # registering must not read the store; the names are only known by collecting

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self._lock:
            messages, events = self._tally_messages(), self._tally_events()
        yield from self._counters(messages, events)
        yield from self._deliveries(now)
        yield self._latency()
        yield from self._channels(now)
        yield self._sinks(now)
        yield from self._workers(now)
        info = InfoMetricFamily("connector", "The connector's version (the web app's).")
        info.add_metric([], {"version": self.version})
        yield info

    # -- the append-only tables, counted incrementally --------------------------------------------

    def _tally_messages(self) -> Counter:
        top = self.store.query("select coalesce(max(id), 0) as top from messages")[0]["top"]
        if top < self._messages_seen:  # another (restored) database: count again
            self._messages_seen, self._messages = 0, Counter()
        if top > self._messages_seen:
            # the first time through the covering (channel, ...) index ("+id": not the table by rowid)
            where = f"{_hint(self.store.db.dialect, 'id')} <= ?" if not self._messages_seen else "id > ? and id <= ?"
            params = [top] if not self._messages_seen else [self._messages_seen, top]
            for row in self.store.query(f"select channel, count(*) as n from messages where {where}"
                                        " group by channel", params):
                self._messages[row["channel"]] += row["n"]
            self._messages_seen = top
        return self._messages

    def _tally_events(self) -> Counter:
        top = self.store.query("select coalesce(max(id), 0) as top from events")[0]["top"]
        if top < self._events_seen:
            self._events_seen, self._events = 0, Counter()
        if top > self._events_seen:
            dialect = self.store.db.dialect
            if not self._events_seen:  # each counted kind through the events(kind, at) index
                rows = []
                for kind in COUNTED:
                    rows += self.store.query(_event_tally(dialect, "kind = ? and id <= ?"), [kind, top])
            else:  # only what was added since: a range of ids ("+kind": not the kind index)
                marks = ", ".join("?" for _ in COUNTED)
                where = f"id > ? and id <= ? and {_hint(dialect, 'kind')} in ({marks})"
                rows = self.store.query(_event_tally(dialect, where), [self._events_seen, top, *COUNTED])
            for row in rows:
                self._events[(row["kind"], row["channel"], row["sink"], row["verdict"])] += row["n"]
            self._events_seen = top
        return self._events

    def _counters(self, messages: Counter, events: Counter) -> Iterator[Metric]:
        channels = [c.name for c in self.config.channels]
        sinks = [s.name for s in self.config.sinks]
        fetched = CounterMetricFamily("connector_messages_fetched", "Messages stored, per channel (every version"
                                      " of an edited message counts).", labels=["channel"])
        for channel in sorted(set(channels) | set(messages)):
            fetched.add_metric([channel], messages.get(channel, 0))
        yield fetched
        delivered = Counter({sink: 0 for sink in sinks})
        failed: Counter = Counter()
        rate_limits = Counter({channel: 0 for channel in channels})
        poll_failures: Counter = Counter()
        sink_pauses: Counter = Counter()
        for (kind, channel, sink, verdict), n in events.items():
            if kind == "delivery.delivered":
                delivered[sink] += n
            elif kind in FAILED and verdict:
                failed[(sink, verdict)] += n
            elif kind == "channel.error":
                poll_failures[(channel, verdict or "unknown")] += n
                if verdict == "rate_limited":
                    rate_limits[channel] += n
            elif kind == "sink.paused":
                reason = sink_pause_reason(verdict)
                sink_pauses[(sink, reason)] += n
                if reason == "configuration":
                    failed[(sink, "configuration")] += n
        yield _counter("connector_documents_delivered", "Deliveries that reached their sink, per sink (a"
                       " delivery requeued and delivered again counts again).", ["sink"],
                       {(sink,): n for sink, n in delivered.items()})
        yield _counter("connector_deliveries_failed", "Failed delivery attempts, per sink and verdict (permanent,"
                       " retry, rate_limited, configuration).", ["sink", "verdict"], failed)
        yield _counter("connector_rate_limit_pauses", "Polls of a channel that the platform rate limited (the"
                       " channel then pauses until the platform's reset).", ["channel"],
                       {(channel,): n for channel, n in rate_limits.items()})
        yield _counter("connector_poll_failures", "Failed polls, per channel and verdict.", ["channel", "verdict"],
                       poll_failures)
        yield _counter("connector_sink_pauses", "Pauses of a sink, per reason (configuration, rate_limited,"
                       " outage: too many transient failures in a row).", ["sink", "reason"], sink_pauses)

    # -- gauges ---------------------------------------------------------------------------------

    def _deliveries(self, now) -> Iterator[Metric]:
        backlog = GaugeMetricFamily("connector_deliveries", "Deliveries per sink and state now.",
                                    labels=["sink", "state"])
        counts = {(s.name, state): 0 for s in self.config.sinks for state in states.STATES}
        for row in self.store.query("select sink, state, count(*) as n from deliveries group by state, sink"):
            counts[(row["sink"], row["state"])] = row["n"]
        for (sink, state), n in sorted(counts.items()):
            backlog.add_metric([sink, state], n)
        yield backlog
        marks = ", ".join("?" for _ in BACKLOG)
        oldest = self.store.query(f"select min(created_at) as at from deliveries where state in ({marks})",
                                  list(BACKLOG))[0]["at"]
        yield GaugeMetricFamily("connector_oldest_undelivered_seconds", "Age of the oldest delivery still on its"
                                " way (pending, in_progress, retry_wait or waiting) since it was stored; 0 when"
                                " none is.", value=_age(oldest, now) if oldest else 0.0)

    def _latency(self) -> Metric:
        rows = self.store.query(
            f"select {self.store.db.dialect.seconds_between('e.at', 'm.created_at')} as seconds"
            " from (select at, message_id from events where kind = 'delivery.delivered' order by at desc limit ?) e"
            " join messages m on m.id = e.message_id", [LATENCY_SAMPLE])
        seconds = [max(row["seconds"] or 0.0, 0.0) for row in rows]
        buckets = [(repr(bound), sum(1 for s in seconds if s <= bound)) for bound in LATENCY_BUCKETS]
        return HistogramMetricFamily(
            "connector_delivery_latency_seconds", f"Time from a message's publication on the platform to its"
            f" delivery, over the newest {LATENCY_SAMPLE} deliveries (a sample, as on the dashboard: it can go"
            f" down; not for rate()).", buckets=buckets + [("+Inf", len(seconds))], sum_value=sum(seconds))

    def _channels(self, now) -> Iterator[Metric]:
        rows = {row["name"]: row for row in self.store.query(
            "select name, paused_until, paused_reason, last_success_at, last_poll_seconds from channels")}
        paused = GaugeMetricFamily("connector_channel_paused", "1 while a channel is paused, by reason:"
                                   " rate_limited (until the platform's reset) or backoff (after failed polls).",
                                   labels=["channel", "reason"])
        duration = GaugeMetricFamily("connector_poll_duration_seconds", "How long the channel's last poll took.",
                                     labels=["channel"])
        success = GaugeMetricFamily("connector_last_successful_poll_timestamp_seconds", "When the channel was"
                                    " last polled without an error (Unix time).", labels=["channel"])
        for channel in self.config.channels:
            row = rows.get(channel.name, {})
            until = row.get("paused_until")
            now_paused = bool(until) and parse_iso(until) > now
            reason = "rate_limited" if row.get("paused_reason") == "rate_limited" else "backoff"
            for label in CHANNEL_PAUSES:
                paused.add_metric([channel.name, label], 1.0 if now_paused and label == reason else 0.0)
            if row.get("last_poll_seconds") is not None:
                duration.add_metric([channel.name], max(row["last_poll_seconds"], 0.0))
            if row.get("last_success_at"):
                success.add_metric([channel.name], parse_iso(row["last_success_at"]).timestamp())
        yield from (paused, duration, success)

    def _sinks(self, now) -> Metric:
        rows = {row["name"]: row for row in self.store.query("select name, paused_until, paused_reason from sinks")}
        paused = GaugeMetricFamily("connector_sink_paused", "1 while a sink is paused, by reason: configuration,"
                                   " rate_limited or outage.", labels=["sink", "reason"])
        for sink in self.config.sinks:
            row = rows.get(sink.name, {})
            until = row.get("paused_until")
            reason = sink_pause_reason(row.get("paused_reason")) if until and parse_iso(until) > now else None
            for label in SINK_PAUSES:
                paused.add_metric([sink.name, label], 1.0 if label == reason else 0.0)
        return paused

    def _workers(self, now) -> Iterator[Metric]:
        beat = self.store.query("select max(beat_at) as at from workers where stopped_at is null")[0]["at"]
        stale_after = self.config.limits["worker_stale_after"] or 86400.0  # 0: any worker that has not stopped
        age = _age(beat, now) if beat else None
        yield GaugeMetricFamily("connector_worker_up", f"1 when a worker has beaten within"
                                f" limits.worker_stale_after ({stale_after:g} s), as /healthz checks.",
                                value=1.0 if age is not None and age <= stale_after else 0.0)
        age_family = GaugeMetricFamily("connector_worker_heartbeat_age_seconds", "Seconds since the most recent"
                                       " beat of a worker that has not stopped (absent when there is none).")
        if age is not None:
            age_family.add_metric([], age)
        yield age_family


def sink_pause_reason(text: str | None) -> str:
    """The kind of a sink's pause from the reason the engine wrote (:meth:`connector.engine.Connector._failed`)."""
    text = text or ""
    if text.startswith("configuration"):
        return "configuration"
    return "rate_limited" if text.startswith("rate limited") else "outage"


def _counter(name: str, documentation: str, labels: list[str], values: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    for key, n in sorted(values.items()):
        family.add_metric(list(key), n)
    return family


def _age(at: str, now) -> float:
    return max((now - parse_iso(at)).total_seconds(), 0.0)


__all__ = ["LATENCY_BUCKETS", "StoreCollector", "sink_pause_reason"]
