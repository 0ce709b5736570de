"""The admin CLI: messages parse, mappings check/test, deliveries, run --once with broken mappings."""
from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml


from .conftest import FIXTURES, run_cli

MASTODON_PAGE = FIXTURES / "mastodon" / "fosstodon_statuses_page1.json"
ISSUE_KEYS = {"channel", "id", "url", "author", "created_at", "edited_at", "kind", "in_reply_to", "thread_id",
              "text", "html", "language", "hashtags", "mentions", "attachments"}


run = run_cli


def test_parse_mastodon_page_prints_one_message_per_status(capsys):
    code, out, err = run(capsys, "messages", "parse", "mastodon", str(MASTODON_PAGE))
    statuses = json.loads(MASTODON_PAGE.read_bytes())
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and err == ""
    assert [m["id"] for m in lines] == [s["id"] for s in statuses]
    assert all(ISSUE_KEYS <= set(m) for m in lines)
    assert all(m["created_at"].endswith("Z") for m in lines)
    assert set(lines[0]["author"]) == {"id", "handle", "name"}


def test_parse_rss_feed(capsys):
    code, out, _ = run(capsys, "messages", "parse", "rss", "--channel", "nieuws", str(FIXTURES / "rss" / "TechCrunch.xml"))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines and {m["channel"] for m in lines} == {"nieuws"}


@pytest.mark.parametrize("kind,name,position", [
    ("mastodon", "mastodon/malformed/truncated.json", ":1:"),
    ("rss", "rss/not-a-feed.html", ":8:"),
])
def test_parse_malformed_file_is_one_line_with_position_and_exit_2(capsys, kind, name, position):
    path = FIXTURES / name
    code, out, err = run(capsys, "messages", "parse", kind, str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"{path}{position}")


def test_parse_with_one_bad_item_prints_the_rest_and_exits_2(capsys):
    path = FIXTURES / "mastodon" / "malformed" / "status_missing_id.json"
    code, out, err = run(capsys, "messages", "parse", "mastodon", str(path))
    assert code == 2
    assert "skipped: missing 'id'" in err


def test_parse_unknown_kind(capsys):
    code, _, err = run(capsys, "messages", "parse", "myspace", str(MASTODON_PAGE))
    assert code == 2 and "unknown channel kind 'myspace'" in err


def test_mappings_check_valid(capsys):
    code, out, _ = run(capsys, "mappings", "check", str(FIXTURES.parent / "mappings"))
    assert code == 0 and out == ""


def test_mappings_check_broken_prints_file_line_messages(capsys):
    path = FIXTURES / "rules" / "broken" / "bad-regex.yaml"
    code, out, _ = run(capsys, "mappings", "check", str(path))
    assert code == 1
    lines = out.strip().splitlines()
    assert lines and all(line.startswith(f"{path}:") and line.split(":")[1].isdigit() for line in lines)


def test_mappings_test_shows_rule_and_routing(capsys, tmp_path):
    _, parsed, _ = run(capsys, "messages", "parse", "mastodon", "--channel", "masto", str(MASTODON_PAGE))
    messages = tmp_path / "m.jsonl"
    messages.write_text(parsed)
    code, out, _ = run(capsys, "mappings", "test", "--mappings", str(FIXTURES / "e2e" / "mappings"), str(messages))
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(results) == len(parsed.splitlines())
    for result in results:
        assert result["rule"] in ("replies", "unmatched", "quoted-zaak")
        assert result["routing"]["action"] in ("follow_thread", "create", "attach")
        assert result["source"].startswith(str(FIXTURES / "e2e" / "mappings"))


def test_mappings_test_rejects_garbage_lines(capsys, tmp_path):
    messages = tmp_path / "m.jsonl"
    messages.write_text('{"not": "a message"}\n')
    code, _, err = run(capsys, "mappings", "test", "--mappings", str(FIXTURES / "e2e" / "mappings"), str(messages))
    assert code == 2 and err.startswith(f"{messages}:1:")


def test_run_once_with_broken_mappings_exits_2_and_leaves_the_store_untouched(capsys, tmp_path, monkeypatch):
    mappings = tmp_path / "mappings"
    shutil.copytree(FIXTURES / "e2e" / "mappings", mappings)
    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config["store"] = str(tmp_path / "c.db")
    config["mappings"] = str(mappings)
    config["channels"][0]["options"].pop("token")
    config["sinks"][0]["options"]["secret"] = "${TEST_ZGW_SECRET}"  # a default would be a literal secret
    monkeypatch.setenv("TEST_ZGW_SECRET", "x")
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    (mappings / "rules.yaml").write_text((mappings / "rules.yaml").read_text().replace("regex:", "regexp:"))
    code, _, err = run(capsys, "run", "--once", "--config", str(path))
    assert code == 2
    assert f"{mappings / 'rules.yaml'}:" in err and "regexp" in err
    assert not (tmp_path / "c.db").exists()


def test_every_command_is_documented_in_the_readme():
    from connector.cli import build_parser

    readme = (FIXTURES.parent / "README.md").read_text()
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in commands.items():
        nested = [a for a in sub._actions if a.__class__.__name__ == "_SubParsersAction"]
        names = [f"connector {name} {child}" for child in nested[0].choices] if nested else [f"connector {name}"]
        for full in names:
            assert f"`{full}" in readme, f"{full} is not documented in README.md"


def test_deliveries_list_dead_shows_why_and_requeue_brings_it_back(capsys, tmp_path, monkeypatch):
    from connector import states
    from connector.failures import Failure
    from connector.routing import Routing
    from connector.store import DeliveryPlan, Store

    from .conftest import make_message

    config = yaml.safe_load((FIXTURES / "config" / "valid.yaml").read_text())
    config["store"] = str(tmp_path / "c.db")
    config["mappings"] = str(FIXTURES / "e2e" / "mappings")
    config["channels"][0]["options"].pop("token")
    config["sinks"][0]["options"]["secret"] = "${TEST_ZGW_SECRET}"  # a default would be a literal secret
    monkeypatch.setenv("TEST_ZGW_SECRET", "x")
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump(config))
    store = Store(tmp_path / "c.db")
    store.save_page("ch", [(make_message("1"), [DeliveryPlan("openzaak", Routing("attach", zaak_identificatie="Z"))])],
                    {})
    row = store.claim_due()[0]
    problem = "POST /zaken: HTTP 400 Invalid input. [zaaktype: no_match (zaaktype is niet gepubliceerd)]"
    store.mark_failed(row.id, Failure("permanent", problem), states.DEAD)
    store.close()

    code, out, _ = run(capsys, "deliveries", "list", "--state", "dead", "--config", str(path))
    listed = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [d["id"] for d in listed] == [row.id]
    assert listed[0]["last_error"] == problem and listed[0]["attempts"] == 1
    code, out, _ = run(capsys, "deliveries", "requeue", str(row.id), "--config", str(path))
    assert code == 0
    code, out, _ = run(capsys, "deliveries", "list", "--state", "pending", "--config", str(path))
    assert [json.loads(line)["id"] for line in out.splitlines()] == [row.id]
    code, _, err = run(capsys, "deliveries", "requeue", "999", "--config", str(path))
    assert code == 2 and "no delivery 999" in err


def test_demo_prints_a_way_to_look_at_what_arrived_that_works(tmp_path):
    """The demo's case system answers 403 without a JWT: the demo prints a URL on its own web app
    and a ready-to-run curl line with a token; both show the zaak a message was delivered into."""
    import queue
    import re
    import shlex
    import signal
    import subprocess
    import sys
    import threading

    import requests

    log = (tmp_path / "stderr.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "demo", "--port", "0", "--workdir", str(tmp_path), "--seconds", "300"],
        cwd=FIXTURES.parent, stdout=subprocess.PIPE, stderr=log, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # a hang below: SIGABRT prints every thread's stack
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout] + [lines.put(None)],
                     daemon=True).start()
    try:
        status = view = command = arrived = login = None
        while arrived is None:
            line = lines.get(timeout=300)
            assert line is not None, "the demo stopped before anything arrived"
            if "web UI:" in line:
                login = re.search(r"(http://\S+/login)\s+\(user (\S+), password (\S+);", line).groups()
            elif "status (helpdesk):" in line:
                status = line.split()[-1]
            elif "what arrived:" in line:
                view = re.search(r"(http://\S+/demo/zaken)", line).group(1)
            elif line.strip().startswith("curl "):
                command = shlex.split(line.strip())
            elif " -> zaaksysteem: " in line:
                arrived = re.search(r" -> zaaksysteem: (\S+) \((\d) documents", line).groups()
        assert status and view and command and login
        browser = requests.Session()  # the printed demo admin logs in to the web UI (a form with its CSRF token)
        form = browser.get(login[0], timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        answer = browser.post(login[0], data={"csrf_token": token, "naam": login[1], "wachtwoord": login[2]},
                              timeout=10)
        assert answer.status_code == 200 and login[1] in answer.text and "Aanmelden" not in answer.url
        assert requests.get(status, timeout=10).json()["deliveries"]["delivered"] >= 1

        listing = requests.get(view, timeout=10).json()
        zaak = next(z for z in listing["results"] if z["identificatie"] == arrived[0])
        assert len(zaak["documenten"]) == int(arrived[1]) == 2
        rendition = requests.get(zaak["documenten"][0]["inhoud"], timeout=10)
        assert rendition.status_code == 200 and rendition.content

        headers = dict(h.split(": ", 1) for flag, h in zip(command, command[1:]) if flag == "-H")
        api = requests.get(command[-1], headers=headers, timeout=10)
        assert api.status_code == 200, api.text
        assert arrived[0] in {z["identificatie"] for z in api.json()["results"]}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=30)
            code = "still running 60 s after Ctrl-C; its threads:"
        log.close()
        assert code == 0, f"{code}\n" + (tmp_path / "stderr.log").read_text()[-12000:]
