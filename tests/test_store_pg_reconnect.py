"""A dropped PostgreSQL connection (a server restart, an idle timeout): the store reconnects where that is
safe and says so where it is not (issue 13). Each test ends the store's own connection on the server with
``pg_terminate_backend``, as a restart or a proxy's idle timeout would, and then uses the store again.

* A read after the drop runs on a new connection (the broken one is replaced once, outside a transaction).
* A write the drop interrupts is never repeated (it may have committed): a ``StoreError`` (transient for the
  worker, which tries again on its next beat), and the call after it runs on a new connection.
* ``store.health()`` replaces a dropped connection, and reports one it cannot make again.
"""
from __future__ import annotations

import pytest

from connector.store import Store, StoreError

from . import pg_support
from .pg_support import cluster

pg_url = pg_support.pg_url  # the fixture


def _pid(store: Store) -> int:
    return store.query("select pg_backend_pid() as pid")[0]["pid"]


def _drop(store: Store) -> None:
    """End the store's connection on the server, from another connection (as a server restart would)."""
    pid = _pid(store)
    with cluster().connect(autocommit=True) as admin:
        assert admin.execute("select pg_terminate_backend(%s)", [pid]).fetchone()[0]


@pytest.fixture
def store(pg_url):
    opened = Store(pg_url)
    yield opened
    opened.close()


def test_a_read_after_the_connection_dropped_runs_on_a_new_one(store):
    before = _pid(store)
    _drop(store)
    assert store.query("select count(*) as n from messages")[0]["n"] == 0
    assert _pid(store) != before


def test_a_write_the_drop_interrupts_is_not_repeated_and_the_next_call_reconnects(store):
    _drop(store)
    with pytest.raises(StoreError, match="may or may not"):
        store.db.execute("insert into meta (key, value) values ('k', 'v')")
    assert store.query("select count(*) as n from meta where key = 'k'")[0]["n"] == 0
    _drop(store)
    with pytest.raises(StoreError, match="write transaction"):
        with store.db.write():
            store.db.execute("insert into meta (key, value) values ('k', 'v')")
    with store.db.write():   # a new connection: writes work again
        store.db.execute("insert into meta (key, value) values ('k', 'v')")
    assert store.query("select value from meta where key = 'k'") == [{"value": "v"}]


def test_health_reconnects_and_reports_a_connection_it_cannot_make_again(store):
    name = store.query("select current_database() as name")[0]["name"]
    _drop(store)
    assert store.health() == []   # replaced quietly
    with cluster().connect(autocommit=True) as admin:
        admin.execute(f'alter database "{name}" with allow_connections false')
    try:
        _drop(store)
        problems = store.health()
        assert len(problems) == 1 and "no connection to PostgreSQL" in problems[0], problems
        assert cluster().password not in problems[0]
    finally:
        with cluster().connect(autocommit=True) as admin:
            admin.execute(f'alter database "{name}" with allow_connections true')
    assert store.health() == []
