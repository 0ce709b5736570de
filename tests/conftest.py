"""Shared pytest fixtures: repository paths, a fresh store, a store URL on each backend, message factories.

``fresh_store`` is a SQLite file (the tests that poke SQLite itself take it); ``store_url`` is the ``store:`` of a
configuration on each backend in turn (issue 13: no feature is SQLite-only or PostgreSQL-only), a SQLite path or a
new empty PostgreSQL database (``pg_url`` of ``tests/pg_support.py``; that half skips without PostgreSQL).
"""
from __future__ import annotations

import os

from datetime import datetime, timezone
from pathlib import Path

import pytest

from connector.message import Author, Message, Raw

from . import pg_support

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
# the reference material (specs, recordings); tests that need it skip when it is absent
SHARED = Path(os.environ.get("CONNECTOR_SHARED") or ROOT.parent / "shared")


@pytest.fixture
def fresh_store(tmp_path):
    from connector.store import Store

    store = Store(tmp_path / "connector.db")
    yield store
    store.close()


pg_url = pg_support.pg_url  # the fixture: a fresh empty PostgreSQL database per test (skips without PostgreSQL)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """The ``store:`` of a test's configuration, once per backend: ``tmp_path/c.db``, or a new empty PostgreSQL
    database (its password in ``PGPASSWORD``)."""
    return str(tmp_path / "c.db") if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def store_on_each_backend(store_url):
    """A :class:`~connector.store.Store` opened (and migrated) on ``store_url``: once on SQLite, once on PostgreSQL."""
    from connector.store import Store

    store = Store(store_url)
    yield store
    store.close()


#: on a test that takes ``store_url`` (itself or through a fixture), SQLite only: the test pokes SQLite itself
#: (its file, a pragma, ``store.db.conn``, ``explain query plan``); say why beside it
sqlite_only = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def make_message(id="1", channel="test", version="", in_reply_to=None, text="hello", created_minute=0, **kw):
    body = f'{{"id": "{id}", "content": "{text}"}}'.encode()
    return Message(
        channel=channel, id=id, version=version, kind="reply" if in_reply_to else "post",
        author=Author(id="42", handle="gemeente@social.example", name="Gemeente"),
        created_at=datetime(2026, 1, 1, 12, created_minute, tzinfo=timezone.utc),
        text=text, html=f"<p>{text}</p>", in_reply_to=in_reply_to, thread_id=in_reply_to or id,
        raw=Raw(body=body, media_type="application/json", page_url="http://127.0.0.1/statuses",
                fetched_at=datetime(2026, 1, 1, 13, tzinfo=timezone.utc)),
        **kw)


@pytest.fixture
def message_factory():
    return make_message


ZGW_SECRET = "e2e-test-secret-0123456789abcdef"


@pytest.fixture(scope="session")
def zgw_server():
    """The ZGW double on a local port for the whole session: ``(double, server)``; reset it per test."""
    from connector_doubles import zgw

    double = zgw.ZgwDouble(secret=ZGW_SECRET, client_ids=("connector",),
                           seed=str(FIXTURES / "zgw" / "catalogus.yaml"))
    server = zgw.serve(double)
    yield double, server
    server.shutdown()


def run_cli(capsys, *argv):
    """``connector ARGV`` in this process: (exit code, stdout, stderr); usage errors exit through SystemExit."""
    from connector.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


# Tests that take over ~2 s each (measured with --durations=30 on the 2-core development machine)
# or start worker subprocesses, marked ``slow`` here so their files stay untouched: a developer runs
# the rest with ``pytest -m "not slow"``. Tests in the ZGW double's and crash test's own files carry
# the mark themselves. Each entry is a node id or a node id prefix (a whole file, a test and all its
# parameters); an entry that matches nothing in a fully collected file is an error, so the list
# cannot rot silently when a test is renamed.
SLOW_TESTS = (
    "tests/test_worker.py::",                      # worker subprocess
    "tests/test_worker_hardening.py::",            # worker subprocesses, dripping servers
    "tests/test_end_to_end.py::",                  # full cycles against all doubles, 2.5-3.5 s each
    "tests/test_store_concurrency.py::test_two_workers_on_one_store_never_fail_with_locked_or_strand_deliveries",
    "tests/test_store_concurrency.py::test_processes_opening_a_fresh_store_at_once_all_succeed",
    "tests/test_channel_resilience.py::test_mastodon_fault_at_every_request_position",
    "tests/test_cli.py::test_demo_prints_a_way_to_look_at_what_arrived_that_works",
    "tests/test_check_catalogue.py::test_check_passes_when_the_case_system_has_every_name_the_rules_use",
    "tests/test_check_catalogue.py::test_check_says_a_templated_zaak_is_not_checked",
    "tests/test_dispatch.py::test_the_lease_is_renewed_while_a_slow_call_runs",  # waits for a lease to run out
    "tests/test_cli_errors.py::test_run_once_that_delivers_everything_exits_0",
)


@pytest.hookimpl(tryfirst=True)   # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    matched = set()
    collected_files = set()
    for item in items:
        collected_files.add(item.nodeid.split("::")[0])
        for entry in SLOW_TESTS:
            if item.nodeid == entry or item.nodeid.startswith(entry if entry.endswith("::") else entry + "["):
                item.add_marker(pytest.mark.slow)
                matched.add(entry)
    narrowed = any("::" in str(arg) for arg in config.args)   # a run of chosen tests only
    stale = [e for e in SLOW_TESTS if e not in matched and e.split("::")[0] in collected_files]
    if stale and not narrowed:
        raise pytest.UsageError(f"tests/conftest.py SLOW_TESTS names tests that do not exist: {stale}")


def later(steps, seconds: float = 3600) -> None:
    """Move the ``<step>:sent`` marks of memoised ``steps`` ``seconds`` into the past.

    A retry of a create whose answer was lost waits until that POST has settled at the case
    system (``ZgwSink._settled``); tests simulate the later retry (the next worker, after its
    lease or backoff) by ageing the marks instead of sleeping.
    """
    from datetime import timedelta

    from connector.message import parse_iso

    for name, result in list(steps.results.items()):
        if name.endswith(":sent"):
            steps.results[name] = {**result, "at": (parse_iso(result["at"]) - timedelta(seconds=seconds)).isoformat()}


def assert_deferred(deliver) -> None:
    """An immediate retry of an uncertain create is put back (transient, with a retry_at), not sent."""
    import pytest as _pytest

    from connector.failures import Failed

    with _pytest.raises(Failed) as caught:
        deliver()
    assert caught.value.failure.verdict == "retry" and caught.value.failure.retry_at is not None
    assert "may still be in progress" in caught.value.failure.message


def ingest(connector, *messages):
    """Store ``messages`` on channel "test" with the deliveries the connector plans for them."""
    connector.store.save_page("test", [(m, connector.plan(m)) for m in messages], {})


def message_events(store, message_id: int) -> list[dict]:
    """The audit trail of one message and its deliveries, oldest first, read with ``Store.query``
    as the demo reads events."""
    return store.query("select at, kind, sink, delivery_id, detail_json from events where message_id = ?"
                       " or delivery_id in (select id from deliveries where message_id = ?) order by id",
                       [message_id, message_id])
