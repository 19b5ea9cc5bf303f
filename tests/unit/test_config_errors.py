"""Every kind of bad config input raises one ConfigError naming file, line, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ConfigError, load_config


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def load_error(**kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(**kwargs)
    return caught.value


def assert_names(error: ConfigError, *parts: str) -> None:
    message = str(error)
    assert "\n" not in message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


def test_yaml_syntax_error_names_file_and_line(tmp_leindex_home: Path) -> None:
    path = write(
        tmp_leindex_home / "config.yaml", "memory:\n  total_budget_mb: 3072\n  bad: [1, 2\n"
    )

    error = load_error()

    assert error.file == path and error.line is not None and error.line >= 3
    assert_names(error, f"{path}:{error.line}", "YAML syntax error")


def test_tab_indentation_is_a_syntax_error_with_line(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n\ttotal_budget_mb: 3072\n")

    error = load_error()

    assert error.line == 2


@pytest.mark.parametrize(
    ("yaml_line", "key", "value_text", "allowed"),
    [
        ('total_budget_mb: "lots"', "memory.total_budget_mb", "'lots'", "whole number"),
        ("total_budget_mb: 0", "memory.total_budget_mb", "0", "> 0"),
        ("total_budget_mb: -5", "memory.total_budget_mb", "-5", "> 0"),
        ("total_budget_mb: 3072.5", "memory.total_budget_mb", "3072.5", "whole number"),
        ("total_budget_mb: true", "memory.total_budget_mb", "true", "whole number"),
        ("total_budget_mb:", "memory.total_budget_mb", "null", "whole number"),
        ("soft_limit_percent: 80", "memory.soft_limit_percent", "80", "(0, 1]"),
        ("soft_limit_percent: 0", "memory.soft_limit_percent", "0", "(0, 1]"),
        ("hard_limit_percent: -0.1", "memory.hard_limit_percent", "-0.1", "(0, 1]"),
        ("emergency_percent: 1.5", "memory.emergency_percent", "1.5", "(0, 1]"),
        ("soft_limit_percent: .nan", "memory.soft_limit_percent", "nan", "(0, 1]"),
        ("max_loaded_files: 0", "memory.max_loaded_files", "0", "> 0"),
        ("max_cached_queries: -1", "memory.max_cached_queries", "-1", "> 0"),
        ("max_cached_queries: [1]", "memory.max_cached_queries", "[1]", "whole number"),
        ("spill: {enabled: maybe}", "memory.spill.enabled", "'maybe'", "true or false"),
        ("spill: {directory: 5}", "memory.spill.directory", "5", "directory path"),
        ("spill: {max_spill_size_mb: 0}", "memory.spill.max_spill_size_mb", "0", "> 0"),
        ("monitoring: {interval_seconds: 0}", "memory.monitoring.interval_seconds", "0", "> 0"),
        (
            "monitoring: {alert_on_emergency: 1}",
            "memory.monitoring.alert_on_emergency",
            "1",
            "true",
        ),
        (
            "project_defaults: {priority: URGENT}",
            "memory.project_defaults.priority",
            "'URGENT'",
            "LOW, MEDIUM, HIGH, CRITICAL",
        ),
        (
            "project_defaults: {max_loaded_files: 0}",
            "memory.project_defaults.max_loaded_files",
            "0",
            "> 0",
        ),
    ],
)
def test_bad_value_names_file_line_key_value_and_allowed(
    tmp_leindex_home: Path, yaml_line: str, key: str, value_text: str, allowed: str
) -> None:
    path = write(tmp_leindex_home / "config.yaml", f"# budget\nmemory:\n  {yaml_line}\n")

    error = load_error()

    assert (error.file, error.line, error.key_path) == (path, 3, key)
    assert_names(error, f"{path}:3", key, f"= {value_text}", allowed)


def test_percent_above_one_suggests_the_fraction(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  soft_limit_percent: 80\n")

    assert "did you mean 0.8?" in str(load_error())


def test_thresholds_out_of_order_in_file_blames_the_set_key(tmp_leindex_home: Path) -> None:
    path = write(tmp_leindex_home / "config.yaml", "memory:\n\n  soft_limit_percent: 0.95\n")

    error = load_error()

    assert (error.file, error.line, error.key_path, error.value) == (
        path,
        3,
        "memory.soft_limit_percent",
        0.95,
    )
    assert_names(error, "memory.hard_limit_percent = 0.93", "soft_limit_percent < hard_limit")


def test_equal_thresholds_are_rejected(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  hard_limit_percent: 0.98\n")

    error = load_error()

    assert error.key_path == "memory.hard_limit_percent" and error.line == 2


def test_thresholds_out_of_order_from_env_blame_the_variable(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  soft_limit_percent: 0.7\n")
    environ = {"LEINDEX_HOME": str(tmp_leindex_home), "LEINDEX_MEMORY_HARD_LIMIT_PERCENT": "0.5"}

    error = load_error(environ=environ)

    assert error.env_var == "LEINDEX_MEMORY_HARD_LIMIT_PERCENT"
    assert_names(error, "env LEINDEX_MEMORY_HARD_LIMIT_PERCENT", "memory.soft_limit_percent = 0.7")


@pytest.mark.parametrize(
    ("var", "text", "allowed"),
    [
        ("LEINDEX_MEMORY_TOTAL_BUDGET_MB", "4k", "whole number"),
        ("LEINDEX_MEMORY_TOTAL_BUDGET_MB", "-1", "> 0"),
        ("LEINDEX_MEMORY_SOFT_LIMIT_PERCENT", "75%", "(0, 1]"),
        ("LEINDEX_MEMORY_SOFT_LIMIT_PERCENT", "75", "(0, 1]"),
        ("LEINDEX_MEMORY_MONITORING_INTERVAL_SECONDS", "soon", "> 0"),
        ("LEINDEX_MEMORY_SPILL_ENABLED", "sure", "true or false"),
        ("LEINDEX_MEMORY_PROJECT_DEFAULTS_PRIORITY", "urgent", "LOW, MEDIUM"),
        ("LEINDEX_MEMORY_SPILL_MAX_SPILL_SIZE_MB", "1e999", "whole number"),
    ],
)
def test_env_variable_that_does_not_parse_is_named(
    tmp_leindex_home: Path, var: str, text: str, allowed: str
) -> None:
    error = load_error(environ={"LEINDEX_HOME": str(tmp_leindex_home), var: text})

    assert error.env_var == var and error.value == text
    assert_names(error, f"env {var}", repr(text), allowed)


def test_unreadable_file(tmp_leindex_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_leindex_home / "config.yaml", "memory: {}\n")
    real_read_bytes = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_read_bytes(self)

    # Tests may run as root, where chmod 000 does not stop reading.
    monkeypatch.setattr(Path, "read_bytes", deny)

    error = load_error()

    assert error.file == path
    assert_names(error, str(path), "permission denied")


def test_global_file_that_is_a_directory(tmp_leindex_home: Path) -> None:
    (tmp_leindex_home / "config.yaml").mkdir(parents=True)

    assert_names(load_error(), str(tmp_leindex_home / "config.yaml"), "is a directory")


def test_project_file_that_is_a_directory(tmp_leindex_home: Path) -> None:
    (tmp_leindex_home / "projects" / "app.yaml").mkdir(parents=True)

    assert_names(load_error(), str(tmp_leindex_home / "projects" / "app.yaml"), "is a directory")


def test_projects_path_that_is_a_file(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects", "oops")

    assert_names(load_error(), str(tmp_leindex_home / "projects"), "directory")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_that_is_not_a_mapping(tmp_leindex_home: Path, text: str) -> None:
    path = write(tmp_leindex_home / "config.yaml", text)

    error = load_error()

    assert (error.file, error.line) == (path, 1)
    assert "mapping" in str(error)


def test_memory_that_is_not_a_mapping(tmp_leindex_home: Path) -> None:
    path = write(tmp_leindex_home / "config.yaml", "# x\nmemory: 5\n")

    error = load_error()

    assert (error.file, error.line, error.key_path) == (path, 2, "memory")


def test_section_that_is_not_a_mapping(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  spill: true\n")

    error = load_error()

    assert (error.line, error.key_path) == (2, "memory.spill")


def test_project_file_name_that_is_not_a_project_name(tmp_leindex_home: Path) -> None:
    path = write(tmp_leindex_home / "projects" / "my project.yaml", "memory: {}\n")

    error = load_error()

    assert error.file == path
    assert_names(error, "'my project'", "not a valid project name", "letters, digits")


def test_project_map_name_that_is_not_a_project_name(tmp_leindex_home: Path) -> None:
    path = write(tmp_leindex_home / "config.yaml", "projects:\n  ../etc:\n    memory: {}\n")

    error = load_error()

    assert (error.file, error.line, error.key_path) == (path, 2, "projects.../etc")


def test_bad_value_in_project_file_names_that_file(tmp_leindex_home: Path) -> None:
    path = write(
        tmp_leindex_home / "projects" / "core-api.yaml",
        "memory:\n  max_loaded_files: 500\n  priority: URGENT\n",
    )

    error = load_error()

    assert (error.file, error.line, error.key_path) == (path, 3, "memory.priority")
    assert_names(error, "'URGENT'", "LOW, MEDIUM, HIGH, CRITICAL")


def test_bad_value_in_projects_map_names_the_full_key(tmp_leindex_home: Path) -> None:
    path = write(
        tmp_leindex_home / "config.yaml",
        "projects:\n  core-api:\n    memory:\n      max_cached_queries: 0\n",
    )

    error = load_error()

    assert (error.file, error.line) == (path, 4)
    assert error.key_path == "projects.core-api.memory.max_cached_queries"


def test_not_utf8_names_the_line(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", b"memory:\n  # caf\xe9\n")

    error = load_error()

    assert error.line == 2 and "UTF-8" in str(error)


def test_recursive_alias_is_an_error_not_a_crash(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory: &m\n  spill: *m\n")

    assert isinstance(load_error(), ConfigError)


def test_alias_bomb_is_refused(tmp_leindex_home: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 8):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    write(tmp_leindex_home / "config.yaml", "\n".join(lines) + "\n")

    assert "too large" in str(load_error())


def test_error_attributes_are_all_present(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  total_budget_mb: zero\n")

    error = load_error()

    assert error.value == "zero"
    assert error.allowed == "a whole number > 0"
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("memory:\n  total_budget_mb: 2001-13-01\n", 2),  # a date PyYAML cannot build
        ("memory:\n  total_budget_mb: !!float abc\n", 2),
        ("memory:\n  !!int abc: 1\n", 2),  # a bad key
        ("memory:\n  total_budget_mb: !!python/name:os.system\n", 2),
    ],
)
def test_values_pyyaml_cannot_construct_are_config_errors_with_line(
    tmp_leindex_home: Path, text: str, line: int
) -> None:
    config = write(tmp_leindex_home / "config.yaml", text)

    error = load_error()

    assert_names(error, str(config), f":{line}")
