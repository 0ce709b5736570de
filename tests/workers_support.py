"""What the many-workers tests share (issue 13): several :class:`Connector` instances on one store.

Each connector opens its own :class:`Store` on the same database (a SQLite file, or a fresh PostgreSQL
database from :mod:`tests.pg_support`), as separate worker processes would: its own connection, its own
worker id. They poll one Mastodon channel on the replay double (real recorded statuses) and deliver into
the archive sink (files in a folder: no case system needed).
"""
from __future__ import annotations

import threading

import pytest
import yaml

from connector.config import load_config
from connector.engine import Connector

from . import pg_support
from .mastodon_support import REPLAY

RULES = """\
global_defaults:
  informatieobjecttype: Sociale-mediabericht
  vertrouwelijkheidaanduiding: openbaar
  titel: "{channel} {id}"
unmatched:
  create:
    zaaktype: SOCIAL-MELDING
    omschrijving: "Message {id}"
"""
ARCHIVE = "archief"
CHANNEL = "social"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path, monkeypatch):
    """The store every connector of a test shares: a SQLite file, or a new PostgreSQL database (its user
    name from the environment, as the configuration's check for credentials in a URL wants)."""
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    url = request.getfixturevalue("pg_url")
    user, rest = url.split("://", 1)[1].split("@", 1)
    monkeypatch.setenv("WORKERS_PG_USER", user)
    return "postgresql://${WORKERS_PG_USER}@" + rest


pg_url = pg_support.pg_url  # the fixture store_url asks for


@pytest.fixture
def mastodon():
    """The replay double on a local port: ``(double, url)``."""
    from connector_doubles.mastodon import MastodonDouble, serve

    double = MastodonDouble(REPLAY)
    served = serve(double)
    yield double, served.url
    served.shutdown()


def write_config(tmp_path, store_url: str, mastodon_url: str, page_size: int = 4, **settings):
    """One ``connector.yaml`` for every worker of a test (as one deployment would ship it)."""
    (tmp_path / "m").mkdir(exist_ok=True)
    (tmp_path / "m" / "rules.yaml").write_text(RULES)
    channel = {"name": CHANNEL, "kind": "mastodon", "poll_interval": "5m",
               "options": {"base_url": mastodon_url, "account": "schochastics", "page_size": page_size}}
    sink = {"name": ARCHIVE, "kind": "archive", "receives": "all", "options": {
        "folder": str(tmp_path / "archief"),
        "archiefvormer": {"naam": "Gemeente Voorbeeld", "kenmerk": "gm9999", "bron": "TOOI"}}}
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump({"store": store_url, "mappings": str(tmp_path / "m"), "channels": [channel],
                                    "sinks": [sink], **settings}))
    return path


@pytest.fixture
def workers(tmp_path, store_url, mastodon):
    """``make(n)``: n connectors on the one store and the one double; all closed after the test."""
    made: list[Connector] = []

    def make(count: int, **settings) -> list[Connector]:
        path = write_config(tmp_path, store_url, mastodon[1], **settings)
        made.extend(Connector(load_config(path)) for _ in range(count))
        return made[-count:]

    yield make
    for connector in made:
        connector.close()


def statuses_requests(double) -> list[dict]:
    """The double's answered requests for the account's statuses (each one page of the timeline)."""
    return [r for r in double.requests if r["path"].endswith("/statuses") and r["status"] == 200]


def page_key(request: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in request["args"].items()))


def in_threads(*calls):
    """Run the calls at once (released together by a barrier); their results in order. Raises the first error."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i, call):
        try:
            barrier.wait(timeout=30)
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]
    return results


def blocking_pages(double, on_page):
    """Call ``on_page(n)`` (n: 1, 2, ...) in the double before it serves each statuses page."""
    original = double.page
    count = [0]
    lock = threading.Lock()

    def page(entry, args):
        with lock:
            count[0] += 1
            n = count[0]
        on_page(n)
        return original(entry, args)

    double.page = page
