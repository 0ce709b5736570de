"""The Yammer channel through the engine (``Connector.poll`` into a real store, delivered into the ZGW
double): every message stored once, replies delivered into their thread's zaak, an edit stored as
the next version, a bad item quarantined without failing the poll."""
from __future__ import annotations

import json

import pytest
import yaml

from connector.config import load_config
from connector.engine import Connector

from . import yammer_support
from .conftest import FIXTURES, ZGW_SECRET
from .yammer_support import TOKEN, by_id, recorded_ids

CHANNEL = "engage"
double = pytest.fixture(yammer_support.double)
server = pytest.fixture(yammer_support.server)


@pytest.fixture
def connector(tmp_path, zgw_server, server, monkeypatch):
    zgw_double, zgw_srv = zgw_server
    zgw_double.reset()
    monkeypatch.setenv("YAMMER_E2E_ZGW_SECRET", ZGW_SECRET)
    monkeypatch.setenv("YAMMER_E2E_TOKEN", TOKEN)
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "delivery": {"backoff_base": 1},
        "channels": [{"name": CHANNEL, "kind": "yammer", "options": {
            "group_id": 7, "token": "${YAMMER_E2E_TOKEN}", "base_url": server.url + "/api/v1"}}],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw_srv.zaken_url, "documenten_url": zgw_srv.documenten_url,
            "catalogi_url": zgw_srv.catalogi_url, "client_id": "connector", "secret": "${YAMMER_E2E_ZGW_SECRET}",
            "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    built = Connector(load_config(path))
    yield built
    built.close()


def stored(connector) -> list[tuple[str, str]]:
    rows = connector.store.query("select platform_id, version from messages where channel = ?", [CHANNEL])
    return sorted((r["platform_id"], r["version"]) for r in rows)


def test_a_group_is_stored_once_and_replies_land_in_their_threads_zaak(connector, zgw_server):
    result = connector.poll(CHANNEL)
    assert result.error is None and result.new == len(recorded_ids())
    assert stored(connector) == sorted((i, "") for i in recorded_ids())
    assert connector.poll(CHANNEL).new == 0
    polls, delivered = connector.run_once()
    rows = connector.store.query("select d.state, m.platform_id from deliveries d join messages m"
                                 " on m.id = d.message_id where m.channel = ?", [CHANNEL])
    assert {r["state"] for r in rows} == {"delivered"} and len(rows) == len(recorded_ids())
    zgw_double, _ = zgw_server
    # replies follow their thread into its zaak: one new zaak per root message (the double is seeded with others)
    made = {z["omschrijving"] for z in zgw_double.zaken if z["omschrijving"].startswith(("Message ", "Reply "))}
    assert made == {f"Message {m['id']}" for m in yammer_support.replay()["messages"] if not m["replied_to_id"]}


def test_an_edit_is_stored_as_the_next_version(connector, double):
    connector.poll(CHANNEL)
    double.edit_message("304", "Het persbericht is aangepast.")
    result = connector.poll(CHANNEL)
    assert result.error is None and result.new == 1
    versions = [v for i, v in stored(connector) if i == "304"]
    assert versions[0] == "" and versions[1].startswith("edit-") and len(versions) == 2


def test_a_bad_item_is_quarantined_and_the_channel_keeps_going(connector, double):
    connector.poll(CHANNEL)
    bad = double.add_message(by_id(302))
    item = dict(by_id(302), id=int(bad), created_at="gisteren")
    double.set_text(bad, json.dumps(item).encode())
    good = double.add_message(by_id(302))
    result = connector.poll(CHANNEL)
    assert result.error is None and result.new == 1 and result.quarantined == 1
    held = connector.store.query("select item_id, reason from quarantine where channel = ?", [CHANNEL])
    assert [(h["item_id"], "not a Yammer date" in h["reason"]) for h in held] == [(bad, True)]
    assert good in {i for i, _ in stored(connector)}
