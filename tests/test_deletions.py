"""A deletion on the platform never deletes the record: it is marked on every stored version, kept in
the audit trail, and told to a sink that can keep it (the ZGW sink: on each zaak-informatieobject)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import yaml

from connector import notices, states
from connector.config import load_config
from connector.engine import Connector
from connector.sources import Deletion

from .conftest import FIXTURES, ZGW_SECRET, make_message, message_events
from .test_fanout_zgw import zgw_sink

SEEN = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
GONE = Deletion("1", "404 Not Found on re-check", SEEN, "https://social.example/api/v1/statuses/1")


def connector_for(tmp_path, monkeypatch, server, archive: bool = False) -> Connector:
    monkeypatch.setenv("FANOUT_ZGW_SECRET", ZGW_SECRET)
    sinks = [zgw_sink("zaken", server, informatieobjecttype="Sociale-mediabericht")]
    if archive:
        sinks.append({"name": "archief", "kind": "archive", "receives": "all", "options": {
            "folder": str(tmp_path / "archief"),
            "archiefvormer": {"naam": "Gemeente Voorbeeld", "kenmerk": "gm9999", "bron": "TOOI"}}})
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump({"store": str(tmp_path / "c.db"), "mappings": str(FIXTURES / "e2e" / "mappings"),
                                    "sinks": sinks}))
    return Connector(load_config(path))


def store_page(connector, *messages, deletions=()):
    return connector.store.save_page("test", [(m, connector.plan(m)) for m in messages], {}, deletions=deletions)


def test_the_store_marks_every_version_once_and_keeps_everything(fresh_store):
    first, edit = make_message("1"), make_message("1", text="bewerkt", version="2026-01-02T00:00:00Z")
    fresh_store.save_page("test", [(first, []), (edit, [])], {})
    assert fresh_store.save_page("test", [], {}, deletions=[GONE]).deleted == 1
    rows = fresh_store.query("select id, deleted_at, deleted_reason from messages order by id")
    assert len(rows) == 2 and all(r["deleted_at"] == "2026-03-01T12:00:00.000Z" for r in rows)
    assert all(r["deleted_reason"] == GONE.reason for r in rows)
    later = Deletion("1", "another report", SEEN + timedelta(days=1))
    assert fresh_store.save_page("test", [], {}, deletions=[later]).deleted == 0  # the first report stands
    assert fresh_store.query("select distinct deleted_reason from messages") == [{"deleted_reason": GONE.reason}]
    kinds = [e["kind"] for r in rows for e in message_events(fresh_store, r["id"])]
    assert kinds.count("message.deleted_on_platform") == 2


def test_a_deletion_of_a_message_never_stored_marks_nothing(fresh_store):
    fresh_store.save_page("test", [(make_message("2"), [])], {})
    assert fresh_store.save_page("test", [], {}, deletions=[GONE]).deleted == 0
    assert fresh_store.query("select count(*) as n from messages where deleted_at is not null") == [{"n": 0}]
    assert fresh_store.deletions() == []


def test_the_zgw_sink_is_told_on_each_link_and_the_documents_stay(tmp_path, monkeypatch, zgw_server):
    double, server = zgw_server
    double.reset()
    connector = connector_for(tmp_path, monkeypatch, server)
    try:
        store_page(connector, make_message("1", text="een bericht"))
        assert connector.drain().delivered == 1
        documents = len(double.documents)
        store_page(connector, deletions=[GONE])
        connector.drain()
        links = double.zaakinformatieobjecten
        assert links and all("Verwijderd op het platform" in link["beschrijving"] for link in links)
        assert all(GONE.reason in link["beschrijving"] for link in links)
        assert {a["resource"] for a in double.state.audit} == {link["url"] for link in links}
        assert all("Verwijderd op het platform" in a["toelichting"] for a in double.state.audit)
        assert len(double.documents) == documents  # nothing deleted, nothing new
        assert connector.store.query("select state, attempts from notices") == [{"state": "done", "attempts": 1}]
        [seen] = connector.store.deletions()
        assert seen["platform_id"] == "1" and seen["notices"] == {"zaken": "done"}
        connector.drain()
        assert len(double.state.audit) == len(links)  # told once
    finally:
        connector.close()


def test_a_notice_waits_for_the_delivery_and_a_sink_without_a_place_says_so(tmp_path, monkeypatch, zgw_server):
    double, server = zgw_server
    double.reset()
    connector = connector_for(tmp_path, monkeypatch, server, archive=True)
    try:
        store_page(connector, make_message("1"), deletions=[GONE])  # gone before it was delivered
        assert notices.deliver_notices(connector) == {"waiting": 1, "unsupported": 1}
        assert connector.drain().delivered == 2  # the record is archived all the same
        assert all(link["beschrijving"] == "" for link in double.zaakinformatieobjecten)
        later = datetime.now(timezone.utc) + notices.WAIT_FOR_RECORD + timedelta(seconds=1)
        assert notices.deliver_notices(connector, now=later) == {"done": 1}
        assert all("Verwijderd" in link["beschrijving"] for link in double.zaakinformatieobjecten)
        states_by_sink = {r["sink"]: r["state"] for r in connector.store.query("select sink, state from notices")}
        assert states_by_sink == {"zaken": "done", "archief": "unsupported"}
    finally:
        connector.close()


def test_a_failed_notice_is_retried_with_backoff_and_never_blocks_deliveries(tmp_path, monkeypatch, zgw_server):
    double, server = zgw_server
    double.reset()
    connector = connector_for(tmp_path, monkeypatch, server)
    try:
        store_page(connector, make_message("1"))
        connector.drain()
        store_page(connector, make_message("2"), deletions=[GONE])
        double.faults.outage(60)
        assert notices.deliver_notices(connector) == {"retry": 1}
        [row] = connector.store.query("select state, attempts, last_error, next_attempt_at from notices")
        assert row["state"] == "pending" and row["attempts"] == 1 and row["last_error"]
        double.faults.outage(0)
        assert notices.deliver_notices(connector) == {}  # not due before its backoff
        assert connector.drain().delivered == 1  # message 2 goes meanwhile
        assert connector.store.query("select state from deliveries d join messages m on m.id = d.message_id"
                                     " where m.platform_id = '2'") == [{"state": states.DELIVERED}]
    finally:
        connector.close()


def test_the_status_page_shows_the_deletion(tmp_path, monkeypatch, zgw_server):
    from connector.web import create_app

    double, server = zgw_server
    double.reset()
    connector = connector_for(tmp_path, monkeypatch, server)
    try:
        store_page(connector, make_message("1", url="https://social.example/@gemeente/1"))
        connector.drain()
        store_page(connector, deletions=[GONE])
        connector.drain()
        config = connector.config
        config.web["public_status"] = True
        body = create_app(config, store=connector.store).test_client().get("/status").get_json()
        assert body["deleted_on_platform"] == [{
            "channel": "test", "id": "1", "url": "https://social.example/@gemeente/1",
            "deleted_at": "2026-03-01T12:00:00.000Z", "reason": GONE.reason, "sinks": {"zaken": "done"}}]
    finally:
        connector.close()
