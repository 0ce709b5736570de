"""The PostgreSQL store's connection pool (issue 13): the threads of ONE process do not wait for each other.

A worker delivers on several threads (``sinks[].parallel``), polls and beats on others, and ``connector serve``
answers pages on several threads. On PostgreSQL each borrows a connection from the store's pool
(:mod:`connector.store.pgbackend`) for one statement, or for one ``write()`` transaction bound to its thread, so:

* while one thread holds a write transaction open, another thread of the same store reads and writes (with one
  connection behind one lock, as before the pool, it waited for the whole transaction);
* threads claiming deliveries at once through one store each get their own rows (``FOR UPDATE SKIP LOCKED``);
* a statement inside ``write()`` runs on the transaction's connection: it sees the transaction's rows, a
  rollback undoes it, and other threads do not see them before the commit;
* an exhausted pool is a clear ``StoreError`` after a bounded wait, never a hang, and so is a closed store;
* ``limits.store_connections``: its default from the sinks' ``parallel`` slots, its validation, and the size the
  web app's store is opened with.

A thread that may block runs with a join timeout: a regression fails the test instead of hanging the run.
"""
from __future__ import annotations

import threading
import traceback

import pytest
from marshmallow import ValidationError

from connector.message import Author, Message, utcnow
from connector.routing import CREATE, Routing
from connector.settings import STORE_CONNECTIONS_BESIDES_SINKS, LimitsSchema, store_connections
from connector.store import DeliveryPlan, Store, StoreError

from . import pg_support

pg_url = pg_support.pg_url  # the fixture

PATIENCE = 30  # seconds a thread may take before the test calls it stuck


@pytest.fixture
def store(pg_url):
    opened = Store(pg_url)
    yield opened
    opened.close()


def _fill(store: Store, count: int) -> None:
    plans = [(Message(channel="c", id=str(i), kind="post", author=Author(id="1", handle="a@x"), created_at=utcnow(),
                      text=f"bericht {i}"), [DeliveryPlan("s", Routing(CREATE, zaaktype="Z", rule="r"))])
             for i in range(count)]
    store.save_page("c", plans, {"page": 1})


def _keys(store: Store) -> list[str]:
    return [row["key"] for row in store.query("select key from meta where key like 'k-%' order by key")]


def _put(store: Store, key: str) -> None:
    store.db.execute("insert into meta (key, value) values (?, 'v')", [key])


class Holder(threading.Thread):
    """A thread that opens a write transaction on ``store``, runs ``inside`` in it, then keeps it open until
    :meth:`finish`."""

    def __init__(self, store: Store, inside):
        super().__init__(daemon=True)
        self.store, self.inside = store, inside
        self.holding, self.release, self.errors = threading.Event(), threading.Event(), []

    def run(self):
        try:
            with self.store._write():
                self.inside()
                self.holding.set()
                self.release.wait(PATIENCE)
        except Exception:
            self.errors.append(traceback.format_exc())
        finally:
            self.holding.set()

    def finish(self):
        self.release.set()
        self.join(PATIENCE)
        assert not self.is_alive() and not self.errors, self.errors


def _in_thread(call) -> tuple[threading.Event, dict]:
    """Run ``call`` on another thread; an event set when it is done and a dict with its result or error."""
    done, outcome = threading.Event(), {}

    def run():
        try:
            outcome["result"] = call()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            done.set()
    threading.Thread(target=run, daemon=True).start()
    return done, outcome


def test_while_one_thread_holds_a_write_transaction_another_thread_reads_and_writes(store):
    holder = Holder(store, lambda: _put(store, "k-a"))
    holder.start()
    assert holder.holding.wait(PATIENCE) and not holder.errors, holder.errors

    def read_and_write():
        seen = _keys(store)
        with store._write():
            _put(store, "k-b")
        store.event("pool.test")
        return seen, _keys(store)
    done, outcome = _in_thread(read_and_write)
    finished = done.wait(PATIENCE)
    still_open = holder.is_alive()
    holder.finish()
    assert finished and still_open, "the second thread waited for the first one's transaction"
    assert "error" not in outcome, outcome
    assert outcome["result"] == ([], ["k-b"])   # the open transaction's row unseen, its own write committed
    assert _keys(store) == ["k-a", "k-b"]


def test_a_statement_inside_write_runs_on_the_transactions_connection(store):
    with pytest.raises(RuntimeError):
        with store._write():
            _put(store, "k-rolled-back")
            assert _keys(store) == ["k-rolled-back"]   # the transaction's own connection sees its row
            raise RuntimeError("undo")
    assert _keys(store) == []
    with store._write():
        pid = store.query("select pg_backend_pid() as pid")[0]["pid"]
        _put(store, "k-outer")
        with pytest.raises(RuntimeError), store._write():   # nested: a savepoint on the same connection
            assert store.query("select pg_backend_pid() as pid")[0]["pid"] == pid
            _put(store, "k-inner")
            raise RuntimeError("undo the savepoint only")
        assert _keys(store) == ["k-outer"]
    assert _keys(store) == ["k-outer"]


def test_other_threads_see_a_transactions_rows_only_after_its_commit(store):
    holder = Holder(store, lambda: _put(store, "k-later"))
    holder.start()
    assert holder.holding.wait(PATIENCE) and not holder.errors, holder.errors
    done, before = _in_thread(lambda: _keys(store))
    assert done.wait(PATIENCE) and before == {"result": []}, before
    holder.finish()
    done, after = _in_thread(lambda: _keys(store))
    assert done.wait(PATIENCE) and after == {"result": ["k-later"]}, after


def test_parallel_threads_of_one_store_claim_distinct_deliveries(store):
    _fill(store, 60)
    n = 4
    barrier, claimed, errors = threading.Barrier(n), [[] for _ in range(n)], []

    def work(mine: list):
        try:
            barrier.wait(PATIENCE)
            while rows := store.claim_due(limit=3, lease_seconds=300):
                for row in rows:
                    mine.append(row.id)
                    store.mark_delivered(row.id, f"http://zaak/{row.id}", "Z", [])
        except Exception:
            errors.append(traceback.format_exc())

    threads = [threading.Thread(target=work, args=(mine,), daemon=True) for mine in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[0]
    every = [i for mine in claimed for i in mine]
    assert len(every) == 60 and len(set(every)) == 60   # each delivery claimed by exactly one thread
    twice = store.query("select delivery_id from events where kind = 'delivery.in_progress'"
                        " group by delivery_id having count(*) > 1")
    assert twice == []
    assert store.query("select count(*) as n from deliveries where state = 'delivered'")[0]["n"] == 60


def test_an_exhausted_pool_is_a_clear_store_error_after_a_bounded_wait(pg_url):
    small = Store(pg_url, connections=1)
    try:
        small.db.wait = 0.5
        holder = Holder(small, lambda: _put(small, "k-held"))
        holder.start()
        assert holder.holding.wait(PATIENCE) and not holder.errors, holder.errors
        done, outcome = _in_thread(lambda: _keys(small))
        finished = done.wait(PATIENCE)
        holder.finish()
        assert finished, "a call hung on a busy pool"
        assert isinstance(outcome.get("error"), StoreError), outcome
        assert "all 1 store connections busy for 0.5 s" in str(outcome["error"])
        assert _keys(small) == ["k-held"]   # the connection came back
    finally:
        small.close()


def test_the_pool_opens_no_more_connections_than_its_size(pg_url):
    sized = Store(pg_url, connections=2)
    try:
        holders = [Holder(sized, lambda: None) for _ in range(2)]
        for holder in holders:
            holder.start()
            assert holder.holding.wait(PATIENCE)
        sized.db.wait = 0.5
        done, outcome = _in_thread(lambda: _keys(sized))
        assert done.wait(PATIENCE) and isinstance(outcome.get("error"), StoreError), outcome
        name = sized.db.url.rsplit("/", 1)[1]
        with pg_support.cluster().connect(autocommit=True) as admin:
            opened = admin.execute("select count(*) from pg_stat_activity where datname = %s"
                                   " and application_name = 'midoffice-connector'", [name]).fetchone()[0]
        for holder in holders:
            holder.finish()
        assert opened == 2
    finally:
        sized.close()


def test_a_closed_store_says_so(pg_url):
    closed = Store(pg_url)
    closed.close()
    with pytest.raises(StoreError, match="the store was closed"):
        closed.query("select 1")


# -- the setting ------------------------------------------------------------------------------------

def _config(tmp_path, store: str, extra: str = ""):
    from connector.config import load_config

    path = tmp_path / "connector.yaml"
    path.write_text(f"store: {store}\norganisation: {{naam: Gemeente X}}\n{extra}")
    return load_config(path, environ={})


SINKS = """sinks:
  - {name: a, kind: archive, parallel: 3, options: {folder: a, archiefvormer: {naam: Gemeente X}}}
  - {name: b, kind: archive, parallel: 2, options: {folder: b, archiefvormer: {naam: Gemeente X}}}
"""


def test_the_pool_size_defaults_to_the_sinks_parallel_slots_plus_a_few(tmp_path):
    config = _config(tmp_path, "c.db", SINKS)
    assert config.limits["store_connections"] is None
    assert store_connections(config) == 3 + 2 + STORE_CONNECTIONS_BESIDES_SINKS
    assert store_connections(_config(tmp_path, "c.db")) == 1 + STORE_CONNECTIONS_BESIDES_SINKS  # the default sink
    assert store_connections(_config(tmp_path, "c.db", SINKS + "limits: {store_connections: 2}\n")) == 2


@pytest.mark.parametrize("value", [0, -3, "veel"])
def test_a_pool_size_below_one_is_refused(value):
    with pytest.raises(ValidationError) as caught:
        LimitsSchema().load({"store_connections": value})
    assert "store_connections" in caught.value.messages


def test_the_web_app_opens_its_store_with_the_configured_pool_size(tmp_path, pg_url):
    from connector.web import create_app

    app = create_app(_config(tmp_path, pg_url, SINKS + "limits: {store_connections: 7}\n"))
    try:
        assert app.config["STORE"].db.size == 7
    finally:
        app.config["STORE"].close()


def test_sqlite_ignores_the_pool_size_and_keeps_its_one_connection(tmp_path):
    sqlite = Store(tmp_path / "c.db", connections=7)
    try:
        _put(sqlite, "k-one")
        assert _keys(sqlite) == ["k-one"] and sqlite.kind == "sqlite"
    finally:
        sqlite.close()


def _second_waits_then(store: Store, first, second):
    """``first`` inside a write transaction held open by a :class:`Holder`; ``second`` on another thread until it
    waits at a lock (or is done); then the first commits. The second's outcome (``result`` or ``error``)."""
    holder = Holder(store, first)
    holder.start()
    assert holder.holding.wait(PATIENCE) and not holder.errors, holder.errors
    done, outcome = _in_thread(second)
    waiting = ("select count(*) as n from pg_stat_activity where datname = current_database()"
               " and wait_event_type = 'Lock'")
    for _ in range(PATIENCE * 20):  # until the second waits at the first one's uncommitted row or key
        if store.query(waiting)[0]["n"] or done.is_set():
            break
        threading.Event().wait(0.05)
    holder.finish()
    assert done.wait(PATIENCE)
    return outcome


def test_two_threads_adding_one_user_name_at_once_make_one_account_and_a_clear_refusal(store):
    """Without the store's lock two threads of one web app race as two processes do: the second add of a name
    must wait for the first and then be refused in words (ValueError), not fail on the unique index."""
    password = "een-lang-genoeg-wachtwoord"
    outcome = _second_waits_then(store, lambda: store.add_user("anna", "admin", password),
                                 lambda: store.add_user("anna", "helpdesk", password))
    assert isinstance(outcome.get("error"), ValueError) and "bestaat al" in str(outcome["error"]), outcome
    assert [(u["name"], u["role"]) for u in store.query("select name, role from users")] == [("anna", "admin")]


def test_two_saves_of_one_rule_file_at_once_become_two_versions(store):
    first = lambda: store.save_rule_version("rules.yaml", "a: 1\n", "anna", "eerste")  # noqa: E731
    outcome = _second_waits_then(store, first, lambda: store.save_rule_version("rules.yaml", "a: 2\n", "bob", "tweede"))
    assert "error" not in outcome, outcome
    assert outcome["result"]["version"] == 2
    assert [(v["version"], v["author"]) for v in reversed(store.rule_versions("rules.yaml"))] == [(1, "anna"),
                                                                                                  (2, "bob")]


def test_two_first_single_sign_on_logins_of_one_name_at_once_make_one_account(store):
    subject = "https://idp.example anna-sub"
    outcome = _second_waits_then(store, lambda: store.sso_user("anna", "helpdesk", subject),
                                 lambda: store.sso_user("anna", "helpdesk", subject))
    assert "error" not in outcome and outcome["result"]["name"] == "anna", outcome
    assert store.query("select count(*) as n from users")[0]["n"] == 1


def test_two_archivists_assigning_one_message_to_a_new_sink_at_once_make_one_delivery(store):
    _fill(store, 1)
    message_id = store.query("select id from messages")[0]["id"]
    routing = Routing(CREATE, zaaktype="Z", rule="handmatig")
    outcome = _second_waits_then(store, lambda: store.assign(message_id, "t", routing, "anna"),
                                 lambda: store.assign(message_id, "t", routing, "bob"))
    assert "error" not in outcome, outcome
    assert store.query("select count(*) as n from deliveries where sink = 't'")[0]["n"] == 1


def test_a_frozen_process_holding_a_transaction_does_not_stall_the_other_workers(pg_url, monkeypatch):
    """A worker frozen inside a write transaction (a paused VM) keeps its row locks; the server ends its session
    after IDLE_IN_TRANSACTION seconds idle, so another worker's write to the same row goes through."""
    from connector.store import pgbackend

    monkeypatch.setattr(pgbackend, "IDLE_IN_TRANSACTION", 1.0)
    frozen, other = Store(pg_url), Store(pg_url)
    try:
        _put(frozen, "k-row")
        holder = Holder(frozen, lambda: frozen.db.execute("update meta set value = 'frozen' where key = 'k-row'"))
        holder.start()
        assert holder.holding.wait(PATIENCE) and not holder.errors, holder.errors

        def write():
            with other._write():
                other.db.execute("update meta set value = 'other' where key = 'k-row'")
        done, outcome = _in_thread(write)
        finished = done.wait(PATIENCE)
        still_frozen = holder.is_alive()
        holder.release.set()
        holder.join(PATIENCE)
        assert finished and still_frozen and "error" not in outcome, outcome
        assert holder.errors and "ConnectionLost" in holder.errors[0], "the frozen one learns its session ended"
        assert other.query("select value from meta where key = 'k-row'")[0]["value"] == "other"
    finally:
        frozen.close()
        other.close()
