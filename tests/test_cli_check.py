"""``connector check``'s report and exit code, against the local doubles (Mastodon, ZGW).

Each failed item is followed by a ``fix:`` line that says what to do, the last line sums up, and the
exit code tells a script what kind of trouble it is: 0 all passed, 1 a channel or sink failed (a
connection, credentials, an account), 2 the configuration or the mapping rules are invalid (nothing
contacted). A wrong token is never printed.
"""
from __future__ import annotations

import pytest
import yaml

from connector_doubles.mastodon import MastodonDouble, serve

from .conftest import FIXTURES, ZGW_SECRET, run_cli

MAPPINGS = FIXTURES.parent / "mappings"
REPLAY = FIXTURES / "mastodon" / "replay"
GOOD_TOKEN = "mastodon-token-the-double-accepts"
WRONG_TOKEN = "mastodon-token-nobody-issued-0123"
WRONG_SECRET = "not-the-secret-of-the-case-system-0123456789"


@pytest.fixture
def mastodon():
    served = serve(MastodonDouble(REPLAY, token=GOOD_TOKEN))
    yield served
    served.shutdown()


@pytest.fixture
def zgw(zgw_server):
    double, server = zgw_server
    double.reset()
    return server


@pytest.fixture
def write(tmp_path, monkeypatch, mastodon, zgw):
    """``write(token=..., secret=..., **changes)``: a configuration with one Mastodon channel and one ZGW sink."""
    def make(token=GOOD_TOKEN, secret=ZGW_SECRET, base_url=None, mappings=MAPPINGS, **changes):
        monkeypatch.setenv("CHECK_MASTODON_TOKEN", token)
        monkeypatch.setenv("CHECK_ZGW_SECRET", secret)
        config = {
            "store": str(tmp_path / "connector.db"),
            "mappings": str(mappings),
            "channels": [{"name": "masto", "kind": "mastodon", "options": {
                "base_url": base_url or mastodon.url, "account": "schochastics",
                "token": "${CHECK_MASTODON_TOKEN}"}}],
            "sinks": [{"name": "zaken", "kind": "zgw", "options": {
                "zaken_url": zgw.zaken_url, "documenten_url": zgw.documenten_url, "catalogi_url": zgw.catalogi_url,
                "client_id": "connector", "secret": "${CHECK_ZGW_SECRET}", "bronorganisatie": "002220647"}}],
            **changes,
        }
        path = tmp_path / "connector.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path
    return make


def check(capsys, path) -> tuple[int, list[str], str]:
    code, out, err = run_cli(capsys, "check", "--config", str(path))
    assert "Traceback" not in out + err
    return code, out.splitlines(), err


def fixes(lines: list[str], item: str) -> list[str]:
    """The fix lines printed under each failed check of ``item`` ("channel masto: [FAIL] credentials")."""
    return [lines[i + 1].strip() for i, line in enumerate(lines) if line.startswith(item)]


def test_everything_reachable_with_good_credentials_passes(capsys, write):
    path = write()
    code, lines, err = check(capsys, path)
    assert code == 0, lines
    assert lines[0] == f"configuration: [ok] {path}: 1 channel(s), 1 sink(s)"
    assert lines[1].startswith(f"mappings: [ok] {MAPPINGS}: ")
    for item in ("channel masto: [ok] connection", "channel masto: [ok] credentials",
                 "channel masto: [ok] account", "sink zaken: [ok] connection", "sink zaken: [ok] credentials"):
        assert any(line.startswith(item) for line in lines), (item, lines)
    assert not [line for line in lines if "FAIL" in line or "fix:" in line]
    passed = sum("[ok]" in line for line in lines)
    assert lines[-1] == f"check: {passed} passed, nothing failed: exit 0"


def test_a_wrong_channel_token_fails_as_credentials_says_what_to_renew_and_is_never_shown(capsys, write):
    code, lines, _ = check(capsys, write(token=WRONG_TOKEN))
    assert code == 1
    [fix] = fixes(lines, "channel masto: [FAIL] credentials")
    assert fix.startswith("fix: renew the token or secret of channel masto (environment variable CHECK_MASTODON_TOKEN)")
    assert not any(line.startswith("channel masto: [FAIL] account") for line in lines)  # not reached
    assert any(line.startswith("sink zaken: [ok] credentials") for line in lines)  # the rest is still checked
    assert lines[-1].endswith("1 failed (channel masto: credentials): exit 1"), lines[-1]
    assert WRONG_TOKEN not in "\n".join(lines)


def test_a_wrong_sink_secret_fails_as_credentials_and_the_catalogue_waits_for_it(capsys, write):
    code, lines, _ = check(capsys, write(secret=WRONG_SECRET))
    assert code == 1
    [fix] = fixes(lines, "sink zaken: [FAIL] credentials")
    assert fix.startswith("fix: renew the token or secret of sink zaken (environment variable CHECK_ZGW_SECRET)")
    [later] = fixes(lines, "sink zaken: [FAIL] catalogus: not checked")
    assert later.startswith("fix: fix the failure above first")
    assert "(sink zaken: credentials; sink zaken: catalogus)" in lines[-1] and lines[-1].endswith("exit 1")
    assert WRONG_SECRET not in "\n".join(lines)


def test_an_unreachable_channel_fails_as_connection_and_names_what_to_look_at(capsys, write):
    code, lines, _ = check(capsys, write(base_url="http://127.0.0.1:9"))
    assert code == 1
    [fix] = fixes(lines, "channel masto: [FAIL] connection")
    assert fix.startswith("fix: check the URL") and "DNS, proxy, firewall" in fix
    assert "(channel masto: connection)" in lines[-1]


def test_an_unknown_account_fails_as_account(capsys, write, tmp_path):
    path = write()
    data = yaml.safe_load(path.read_text())
    data["channels"][0]["options"]["account"] = "nobody-by-this-name"
    path.write_text(yaml.safe_dump(data))
    code, lines, _ = check(capsys, path)
    assert code == 1
    [fix] = fixes(lines, "channel masto: [FAIL] account")
    assert fix.startswith("fix: check the account, page or group named in the options of channel masto")


def test_a_disabled_channel_is_reported_and_not_contacted(capsys, write, tmp_path):
    path = write(base_url="http://127.0.0.1:9")
    data = yaml.safe_load(path.read_text())
    data["channels"][0]["enabled"] = False
    path.write_text(yaml.safe_dump(data))
    code, lines, _ = check(capsys, path)
    assert code == 0, lines
    assert "channel masto: [skipped] disabled (enabled: false), not contacted" in lines


def test_an_invalid_configuration_exits_2_with_the_problems_on_stderr_and_nothing_contacted(capsys, write):
    path = write()
    data = yaml.safe_load(path.read_text())
    data["channels"][0]["poll_interval"] = "often"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, lines, err = check(capsys, path)
    assert code == 2
    assert err.strip().startswith(f"{path}:") and "channels[0].poll_interval: Not a duration" in err
    assert lines[0] == "configuration: [FAIL] 1 problem(s), listed on stderr"
    assert lines[1].strip().startswith(f"fix: correct each line named on stderr (file:line: key: message) in {path}")
    assert lines[-1] == "check: configuration invalid, nothing contacted: exit 2"
    assert not [line for line in lines if line.startswith(("channel", "sink"))]


def test_invalid_mapping_rules_exit_2(capsys, write):
    code, lines, err = check(capsys, write(mappings=FIXTURES / "rules" / "broken" / "bad-regex.yaml"))
    assert code == 2
    assert "bad-regex.yaml:" in err
    assert lines[0].startswith("mappings: [FAIL] ")
    assert lines[-1] == "check: mappings invalid, nothing contacted: exit 2"
