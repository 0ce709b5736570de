"""A Mastodon status deleted on the platform: missing from the re-read window and 404 on re-check, it
is reported once as a deletion (``Page.deletions``), and the engine marks it on the stored record."""
from __future__ import annotations

from connector.engine import Connector

from .conftest import FIXTURES
from .mastodon_support import double, drain, ids_oldest_first, server, source  # noqa: F401


def deletions_of(pages) -> list[str]:
    return [d.id for page in pages for d in page.deletions]


def test_a_deleted_status_is_reported_once_and_only_after_a_404(server, double):
    src = source(server, edit_lookback=10)
    pages, failure = drain(src, None)
    assert failure is None and deletions_of(pages) == []
    state = pages[-1].state
    newest = ids_oldest_first("schochastics")
    gone = newest[-2]
    double.delete_status(gone)
    pages, failure = drain(src, state)
    assert failure is None and deletions_of(pages) == [gone]
    [deletion] = [d for page in pages for d in page.deletions]
    assert "404" in deletion.reason and deletion.url.endswith(f"/api/v1/statuses/{gone}")
    checks = [r for r in double.requests if r["path"].startswith("/api/v1/statuses/")]
    assert [r["path"] for r in checks] == [f"/api/v1/statuses/{gone}"] and checks[0]["status"] == 404
    assert gone not in pages[-1].state["recent"]
    again, _ = drain(src, pages[-1].state)
    assert deletions_of(again) == []  # reported once


def test_a_status_older_than_the_window_is_not_taken_for_deleted(server, double):
    src = source(server, edit_lookback=5)
    pages, _ = drain(src, None)
    state = pages[-1].state
    assert len(state["recent"]) == 5
    oldest = ids_oldest_first("schochastics")[0]
    double.delete_status(oldest)  # never in the window: not checked, not reported
    pages, _ = drain(src, state)
    assert deletions_of(pages) == []
    assert not [r for r in double.requests if r["path"].startswith("/api/v1/statuses/")]


def test_the_engine_marks_the_deletion_on_the_record(tmp_path, server, double):
    from connector.config import load_config

    path = tmp_path / "connector.yaml"
    path.write_text(f"""
store: {tmp_path / 'c.db'}
mappings: {FIXTURES / 'e2e' / 'mappings'}
organisation: {{naam: Gemeente Voorbeeld, kenmerk: gm9999, bron: TOOI}}
channels:
  - name: social
    kind: mastodon
    options: {{base_url: "{server.url}", account: schochastics, edit_lookback: 10}}
""")
    connector = Connector(load_config(path))
    try:
        assert connector.poll("social").error is None
        gone = ids_oldest_first("schochastics")[-1]
        double.delete_status(gone)
        result = connector.poll("social")
        assert result.error is None and result.deleted == 1
        [row] = connector.store.deletions("social")
        assert row["platform_id"] == gone and "404" in row["deleted_reason"]
        assert connector.store.query("select count(*) as n from messages where platform_id = ?", [gone]) == [{"n": 1}]
    finally:
        connector.close()
