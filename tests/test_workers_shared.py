"""Many workers on one store (issue 13): each channel polled by one worker at a time, who holds what, shared pauses.

Every test runs on SQLite and on PostgreSQL (``store_url``): two or three :class:`Connector` instances, each
with its own store connection and worker id, poll one replayed Mastodon channel and deliver into the archive
sink. What a worker fetched is counted at the double, what it stored in the store.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from connector.cli.status import status_lines
from connector.failures import RATE_LIMITED, RETRY, Failed, Failure
from connector.message import fixed_iso, utcnow
from connector.web.status_data import status_report
from connector.web.status_schemas import StatusSchema
from connector.worker import Heartbeat

from .mastodon_support import ids_oldest_first
from . import workers_support
from .workers_support import ARCHIVE, CHANNEL, blocking_pages, in_threads, page_key, statuses_requests

# the fixtures: connectors on one store (SQLite, then PostgreSQL), the Mastodon replay double
workers, store_url, pg_url, mastodon = (workers_support.workers, workers_support.store_url, workers_support.pg_url,
                                        workers_support.mastodon)

ALL = ids_oldest_first("schochastics")


def stored_ids(connector) -> list[str]:
    return [r["platform_id"] for r in connector.store.query("select platform_id from messages order by id")]


def lease_of(connector) -> dict:
    return connector.store.query("select lease_holder, lease_until from channels where name = ?", [CHANNEL])[0]


def test_workers_polling_at_once_fetch_every_page_once_and_store_every_post_once(workers, mastodon):
    double, _ = mastodon
    connectors = workers(3)
    blocking_pages(double, lambda n: time.sleep(0.02))  # a page takes a moment: the polls overlap
    results = []
    for _ in range(3):
        results += in_threads(*(lambda c=c: c.poll(CHANNEL) for c in connectors))
    assert all(r.error is None for r in results), [r.error for r in results]
    # every page fetched once: no min_id asked twice, but the final cursor's (a poll with nothing new each time;
    # the requests without min_id are each poll's re-read of the newest statuses for edits)
    watermark = connectors[0].store.channel_state(CHANNEL)["watermark"]
    pages = [page_key(r) for r in statuses_requests(double) if r["args"].get("min_id") not in (None, watermark)]
    assert len(pages) == len(ALL) // 4 and len(pages) == len(set(pages))
    # the cursor never skipped nor repeated: every post once, nothing stored twice
    assert sorted(stored_ids(connectors[0]), key=int) == ALL
    assert sum(r.new for r in results) == len(ALL) and sum(r.duplicates for r in results) == 0
    skipped = [r.skipped for r in results if r.skipped]
    assert all(s.startswith("polled by worker ") for s in skipped)
    assert lease_of(connectors[0])["lease_holder"] is None, "every poll gave its lease back"


def test_a_poll_while_another_worker_polls_is_skipped_naming_that_worker(workers, mastodon):
    double, _ = mastodon
    first, second, third = workers(3)
    polling, go_on = threading.Event(), threading.Event()
    blocking_pages(double, lambda n: (polling.set(), go_on.wait(30)) if n == 1 else None)
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(first.poll(CHANNEL)))
    thread.start()
    try:
        assert polling.wait(30)
        asked = len(double.requests)
        others = [second.poll(CHANNEL), third.poll(CHANNEL)]
        answered = len(double.requests)  # (a request is logged once answered: the first poll's is still held)
    finally:
        go_on.set()
        thread.join(60)
    assert [r.skipped for r in others] == [f"polled by worker {first.worker_id}"] * 2
    assert all(r.pages == 0 for r in others) and answered == asked, "the skipped ones asked the platform nothing"
    assert outcome[0].error is None and outcome[0].new == len(ALL)
    assert lease_of(first)["lease_holder"] is None
    after = second.poll(CHANNEL)  # the lease is free again: the next poll goes on from the cursor
    assert after.skipped == "" and after.new == 0 and after.duplicates == 0


def test_a_dead_workers_lease_runs_out_and_another_worker_takes_the_channel_over(workers):
    dead, alive = workers(2)
    assert dead.store.take_channel(CHANNEL, dead.worker_id, 900) == dead.worker_id
    assert alive.poll(CHANNEL).skipped == f"polled by worker {dead.worker_id}"
    assert stored_ids(alive) == []
    # it was killed an hour ago and never renewed: its lease ran out long since
    dead.store.take_channel(CHANNEL, dead.worker_id, 60, now=utcnow() - timedelta(hours=1))
    result = alive.poll(CHANNEL)
    assert result.skipped == "" and result.error is None and result.new == len(ALL)
    assert sorted(stored_ids(alive), key=int) == ALL
    assert not dead.store.renew_channel(CHANNEL, dead.worker_id, 60), "a worker that lost its lease learns it"


def test_a_worker_restarted_on_this_host_takes_its_dead_predecessors_lease_at_once(workers):
    """After a crash the next worker must not wait out channel_lease (15 minutes): on the same host it can see
    that the holder's process is gone -- another pid that no longer runs, or this very pid under an id this
    process never made (a container restarted as pid 1). A live holder, or another host's, keeps its lease."""
    import os
    import socket
    import subprocess
    import sys

    from connector.leases import gone

    alive = workers(1)[0]
    exited = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    for dead in (f"{host}:{exited.stdout.strip()}:a1b2c3d4", f"{host}:{os.getpid()}:00000000"):
        assert gone(dead)
        alive.store.take_channel(CHANNEL, dead, 900)  # fresh, far from running out
        result = alive.poll(CHANNEL)
        assert result.skipped == "" and result.error is None, dead
    assert not gone(alive.worker_id)  # this process's own
    assert not gone(f"{host}:1:00000000") or os.getpid() == 1  # pid 1 runs (init), unless that is us
    assert not gone(f"another-host.example:{exited.stdout.strip()}:a1b2c3d4")  # only this host can tell
    for odd in (None, "", "no-colon", f"{host}:not-a-pid:x"):
        assert not gone(odd)
    held_by_other_host = "another-host.example:4242:a1b2c3d4"
    alive.store.take_channel(CHANNEL, held_by_other_host, 900)
    assert alive.poll(CHANNEL).skipped == f"polled by worker {held_by_other_host}"


def test_another_hosts_worker_that_stopped_beating_loses_its_lease_before_it_runs_out(workers):
    """No host can see another host's processes, but every worker sees the heartbeats in the store: a holder
    whose beat is older than limits.worker_stale_after (2 minutes) is dead, whatever its lease says."""
    alive = workers(1)[0]
    other = "another-host.example:4242:a1b2c3d4"
    alive.store.worker_beat(other, host="another-host.example", pid=4242, started_at=utcnow())
    alive.store.take_channel(CHANNEL, other, 900)
    assert alive.poll(CHANNEL).skipped == f"polled by worker {other}", "a holder that beats keeps its lease"
    stale = utcnow() - timedelta(seconds=alive.config.limits["worker_stale_after"] + 5)
    alive.store.db.execute("update workers set beat_at = ? where id = ?", [fixed_iso(stale), other])
    assert not alive.store.worker_silent(other, alive.config.limits["worker_stale_after"] + 60)
    result = alive.poll(CHANNEL)
    assert result.skipped == "" and result.error is None and result.new == len(ALL)
    assert sorted(stored_ids(alive), key=int) == ALL
    assert not alive.store.renew_channel(CHANNEL, other, 900), "the silent worker, waking, finds it taken"
    assert alive.store.worker_silent(other, 60) and not alive.store.worker_silent("never-beat:1:x", 60)


def test_a_poll_whose_lease_was_taken_over_stops_without_saving_and_nothing_is_lost(workers, mastodon):
    double, _ = mastodon
    slow, other = workers(2)

    def on_page(n):
        if n == 2:  # slow stalled past its lease; other took the channel over (an hour later, to the store)
            assert other.store.take_channel(CHANNEL, other.worker_id, 900, now=utcnow() + timedelta(hours=1)) \
                == other.worker_id

    blocking_pages(double, on_page)
    result = slow.poll(CHANNEL)
    assert result.skipped.startswith("lease lost") and result.pages == 1
    assert len(stored_ids(slow)) == result.new > 0
    assert lease_of(slow)["lease_holder"] == other.worker_id, "the loser leaves the new holder's lease alone"
    taken = other.poll(CHANNEL)  # its own lease: it goes on from the cursor the first page left
    assert taken.error is None and taken.duplicates == 0
    assert sorted(stored_ids(other), key=int) == ALL


def test_the_status_lists_the_live_workers_with_the_channels_and_deliveries_each_holds(workers, monkeypatch):
    poller, deliverer = workers(2)
    assert poller.poll(CHANNEL).new == len(ALL)
    for connector in (poller, deliverer):
        Heartbeat(connector).beat()
    poller.store.take_channel(CHANNEL, poller.worker_id, 900)  # polling again right now
    seen = []
    sink = deliverer.sinks[ARCHIVE]
    original = sink.deliver

    def deliver(message, routing, steps):
        if not seen:  # mid-delivery: what /status says
            seen.append(StatusSchema().dump(status_report(poller.config, poller.store, poller.rules, "t")))
        return original(message, routing, steps)

    monkeypatch.setattr(sink, "deliver", deliver)
    assert deliverer.deliver_due(limit=3).delivered == 3
    listed = {w["id"]: w for w in seen[0]["workers"]}
    assert set(listed) == {poller.worker_id, deliverer.worker_id}
    assert listed[poller.worker_id]["channels"] == [CHANNEL] and listed[poller.worker_id]["deliveries"] == 0
    assert listed[deliverer.worker_id]["channels"] == [] and listed[deliverer.worker_id]["deliveries"] == 1
    assert all(w["alive"] for w in listed.values())
    assert f"  worker {deliverer.worker_id}: polling nothing now, 1 deliveries in hand" in status_lines(seen[0], [])
    after = StatusSchema().dump(status_report(poller.config, poller.store, poller.rules, "t"))
    assert {w["id"]: w["deliveries"] for w in after["workers"]}[deliverer.worker_id] == 0, "delivered: held no more"
    assert poller.store.query("select count(*) as n from deliveries where claimed_by is not null")[0]["n"] == 0
    Heartbeat(deliverer).beat(stopped=True)
    gone = StatusSchema().dump(status_report(poller.config, poller.store, poller.rules, "t"))
    assert [w["id"] for w in gone["workers"]] == [poller.worker_id], "a stopped worker is not listed as alive"


def failing(monkeypatch, connector, failure: Failure) -> list:
    """Make ``connector``'s archive sink fail with ``failure``; the calls it got."""
    calls = []

    def deliver(message, routing, steps):
        calls.append(message.id)
        raise Failed(failure)

    monkeypatch.setattr(connector.sinks[ARCHIVE], "deliver", deliver)
    return calls


def counted(monkeypatch, connector) -> list:
    calls = []
    original = connector.sinks[ARCHIVE].deliver

    def deliver(message, routing, steps):
        calls.append(message.id)
        return original(message, routing, steps)

    monkeypatch.setattr(connector.sinks[ARCHIVE], "deliver", deliver)
    return calls


def test_a_sink_pause_one_worker_sets_stops_the_other(workers, monkeypatch):
    first, second = workers(2)
    first.poll(CHANNEL)
    failing(monkeypatch, first, Failure(RATE_LIMITED, "429 Too Many Requests", status=429,
                                        retry_at=utcnow() + timedelta(hours=1)))
    assert first.deliver_due(limit=1).retrying == 1
    calls = counted(monkeypatch, second)
    result = second.deliver_due()
    assert calls == [] and result.delivered == 0, "the other worker claims nothing for the paused sink"
    first.store.pause_sink(ARCHIVE, utcnow() - timedelta(seconds=1), "over")  # the pause ends
    assert second.deliver_due(limit=2).delivered == 2 and len(calls) == 2


def test_the_breaker_counts_the_failures_of_every_worker_together(workers, monkeypatch):
    first, second = workers(2, delivery={"breaker_threshold": 2})
    first.poll(CHANNEL)
    for connector in (first, second):  # one transient failure each: two in a row for the sink
        failing(monkeypatch, connector, Failure(RETRY, "503 Service Unavailable", status=503))
        assert connector.deliver_due(limit=1).retrying == 1
    paused, reason = second.store.sink_pause(ARCHIVE)
    assert paused and paused > utcnow() and "2 failures in a row" in reason
    calls = counted(monkeypatch, first)
    assert first.deliver_due().delivered == 0 and calls == []


def test_a_rate_limit_one_worker_meets_pauses_the_channel_for_every_worker(workers, mastodon):
    double, _ = mastodon
    first, second = workers(2)
    double.rate_limit = 0  # the platform's budget is spent
    met = first.poll(CHANNEL)
    assert met.error is not None and met.error.verdict == RATE_LIMITED
    asked = len(double.requests)
    result = second.poll(CHANNEL)
    assert result.skipped.startswith("paused until") and len(double.requests) == asked, "not spent twice"
