"""A throwaway PostgreSQL cluster for the tests (issue 13): Debian's server, started on a free 127.0.0.1 port
in a temporary folder, stopped when the test session ends. Nothing of a machine's own clusters is used.

* :func:`cluster` (once per test process, so once per pytest-xdist worker): ``initdb`` with a random
  password for the role ``connector`` (scram-sha-256, over TCP on 127.0.0.1 only, no Unix socket outside the
  folder), then ``pg_ctl start`` with durability off (``fsync``, ``synchronous_commit``,
  ``full_page_writes``: a test cluster that dies is thrown away anyway). PostgreSQL refuses to run as root,
  so under root it runs as Debian's ``postgres`` user (``runuser``), in a folder that user owns.
* A watchdog process per cluster stops it and removes its folder when the test process dies without running
  ``atexit`` (SIGKILL): no server is left behind.
* The ``pg_url`` fixture: a new empty database per test, ``postgresql://connector@127.0.0.1:PORT/NAME``,
  with the password in ``PGPASSWORD`` (where libpq and psycopg read it: never in the URL), dropped after.

Without the server's binaries (``scripts/setup.sh`` installs Debian's ``postgresql``) or without psycopg,
the tests that ask for it skip and say why.
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import importlib.util
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ROLE = "connector"
_LOCK = threading.Lock()
_RUNNING: dict[str, "Cluster"] = {}


@dataclass
class Cluster:
    folder: Path
    port: int
    password: str
    bin: Path
    as_user: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=ROLE, password=self.password,
                               dbname=database, connect_timeout=10, **kwargs)

    def stop(self) -> None:
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.folder, ignore_errors=True)


def binaries() -> Path | None:
    """The newest Debian PostgreSQL server's bin folder (or one on PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(os.path.realpath(initdb)).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"[:2000])


def start(durable: bool = False) -> Cluster:
    """A new cluster (see the module docstring); :class:`RuntimeError` with the server's words if it fails.

    ``durable``: keep PostgreSQL's defaults (``fsync``, ``synchronous_commit``, ``full_page_writes`` on), as a
    production server has them: the benchmarks measure with it, the tests without."""
    bin = binaries()
    if bin is None:
        raise FileNotFoundError("PostgreSQL's server is not installed (scripts/setup.sh installs Debian's postgresql)")
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="connector-pg-"))
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # the server refuses root
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    password = secrets.token_urlsafe(24)
    pwfile = folder / "pw"
    pwfile.write_text(password)
    if as_user:
        os.chown(pwfile, folder.stat().st_uid, folder.stat().st_gid)
    _run([*as_user, str(bin / "initdb"), "-D", str(folder / "data"), "-U", ROLE, f"--pwfile={pwfile}",
          "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], "initdb")
    pwfile.unlink()
    port = _free_port()
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={folder} -c max_connections=200"
               + ("" if durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"))
    _run([*as_user, str(bin / "pg_ctl"), "-D", str(folder / "data"), "-o", options, "-l", str(folder / "log"),
          "-w", "-t", "60", "start"], "pg_ctl start")
    running = Cluster(folder=folder, port=port, password=password, bin=bin, as_user=as_user)
    _watch(running)
    return running


# the watchdog of one cluster: argv is the pid to outlive, the cluster's folder and the command that stops it
_WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, folder, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while os.path.isdir(folder):
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
        break
    time.sleep(1)
"""


def _watch(running: Cluster) -> None:
    """Stop ``running`` and remove its folder once this process is gone, however it ended: ``atexit`` does not
    run after a SIGKILL (a test timeout, a killed xdist worker), and a server left behind keeps its port, its
    memory and its folder. A small process of its own session watches this one every second; it ends by itself
    when the folder goes (:meth:`Cluster.stop`)."""
    stop = [*running.as_user, str(running.bin / "pg_ctl"), "-D", str(running.folder / "data"), "-m", "immediate",
            "-w", "stop"]
    subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(running.folder), *stop],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)


def cluster() -> Cluster:
    """This test process's cluster, started on first use and stopped when the process exits; skips the
    calling test (with the reason) when PostgreSQL or psycopg is missing -- fails it under CI (``CI=true``),
    where ``scripts/setup.sh`` must have installed both: a PostgreSQL half of the suite that silently skips
    there would prove nothing."""
    missing = pytest.fail if os.environ.get("CI", "").lower() == "true" else pytest.skip
    if importlib.util.find_spec("psycopg") is None:
        missing("psycopg is not installed (bash scripts/setup.sh installs it)")
    with _LOCK:
        running = _RUNNING.get("cluster")
        if running is None:
            try:
                running = _RUNNING["cluster"] = start()
            except (FileNotFoundError, RuntimeError, subprocess.TimeoutExpired, KeyError) as exc:
                missing(f"no PostgreSQL for the tests: {exc}")
            atexit.register(running.stop)
        return running


@contextlib.contextmanager
def database(running: Cluster):
    """A new empty database on ``running``: its name, dropped (whoever is still connected) afterwards."""
    name = f"t_{secrets.token_hex(6)}"
    with running.connect(autocommit=True) as admin:
        admin.execute(f'create database "{name}" template template0')
    try:
        yield name
    finally:
        with running.connect(autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def pg_url(monkeypatch):
    """A new empty database on the test cluster: its URL (password in ``PGPASSWORD``), dropped afterwards."""
    running = cluster()
    monkeypatch.setenv("PGPASSWORD", running.password)
    with database(running) as name:
        yield running.url(name)
