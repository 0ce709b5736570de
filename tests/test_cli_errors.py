"""The operator is told: a user's mistake is one clear line and exit 2, a failed cycle exits 1.

Named after the failure modes of the "Hardening" issue: wrong paths, a corrupted database, a
port out of range, an unknown state, and `run --once` that could deliver nothing.
"""
from __future__ import annotations

import argparse
import shutil

import pytest
import yaml

from connector.cli import build_parser, main
from connector_doubles import feeds
from connector.states import STATES

from .conftest import FIXTURES, ZGW_SECRET, run_cli


run = run_cli


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A valid configuration (no channels, a sink nobody calls) with its store in tmp_path."""
    monkeypatch.setenv("CLI_ZGW_SECRET", ZGW_SECRET)
    data = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    data.update(store=str(tmp_path / "c.db"), mappings=str(FIXTURES / "e2e" / "mappings"), channels=[])
    data["sinks"][0]["options"]["secret"] = "${CLI_ZGW_SECRET}"
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# -- user mistakes: one line, exit 2 --------------------------------------------------------------

@pytest.mark.parametrize("command", [["run", "--once"], ["check"], ["deliveries", "list"]])
def test_config_path_that_is_a_folder(capsys, tmp_path, command):
    code, _, err = run(capsys, *command, "--config", str(tmp_path))
    assert code == 2
    assert one_line(err).startswith(f"{tmp_path}: is a folder")


def test_mappings_test_on_a_missing_messages_file(capsys, tmp_path):
    missing = tmp_path / "nothing.jsonl"
    code, out, err = run(capsys, "mappings", "test", "--mappings", str(FIXTURES / "e2e" / "mappings"), str(missing))
    assert code == 2 and out == ""
    assert one_line(err) == f"{missing}: cannot read: No such file or directory"


@pytest.mark.parametrize("command", [
    ["run", "--once"], ["worker"], ["serve", "--port", "0"], ["deliveries", "list"], ["deliveries", "requeue", "1"],
])
def test_corrupted_database_is_named_not_a_traceback(capsys, tmp_path, config, command):
    (tmp_path / "c.db").write_bytes(b"this is not a SQLite database, it is a shopping list\n" * 100)
    code, out, err = run(capsys, *command, "--config", str(config))
    assert code == 2 and "status:" not in out
    assert one_line(err).startswith(f"{tmp_path / 'c.db'}: ")


@pytest.mark.parametrize("command", [["deliveries", "list"], ["deliveries", "requeue", "1"]])
def test_deliveries_with_a_wrong_store_path_do_not_create_an_empty_database(capsys, tmp_path, config, command):
    code, _, err = run(capsys, *command, "--config", str(config))
    assert code == 2
    assert one_line(err).startswith(f"{tmp_path / 'c.db'}: no such database")
    assert list(tmp_path.glob("c.db*")) == []


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
@pytest.mark.parametrize("command", ["serve", "demo"])
def test_port_out_of_range_is_refused(capsys, config, command, port):
    code, out, err = run(capsys, command, "--port", port)
    assert code == 2 and out == ""
    assert "argument --port: " in err and "is not a port number (0 to 65535)" in err


def test_deliveries_list_refuses_an_unknown_state_and_names_the_valid_ones(capsys, config):
    code, out, err = run(capsys, "deliveries", "list", "--state", "bogus", "--config", str(config))
    assert code == 2 and out == ""
    assert "invalid choice: 'bogus'" in err
    assert all(state in err for state in STATES)


# -- global options before and after the command ---------------------------------------------------

@pytest.mark.parametrize("argv,config,verbose", [
    (["check"], None, False),
    (["--config", "a.yaml", "check"], "a.yaml", False),
    (["-c", "a.yaml", "-v", "check"], "a.yaml", True),
    (["check", "-c", "b.yaml", "-v"], "b.yaml", True),
    (["-c", "a.yaml", "check", "--config", "b.yaml"], "b.yaml", False),  # after the command wins
    (["-c", "a.yaml", "deliveries", "list"], "a.yaml", False),
    (["-v", "deliveries", "requeue", "3", "-c", "b.yaml"], "b.yaml", True),
])
def test_global_options_before_and_after_the_command(argv, config, verbose):
    args = build_parser().parse_args(argv)
    assert (args.config, args.verbose) == (config, verbose)


def test_config_before_the_command_is_used(capsys, config):
    code, _, err = run(capsys, "--config", str(config), "deliveries", "list")
    assert code == 2 and "no such database" in err  # it read config: the store it names is missing


# -- help -----------------------------------------------------------------------------------------

def _parsers(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_and_command_has_help_text():
    for parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"{parser.prog} {choice.dest}: no help"
            else:
                assert action.help and action.help != argparse.SUPPRESS, \
                    f"{parser.prog} {action.option_strings or action.dest}: no help"


def test_top_level_help_has_no_markup(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "usage: connector" in out and "--config" in out
    assert "``" not in out and ":class:" not in out


# -- run --once: the exit code tells the truth ----------------------------------------------------

@pytest.fixture
def feed_world(tmp_path, zgw_server, monkeypatch):
    """A feed with messages and the ZGW double; ``configure(secret=..., informatieobjecttype=...)``."""
    double, server = zgw_server
    double.reset()
    feed = feeds.FeedDouble({"/feed.xml": str(FIXTURES / "rss" / "RSSWithComments.xml")})
    feed_server = feeds.serve(feed)

    def configure(secret=ZGW_SECRET, informatieobjecttype=None):
        mappings = tmp_path / "mappings"
        shutil.copytree(FIXTURES / "e2e" / "mappings", mappings)
        if informatieobjecttype:
            rules = mappings / "rules.yaml"
            rules.write_text(rules.read_text().replace("Sociale-mediabericht", informatieobjecttype))
        monkeypatch.setenv("CLI_ZGW_SECRET", secret)
        path = tmp_path / "connector.yaml"
        path.write_text(yaml.safe_dump({
            "store": str(tmp_path / "c.db"), "mappings": str(mappings),
            "channels": [{"name": "feed", "kind": "rss", "options": {"url": feed_server.url + "/feed.xml"}}],
            "sinks": [{"name": "zaken", "kind": "zgw", "options": {
                "zaken_url": server.zaken_url, "documenten_url": server.documenten_url,
                "catalogi_url": server.catalogi_url, "client_id": "connector", "secret": "${CLI_ZGW_SECRET}",
                "bronorganisatie": "002220647"}}],
        }))
        return str(path)

    yield configure
    feed_server.shutdown()


def test_run_once_with_a_wrong_secret_exits_1_and_says_the_sink_is_paused(capsys, feed_world):
    config = feed_world(secret="not-the-secret-of-the-case-system-0123456789")
    code, out, err = run(capsys, "run", "--once", "--config", config)
    assert code == 1, out
    assert "0 delivered" in out and "put back" in out
    paused = [line for line in out.splitlines() if line.startswith("sink zaken paused until ")]
    assert len(paused) == 1 and "configuration: " in paused[0] and "HTTP 403" in paused[0], out
    assert "HTTP 403" in err
    # run again while the sink is paused: nothing is attempted, still nothing delivered: still 1
    code, out, _ = run(capsys, "run", "--once", "--config", config)
    assert code == 1 and "0 delivered" in out and "sink zaken paused until " in out


def test_run_once_with_an_unknown_informatieobjecttype_exits_1(capsys, feed_world):
    config = feed_world(informatieobjecttype="Bestaat-niet")
    code, out, _ = run(capsys, "run", "--once", "--config", config)
    assert code == 1, out
    assert "sink zaken paused until " in out and "informatieobjecttype 'Bestaat-niet' not found" in out


def test_run_once_that_delivers_everything_exits_0(capsys, feed_world):
    code, out, err = run(capsys, "run", "--once", "--config", feed_world())
    assert code == 0, out + err
    assert "0 put back" in out and "0 dead" in out and "paused" not in out
