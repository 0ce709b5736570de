"""``connector users add`` and ``connector users list``: accounts for the web UI from the command line."""
from __future__ import annotations

import json

import pytest

from connector.store import Store

from .conftest import run_cli
from .web_support import PASSWORD, write_config


@pytest.fixture
def config(tmp_path, monkeypatch):
    path, environ = write_config(tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NEW_PASSWORD", PASSWORD)
    return str(path)


def test_add_with_password_env_then_list(capsys, config, tmp_path):
    code, out, err = run_cli(capsys, "users", "add", "anna", "--role", "archivist", "--password-env", "NEW_PASSWORD",
                             "-c", config)
    assert (code, err) == (0, "") and out == "user anna added: role archivist\n"
    code, out, err = run_cli(capsys, "users", "list", "-c", config)
    assert code == 0
    [line] = out.splitlines()
    entry = json.loads(line)
    assert entry["name"] == "anna" and entry["role"] == "archivist" and entry["disabled"] is False
    assert set(entry) == {"name", "role", "disabled", "created_at", "last_login_at"}
    assert "scrypt" not in out and PASSWORD not in out
    store = Store(tmp_path / "c.db", create=False)
    assert store.verify_password("anna", PASSWORD)["role"] == "archivist"
    store.close()


def test_a_short_password_is_refused_and_nothing_is_made(capsys, config, tmp_path, monkeypatch):
    monkeypatch.setenv("NEW_PASSWORD", "elf-tekens!")  # 11
    code, out, err = run_cli(capsys, "users", "add", "anna", "--role", "admin", "--password-env", "NEW_PASSWORD",
                             "-c", config)
    assert code == 2 and "at least 12 characters" in err and "elf-tekens" not in err + out
    assert not (tmp_path / "c.db").exists()


def test_a_missing_password_variable_is_refused(capsys, config, monkeypatch):
    monkeypatch.delenv("NEW_PASSWORD")
    code, _, err = run_cli(capsys, "users", "add", "anna", "--role", "admin", "--password-env", "NEW_PASSWORD",
                           "-c", config)
    assert code == 2 and "NEW_PASSWORD is not set" in err


def test_without_a_terminal_or_variable_there_is_no_password(capsys, config, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, _, err = run_cli(capsys, "users", "add", "anna", "--role", "admin", "-c", config)
    assert code == 2 and "--password-env" in err


def test_a_password_on_the_command_line_is_no_option(capsys, config, tmp_path):
    code, _, err = run_cli(capsys, "users", "add", "anna", "--role", "admin", "--password", PASSWORD, "-c", config)
    assert code == 2 and "unrecognized arguments" in err  # not taken for --password-env
    assert not (tmp_path / "c.db").exists()


@pytest.mark.parametrize("second, code", [(PASSWORD, 0), ("een-ander-wachtwoord", 2)])
def test_in_a_terminal_the_password_is_asked_twice(capsys, config, monkeypatch, tmp_path, second, code):
    answers = iter([PASSWORD, second])
    prompts = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or next(answers))
    result, out, err = run_cli(capsys, "users", "add", "anna", "--role", "helpdesk", "-c", config)
    assert result == code and len(prompts) == 2 and PASSWORD not in out + err
    if code == 2:
        assert "differ" in err and not (tmp_path / "c.db").exists()
    else:
        store = Store(tmp_path / "c.db", create=False)
        assert store.user("anna")["role"] == "helpdesk"
        store.close()


def test_an_existing_user_changes_only_with_update(capsys, config, tmp_path, monkeypatch):
    args = ("users", "add", "anna", "--role", "admin", "--password-env", "NEW_PASSWORD", "-c", config)
    assert run_cli(capsys, *args)[0] == 0
    monkeypatch.setenv("NEW_PASSWORD", "nog-een-lang-wachtwoord")
    code, _, err = run_cli(capsys, "users", "add", "anna", "--role", "helpdesk", "--password-env", "NEW_PASSWORD",
                           "-c", config)
    assert code == 2 and "--update" in err
    code, out, _ = run_cli(capsys, "users", "add", "anna", "--role", "helpdesk", "--password-env", "NEW_PASSWORD",
                           "--update", "-c", config)
    assert code == 0 and "updated" in out
    store = Store(tmp_path / "c.db", create=False)
    assert store.verify_password("anna", PASSWORD) is None
    assert store.verify_password("anna", "nog-een-lang-wachtwoord")["role"] == "helpdesk"
    kinds = [r["kind"] for r in store.query("select kind from events order by id")]
    assert kinds == ["user.added", "user.updated"]
    store.close()


@pytest.mark.parametrize("argv, message", [
    (("users", "add", "anna", "--role", "superuser", "--password-env", "NEW_PASSWORD"), "invalid choice"),
    (("users", "add", "anna bob", "--role", "admin", "--password-env", "NEW_PASSWORD"), "is no user name"),
])
def test_a_bad_role_or_name_is_refused(capsys, config, tmp_path, argv, message):
    code, _, err = run_cli(capsys, *argv, "-c", config)
    assert code == 2 and message in err
    assert not (tmp_path / "c.db").exists()


def test_list_never_creates_a_store(capsys, config, tmp_path):
    code, _, err = run_cli(capsys, "users", "list", "-c", config)
    assert code == 2 and "no such database" in err
    assert not (tmp_path / "c.db").exists()
