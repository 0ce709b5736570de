"""Channel servers -> connector -> ZGW double: exactly one document set per message, in the zaak the rules chose.

Everything runs over real HTTP on 127.0.0.1: the Mastodon and feed replay servers serve recorded
real responses, and the ZGW double validates every request and response against the official
OpenAPI specs.
"""
from __future__ import annotations

import json

import pytest
import yaml

from connector.config import load_config
from connector_doubles import feeds, mastodon
from connector.engine import Connector

from .conftest import FIXTURES, ZGW_SECRET as SECRET

ACCOUNT = "schochastics"


@pytest.fixture
def world(tmp_path, zgw_server, monkeypatch):
    zgw_double, zgw_srv = zgw_server
    zgw_double.reset()
    masto = mastodon.MastodonDouble(data_dir=str(FIXTURES / "mastodon" / "replay"))
    masto_srv = mastodon.serve(masto)
    feed = feeds.FeedDouble({"/feed.xml": str(FIXTURES / "rss" / "RSSWithComments.xml")})
    feed_srv = feeds.serve(feed)
    monkeypatch.setenv("E2E_ZGW_SECRET", SECRET)
    config = {
        "store": str(tmp_path / "connector.db"),
        "mappings": str(FIXTURES / "e2e" / "mappings"),
        "delivery": {"parent_grace": 0, "backoff_base": 1},
        "channels": [
            {"name": "masto", "kind": "mastodon", "options": {"base_url": masto_srv.url, "account": ACCOUNT,
                                                               "page_size": 7}},
            {"name": "feed", "kind": "rss", "options": {"url": feed_srv.url + "/feed.xml"}},
        ],
        "sinks": [{"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": zgw_srv.zaken_url, "documenten_url": zgw_srv.documenten_url,
            "catalogi_url": zgw_srv.catalogi_url, "client_id": "connector", "secret": "${E2E_ZGW_SECRET}",
            "bronorganisatie": "002220647"}}],
    }
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    connector = Connector(load_config(path))
    yield {"connector": connector, "zgw": zgw_double, "mastodon": masto, "feed": feed, "config": path}
    connector.close()
    masto_srv.shutdown()
    feed_srv.shutdown()


def assert_omschrijving(zaak, expected):
    """ZGW limits omschrijving to 80 characters: longer ones end in an ellipsis."""
    if len(expected) <= 80:
        assert zaak["omschrijving"] == expected
    else:
        assert len(zaak["omschrijving"]) == 80 and zaak["omschrijving"].endswith("…")
        assert expected.startswith(zaak["omschrijving"][:-1])


def posts(double):
    return [r for r in double.requests if r[0] == "POST"]


def delivered_rows(connector):
    return connector.store.query(
        "select m.channel, m.platform_id, m.version, m.message_json, d.state, d.rule, d.zaak_url, d.zaak_identificatie,"
        " d.documents_json from deliveries d join messages m on m.id = d.message_id order by m.id")


def test_every_message_lands_exactly_once_in_the_zaak_the_rules_chose(world):
    connector, double = world["connector"], world["zgw"]
    polls, result = connector.run_once()
    assert all(p.error is None for p in polls), [p.error for p in polls]
    rows = delivered_rows(connector)
    expected_statuses = len(world["mastodon"].statuses(ACCOUNT))
    assert sum(1 for r in rows if r["channel"] == "masto") == expected_statuses
    assert sum(1 for r in rows if r["channel"] == "feed") > 0
    assert {r["state"] for r in rows} == {"delivered"}, [(r["platform_id"], r["state"]) for r in rows]

    # exactly one rendition and one original per message, each linked exactly once
    assert len(double.documents) == 2 * len(rows)
    assert len({d["identificatie"] for d in double.documents}) == len(double.documents)
    linked = [z["informatieobject"] for z in double.zaakinformatieobjecten]
    assert sorted(linked) == sorted(d["url"] for d in double.documents)

    # each document sits in the zaak its delivery recorded; replies share their parent's zaak
    zaak_of_document = {z["informatieobject"]: z["zaak"] for z in double.zaakinformatieobjecten}
    by_id = {(r["channel"], r["platform_id"]): r for r in rows}
    for row in rows:
        documents = json.loads(row["documents_json"])
        assert {d["role"] for d in documents} == {"rendition", "original"}
        assert {zaak_of_document[d["url"]] for d in documents} == {row["zaak_url"]}
        message = json.loads(row["message_json"])
        parent = by_id.get((row["channel"], message["in_reply_to"])) if message["in_reply_to"] else None
        if row["rule"] == "replies" and parent:
            assert row["zaak_url"] == parent["zaak_url"]
        elif row["rule"] == "replies":  # parent unknown: the rule's fallback created a SOCIAL-VRAAG zaak
            zaak = next(z for z in double.zaken if z["url"] == row["zaak_url"])
            assert_omschrijving(zaak, f"Reply {message['id']} without a known parent")
        else:
            assert row["rule"] == "unmatched"
            zaak = next(z for z in double.zaken if z["url"] == row["zaak_url"])
            assert_omschrijving(zaak, f"Message {message['id']}")
    assert any(r["rule"] == "replies" and by_id.get((r["channel"], json.loads(r["message_json"])["in_reply_to"]))
               for r in rows), "the recording should contain at least one reply to a message of the same account"
    assert double.violations == []


def test_the_original_document_is_the_platform_payload_verbatim(world):
    connector, double = world["connector"], world["zgw"]
    connector.run_once()
    stored = connector.store.query("select raw, raw_sha256, platform_id from messages where channel = 'masto'")
    for row in stored:
        documents = json.loads(connector.store.query(
            "select documents_json from deliveries d join messages m on m.id = d.message_id"
            " where m.platform_id = ?", [row["platform_id"]])[0]["documents_json"])
        original = next(d for d in documents if d["role"] == "original")
        assert double.document_content(original["url"]) == row["raw"]
        served = next(d for d in double.documents if d["url"] == original["url"])
        assert served["integriteit"]["waarde"] == row["raw_sha256"]


def test_running_the_cycle_twice_adds_nothing(world):
    connector, double = world["connector"], world["zgw"]
    connector.run_once()
    zaken, documents, links, sent = (len(double.zaken), len(double.documents), len(double.zaakinformatieobjecten),
                                     len(posts(double)))
    polls, result = connector.run_once()
    assert sum(p.new for p in polls) == 0 and result.delivered == 0
    assert (len(double.zaken), len(double.documents), len(double.zaakinformatieobjecten)) == (zaken, documents, links)
    assert len(posts(double)) == sent


def test_new_post_quoting_a_zaak_number_is_attached_to_that_zaak(world):
    connector, double, masto = world["connector"], world["zgw"], world["mastodon"]
    connector.run_once()
    template = next(s for s in masto.statuses(ACCOUNT) if not s.get("in_reply_to_id") and not s.get("reblog"))
    status = dict(template, content="<p>Over ZAAK-2026-0000000042: de lantaarnpaal brandt weer</p>")
    new_id = masto.add_status(status)
    reply = dict(template, content="<p>Dank voor het melden!</p>", in_reply_to_id=new_id)
    reply_id = masto.add_status(reply)
    before = len(double.documents)
    polls, result = connector.run_once()
    assert sum(p.new for p in polls) == 2 and result.delivered == 2
    assert len(double.documents) == before + 4
    rows = {r["platform_id"]: r for r in delivered_rows(connector)}
    assert rows[new_id]["zaak_identificatie"] == "ZAAK-2026-0000000042"
    assert rows[new_id]["rule"] == "quoted-zaak"
    assert rows[reply_id]["zaak_url"] == rows[new_id]["zaak_url"]  # the reply followed its parent
    assert double.violations == []


def test_an_edit_becomes_the_next_version_of_the_same_documents(world):
    connector, double, masto = world["connector"], world["zgw"], world["mastodon"]
    connector.run_once()
    newest = masto.statuses(ACCOUNT)[0]["id"]
    masto.edit_status(newest, "<p>edited text</p>")
    polls, result = connector.run_once()
    rows = connector.store.query("select m.version, d.documents_json from messages m join deliveries d"
                                 " on d.message_id = m.id where m.platform_id = ? order by m.id", [newest])
    assert [r["version"] != "" for r in rows] == [False, True]
    assert result.delivered == 1
    first, edit = ([d["url"] for d in json.loads(r["documents_json"])] for r in rows)
    assert edit == first and len(first) == 2   # the same rendition and original documents ...
    for url in edit:   # ... each now in its second version, the first still retrievable
        served = next(d for d in double.documents if d["url"] == url)
        assert served["versie"] == 2 and not served["locked"]
        assert double.document_content(url) != double.state.blob(double.state.history[url.rsplit("/", 1)[1]][1][1])
    assert double.violations == []


def test_cli_run_once_exit_code_and_summary(world, capsys):
    from connector.cli import main

    world["connector"].close()
    code = main(["run", "--once", "--config", str(world["config"])])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "channel masto:" in out and "delivered" in out
