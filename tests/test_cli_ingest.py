"""``connector import`` (a platform's data export) and ``connector save`` (a web page now): stored on a
configured channel through the rules, deduplicated, the cursor left alone, delivered by the worker."""
from __future__ import annotations

import json

import pytest

from connector.config import load_config
from connector.engine import Connector
from connector.store import Store
from connector_doubles.website import WebSite, serve

from .conftest import FIXTURES, run_cli

ROOT = FIXTURES.parent
EXPORTS = ROOT / "fixtures" / "exports"
ARTICLE = "/nieuws/speeltuin-stadspark.html"

CONFIG = """
store: {store}
mappings: {mappings}
organisation: {{naam: Gemeente Voorbeeld, kenmerk: gm9999, bron: TOOI}}
media: {{trusted_networks: [127.0.0.1/32]}}
channels:
  - {{name: x-gemeente, kind: x, options: {{user: gemeente, token: "${{INGEST_TOKEN}}"}}}}
  - {{name: fb-gemeente, kind: facebook, options: {{page_id: "19292868552", token: "${{INGEST_TOKEN}}"}}}}
  - {{name: paginas, kind: web, options: {{urls: []}}}}
  - {{name: social, kind: mastodon, options: {{base_url: "https://social.example", account: gemeente}}}}
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_TOKEN", "not-used-in-these-tests")
    path = tmp_path / "connector.yaml"
    path.write_text(CONFIG.format(store=tmp_path / "c.db", mappings=FIXTURES / "e2e" / "mappings"))
    return path


@pytest.fixture
def site():
    web = WebSite()
    server = serve(web)
    yield web, server
    web.stop.set()
    server.shutdown()


def stored(config, channel):
    store = Store(load_config(config).store)
    try:
        return store.query("select platform_id, version, raw_media_type from messages where channel = ?"
                           " order by id", [channel])
    finally:
        store.close()


def expected_lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (EXPORTS / "expected" / name).read_text(encoding="utf-8").splitlines()]


def test_an_x_archive_is_imported_once_and_delivered_by_the_worker(capsys, config):
    code, _, err = run_cli(capsys, "import", "x-archive", str(EXPORTS / "x-archive.zip"), "-c", str(config))
    want = expected_lines("x-archive.jsonl")
    assert code == 1  # two items quarantined, said per item
    assert f"{len(want)} new message(s) stored on channel 'x-gemeente', 0 already there, 2 quarantined" in err
    assert err.count("quarantined: ") == 2
    assert [(r["platform_id"], r["version"]) for r in stored(config, "x-gemeente")] == \
        [(m["id"], m["version"]) for m in want]
    code, _, err = run_cli(capsys, "import", "x-archive", str(EXPORTS / "x-archive"), "-c", str(config))
    assert f"0 new message(s) stored on channel 'x-gemeente', {len(want)} already there" in err  # the folder form
    connector = Connector(load_config(config))
    try:
        assert connector.store.channel_state("x-gemeente") in (None, {})  # the cursor is left alone
        result = connector.drain()  # into the default archive sink; the reply to a post not in the archive
        assert (result.delivered, result.waiting) == (len(want) - 1, 1)  # waits for its parent (parent_grace)
    finally:
        connector.close()


def test_a_facebook_export_goes_to_the_only_facebook_channel(capsys, config):
    code, _, err = run_cli(capsys, "import", "facebook-export", str(EXPORTS / "facebook-export.zip"),
                           "-c", str(config))
    assert "stored on channel 'fb-gemeente'" in err
    assert len(stored(config, "fb-gemeente")) == len(expected_lines("facebook-export.jsonl"))


@pytest.mark.parametrize("argv, said", [
    (["import", "x-archive", "EXPORT", "--channel", "social"], "channel 'social' is of kind 'mastodon'; it must be x"),
    (["import", "x-archive", "EXPORT", "--channel", "nope"], "no channel 'nope'"),
    (["import", "tiktok", "EXPORT"], "unknown export kind 'tiktok'"),
    (["import", "x-archive", "/nonexistent/archive.zip"], "/nonexistent/archive.zip"),
])
def test_a_wrong_import_is_one_clear_line(capsys, config, argv, said):
    argv = [str(EXPORTS / "x-archive.zip") if a == "EXPORT" else a for a in argv]
    code, _, err = run_cli(capsys, *argv, "-c", str(config))
    assert code == 2 and said in err and "Traceback" not in err


def test_a_saved_page_is_stored_once_as_a_warc(capsys, config, site):
    _, server = site
    code, _, err = run_cli(capsys, "save", server.url + ARTICLE, "-c", str(config))
    assert code == 0 and "stored on channel 'paginas'" in err and "deliveries: archief" in err
    [row] = stored(config, "paginas")
    assert row["raw_media_type"] == "application/warc"
    code, _, err = run_cli(capsys, "save", server.url + ARTICLE, "-c", str(config))
    assert code == 0 and "already stored" in err
    assert len(stored(config, "paginas")) == 1


def test_a_page_that_cannot_be_saved_says_why(capsys, config, site):
    _, server = site
    code, _, err = run_cli(capsys, "save", server.url + "/no-such-page", "-c", str(config))
    assert code == 1 and "not captured" in err and "not found" in err
    host = server.url.split("//", 1)[1]
    code, _, err = run_cli(capsys, "save", f"http://admin:geheim@{host}{ARTICLE}", "-c", str(config))
    assert code == 1 and "geheim" not in err
    assert stored(config, "paginas") == []


def test_x_compliance_events_mark_archived_posts_as_deleted(capsys, config, tmp_path):
    run_cli(capsys, "import", "x-archive", str(EXPORTS / "x-archive.zip"), "-c", str(config))
    archived = stored(config, "x-gemeente")[0]["platform_id"]
    events = tmp_path / "compliance.jsonl"
    events.write_text(json.dumps({"id": archived, "action": "delete", "created_at": "2023-03-01T10:00:00.000Z",
                                  "redacted_at": "2024-05-01T12:00:00.000Z", "reason": "deleted"}) + "\n"
                      + json.dumps({"id": "1", "action": "delete", "redacted_at": "2024-05-01T12:00:00.000Z"}) + "\n")
    code, _, err = run_cli(capsys, "import", "x-compliance", str(events), "-c", str(config))
    assert code == 0 and "2 deletion event(s); 1 archived message(s)" in err
    store = Store(load_config(config).store)
    try:
        [row] = store.deletions("x-gemeente")
        assert row["platform_id"] == archived and row["deleted_at"].startswith("2024-05-01T12:00:00")
    finally:
        store.close()
    events.write_text("{not json\n")
    code, _, err = run_cli(capsys, "import", "x-compliance", str(events), "-c", str(config))
    assert code == 2 and str(events) in err and "line 1" in err
