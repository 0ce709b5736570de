"""The Mastodon replay double (doubles/connector_doubles/mastodon*.py) itself: lookups, Mastodon's paging,
the recorded pages byte for byte, rate-limit headers, tokens, faults, running standalone."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import requests

from connector_doubles.mastodon import MastodonDouble, serve
from connector.message import parse_iso

from .mastodon_support import (FIXTURES, RECORDINGS, REPLAY, ROOT, double, ids_oldest_first,  # noqa: F401
                               replay, server)


# -- the replay server itself ----------------------------------------------------------------

def test_double_lists_its_accounts(double):
    assert double.accounts[0] == "schochastics"
    assert set(double.accounts) == {p.stem for p in REPLAY.glob("*.json")}


@pytest.mark.parametrize("acct", ["schochastics", "@schochastics", "schochastics@fosstodon.org",
                                  "schochastics@127.0.0.1"])
def test_double_lookup(server, acct):
    response = requests.get(server.url + "/api/v1/accounts/lookup", params={"acct": acct}, timeout=5)
    assert response.status_code == 200
    assert response.json() == replay("schochastics")["account"]


@pytest.mark.parametrize("path", ["/api/v1/accounts/lookup?acct=nobody", "/api/v1/accounts/1/statuses",
                                  "/api/v1/statuses/1"])
def test_double_record_not_found(server, path):
    response = requests.get(server.url + path, timeout=5)
    assert (response.status_code, response.json()) == (404, {"error": "Record not found"})


def _statuses(server, account_id, **params):
    response = requests.get(f"{server.url}/api/v1/accounts/{account_id}/statuses", params=params, timeout=5)
    assert response.status_code == 200
    return [s["id"] for s in response.json()], response


@pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared recordings not available")
def test_double_serves_the_recorded_page_byte_for_byte(server):
    recorded = json.loads((FIXTURES / "fosstodon_statuses_page1.headers.json").read_text())
    account_id = replay("schochastics")["account"]["id"]
    _, response = _statuses(server, account_id, limit=20, exclude_reblogs="FALSE")
    assert response.content == (FIXTURES / "fosstodon_statuses_page1.json").read_bytes()
    assert response.headers["Link"] == recorded["headers"]["link"].replace("https://fosstodon.org", server.url)


@pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared recordings not available")
def test_double_paginates_like_the_recorded_server(tmp_path):
    yaml = pytest.importorskip("yaml")
    cassette = yaml.safe_load((RECORDINGS / "test_fetch_next_previous.yaml").read_text())["interactions"]
    created = [i["response"]["body"]["string"] for i in cassette if i["request"]["method"] == "POST"]
    account = json.loads(created[0])["account"]
    (tmp_path / "a.json").write_text(json.dumps({"account": account, "statuses": [json.loads(c) for c in created]}))
    with serve(MastodonDouble(tmp_path)) as served:
        for interaction in cassette:
            request = interaction["request"]
            if request["method"] != "GET" or "/statuses?" not in request["uri"]:
                continue
            uri = request["uri"].replace("http://localhost:3000", served.url)
            response = requests.get(uri, timeout=5)
            recorded = interaction["response"]
            assert [s["id"] for s in response.json()] == [s["id"] for s in json.loads(recorded["body"]["string"])]
            assert response.headers["Link"] == recorded["headers"]["link"][0].replace("http://localhost:3000",
                                                                                      served.url)


def test_double_paging_parameters(server):
    account_id = replay("schochastics")["account"]["id"]
    newest_first = ids_oldest_first("schochastics")[::-1]
    assert _statuses(server, account_id)[0] == newest_first[:20]
    assert _statuses(server, account_id, limit=3)[0] == newest_first[:3]
    assert len(_statuses(server, account_id, limit=100)[0]) == len(newest_first)  # capped at 40, only 20 exist
    assert _statuses(server, account_id, limit=3, max_id=newest_first[5])[0] == newest_first[6:9]
    # since_id: the newest page, only newer than since_id; min_id: the page right above min_id
    assert _statuses(server, account_id, limit=3, since_id=newest_first[10])[0] == newest_first[:3]
    assert _statuses(server, account_id, limit=3, min_id=newest_first[10])[0] == newest_first[7:10]
    ids, response = _statuses(server, account_id, limit=3, min_id=newest_first[0])
    assert ids == [] and "Link" not in response.headers


def test_double_rate_limit_headers_and_429(server, double):
    double.rate_limit = 2
    first = requests.get(server.url + "/api/v1/accounts/lookup?acct=admin", timeout=5)
    assert first.headers["X-RateLimit-Remaining"] == "1"
    assert parse_iso(first.headers["X-RateLimit-Reset"]) == double.reset_at
    requests.get(server.url + "/api/v1/accounts/lookup?acct=admin", timeout=5)
    third = requests.get(server.url + "/api/v1/accounts/lookup?acct=admin", timeout=5)
    assert third.status_code == 429
    assert (third.headers["X-RateLimit-Limit"], third.headers["X-RateLimit-Remaining"]) == ("2", "0")


def test_double_requires_token_when_configured(double):
    double.token = "tok"
    with serve(double) as served:
        url = served.url + "/api/v1/accounts/lookup?acct=admin"
        denied = requests.get(url, timeout=5)
        assert (denied.status_code, denied.json()) == (401, {"error": "The access token is invalid"})
        assert requests.get(url, headers={"Authorization": "Bearer tok"}, timeout=5).status_code == 200


def test_double_fault_fires_once(server, double):
    double.fail_next(503)
    url = server.url + "/api/v1/accounts/lookup?acct=admin"
    assert [requests.get(url, timeout=5).status_code for _ in range(2)] == [503, 200]
    assert [r["status"] for r in double.requests] == [503, 200]


def test_double_truncate_next_cuts_the_body_once(server, double):
    url = server.url + "/api/v1/accounts/lookup?acct=admin"
    whole = requests.get(url, timeout=5).content
    double.truncate_next(keep=0.5)
    cut = requests.get(url, timeout=5)
    assert cut.status_code == 200 and cut.content == whole[:len(whole) // 2]
    assert int(cut.headers["Content-Length"]) == len(cut.content)
    assert requests.get(url, timeout=5).content == whole


def test_double_repeat_boundary_makes_bounds_inclusive(server, double):
    account_id = replay("schochastics")["account"]["id"]
    newest_first = ids_oldest_first("schochastics")[::-1]
    double.repeat_boundary = True
    assert _statuses(server, account_id, limit=3, min_id=newest_first[10])[0] == newest_first[8:11]
    assert _statuses(server, account_id, limit=3, max_id=newest_first[5])[0] == newest_first[5:8]


def test_double_runs_standalone():
    process = subprocess.Popen([sys.executable, "-m", "connector_doubles.mastodon", "--port", "0"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = re.search(r"http://\S+", process.stdout.readline()).group(0)
        response = requests.get(url + "/api/v1/accounts/lookup?acct=schochastics", timeout=5)
        assert response.json()["acct"] == "schochastics"
    finally:
        process.terminate()
        process.wait(timeout=10)
