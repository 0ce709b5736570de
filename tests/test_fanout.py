"""Fan-out: a message reaches every sink it should, each delivery on its own.

A recording sink (registered only here) shows where messages go and lets one sink fail; the ZGW
double shows the documented example end to end, with two case systems.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from connector.config import Config, ConfigError, SinkConfig, load_config
from connector.doubles import zgw
from connector.engine import Connector
from connector.failures import Failed, Failure
from connector.message import utcnow
from connector.routing import Routing
from connector.rules import RulesError
from connector.sinks.base import SINKS, Delivered, Document, Sink
from connector.store import DeliveryPlan

from .conftest import FIXTURES, ROOT, ZGW_SECRET, make_message, run_cli

E2E_RULES = FIXTURES / "e2e" / "mappings" / "rules.yaml"
SINK_FIXTURE = FIXTURES / "rules" / "sinks" / "zgw-problems.yaml"
HEADER = "unmatched:\n  hold: no rule matched\n"
DELIVERY = {"interval": 1, "batch_size": 50, "max_attempts": 5, "lease": 300, "backoff_base": 10,
            "backoff_max": 600, "pause_base": 30, "pause_max": 600, "breaker_threshold": 2}


class RecordingSink(Sink):
    """Records ``(sink, message id)`` per delivery; a sink named in ``down`` answers 503."""

    kind = "fanout-test"
    delivered: list = []
    down: set = set()
    fast_done = threading.Event()
    waited: list = []

    def deliver(self, message, routing, steps):
        if self.name == "slow" and not RecordingSink.waited:  # blocks until "fast" has delivered everything
            RecordingSink.waited.append(RecordingSink.fast_done.wait(timeout=5))
        if self.name in self.down:
            raise Failed(Failure("retry", f"{self.name}: HTTP 503"))
        self.delivered.append((self.name, message.id))
        if sum(name == "fast" for name, _ in self.delivered) >= 3:
            RecordingSink.fast_done.set()
        return Delivered(zaak_url=f"http://{self.name}/zaken/{message.id}", zaak_identificatie=f"Z-{message.id}",
                         documents=[Document("rendition", f"http://{self.name}/doc/{message.id}")])


if "fanout-test" not in SINKS:
    SINKS.register(RecordingSink)


@pytest.fixture
def build(tmp_path):
    """``build(rules_text, *sinks)``: a Connector on those rules; a sink is ``name`` or ``(name, receives)``."""
    made = []
    RecordingSink.delivered, RecordingSink.down = [], set()

    def factory(rules: str, *sinks):
        folder = tmp_path / f"mappings{len(made)}"
        folder.mkdir()
        (folder / "rules.yaml").write_text(rules)
        configs = [SinkConfig(*((s, "routed") if isinstance(s, str) else s)[:1], "fanout-test", {},
                              receives=((s, "routed") if isinstance(s, str) else s)[1]) for s in sinks]
        config = Config(path=tmp_path / "c.yaml", store=tmp_path / f"c{len(made)}.db", mappings=folder, web={},
                        delivery=DELIVERY, sinks=configs)
        connector = Connector(config)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        connector.close()


def ingest(connector, *messages):
    connector.store.save_page("test", [(m, connector.plan(m)) for m in messages], {})


def rows(connector) -> dict:
    """``{platform id: {sink: state}}`` of every delivery."""
    out = {}
    for row in connector.store.deliveries(limit=1000):
        out.setdefault(row["platform_id"], {})[row["sink"]] = row["state"]
    return out


ROUTES = HEADER + """\
rules:
  - name: to-b
    when: {hashtag: b}
    then: {create: {zaaktype: Z}, sink: b}
  - name: to-nobody-in-particular
    when: {hashtag: x}
    then: {create: {zaaktype: Z}}
  - name: not-archived
    when: {hashtag: skip}
    then: {ignore: our own boost, sink: b}
"""


def test_receives_all_gets_every_message_and_routed_only_its_own(build):
    connector = build(ROUTES, "a", "b", ("c", "all"))
    ingest(connector, make_message("1", hashtags=("b",)), make_message("2", hashtags=("x",)),
           make_message("3"), make_message("4", hashtags=("skip",)))
    assert rows(connector) == {
        "1": {"b": "pending", "c": "pending"},   # the rule names b; c receives all
        "2": {"a": "pending", "c": "pending"},   # names no sink: the first sink, and c
        "3": {"a": "held", "c": "held"},         # held: one held delivery per target sink
        "4": {"b": "ignored", "c": "ignored"},   # ignored where it would have gone
    }
    connector.drain()
    assert sorted(RecordingSink.delivered) == [("a", "2"), ("b", "1"), ("c", "1"), ("c", "2")]


def test_rule_naming_several_sinks_from_the_docs(build):
    """The fan-out example of mappings/README.md, loaded from the page itself."""
    readme = (ROOT / "mappings" / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "sink: [" in b]
    connector = build(block + HEADER, "zaken", "archief", "overig")
    ingest(connector, make_message("1", hashtags=("afval",)), make_message("2"))
    assert rows(connector) == {"1": {"zaken": "pending", "archief": "pending"}, "2": {"zaken": "held"}}
    connector.drain()
    assert sorted(RecordingSink.delivered) == [("archief", "1"), ("zaken", "1")]


def test_a_failing_sink_never_holds_up_another(build):
    connector = build(HEADER.replace("hold: no rule matched", "create: {zaaktype: Z}"), "zaken", ("archief", "all"))
    RecordingSink.down = {"archief"}
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(4)))
    connector.drain()
    states = rows(connector)
    assert {s["zaken"] for s in states.values()} == {"delivered"}
    assert {s["archief"] for s in states.values()} <= {"retry_wait", "pending"}
    paused, reason = connector.store.sink_pause("archief")
    assert paused and "HTTP 503" in reason and connector.store.sink_pause("zaken") == (None, None)
    ingest(connector, make_message("9", created_minute=9))  # archief is paused: zaken still delivers
    connector.drain()
    assert rows(connector)["9"] == {"zaken": "delivered", "archief": "pending"}
    attempts = {(r["platform_id"], r["sink"]): r["attempts"] for r in connector.store.deliveries(limit=100)}
    assert {attempts[(str(n), "zaken")] for n in (0, 1, 2, 3, 9)} == {1}  # one attempt each, none wasted
    assert attempts[("0", "archief")] >= 1 and attempts[("9", "archief")] == 0
    RecordingSink.down = set()
    later = utcnow() + timedelta(hours=2)  # past every backoff and pause
    while connector.deliver_due(now=later).delivered:
        pass
    assert {s for states in rows(connector).values() for s in states.values()} == {"delivered"}
    assert sorted(RecordingSink.delivered).count(("archief", "0")) == 1


def test_a_slow_sink_does_not_delay_another(build):
    """Each sink's share of a batch runs on its own thread: "fast" delivers while "slow" hangs."""
    connector = build(HEADER.replace("hold: no rule matched", "create: {zaaktype: Z}"), "slow", ("fast", "all"))
    RecordingSink.fast_done, RecordingSink.waited = threading.Event(), []
    ingest(connector, *(make_message(str(n), created_minute=n) for n in range(3)))
    assert connector.deliver_due().delivered == 6
    assert RecordingSink.waited == [True]  # "slow" saw "fast" finish while it was still busy


def test_single_sink_configs_keep_one_delivery(build):
    connector = build(ROUTES.replace("sink: b", "sink: only"), "only")
    ingest(connector, make_message("1", hashtags=("b",)), make_message("2", hashtags=("x",)), make_message("3"))
    assert rows(connector) == {"1": {"only": "pending"}, "2": {"only": "pending"}, "3": {"only": "held"}}


def test_deliveries_list_shows_one_row_per_sink(capsys, tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "rules.yaml").write_text(HEADER.replace("hold: no rule matched", "create: {zaaktype: Z}"))
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({"store": "c.db", "mappings": "m", "sinks": [
        {"name": "zaken", "kind": "fanout-test"}, {"name": "archief", "kind": "fanout-test", "receives": "all"}]}))
    connector = Connector(load_config(config))
    try:
        ingest(connector, make_message("1"))
        connector.drain()
    finally:
        connector.close()
    code, out, _ = run_cli(capsys, "-c", str(config), "deliveries", "list")
    listed = [yaml.safe_load(line) for line in out.splitlines()]
    assert code == 0 and [(r["platform_id"], r["sink"], r["state"]) for r in listed] == [
        ("1", "zaken", "delivered"), ("1", "archief", "delivered")]


def test_receives_must_be_routed_or_all(tmp_path):
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump({"sinks": [{"name": "zaken", "kind": "fanout-test", "receives": "some"}]}))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert "connector.yaml:4: sinks[0].receives: Use 'routed'" in str(info.value)


def test_routing_stored_before_fan_out_keeps_its_sink():
    stored = Routing("attach", zaak_identificatie="Z").to_dict()
    del stored["sinks"]
    stored["sink"] = "zaken"
    assert Routing.from_dict(stored).sinks == ("zaken",)
    assert Routing.from_dict(Routing("hold", sinks=("a", "b")).to_dict()).sinks == ("a", "b")


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


def test_connector_check_looks_names_up_in_every_target_sink(tmp_path):
    """`connector check` asks each target sink for the names a rule uses (here b, and c that receives all)."""
    from connector.cli.names import rule_names
    from connector.rules import load_rules

    (tmp_path / "rules.yaml").write_text(ROUTES.replace("create: {zaaktype: Z}, sink: b",
                                                        "create: {zaaktype: ZB}, sink: [b]"))
    configs = [SinkConfig("a", "zgw", {}), SinkConfig("b", "zgw", {}), SinkConfig("c", "zgw", {}, receives="all")]
    names, _ = rule_names(load_rules(tmp_path), "a", configs)
    assert [sink for sink in ("a", "b", "c") if ("zaaktype", "ZB") in names.get(sink, {})] == ["b", "c"]
    assert [sink for sink in ("a", "b", "c") if ("zaaktype", "Z") in names.get(sink, {})] == ["a", "c"]


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
