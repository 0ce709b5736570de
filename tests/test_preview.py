"""``connector preview``: the exact requests a sink would send, written to files, nothing sent."""
from __future__ import annotations

import json

import pytest
import yaml
from lxml import etree

from connector.sinks.stuf import schema
from connector.sinks.stuf.messages import OPERATIONS

from .conftest import FIXTURES, run_cli

MESSAGES = FIXTURES / "mastodon" / "fosstodon_statuses_page1.json"
WS_PASSWORD = "ws-geheim-8731"
ZGW_SECRET = "zgw-geheim-9911-long-enough-for-hs256!"
UNREACHABLE = "http://127.0.0.1:9"   # nothing listens: a request sent would fail the run


@pytest.fixture
def setup(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PREVIEW_WS_PASSWORD", WS_PASSWORD)
    monkeypatch.setenv("PREVIEW_ZGW_SECRET", ZGW_SECRET)
    code, out, _ = run_cli(capsys, "messages", "parse", "mastodon", str(MESSAGES), "--channel", "masto")
    assert code == 0
    messages = tmp_path / "messages.jsonl"
    messages.write_text(out)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    rules = (FIXTURES / "e2e" / "mappings" / "rules.yaml").read_text()
    (mappings / "rules.yaml").write_text(rules.replace("SOCIAL-MELDING", "SOCMELD").replace("SOCIAL-VRAAG", "SOCVRAAG"))
    party = {"organisatie": "0392", "applicatie": "CONNECTOR"}
    config = {"store": str(tmp_path / "c.db"), "mappings": str(mappings), "sinks": [
        {"name": "zaken", "kind": "zgw", "options": {
            "zaken_url": f"{UNREACHABLE}/zaken/api/v1", "documenten_url": f"{UNREACHABLE}/documenten/api/v1",
            "catalogi_url": f"{UNREACHABLE}/catalogi/api/v1", "client_id": "connector",
            "secret": "${PREVIEW_ZGW_SECRET}", "bronorganisatie": "002220647",
            "informatieobjecttype": "Sociale-mediabericht"}},
        {"name": "decos", "kind": "stuf-zds", "receives": "all", "options": {
            "beantwoord_vraag_url": f"{UNREACHABLE}/BeantwoordVraag", "vrije_berichten_url": f"{UNREACHABLE}/VrijeBerichten",
            "ontvang_asynchroon_url": f"{UNREACHABLE}/OntvangAsynchroon", "zender": party,
            "ontvanger": {"organisatie": "0392", "applicatie": "DECOS"}, "ws_security_username": "connector",
            "ws_security_password": "${PREVIEW_WS_PASSWORD}"}},
        {"name": "archief", "kind": "archive", "receives": "all", "options": {
            "folder": str(tmp_path / "never"), "archiefvormer": {"naam": "Gemeente Voorbeeld"}}}]}
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, messages, tmp_path / "out"


def preview(capsys, setup, sink):
    config, messages, out = setup
    code, _, err = run_cli(capsys, "preview", "--config", str(config), "--sink", sink, str(messages), "--out", str(out))
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    return code, err, out, index


def test_stuf_preview_writes_every_soap_body_valid_with_its_action_and_no_secret(capsys, setup):
    code, err, out, index = preview(capsys, setup, "decos")
    assert code == 0, err
    sent = [entry for entry in index if "file" in entry]
    messages = {(e["channel"], e["id"]) for e in sent}
    assert len(messages) >= 5
    actions = {e["soap_action"] for e in sent}
    ops = OPERATIONS["1.1"]
    assert {ops["reserve_document"].action, ops["add_document"].action} <= actions
    for entry in sent:
        data = (out / entry["file"]).read_bytes()
        assert entry["media_type"] == "text/xml" and entry["url"].startswith(UNREACHABLE)
        assert WS_PASSWORD.encode() not in data and b"***" in data
        body = next(c for c in etree.fromstring(data)[1] if isinstance(c.tag, str))
        schema.validate("1.1", body)   # the exact body, as it would go out (with the content in it)
        assert body.tag == next(o.root for o in ops.values() if o.action == entry["soap_action"])
    assert "request(s)" in err


def test_zgw_preview_writes_the_json_bodies_and_sends_nothing(capsys, setup):
    code, err, out, index = preview(capsys, setup, "zaken")
    assert code == 0, err
    posts = [e for e in index if e.get("method") == "POST"]
    assert {e["operation"].rsplit("/", 1)[1] for e in posts} >= {"zaken", "enkelvoudiginformatieobjecten",
                                                                  "zaakinformatieobjecten"}
    document = next(json.loads((out / e["file"]).read_text()) for e in posts
                    if e["operation"].endswith("/enkelvoudiginformatieobjecten"))
    assert document["integriteit"]["algoritme"] == "sha_256" and document["inhoud"]
    assert not any(ZGW_SECRET in (out / e["file"]).read_text() for e in index if "file" in e)


def test_a_sink_that_writes_files_writes_them_into_the_preview_folder(capsys, setup, tmp_path):
    code, err, out, index = preview(capsys, setup, "archief")
    assert code == 0, err
    assert list((out / "archive").glob("sip-*/*/*.MDTO.xml")) and not (tmp_path / "never").exists()


def test_an_unknown_sink_is_refused_with_the_names_there_are(capsys, setup):
    config, messages, out = setup
    code, _, err = run_cli(capsys, "preview", "--config", str(config), "--sink", "nope", str(messages), "--out", str(out))
    assert code == 2 and "no sink 'nope'" in err and "zaken, decos, archief" in err


def test_a_routing_the_sink_cannot_take_is_listed_with_the_reason(capsys, setup):
    config, messages, out = setup
    rules = config.parent / "mappings" / "rules.yaml"
    rules.write_text(rules.read_text().replace("SOCMELD", "SOCIAL-MELDING"))   # 14 characters: StUF takes 10
    code, err, out, index = preview(capsys, setup, "decos")
    skipped = [e for e in index if "skipped" in e]
    assert skipped and all("longer than 10 characters" in e["skipped"] for e in skipped)
