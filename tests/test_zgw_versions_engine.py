"""Versions through the engine into the ZGW double: an edit's zaak, and a version that arrives late."""
from __future__ import annotations

import json

import yaml

from connector import states
from connector.config import load_config
from connector.engine import Connector
from connector.failures import Failure

from .conftest import FIXTURES, ZGW_SECRET, make_message
from .test_fanout_zgw import zgw_sink

EDITED = "2026-01-02T00:00:00Z"


def connector_for(tmp_path, monkeypatch, server) -> Connector:
    monkeypatch.setenv("FANOUT_ZGW_SECRET", ZGW_SECRET)
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump({"store": str(tmp_path / "c.db"), "mappings": str(FIXTURES / "e2e" / "mappings"),
                                    "sinks": [zgw_sink("zaken", server, informatieobjecttype="Sociale-mediabericht")]}))
    return Connector(load_config(path))


def deliveries(connector):
    return connector.store.query("select d.id, m.version, d.state, d.documents_json from deliveries d"
                                 " join messages m on m.id = d.message_id order by m.id")


def late_zaak(connector) -> str:
    (zaak,) = {r["zaak_url"] for r in connector.store.query("select zaak_url from deliveries")}
    return zaak


def served(double, url):
    return next(d for d in double.documents if d["url"] == url)


def test_a_version_requeued_after_a_newer_one_was_delivered_is_archived_beside_it(tmp_path, monkeypatch, zgw_server):
    double, server = zgw_server
    double.reset()
    connector = connector_for(tmp_path, monkeypatch, server)
    try:
        first = make_message("1", text="eerste tekst")
        edit = make_message("1", text="bewerkte tekst", version=EDITED)
        connector.store.save_page("test", [(first, connector.plan(first))], {})
        connector.store.save_page("test", [(edit, connector.plan(edit))], {})
        [claimed] = connector.store.claim_due(limit=1)
        connector.store.mark_failed(claimed.id, Failure("permanent", "a rule bug, fixed since"), states.DEAD)
        assert connector.deliver_due().delivered == 1   # the edit goes: its earlier version is dead
        connector.store.requeue(claimed.id)
        assert connector.deliver_due().delivered == 1   # the first version, late
        early, late = deliveries(connector)
        assert early["state"] == late["state"] == "delivered"
        first_docs = {d["role"]: d for d in json.loads(early["documents_json"])}
        edit_docs = {d["role"]: d for d in json.loads(late["documents_json"])}
        for role in ("rendition", "original"):
            assert first_docs[role]["url"] != edit_docs[role]["url"]   # beside, not over the newer one
            assert served(double, edit_docs[role]["url"])["versie"] == 1   # the edit is still the newest
        assert double.document_content(first_docs["original"]["url"]) == first.raw.body
        assert double.document_content(edit_docs["original"]["url"]) == edit.raw.body
        linked = {d["informatieobject"]: d["zaak"] for d in double.zaakinformatieobjecten}
        assert {linked[d["url"]] for d in [*first_docs.values(), *edit_docs.values()]} == {late_zaak(connector)}
        assert double.violations == []
    finally:
        connector.close()
