"""``connector serve`` runs the web app on waitress, a production WSGI server, in its own process.

Werkzeug's development server (what ``serve`` used before) warns "This is a development server"
and answers as ``Werkzeug/...``; waitress answers as ``waitress``. The test starts the real command
on port 0, so it also proves that the URL printed is the one actually bound, not ``:0``.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from connector.config import ConfigError, load_config

TOKEN = "serve-test-token-0123456789"
CONFIG = """\
store: var/connector.db
mappings: {mappings}
web:
  host: 127.0.0.1
  port: 0
  threads: 2
  status_token: ${{SERVE_STATUS_TOKEN}}
limits:
  worker_stale_after: 0
channels:
  - name: feed
    kind: rss
    options:
      url: http://127.0.0.1:9/feed.xml
sinks:
  - name: openzaak
    kind: zgw
    options:
      zaken_url: http://127.0.0.1:9/zaken/api/v1
      documenten_url: http://127.0.0.1:9/documenten/api/v1
      catalogi_url: http://127.0.0.1:9/catalogi/api/v1
      client_id: connector
      secret: ${{SERVE_ZGW_SECRET}}
      bronorganisatie: "002220647"
"""
ENV = {"SERVE_STATUS_TOKEN": TOKEN, "SERVE_ZGW_SECRET": "serve-test-secret"}


def write_config(tmp_path, web_threads: str | None = None) -> str:
    """The test configuration; ``web_threads`` replaces its ``threads: 2`` line."""
    from .conftest import ROOT

    text = CONFIG.format(mappings=ROOT / "mappings")
    if web_threads is not None:
        text = text.replace("  threads: 2\n", web_threads)
    path = tmp_path / "connector.yaml"
    path.write_text(text)
    return str(path)


def get(url: str, token: str | None = None):
    """(status, headers, body) of a GET, also for 4xx/5xx answers."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture
def served(tmp_path):
    """``connector serve`` in a subprocess: (process, base URL); killed if the test leaves it running."""
    import os

    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from connector.cli import main; sys.exit(main())",
         "serve", "--config", write_config(tmp_path)],
        cwd=tmp_path, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()  # the first line is the URL; '' if the process died
        assert line.startswith("status: http://"), (line, process.stderr.read() if process.poll() is not None else "")
        yield process, line.split(" ", 1)[1].strip().removesuffix("/status")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test_serve_runs_on_waitress_prints_the_bound_url_and_stops_on_sigterm(served):
    process, base = served
    assert not base.endswith(":0"), base  # port 0 in the config: the real port is printed

    status, headers, body = get(base + "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["Server"] == "waitress"

    status, _, _ = get(base + "/status")
    assert status == 401
    status, headers, body = get(base + "/status", token=TOKEN)
    assert status == 200 and headers["Server"] == "waitress"
    assert [c["name"] for c in json.loads(body)["channels"]] == ["feed"]

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    stderr = process.stderr.read()
    assert "development server" not in stderr, stderr


def test_serve_refuses_a_port_in_use_in_one_line(tmp_path, served):
    import os

    _, base = served
    port = base.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from connector.cli import main; sys.exit(main())",
         "serve", "--config", write_config(tmp_path), "--port", port],
        cwd=tmp_path, env={**os.environ, **ENV}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_web_threads_defaults_to_8_and_must_be_positive(tmp_path):
    path = write_config(tmp_path, web_threads="")
    assert load_config(path, environ=ENV).web["threads"] == 8
    path = write_config(tmp_path, web_threads="  threads: 0\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ=ENV)
    assert [str(p) for p in info.value.problems] == [f"{path}:6: web.threads: Must be greater than or equal to 1"
                                                     " and less than or equal to 256."]
