"""connector.yaml: validated at start, every problem at once with file:line, secrets from the environment."""
from __future__ import annotations

import shutil

import pytest

from connector.config import ConfigError, load_config

from .conftest import FIXTURES

CONFIGS = FIXTURES / "config"
ENV = {"TEST_MASTODON_TOKEN": "token-from-env", "TEST_ZGW_SECRET": "secret-from-env"}


def problems_of(name, environ=ENV):
    with pytest.raises(ConfigError) as info:
        load_config(CONFIGS / name, environ=environ)
    return [str(p) for p in info.value.problems]


def test_valid_config_loads_with_secrets_from_the_environment():
    config = load_config(CONFIGS / "valid.yaml", environ=ENV)
    assert [c.name for c in config.channels] == ["gemeente-mastodon", "nieuws"]
    assert config.channels[0].poll_interval == 300
    assert config.channels[0].options["token"] == "token-from-env"
    assert config.sinks[0].options["secret"] == "secret-from-env"
    assert config.store == CONFIGS / "var/test.db"  # relative to the config file
    assert config.delivery["interval"] == 5 and config.delivery["max_attempts"] == 3
    assert config.default_sink == "openzaak"


def test_every_problem_is_reported_at_once_with_file_and_line():
    found = problems_of("broken_many.yaml")
    path = str(CONFIGS / "broken_many.yaml")
    expected_lines = {
        "colour": 3,                          # unknown top-level key
        "channels[0].poll_interval": 7,       # not a duration
        "channels[0].options.base_url": 9,    # not a URL (the source's own schema)
        "channels[1].name": 11,               # bad name
        "channels[1].kind": 12,               # unknown kind
        "sinks[0].options.secret": 22,        # a literal secret
    }
    for key, line in expected_lines.items():
        assert any(p.startswith(f"{path}:{line}: {key}") for p in found), (key, found)
    assert len(found) == len(expected_lines), found


def test_unknown_key_message_names_the_key():
    found = problems_of("broken_many.yaml")
    assert any("colour: Unknown field." in p for p in found)


def test_secret_value_never_appears_in_errors():
    found = "\n".join(problems_of("broken_many.yaml"))
    assert "hunter2" not in found


def test_yaml_syntax_error_has_a_line():
    (problem,) = problems_of("broken_syntax.yaml")
    assert problem.startswith(f"{CONFIGS / 'broken_syntax.yaml'}:")
    assert "invalid YAML" in problem
    assert int(problem.split(":")[1]) in (5, 6)


def test_missing_environment_variable_is_named_not_its_value():
    (problem,) = problems_of("broken_env.yaml", environ={})
    assert problem == (f"{CONFIGS / 'broken_env.yaml'}:11: sinks[0].options.secret: "
                       "environment variable TEST_UNSET_SECRET_VARIABLE is not set")


def test_duplicate_channel_names():
    (problem,) = problems_of("duplicate_names.yaml")
    assert ":4: channels[1].name: Duplicate name 'same'." in problem


def test_missing_file():
    (problem,) = problems_of("does-not-exist.yaml")
    assert "configuration file not found" in problem


def test_default_with_fallback_value(tmp_path):
    text = (CONFIGS / "valid.yaml").read_text().replace("${TEST_MASTODON_TOKEN}", "${UNSET_TOKEN_VAR:-}")
    target = tmp_path / "c.yaml"
    target.write_text(text.replace("../../mappings", str(FIXTURES.parent / "mappings")))
    config = load_config(target, environ={"TEST_ZGW_SECRET": "s"})
    assert config.channels[0].options["token"] == ""


def test_broken_config_leaves_the_previous_state_untouched(tmp_path):
    """`connector run --once` with a broken config exits 2 and does not touch the store."""
    from connector.cli import main

    target = tmp_path / "connector.yaml"
    shutil.copy(CONFIGS / "broken_many.yaml", target)
    text = target.read_text().replace("var/test.db", str(tmp_path / "store.db"))
    target.write_text(text)
    with pytest.raises(SystemExit) as info:
        main(["run", "--once", "--config", str(target)])
    assert info.value.code == 2
    assert not (tmp_path / "store.db").exists()


def test_literal_secrets_behind_a_default_or_inside_a_url_are_refused():
    found = problems_of("broken_secrets.yaml", environ={"FEED_PASSWORD": "p", "FEED_KEY": "k"})
    path = CONFIGS / "broken_secrets.yaml"
    from_env = "secrets must come from the environment; write ${SOME_VARIABLE} for the"
    assert found == [
        f"{path}:8: channels[0].options.url: {from_env} password in the URL",
        f"{path}:12: channels[1].options.url: {from_env} value of query parameter 'API_KEY'",
        f"{path}:16: channels[2].options.url: {from_env} value of query parameter 'token'",
        f"{path}:35: sinks[0].options.secret: secrets must come from the environment;"
        " write ${NOPE} without a default value",
    ]
    assert "hunter2" not in "\n".join(found)


@pytest.mark.parametrize("url", [
    "https://feeds.example.nl/news.rss?lang=nl&page=2",           # no credentials at all
    "https://reader:${PASS}@feeds.example.nl/news.rss",           # user name literal, password from env
    "https://${TOKEN}@feeds.example.nl/news.rss",                 # a token as user name, from env
    "https://feeds.example.nl/news.rss?api_key=${KEY}&sig=",      # an empty value holds nothing
])
def test_credentials_in_a_url_from_the_environment_are_accepted(tmp_path, url):
    text = (CONFIGS / "valid.yaml").read_text().replace("https://www.example.nl/nieuws.rss", url)
    target = tmp_path / "c.yaml"
    target.write_text(text.replace("../../mappings", str(FIXTURES.parent / "mappings")))
    config = load_config(target, environ={**ENV, "PASS": "pass-value", "TOKEN": "token-value", "KEY": "key-value"})
    assert "${" not in config.channels[1].options["url"]


@pytest.mark.parametrize("url", [
    "https://reader@feeds.example.nl/news.rss",                   # a lone user name may be a token
    "https://feeds.example.nl/news.rss?access_token=abc",
    "https://feeds.example.nl/news.rss?X-Amz-Signature=abc",
    "https://feeds.example.nl/news.rss?key=prefix-${KEY}",        # half literal
])
def test_more_literal_credentials_in_a_url_are_refused(tmp_path, url):
    text = (CONFIGS / "valid.yaml").read_text().replace("https://www.example.nl/nieuws.rss", url)
    target = tmp_path / "c.yaml"
    target.write_text(text.replace("../../mappings", str(FIXTURES.parent / "mappings")))
    with pytest.raises(ConfigError) as info:
        load_config(target, environ={**ENV, "KEY": "key-value"})
    (problem,) = info.value.problems
    assert problem.line == 22 and "channels[1].options.url: secrets must come from the environment" in str(problem)


def test_values_from_the_environment_are_masked_from_then_on(tmp_path):
    from connector.redact import redact_text

    text = (CONFIGS / "valid.yaml").read_text().replace(
        "https://www.example.nl/nieuws.rss", "https://${FEED_USER}:${FEED_PASS}@www.example.nl/nieuws.rss")
    target = tmp_path / "c.yaml"
    target.write_text(text.replace("../../mappings", str(FIXTURES.parent / "mappings")))
    load_config(target, environ={**ENV, "FEED_USER": "connector", "FEED_PASS": "feed-pass-Q7"})
    said = redact_text("token-from-env, secret-from-env and feed-pass-Q7 said the connector")
    assert said == "***, *** and *** said the connector"  # the user name is not a secret
