"""Archive one message now into a zaak a person chose (connector.ondemand, store.manual), against the ZGW
double (which validates every request and response against the official OpenAPI specs): held, delivered
elsewhere, never planned for the sink; re-routing keeps the documents; a worker's live claim is respected;
a missing zaak ends as a failure with its reason, never a lost message; everything audited with the user."""
from __future__ import annotations

import json

import pytest
import yaml

from connector import ondemand, states
from connector.config import load_config
from connector.engine import Connector

from .conftest import ZGW_SECRET, make_message
from .zgw_sink_support import ZAAK_42, by_identificatie

OTHER_ZAAK = "ZAAK-2026-0000000043"
RULES = """\
global_defaults:
  informatieobjecttype: Sociale-mediabericht
  vertrouwelijkheidaanduiding: intern
  titel: "Bericht {id}"
rules:
  - name: kermis
    when:
      keyword: kermis
    then:
      hold: een mens kiest de zaak
unmatched:
  attach: ZAAK-2026-0000000042
"""


def make_connector(tmp_path, server, monkeypatch, channels=(), **settings) -> Connector:
    """A connector with the RULES and one ZGW sink ``zaken`` on the double ``server``."""
    monkeypatch.setenv("ONDEMAND_ZGW_SECRET", ZGW_SECRET)
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "rules.yaml").write_text(RULES)
    sink = {"name": "zaken", "kind": "zgw", "options": {
        "zaken_url": server.zaken_url, "documenten_url": server.documenten_url, "catalogi_url": server.catalogi_url,
        "client_id": "connector", "secret": "${ONDEMAND_ZGW_SECRET}", "bronorganisatie": "002220647"}}
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump({"store": str(tmp_path / "c.db"), "mappings": str(tmp_path / "m"),
                                    "channels": list(channels), "sinks": [sink], **settings}))
    return Connector(load_config(path))


@pytest.fixture
def world(tmp_path, zgw_server, monkeypatch):
    """``(connector, double)``: a connector with one ZGW sink on the double, no channels."""
    double, server = zgw_server
    double.reset()
    connector = make_connector(tmp_path, server, monkeypatch)
    yield connector, double
    connector.close()


def store_message(connector, id="1", text="over de kermis op het plein"):
    message = make_message(id, channel="mastodon", text=text)
    [message_id] = connector.store.save_page("mastodon", [(message, connector.plan(message))], None).new
    return message_id


def delivery(connector, message_id):
    return connector.store.query("select * from deliveries where message_id = ?", [message_id])[0]


def events(connector, message_id, kind):
    return [json.loads(e["detail_json"]) for e in connector.store.query(
        "select detail_json from events where message_id = ? and kind = ? order by id", [message_id, kind])]


def links(double, identificatie):
    zaak = by_identificatie(double.zaken, identificatie)[0]["url"].split("/api/v1")[-1]
    return [z for z in double.zaakinformatieobjecten if z["zaak"].endswith(zaak)]


def test_a_held_message_is_archived_into_the_chosen_zaak_now_with_the_rules_document_fields(world):
    connector, double = world
    message_id = store_message(connector)
    assert delivery(connector, message_id)["state"] == states.HELD
    outcome = ondemand.archive(connector, message_id, "zaken", OTHER_ZAAK, "bert")
    assert (outcome.state, outcome.zaak_identificatie, outcome.documents) == (states.DELIVERED, OTHER_ZAAK, 2)
    assert len(links(double, OTHER_ZAAK)) == 2 and links(double, ZAAK_42) == []
    assert {d["vertrouwelijkheidaanduiding"] for d in double.documents} == {"intern"}  # from global_defaults
    routing = json.loads(delivery(connector, message_id)["routing_json"])
    assert (routing["rule"], routing["action"], routing["source"]) == ("handmatig", "attach", "web:bert")
    [audit] = events(connector, message_id, "delivery.rerouted")
    assert (audit["by"], audit["from_state"], audit["from_rule"]) == ("bert", "held", "kermis")
    assert double.violations == []


def test_rerouting_a_delivered_message_links_the_same_documents_into_the_other_zaak(world):
    connector, double = world
    message_id = store_message(connector, text="gewoon bericht")
    connector.deliver_due()
    assert delivery(connector, message_id)["zaak_identificatie"] == ZAAK_42
    documents = len(double.documents)
    outcome = ondemand.archive(connector, message_id, "zaken", OTHER_ZAAK, "anna")
    assert outcome.state == states.DELIVERED and outcome.zaak_identificatie == OTHER_ZAAK
    assert len(double.documents) == documents  # no document made twice
    assert {z["informatieobject"] for z in links(double, OTHER_ZAAK)} == \
        {z["informatieobject"] for z in links(double, ZAAK_42)}
    [audit] = events(connector, message_id, "delivery.rerouted")
    assert audit["from_zaak_identificatie"] == ZAAK_42 and audit["from_state"] == "delivered"
    assert set(audit["steps_redone"]) >= {"zaak", "link:rendition", "link:original"}
    assert all(name.startswith("document:") for name in audit["steps_kept"]) and audit["steps_kept"]


def test_a_zaak_that_does_not_exist_leaves_the_delivery_dead_with_the_reason(world):
    connector, double = world
    message_id = store_message(connector)
    outcome = ondemand.archive(connector, message_id, "zaken", "ZAAK-2026-0000009999", "bert")
    assert outcome.state == states.DEAD and "ZAAK-2026-0000009999 not found" in outcome.error
    assert double.documents == []
    again = ondemand.archive(connector, message_id, "zaken", ZAAK_42, "bert")  # the person chooses again
    assert again.state == states.DELIVERED


def test_a_delivery_a_worker_holds_is_not_taken_from_it(world):
    connector, double = world
    message_id = store_message(connector, text="gewoon bericht")
    [claimed] = connector.store.claim_due()
    with pytest.raises(ondemand.OnDemandError, match="being delivered right now"):
        ondemand.archive(connector, message_id, "zaken", OTHER_ZAAK, "bert")
    assert json.loads(delivery(connector, message_id)["routing_json"])["rule"] == "unmatched"
    connector.deliver_one(claimed)
    assert links(double, OTHER_ZAAK) == []


def test_a_paused_sink_keeps_it_pending_for_the_worker(world):
    from datetime import timedelta

    from connector.message import utcnow

    connector, double = world
    message_id = store_message(connector)
    connector.store.pause_sink("zaken", utcnow() + timedelta(minutes=5), "test")
    outcome = ondemand.archive(connector, message_id, "zaken", OTHER_ZAAK, "bert")
    assert outcome.state == states.PENDING and double.documents == []


def test_a_sink_the_rules_never_named_gets_a_delivery_of_its_own(world):
    connector, double = world
    message = make_message("7", channel="mastodon", text="iets")
    [message_id] = connector.store.save_page("mastodon", [(message, [])], None).new
    outcome = ondemand.archive(connector, message_id, "zaken", ZAAK_42, "bert")
    assert outcome.state == states.DELIVERED
    assert [e["assigned"]["by"] for e in events(connector, message_id, "delivery.pending")] == ["bert"]


def test_what_cannot_be_done_is_refused_with_a_reason(world):
    connector, _ = world
    message_id = store_message(connector)
    with pytest.raises(ondemand.OnDemandError, match="choose a zaak"):
        ondemand.archive(connector, message_id, "zaken", "  ", "bert")
    with pytest.raises(ondemand.OnDemandError, match="no sink 'elders'"):
        ondemand.archive(connector, message_id, "elders", ZAAK_42, "bert")
    with pytest.raises(ondemand.OnDemandError, match="longer than 40"):
        ondemand.archive(connector, message_id, "zaken", "Z" * 41, "bert")
    with pytest.raises(ondemand.OnDemandError, match="no message"):
        ondemand.archive(connector, 999, "zaken", ZAAK_42, "bert")
    assert delivery(connector, message_id)["state"] == states.HELD


def test_a_new_zaak_then_archive_into_it(world):
    connector, double = world
    message_id = store_message(connector)
    zaak = ondemand.create_zaak(connector, "zaken", "SOCIAL-VRAAG", "Vraag over de kermis", "", "nonce-1", "bert")
    outcome = ondemand.archive(connector, message_id, "zaken", zaak.identificatie, "bert")
    assert outcome.state == states.DELIVERED and outcome.zaak_url == zaak.url
    assert len(links(double, zaak.identificatie)) == 2
    [created] = [json.loads(e["detail_json"]) for e in connector.store.query(
        "select detail_json from events where kind = 'zaak.created_on_request'")]
    assert created["by"] == "bert" and created["identificatie"] == zaak.identificatie


def test_unrecognised_urls_are_refused_naming_the_channels_asked(world):
    connector, _ = world
    for url in ("javascript:alert(1)", "", "ftp://x/y", "https://" + "a" * 3000):
        with pytest.raises(ondemand.OnDemandError, match="not an http"):
            ondemand.recognise(connector, url)
    with pytest.raises(ondemand.OnDemandError, match="no configured channel recognises"):
        ondemand.recognise(connector, "https://social.example/@gemeente/1")


@pytest.fixture
def with_mastodon(tmp_path, zgw_server, monkeypatch):
    """``(connector, double, mastodon_url)``: a Mastodon channel on the replay double and the ZGW sink."""
    from .mastodon_support import REPLAY
    from connector_doubles.mastodon import MastodonDouble, serve

    double, server = zgw_server
    double.reset()
    mastodon = serve(MastodonDouble(REPLAY))
    channel = {"name": "social", "kind": "mastodon", "options": {"base_url": mastodon.url, "account": "schochastics"}}
    connector = make_connector(tmp_path, server, monkeypatch, [channel], delivery={"parent_grace": 0})
    yield connector, double, mastodon.url
    connector.close()
    mastodon.shutdown()


def test_a_pasted_post_url_is_fetched_stored_once_and_archived_into_the_chosen_zaak(with_mastodon):
    from .mastodon_support import replay

    connector, double, base = with_mastodon
    status = replay("schochastics")["statuses"][3]
    url = f"{base}/@schochastics/{status['id']}"
    fetched = ondemand.fetch_url(connector, url)
    assert fetched.channel == "social" and fetched.new
    row = connector.store.query("select platform_id, raw from messages where id = ?", [fetched.message_id])[0]
    assert row["platform_id"] == status["id"] and json.loads(row["raw"])["id"] == status["id"]
    assert connector.store.channel_state("social") is None  # the cursor is left alone
    again = ondemand.fetch_url(connector, url + "/")
    assert (again.message_id, again.new) == (fetched.message_id, False)
    assert connector.store.query("select count(*) as n from messages")[0]["n"] == 1
    outcome = ondemand.archive(connector, fetched.message_id, "zaken", OTHER_ZAAK, "bert")
    assert outcome.state == states.DELIVERED and len(links(double, OTHER_ZAAK)) == outcome.documents >= 2
    [audit] = [json.loads(e["detail_json"]) for e in connector.store.query(
        "select detail_json from events where kind = 'message.fetched_on_request'")][:1]
    assert audit["url"] == url


def test_a_post_that_is_gone_is_refused_with_the_platforms_reason_and_nothing_stored(with_mastodon):
    from connector.failures import PERMANENT, Failed

    connector, double, base = with_mastodon
    with pytest.raises(Failed) as caught:
        ondemand.fetch_url(connector, f"{base}/@schochastics/1")
    assert caught.value.failure.verdict == PERMANENT and "no such item" in caught.value.failure.message
    assert connector.store.query("select count(*) as n from messages")[0]["n"] == 0
