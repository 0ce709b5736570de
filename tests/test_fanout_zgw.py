"""Fan-out with ZGW sinks: what a ZGW sink can take (``validate_routing``), the sink's default
informatieobjecttype, ``connector mappings check --config``, and the README's fan-out example
delivering to two ZGW doubles."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from connector.config import load_config
from connector_doubles import zgw
from connector.engine import Connector
from connector.routing import Routing
from connector.rules import RulesError
from connector.store import DeliveryPlan

from .conftest import FIXTURES, ROOT, ZGW_SECRET, make_message, run_cli
from .test_fanout import HEADER, RecordingSink, ingest, rows

E2E_RULES = FIXTURES / "e2e" / "mappings" / "rules.yaml"
SINK_FIXTURE = FIXTURES / "rules" / "sinks" / "zgw-problems.yaml"


# -- what a ZGW sink can take -------------------------------------------------------------------

def zgw_sink(name: str, server=None, receives: str = "routed", **options) -> dict:
    urls = {key: getattr(server, key) if server else f"http://127.0.0.1:9/{key}"
            for key in ("zaken_url", "documenten_url", "catalogi_url")}
    return {"name": name, "kind": "zgw", "receives": receives, "options": {
        **urls, "client_id": "connector", "secret": "${FANOUT_ZGW_SECRET}", "bronorganisatie": "002220647",
        **options}}


@pytest.fixture
def write_config(tmp_path, monkeypatch):
    monkeypatch.setenv("FANOUT_ZGW_SECRET", ZGW_SECRET)

    def write(mappings, *sinks) -> Path:
        path = tmp_path / "connector.yaml"
        path.write_text(yaml.safe_dump({"store": str(tmp_path / "c.db"), "mappings": str(mappings),
                                        "sinks": list(sinks)}))
        return path

    return write


LONG_URL = "https://catalogi.example.nl/catalogi/api/v1/informatieobjecttypen/" + "7" * 80


@pytest.mark.parametrize("routing, option, problem", [
    (Routing("create", zaaktype="SOCIAL-MELDING", zaak={"omschrijving": "x" * 500}), "Bijlage", None),
    (Routing("create", zaaktype="SOCIAL-MELDING"), None, "no informatieobjecttype"),
    (Routing("follow_thread"), None, "no informatieobjecttype"),
    (Routing("follow_thread", informatieobjecttype=LONG_URL), None, None),
    (Routing("attach", zaak_identificatie="Z" * 40), "Bijlage", None),
    (Routing("attach", zaak_identificatie="Z" * 41), "Bijlage", "longer than 40 characters"),
    (Routing("attach", zaak_identificatie=None), "Bijlage", None),  # templated: not known yet
    (Routing("create", zaaktype="Z" * 51), "Bijlage", "longer than 50 characters"),
    (Routing("attach", zaak_identificatie="Z", informatieobjecttype="I" * 81), None, "longer than 80 characters"),
    (Routing("hold", reason="triage"), None, None),
])
def test_zgw_validate_routing(routing, option, problem):
    from connector.sinks.zgw import ZgwSink

    sink = ZgwSink("zaken", zgw_sink("zaken", informatieobjecttype=option)["options"] | {"secret": ZGW_SECRET})
    problems = sink.validate_routing(routing)
    assert (problems == []) if problem is None else (len(problems) == 1 and problem in problems[0])
    assert RecordingSink("other", {}).validate_routing(routing) == []  # the base: no problems


def test_zgw_holds_an_identificatie_over_40_characters_the_other_sink_delivers(tmp_path, write_config):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "rules.yaml").write_text(HEADER + """\
rules:
  - name: quoted
    when:
      regex: 'zaak (?P<nr>\\S+)'
    then:
      attach: "{match.nr}"
      informatieobjecttype: Sociale-mediabericht
""")
    config = load_config(write_config(tmp_path / "m", zgw_sink("zaken"),
                                      {"name": "archief", "kind": "fanout-test", "receives": "all"}))
    connector = Connector(config)
    RecordingSink.delivered, RecordingSink.down = [], set()
    try:
        ingest(connector, make_message("1", text="zaak " + "X" * 41))
        held = connector.store.query("select sink, state, routing_json from deliveries order by sink")
        assert [(r["sink"], r["state"]) for r in held] == [("archief", "pending"), ("zaken", "held")]
        reason = Routing.from_dict(yaml.safe_load(held[1]["routing_json"])).reason
        assert "sink 'zaken'" in reason and "longer than 40 characters" in reason
        connector.drain()
        assert RecordingSink.delivered == [("archief", "1")]
    finally:
        connector.close()


def test_rules_without_informatieobjecttype_use_the_zgw_sinks_option(tmp_path, write_config, zgw_server):
    double, server = zgw_server
    double.reset()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "rules.yaml").write_text(E2E_RULES.read_text().replace(
        "  informatieobjecttype: Sociale-mediabericht\n", ""))
    config = load_config(write_config(tmp_path / "m", zgw_sink("zaken", server,
                                                               informatieobjecttype="Sociale-mediabericht")))
    connector = Connector(config)
    try:
        ingest(connector, make_message("1"))
        assert connector.drain().delivered == 1
    finally:
        connector.close()
    iotypes = {doc["informatieobjecttype"] for doc in double.documents}
    assert len(double.documents) == 2 and len(iotypes) == 1
    assert iotypes.pop().endswith("/informatieobjecttypen/7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c01")


def _expected(marker: str) -> set[tuple[int, str]]:
    lines = SINK_FIXTURE.read_text().splitlines()
    return {(number, part) for number, line in enumerate(lines, 1)
            for found in [re.search(rf"# {marker}: (.+)$", line)] if found for part in found.group(1).split(" ... ")}


@pytest.mark.parametrize("option, marker", [(None, "expect"), ("Sociale-mediabericht", "expect-also")])
def test_mappings_check_with_config_reports_what_each_sink_cannot_take(capsys, tmp_path, write_config, option,
                                                                        marker):
    code, out, _ = run_cli(capsys, "mappings", "check", str(SINK_FIXTURE))
    assert (code, out) == (0, "")  # without a configuration: only the sink-neutral rules
    options = {"informatieobjecttype": option} if option else {}
    config = write_config(tmp_path, zgw_sink("zaken", **options))
    code, out, _ = run_cli(capsys, "mappings", "check", "--config", str(config), str(SINK_FIXTURE))
    problems = out.splitlines()
    want = _expected("expect-also") | (_expected("expect") if option is None else set())
    assert code == 1 and len(problems) == len({(n, p.split(", sink")[0]) for n, p in want}), out
    for number, part in want:
        assert any(line.startswith(f"{SINK_FIXTURE}:{number}: ") and part in line for line in problems), (part, out)
    assert "templated-is-not-checked" not in out


def test_no_informatieobjecttype_anywhere_refuses_to_start(tmp_path, write_config):
    config = load_config(write_config(SINK_FIXTURE, zgw_sink("zaken")))
    with pytest.raises(RulesError) as info:
        Connector(config)
    assert f"{SINK_FIXTURE}:5: rule 'create-it', sink 'zaken': no informatieobjecttype" in str(info.value)
    assert "option 'informatieobjecttype' of sink 'zaken'" in str(info.value)


def test_a_delivery_without_any_informatieobjecttype_is_a_configuration_error(tmp_path, write_config, zgw_server):
    """Stored while the sink still had the option: the sink pauses with a clear reason, no attempt is spent."""
    double, server = zgw_server
    double.reset()
    config = load_config(write_config(E2E_RULES, zgw_sink("zaken", server)))
    connector = Connector(config)
    try:
        routing = Routing("create", rule="old", zaaktype="SOCIAL-MELDING", informatieobjecttype=None)
        connector.store.save_page("test", [(make_message("1"), [DeliveryPlan("zaken", routing)])], {})
        result = connector.deliver_due()
        [row] = connector.store.deliveries()
        paused, reason = connector.store.sink_pause("zaken")
    finally:
        connector.close()
    assert result.released == 1 and (row["state"], row["attempts"]) == ("pending", 0)
    assert paused and "no informatieobjecttype" in reason and "option 'informatieobjecttype' of sink 'zaken'" in reason


# -- the README example, against two case systems ---------------------------------------------------

@pytest.fixture
def second_double():
    double = zgw.ZgwDouble(secret=ZGW_SECRET, client_ids=("connector",), seed=str(FIXTURES / "zgw" / "catalogus.yaml"))
    server = zgw.serve(double)
    yield double, server
    server.shutdown()


def test_readme_fanout_example_delivers_to_two_case_systems(tmp_path, monkeypatch, zgw_server, second_double):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### One message, several sinks (fan-out)")[1].split("\n### ")[0]
    [block] = re.findall(r"```yaml\n(.*?)```", section, re.S)
    example = yaml.safe_load(block)
    assert [(s["name"], s.get("receives", "routed")) for s in example["sinks"]] == [
        ("zaken", "routed"), ("nieuw-zaaksysteem", "all")]
    doubles = [zgw_server, second_double]
    for sink, (double, server) in zip(example["sinks"], doubles):
        double.reset()
        sink["options"].update({key: getattr(server, key) for key in ("zaken_url", "documenten_url", "catalogi_url")},
                               client_id="connector")
    monkeypatch.setenv("ZGW_SECRET", ZGW_SECRET)
    monkeypatch.setenv("NIEUW_ZGW_SECRET", ZGW_SECRET)
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({"store": "c.db", "mappings": str(E2E_RULES), **example}))
    connector = Connector(load_config(config))
    try:
        ingest(connector, make_message("1"), make_message("2", in_reply_to="1", created_minute=1))
        connector.drain()
        states = rows(connector)
    finally:
        connector.close()
    assert states == {key: {"zaken": "delivered", "nieuw-zaaksysteem": "delivered"} for key in ("1", "2")}
    for double, _ in doubles:  # each case system: one new zaak, the reply with its parent, two documents each
        [zaak] = [z for z in double.zaken if z["identificatie"].startswith("SOC-Z-")]
        assert len(double.documents) == 4 and len(double.zaakinformatieobjecten) == 4
        assert {link["zaak"] for link in double.zaakinformatieobjecten} == {zaak["url"]}
        assert double.violations == []


def test_an_otherwise_is_checked_against_every_sink_it_can_reach(capsys, tmp_path, write_config):
    """Replying to nothing, the otherwise: goes to its own sinks (none named: the first, zaken)."""
    (tmp_path / "rules.yaml").write_text(HEADER + """\
rules:
  - name: replies
    when: {is_reply: true}
    then:
      follow_thread:
        otherwise: {create: {zaaktype: SOCIAL-VRAAG}}
      sink: archief
      informatieobjecttype: Sociale-mediabericht
""")
    config = write_config(tmp_path, zgw_sink("zaken"), {"name": "archief", "kind": "fanout-test"})
    code, out, _ = run_cli(capsys, "mappings", "check", "--config", str(config), str(tmp_path / "rules.yaml"))
    assert code == 1 and out.splitlines() == [
        f"{tmp_path / 'rules.yaml'}:4: rule 'replies' (otherwise:), sink 'zaken': no informatieobjecttype: set one"
        " in the rule (or its defaults: or global_defaults:) or as option 'informatieobjecttype' of sink 'zaken'"]
