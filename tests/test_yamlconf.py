"""Line-aware YAML: the basis of every file:line message."""
from __future__ import annotations

import pytest

from connector import yamlconf


def test_lines_of_keys_and_items():
    data = yamlconf.loads("a: 1\nb:\n  - x\n  - y: 2\n    z: 3\n", "f.yaml")
    assert yamlconf.line_of(data, ("a",)) == 1
    assert yamlconf.line_of(data, ("b", 1)) == 4
    assert yamlconf.line_of(data, ("b", 1, "z")) == 5
    assert yamlconf.line_of(data, ("b", 7, "z")) == 2  # deepest existing element


def test_duplicate_keys_are_an_error():
    with pytest.raises(yamlconf.YamlError) as info:
        yamlconf.loads("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert str(info.value).startswith("f.yaml:3:")
    assert "duplicate key 'a'" in str(info.value)


def test_python_tags_are_refused():
    with pytest.raises(yamlconf.YamlError):
        yamlconf.loads("a: !!python/object/apply:os.system ['true']\n", "f.yaml")


def test_flatten_marshmallow_errors():
    data = yamlconf.loads("rules:\n  - name: x\n    then:\n      action: fly\n", "m.yaml")
    messages = {"rules": {0: {"then": {"action": ["Must be one of: attach."]}}}}
    (problem,) = yamlconf.flatten_errors(messages, data, "m.yaml")
    assert str(problem) == "m.yaml:4: rules[0].then.action: Must be one of: attach."


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("naam: caf\xe9\n".encode("latin-1"))
    with pytest.raises(yamlconf.YamlError) as info:
        yamlconf.load(path)
    assert "not UTF-8" in str(info.value)


@pytest.mark.parametrize("text,line", [
    ('a: 1\nb: "never closed\nc: 3\nd: 4\n', 2),
    ("a: 1\nb: {x: 1, y: 2\nc: 3\n", 2),
    ("a: 1\n  b: 2\n", 2),
])
def test_syntax_errors_point_at_the_cause(text, line):
    with pytest.raises(yamlconf.YamlError) as info:
        yamlconf.loads(text, "f.yaml")
    assert info.value.problem.line == line, str(info.value)


@pytest.mark.parametrize("text, line, anchor", [
    ("a: &x 1\nb: *x\n", 2, "x"),
    ("base: &base {k: 1}\nother:\n  <<: *base\n", 3, "base"),
    ("a:\n  - &item [1, 2]\n  - [*item, *item]\n", 3, "item"),
])
def test_aliases_are_refused_at_their_line(text, line, anchor):
    with pytest.raises(yamlconf.YamlError) as info:
        yamlconf.loads(text, "f.yaml")
    assert info.value.problem.line == line
    assert info.value.problem.message.startswith(f"YAML aliases (*{anchor}) are not allowed")


def test_an_asterisk_in_a_quoted_string_is_not_an_alias():
    assert yamlconf.loads("a: '*x'\nb: \"*y\"\nc: x*y\n", "f.yaml") == {"a": "*x", "b": "*y", "c": "x*y"}


@pytest.mark.timeout(10)
@pytest.mark.parametrize("depth", [200, 100_000])
def test_deep_nesting_is_refused_at_its_line_not_a_stack_overflow(depth):
    with pytest.raises(yamlconf.YamlError) as info:
        yamlconf.loads("a: 1\nb:\n  c: " + "[" * depth + "]" * depth + "\n", "f.yaml")
    assert str(info.value) == f"f.yaml:3: nested more than {yamlconf.MAX_DEPTH} levels deep"


def test_a_file_over_the_size_bound_is_refused_before_it_is_parsed(tmp_path):
    """A configuration or mapping file of gigabytes must not fill memory: refused with its size."""
    from connector.config import ConfigError, load_config
    from connector.rules.engine import check_rules

    big = "# " + "x" * 1000 + "\n"
    lines = yamlconf.MAX_BYTES // len(big) + 2
    config = tmp_path / "connector.yaml"
    config.write_text(big * lines)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert f"{config}:1: the file is {len(big) * lines} bytes" in str(caught.value)
    assert "at most 4194304 bytes" in str(caught.value)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "rules.yaml").write_text(big * lines)
    problems = check_rules(mappings)
    assert [p.line for p in problems] == [1] and "at most 4194304 bytes" in problems[0].message
    # text handed in (the web editor's overrides) meets the same bound
    with pytest.raises(yamlconf.YamlError):
        yamlconf.loads(big * lines, "editor")
    # and a file just within it is read as usual
    config.write_text(big * (lines - 4) + "store: x.db\n")
    assert yamlconf.load(config)["store"] == "x.db"
