"""Shared pytest fixtures: repository paths, a fresh store, message factories."""
from __future__ import annotations

import os

from datetime import datetime, timezone
from pathlib import Path

import pytest

from connector.message import Author, Message, Raw

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
    from connector.doubles import zgw

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
