"""Fan-out: a message reaches every sink it should, each delivery on its own.

A recording sink (registered only here) shows where messages go and lets one sink fail or hang;
``test_fanout_zgw.py`` does the ZGW side and the documented example with two case systems.
"""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
import yaml

from connector.config import Config, ConfigError, SinkConfig, load_config
from connector.engine import Connector
from connector.failures import Failed, Failure
from connector.message import utcnow
from connector.routing import Routing
from connector.sinks.base import SINKS, Delivered, Document, Sink

from .conftest import ROOT, ingest, make_message, run_cli

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
