"""A dropped PostgreSQL connection (a server restart, an idle timeout): the store reconnects where that is
safe and says so where it is not (issue 13). The tests end connections on the server with ``pg_terminate_backend``,
as a restart or a proxy's idle timeout would: every connection of the store's database between two calls, or the
statement's own connection while it runs (``pg_terminate_backend(pg_backend_pid())``), and then use the store again.

* Connections dropped between calls are replaced before use (the pool checks each one it lends), for a read and
  for a write alike: neither had started.
* A read the drop breaks runs once more on another connection; one broken twice is a ``StoreError``.
* A write the drop interrupts is never repeated (it may have committed): a ``StoreError`` (transient for the
  worker, which tries again on its next beat), and the call after it runs on a new connection. A sequence
  (``nextval`` is not rolled back) counts how often the statement ran.
* ``store.health()`` replaces dropped connections, and reports a server it cannot reach.
"""
from __future__ import annotations

import pytest

from connector.store import Store, StoreError

from . import pg_support
from .pg_support import cluster

pg_url = pg_support.pg_url  # the fixture

def _pid(store: Store) -> int:
    return store.query("select pg_backend_pid() as pid")[0]["pid"]


def _drop(store: Store) -> int:
    """End every connection of the store's database on the server, from another connection (as a server restart
    would); how many there were."""
    name = store.query("select current_database() as name")[0]["name"]
    with cluster().connect(autocommit=True) as admin:
        return admin.execute("select count(pg_terminate_backend(pid)) from pg_stat_activity"
                             " where datname = %s and pid <> pg_backend_pid()", [name]).fetchone()[0]


@pytest.fixture
def store(pg_url):
    opened = Store(pg_url)
    opened.db.execute("create sequence runs")
    yield opened
    opened.close()


def _runs(store: Store) -> int:
    return store.query("select case when is_called then last_value else 0 end as n from runs")[0]["n"]


def test_connections_dropped_between_calls_are_replaced_for_a_read_and_for_a_write(store):
    before = _pid(store)
    assert _drop(store) >= 1
    assert store.query("select count(*) as n from messages")[0]["n"] == 0
    assert _pid(store) != before
    _drop(store)
    store.db.execute("insert into meta (key, value) values ('k', 'v')")   # it had not started: no reason to fail
    assert store.query("select value from meta where key = 'k'") == [{"value": "v"}]


def test_a_read_the_drop_breaks_runs_once_more_on_another_connection(store):
    kill_first = ("select nextval('runs') as run, case when currval('runs') = 1"
                  " then pg_terminate_backend(pg_backend_pid()) else true end as ok")
    assert store.query(kill_first) == [{"run": 2, "ok": True}]
    with pytest.raises(StoreError, match="lost twice"):
        store.query("select nextval('runs'), pg_terminate_backend(pg_backend_pid())")
    assert _runs(store) == 4   # once more, and no more


def test_a_write_the_drop_interrupts_is_not_repeated_and_the_next_call_reconnects(store):
    kill = "insert into meta (key, value) select 'k', nextval('runs') || '' || pg_terminate_backend(pg_backend_pid())"
    with pytest.raises(StoreError, match="may or may not"):
        store.db.execute(kill)
    assert _runs(store) == 1
    with pytest.raises(StoreError, match="may or may not"):
        with store.db.write():
            store.db.execute("insert into meta (key, value) values ('k', 'v')")
            store.db.execute("select nextval('runs'), pg_terminate_backend(pg_backend_pid())")
    assert _runs(store) == 2
    assert store.query("select count(*) as n from meta where key = 'k'")[0]["n"] == 0
    with store.db.write():   # a new connection: writes work again
        store.db.execute("insert into meta (key, value) values ('k', 'v')")
    assert store.query("select value from meta where key = 'k'") == [{"value": "v"}]


def test_health_reconnects_and_reports_a_server_it_cannot_reach(store):
    name = store.query("select current_database() as name")[0]["name"]
    _drop(store)
    assert store.health() == []   # replaced quietly
    with cluster().connect(autocommit=True) as admin:
        admin.execute(f'alter database "{name}" with allow_connections false')
    try:
        _drop(store)
        store.db.wait = 1.0   # how long a call waits for the pool to reconnect
        problems = store.health()
        assert len(problems) == 1 and "no connection to PostgreSQL" in problems[0], problems
        assert "cannot reconnect" in problems[0] and cluster().password not in problems[0]
    finally:
        with cluster().connect(autocommit=True) as admin:
            admin.execute(f'alter database "{name}" with allow_connections true')
    store.db.wait = 30.0   # the pool reconnects in the background, with a backoff
    store._last_probe = None
    assert store.health() == []
