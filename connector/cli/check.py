"""``connector check`` (is everything set up right?) and ``connector health`` (is it working now?).

``check`` is for an operator after an install or a change, and for deployment scripts. In order:
the configuration (every problem as ``file:line: key: message``), the mapping rules (also against
the sinks they target), then every enabled channel and every sink: settings, connection,
credentials, and what the platform or case system must hold (the account, the names the rules use
in the sink's catalogue). Each item is one line ``channel NAME: [ok|FAIL] what: detail``; under each
failure a ``fix:`` line says what to do (:func:`connector.checks.fix_for`). The last line sums up.

Exit codes, for scripts:

* 0: everything checked passed;
* 1: the configuration and rules are valid, but a channel or sink failed a check (unreachable,
  credentials refused, an account or a catalogue name missing);
* 2: the configuration or the mapping rules are invalid (the problems are on stderr, one per line,
  as for every other command); nothing was contacted.

``health`` is the container's ``HEALTHCHECK``: the same check as ``/readyz``
(:func:`connector.health.problems`): the store is writable and a worker beat recently. Exit 0
healthy, 1 not, never 2 (Docker reserves it), and it never creates a store.
"""
from __future__ import annotations

from ..checks import fix_for
from .commands import Refused, _config_path, _load_config
from .names import rule_names

CONFIG_FIX = ("correct each line named on stderr (file:line: key: message) in {config};"
              " 'connector config schema' lists every channel and sink option")
RULES_FIX = ("correct each line named on stderr (file:line: message) in the mapping files;"
             " mappings/README.md is the reference, 'connector mappings check --config {config}' checks them alone")
STORE_FIX = ("the store named in {config} (store:) must be an SQLite file of the connector that this user may"
             " write, in a folder that exists; give a new path to start an empty one")


def cmd_check(args) -> int:
    connector = _connector(args)
    config_path = _config_path(args)
    config = connector.config
    failures: list[str] = []
    passed = 2
    try:
        variables = _secret_variables(config.path)
        current = connector.rules.current()
        names, templated = rule_names(current, config.default_sink, config.sinks)
        say(f"configuration: [ok] {config_path}: {len(config.channels)} channel(s), {len(config.sinks)} sink(s)")
        say(f"mappings: [ok] {config.mappings}: {len(current.rules)} rule(s), valid for the configured sinks")
        for sink_name, sink in connector.sinks.items():
            sink.expect_names(names.get(sink_name, {}))
        for channel in config.channels:
            if not channel.enabled:
                say(f"channel {channel.name}: [skipped] disabled (enabled: false), not contacted")
        for kind, items in (("channel", connector.sources), ("sink", connector.sinks)):
            for name, item in items.items():
                for check in item.check():  # each line as it comes: a check may wait for a timeout
                    say(f"{kind} {name}: {check}")
                    if check.ok:
                        passed += 1
                    else:
                        fix = fix_for(check, f"{kind} {name}", config_path, variables.get((kind, name), []))
                        say(f"    fix: {fix}")
                        failures.append(f"{kind} {name}: {check.name}")
    finally:
        connector.close()
    for line in templated:
        say(f"rules: {line}")
    if failures:
        say(f"check: {passed} passed, {len(failures)} failed ({'; '.join(failures)}): exit 1")
        return 1
    say(f"check: {passed} passed, nothing failed: exit 0")
    return 0


def say(line: str) -> None:
    print(line, flush=True)


def _secret_variables(path) -> dict[tuple[str, str], list[str]]:
    """``{("channel" or "sink", name): [VARIABLE, ...]}``: where each item's secrets come from, read from the
    file as written (``token: ${MASTODON_TOKEN}``), so a credentials failure can name the variable to renew."""
    from .. import yamlconf
    from ..config import ENV_REF, SECRET_KEYS

    try:
        data = yamlconf.load(path)
    except (yamlconf.YamlError, OSError):
        return {}
    found: dict[tuple[str, str], list[str]] = {}
    for section, kind in (("channels", "channel"), ("sinks", "sink")):
        for item in data.get(section) or []:
            options = item.get("options") if isinstance(item, dict) else None
            if isinstance(options, dict):
                found[(kind, str(item.get("name")))] = [
                    match.group(1) for key, value in options.items() if SECRET_KEYS.search(str(key))
                    for match in ENV_REF.finditer(str(value))]
    return found


def _connector(args):
    """The connector of the configuration, or exit 2 (the problems on stderr, the report's lines on stdout)."""
    from ..engine import Connector
    from ..rules import RulesError
    from ..store import StoreError

    config_path = _config_path(args)
    try:
        config = _load_config(args)
    except Refused as exc:
        _invalid("configuration", len(exc.lines), CONFIG_FIX.format(config=config_path))
        raise
    try:
        return Connector(config)
    except RulesError as exc:
        _invalid("mappings", len(exc.problems), RULES_FIX.format(config=config_path))
        raise Refused(*(str(problem) for problem in exc.problems)) from None
    except StoreError as exc:
        _invalid("store", 1, STORE_FIX.format(config=config_path))
        raise Refused(str(exc)) from None


def _invalid(what: str, count: int, fix: str) -> None:
    print(f"{what}: [FAIL] {count} problem(s), listed on stderr")
    print(f"    fix: {fix}")
    print(f"check: {what} invalid, nothing contacted: exit 2")


def cmd_health(args) -> int:
    from ..health import problems
    from ..store import Store, StoreError

    try:
        config = _load_config(args)
    except Refused as exc:
        for line in exc.lines:
            print(f"unhealthy: configuration: {line}")
        return 1
    try:
        store = Store.for_config(config, create=False)
    except StoreError as exc:
        print(f"unhealthy: store: {exc}")
        return 1
    try:
        found = problems(config, store)
    finally:
        store.close()
    for problem in found:
        print(f"unhealthy: {problem}")
    if not found:
        print("healthy")
    return 1 if found else 0
