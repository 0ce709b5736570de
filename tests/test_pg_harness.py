"""The throwaway PostgreSQL cluster the store's PostgreSQL tests run on (tests/pg_support.py): it starts,
takes a connection by the URL with the password from the environment only, refuses one without it, gives each
test its own empty database, and row locks skip what another connection holds (what the delivery claims of
issue 13 rely on)."""
from __future__ import annotations

import pytest

from .pg_support import cluster, database, pg_url  # noqa: F401 (fixture)

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (bash scripts/setup.sh installs it)")


def test_a_database_of_its_own_reached_by_url_with_the_password_from_the_environment(pg_url):
    with psycopg.connect(pg_url) as conn:  # PGPASSWORD: the URL carries no password
        assert conn.execute("select current_database(), current_user").fetchone()[1] == "connector"
        assert conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()[0] == 0
        assert conn.execute("show fsync").fetchone()[0] == "off"
    assert ":" not in pg_url.split("@")[0].removeprefix("postgresql://")


def test_without_the_password_the_cluster_refuses(pg_url, monkeypatch):
    monkeypatch.delenv("PGPASSWORD")
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(pg_url, connect_timeout=5)


def test_skip_locked_hands_each_row_to_one_connection(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as setup:
        setup.execute("create table deliveries (id bigserial primary key, state text not null)")
        setup.execute("insert into deliveries (state) select 'pending' from generate_series(1, 10)")
    first, second = psycopg.connect(pg_url), psycopg.connect(pg_url)
    try:
        claim = "select id from deliveries where state = 'pending' order by id limit 4 for update skip locked"
        mine = [row[0] for row in first.execute(claim)]
        theirs = [row[0] for row in second.execute(claim)]  # does not wait for the first's locks
        assert len(mine) == len(theirs) == 4 and not set(mine) & set(theirs)
        first.rollback()  # the rows the first held are free again; the second's own stay its own
        everything = [row[0] for row in second.execute(claim.replace("limit 4", "limit 10"))]
        assert sorted(everything) == list(range(1, 11))
    finally:
        first.close()
        second.close()


def test_a_database_is_dropped_after_its_test_even_with_a_connection_still_open():
    running = cluster()
    with database(running) as name:
        left_open = running.connect(name)
        with running.connect(autocommit=True) as admin:
            assert admin.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
    with running.connect(autocommit=True) as admin:
        assert admin.execute("select 1 from pg_database where datname = %s", [name]).fetchone() is None
    left_open.close()  # cut off by the drop (with force); closing it is harmless
