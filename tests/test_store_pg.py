"""The store on PostgreSQL (issue 13): the URL chooses the backend, migrations, claims with SKIP LOCKED.

The PostgreSQL tests get a fresh empty database from ``tests/pg_support.py`` (a throwaway cluster on a
free 127.0.0.1 port) and skip, saying why, when the server or psycopg is missing. Several
:class:`Store` instances on one database stand for several workers: each has its own connection, so
PostgreSQL's row locks are what is exercised, not the store's own lock.
"""
from __future__ import annotations

import threading
import traceback

import pytest

from connector import states
from connector.message import Author, Message, utcnow
from connector.routing import CREATE, Routing
from connector.store import DeliveryPlan, Store, StoreError, migrations
from connector.store.backend import Dialect, parse_url, redact, to_pyformat

from . import pg_support

pg_url = pg_support.pg_url  # the fixture


def _message(i: int) -> Message:
    return Message(channel="c", id=str(i), kind="post", author=Author(id="1", handle="a@x"),
                   created_at=utcnow(), text=f"bericht {i}")


def _fill(store: Store, count: int) -> None:
    plans = [(_message(i), [DeliveryPlan("s", Routing(CREATE, zaaktype="Z", rule="r"))]) for i in range(count)]
    store.save_page("c", plans, {"page": 1})


# -- the URL and the SQL translation (no database needed) ----------------------------------------

@pytest.mark.parametrize("url,expected", [
    ("var/connector.db", ("sqlite", "var/connector.db")),
    ("/srv/c.db", ("sqlite", "/srv/c.db")),
    ("sqlite:////srv/c.db", ("sqlite", "/srv/c.db")),
    ("sqlite:///relative.db", ("sqlite", "relative.db")),
    ("sqlite:///:memory:", ("sqlite", ":memory:")),
    (None, ("sqlite", ":memory:")),
    ("postgresql://connector@db:5432/connector", ("postgresql", "postgresql://connector@db:5432/connector")),
    ("postgres://connector@db/connector", ("postgresql", "postgres://connector@db/connector")),
])
def test_the_store_url_chooses_the_backend(url, expected):
    assert parse_url(url) == expected


def test_a_password_in_the_url_is_never_shown():
    assert redact("postgresql://connector:s3cret@db:5432/c") == "postgresql://connector:***@db:5432/c"
    assert redact("postgresql://connector@db/c") == "postgresql://connector@db/c"
    with pytest.raises(StoreError) as caught:
        Store("postgresql://connector:s3cret@127.0.0.1:1/c?connect_timeout=2")
    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)


def test_placeholders_become_psycopgs_and_a_literal_percent_stays_literal():
    assert to_pyformat("select 1 from e where kind like 'delivery.%' and id = ?", [1]) == (
        "select 1 from e where kind like 'delivery.%%' and id = %s")
    assert to_pyformat("select x::text from d where a <= :now limit :limit", {"now": 1, "limit": 2}) == (
        "select x::text from d where a <= %(now)s limit %(limit)s")


def test_only_postgresql_locks_what_a_claim_selects():
    assert Dialect("postgresql").lock_claimed("d") == " for update of d skip locked"
    assert Dialect("sqlite").lock_claimed("d") == ""


# -- opening and migrating -------------------------------------------------------------------------

def test_an_empty_database_is_migrated_once_in_order(pg_url):
    Store(pg_url).close()
    store = Store(pg_url)
    try:
        names = [r["name"] for r in store.query("select name from _migrations order by name")]
        assert names == sorted(m.name for m in migrations._migrations)  # each once
        assert {"messages", "deliveries", "delivery_steps", "events", "users", "media"} <= set(store.db.table_names())
        assert store.health() == []
    finally:
        store.close()


def test_processes_opening_a_fresh_database_at_once_all_succeed(pg_url):
    """The advisory lock: one opener migrates, the others wait and find nothing pending."""
    n, barrier, outcomes = 5, threading.Barrier(5), []

    def open_one():
        try:
            barrier.wait(timeout=60)
            store = Store(pg_url)
            store.register({"c": "rss"}, {"s": "zgw"})
            store.close()
            outcomes.append("ok")
        except Exception:
            outcomes.append(traceback.format_exc())

    threads = [threading.Thread(target=open_one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcomes == ["ok"] * n, "\n".join(o for o in outcomes if o != "ok")
    store = Store(pg_url)
    try:
        assert store.query("select count(*) as n from _migrations")[0]["n"] == len(migrations._migrations)
    finally:
        store.close()


# -- claims ------------------------------------------------------------------------------------------

def test_a_claim_skips_the_deliveries_another_worker_is_claiming(pg_url):
    """Two workers claim at the same moment: the second passes over the rows the first holds locked
    (it neither waits for them nor takes them), and takes the next ones."""
    first, second = Store(pg_url), Store(pg_url)
    try:
        _fill(first, 6)
        second.db.execute("set lock_timeout = '5s'")  # waiting for the first's locks fails instead of hanging
        with first._write():  # the first worker's claim, not yet committed
            mine = first.claim_due(limit=2)
            theirs = second.claim_due(limit=2)
        assert len(mine) == 2 and len(theirs) == 2
        assert not {row.id for row in mine} & {row.id for row in theirs}
        assert {row.message.id for row in mine} == {"0", "1"}  # oldest first, each worker its own
        assert {row.message.id for row in theirs} == {"2", "3"}
        held = first.query("select id from deliveries where state = 'in_progress' order by id")
        assert [r["id"] for r in held] == sorted(row.id for row in (*mine, *theirs))
    finally:
        first.close()
        second.close()


def test_workers_claiming_at_once_never_get_the_same_delivery(pg_url):
    setup = Store(pg_url)
    _fill(setup, 120)
    n, barrier, done, errors = 3, threading.Barrier(3), [], []

    def work():
        store = Store(pg_url)
        try:
            barrier.wait(timeout=60)
            while rows := store.claim_due(limit=4, lease_seconds=300):
                for row in rows:
                    store.save_step(row.id, "zaak", {"url": f"http://zaak/{row.id}"})
                    store.mark_delivered(row.id, f"http://zaak/{row.id}", "Z", [])
                    done.append(row.id)
        except Exception:
            errors.append(traceback.format_exc())
        finally:
            store.close()

    threads = [threading.Thread(target=work) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    try:
        assert not errors, errors[0]
        assert len(done) == 120 and len(set(done)) == 120  # each delivery claimed and delivered once
        claims = setup.query("select delivery_id, count(*) as n from events where kind = 'delivery.in_progress'"
                             " group by delivery_id having count(*) > 1")
        assert claims == []
        counts = setup.delivery_counts()
        assert counts[states.DELIVERED] == 120 and counts[states.IN_PROGRESS] == 0
    finally:
        setup.close()


def test_a_killed_workers_claims_are_taken_over_after_the_lease(pg_url):
    from datetime import timedelta

    crashed, survivor = Store(pg_url), Store(pg_url)
    try:
        _fill(crashed, 2)
        held = crashed.claim_due(lease_seconds=60)
        crashed.close()  # the worker is gone; its claims stay in progress under their lease
        assert survivor.claim_due() == []
        later = survivor.claim_due(now=utcnow() + timedelta(seconds=61))
        assert sorted(row.id for row in later) == sorted(row.id for row in held)
    finally:
        survivor.close()


# -- the configuration's store setting ------------------------------------------------------------

def _config(tmp_path, store: str, **environ):
    from connector.config import load_config

    path = tmp_path / "connector.yaml"
    path.write_text(f"store: {store}\norganisation: {{naam: Gemeente X}}\n")
    return load_config(path, environ=environ)


def test_a_postgresql_store_is_kept_as_its_url_and_its_files_go_to_var(tmp_path):
    from connector import redact

    config = _config(tmp_path, "postgresql://connector:${PGPW}@db:5432/connector", PGPW="een-geheim-wachtwoord")
    try:
        assert config.store == "postgresql://connector:een-geheim-wachtwoord@db:5432/connector"
        assert config.media_folder == tmp_path / "var" / "media"
        assert config.sinks[0].options["folder"] == str(tmp_path / "var" / "archief")
        assert "een-geheim-wachtwoord" not in redact.redact_text(f"cannot open {config.store}")
    finally:
        redact.forget_secrets()


def test_a_sqlite_url_is_a_path_relative_to_the_configuration(tmp_path):
    config = _config(tmp_path, "sqlite:///data/c.db")
    assert config.store == tmp_path / "data" / "c.db"
    assert config.media_folder == tmp_path / "data" / "media"


def test_a_role_without_password_in_the_store_url_is_accepted(tmp_path):
    """``postgresql://user@host/db`` with the password in ``PGPASSWORD`` (libpq's convention, the issue's)."""
    from connector import redact

    try:
        config = _config(tmp_path, "postgresql://connector@db:5432/connector")
        assert config.store == "postgresql://connector@db:5432/connector"
        assert redact.redact_text("the connector runs") == "the connector runs"   # a role, not a secret
    finally:
        redact.forget_secrets()


def test_a_password_written_in_the_store_url_is_refused(tmp_path):
    from connector.config import ConfigError

    with pytest.raises(ConfigError, match="password in the URL"):
        _config(tmp_path, "postgresql://connector:geheim@db:5432/connector")


def test_the_store_opens_the_url_of_the_configuration(pg_url):
    store = Store(pg_url)
    try:
        assert store.kind == "postgresql" and store.identity is None
        assert "PostgresBackend" in repr(store.db)
    finally:
        store.close()


@pytest.mark.parametrize("ci, outcome", [("true", "failed"), ("", "skipped")])
def test_without_postgresql_the_tests_skip_but_fail_under_ci(monkeypatch, ci, outcome):
    """scripts/setup.sh installs Debian's PostgreSQL; where it could not, a developer's run skips those tests and
    says why, but CI (CI=true) must fail: its PostgreSQL half would otherwise pass by proving nothing."""
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(pg_support, "_RUNNING", {})
    monkeypatch.setattr(pg_support, "binaries", lambda: None)
    with pytest.raises((pytest.fail.Exception, pytest.skip.Exception)) as raised:
        pg_support.cluster()
    assert isinstance(raised.value, pytest.fail.Exception if outcome == "failed" else pytest.skip.Exception)
    assert "PostgreSQL's server is not installed" in str(raised.value)


def test_a_test_process_killed_with_sigkill_leaves_no_postgresql_server_behind():
    """atexit does not run after SIGKILL; the cluster's watchdog stops the server and removes its folder."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    pg_support.cluster()  # skips (fails under CI) without PostgreSQL
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; from tests import pg_support;"
                               " print(pg_support.start().folder, flush=True); time.sleep(600)"],
        cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE, text=True)
    try:
        folder = Path(child.stdout.readline().strip())
        server = int((folder / "data" / "postmaster.pid").read_text().split()[0])
        os.kill(server, 0)  # running (else ProcessLookupError)
    finally:
        child.kill()
        child.wait()
    deadline = time.monotonic() + 60
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not folder.exists(), "the folder of a dead test process's cluster is removed"

    def running() -> bool:  # a zombie (stopped, not yet reaped by init) counts as stopped
        try:
            return Path(f"/proc/{server}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except OSError:
            return False
    while running() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not running(), "the server of a dead test process's cluster is stopped"
