"""Loading: the guide's examples, defaults, warnings with lines, `~` expansion, the env layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import LeIndexConfig, MemoryConfig, SpillConfig, leindex_home, load_config
from engine.priority import ProjectPriority

GUIDE_GLOBAL = """\
# ~/.leindex/config.yaml
memory:
  # Total memory budget (in MB)
  total_budget_mb: 3072  # 3 GB

  # Threshold percentages (of total budget)
  soft_limit_percent: 0.80    # 80% = 2457 MB
  hard_limit_percent: 0.93    # 93% = 2857 MB
  emergency_percent: 0.98     # 98% = 3010 MB

  # Maximum loaded files (across all projects)
  max_loaded_files: 1000
  max_cached_queries: 500

  # Spill-to-disk configuration
  spill:
    enabled: true
    directory: "~/.leindex/spill"
    max_spill_size_mb: 1000

  # Monitoring configuration
  monitoring:
    enabled: true
    interval_seconds: 30  # Check every 30 seconds
    alert_on_soft_limit: true
    alert_on_hard_limit: true
    alert_on_emergency: true

  # Project defaults
  project_defaults:
    max_loaded_files: 100
    max_cached_queries: 50
    priority: "MEDIUM"
"""

GUIDE_PROJECTS_MAP = """\
# High-priority project (active development)
projects:
  core-api:
    memory:
      priority: "HIGH"
      max_loaded_files: 500

# Low-priority project (reference only)
projects:
  legacy-code:
    memory:
      priority: "LOW"
      max_loaded_files: 50
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_missing_files_mean_the_guides_defaults(tmp_leindex_home: Path) -> None:
    loaded = load_config()
    memory = loaded.config.memory

    assert (memory.total_budget_mb, memory.max_loaded_files, memory.max_cached_queries) == (
        3072,
        1000,
        500,
    )
    assert (memory.soft_limit_percent, memory.hard_limit_percent, memory.emergency_percent) == (
        0.80,
        0.93,
        0.98,
    )
    assert memory.spill.enabled and memory.spill.max_spill_size_mb == 1000
    assert memory.spill.directory == tmp_leindex_home / "spill"
    assert memory.monitoring.interval_seconds == 30
    assert memory.monitoring.alert_on_soft_limit and memory.monitoring.alert_on_emergency
    assert memory.project_defaults.priority is ProjectPriority.MEDIUM
    assert loaded.files == [] and loaded.warnings == []
    assert set(loaded.sources.values()) == {"default"}


def test_derived_limits_in_mb() -> None:
    memory = load_config().config.memory

    assert memory.soft_limit_mb == pytest.approx(2457.6)
    assert memory.hard_limit_mb == pytest.approx(2856.96)
    assert memory.emergency_limit_mb == pytest.approx(3010.56)


def test_guide_global_example_loads_without_warnings(
    tmp_leindex_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    write(tmp_leindex_home / "config.yaml", GUIDE_GLOBAL)

    loaded = load_config()

    assert loaded.warnings == []
    assert loaded.config.memory.spill.directory == tmp_path / "user" / ".leindex" / "spill"
    assert loaded.config.memory == LeIndexConfig().memory.model_copy(
        update={"spill": loaded.config.memory.spill}
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "my-large-project",
            'memory:\n  max_loaded_files: 500\n  max_cached_queries: 200\n  priority: "HIGH"\n',
            (500, 200, ProjectPriority.HIGH),
        ),
        (
            "temp-analysis",
            'memory:\n  max_loaded_files: 50\n  max_cached_queries: 25\n  priority: "LOW"\n',
            (50, 25, ProjectPriority.LOW),
        ),
    ],
)
def test_guide_project_examples(tmp_leindex_home: Path, name: str, text: str, expected) -> None:
    write(tmp_leindex_home / "projects" / f"{name}.yaml", text)

    loaded = load_config()
    settings = loaded.config.project_settings(name)

    assert (settings.max_loaded_files, settings.max_cached_queries, settings.priority) == expected
    assert loaded.warnings == []


def test_guide_projects_map_with_repeated_key_keeps_both_projects(tmp_leindex_home: Path) -> None:
    path = write(tmp_leindex_home / "config.yaml", GUIDE_PROJECTS_MAP)

    loaded = load_config()

    config = loaded.config
    assert config.project_settings("core-api").priority is ProjectPriority.HIGH
    assert config.project_settings("legacy-code").max_loaded_files == 50
    [warning] = loaded.warnings
    assert (warning.file, warning.line) == (path, 9)
    assert "duplicate key" in str(warning) and "line 2" in str(warning)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file_means_defaults(tmp_leindex_home: Path, text: str) -> None:
    write(tmp_leindex_home / "config.yaml", text)
    write(tmp_leindex_home / "projects" / "app.yaml", text)

    loaded = load_config()

    assert loaded.config.memory == MemoryConfig(
        spill=SpillConfig(directory=tmp_leindex_home / "spill")
    )
    assert loaded.config.projects == {}
    assert loaded.config.memory.total_budget_mb == 3072
    assert loaded.warnings == []


def test_empty_memory_section_means_defaults(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n")

    assert load_config().config.memory.total_budget_mb == 3072


def test_typo_is_a_warning_with_line_and_suggestion(tmp_leindex_home: Path) -> None:
    path = write(
        tmp_leindex_home / "config.yaml",
        "memory:\n  total_budget_mb: 2048\n  sofft_limit_percent: 0.5\n",
    )

    loaded = load_config()

    [warning] = loaded.warnings
    assert (warning.file, warning.line, warning.key_path) == (
        path,
        3,
        "memory.sofft_limit_percent",
    )
    assert f"{path}:3" in str(warning) and "did you mean 'soft_limit_percent'" in str(warning)
    assert loaded.config.memory.soft_limit_percent == 0.80  # the typo did not apply


@pytest.mark.parametrize(
    ("text", "line", "key", "hint"),
    [
        ("memroy:\n  total_budget_mb: 1\n", 1, "memroy", "'memory'"),
        ("memory:\n  spill:\n    enabeld: false\n", 3, "memory.spill.enabeld", "'enabled'"),
        (
            "memory:\n  monitoring:\n    interval_secs: 5\n",
            3,
            "memory.monitoring.interval_secs",
            "'interval_seconds'",
        ),
        ("projects:\n  a:\n    memroy: {}\n", 3, "projects.a.memroy", "'memory'"),
        (
            "projects:\n  a:\n    memory:\n      prority: LOW\n",
            4,
            "projects.a.memory.prority",
            "'priority'",
        ),
    ],
)
def test_unknown_keys_warn_with_line(
    tmp_leindex_home: Path, text: str, line: int, key: str, hint: str
) -> None:
    write(tmp_leindex_home / "config.yaml", text)

    [warning] = load_config().warnings

    assert (warning.line, warning.key_path) == (line, key)
    assert hint in str(warning)


def test_derived_key_in_file_points_to_the_percent(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  soft_limit_mb: 2000\n")

    [warning] = load_config().warnings

    assert warning.line == 2 and "soft_limit_percent" in str(warning)


def test_project_file_keys_that_do_not_apply_per_project_warn(tmp_leindex_home: Path) -> None:
    path = write(
        tmp_leindex_home / "projects" / "app.yaml",
        "memory:\n  priority: HIGH\n  soft_limit_percent: 0.5\n  spill:\n    enabled: false\n",
    )

    loaded = load_config()

    assert [(w.file, w.line) for w in loaded.warnings] == [(path, 3), (path, 4)]
    assert all(
        "only max_loaded_files, max_cached_queries and priority" in str(w) for w in loaded.warnings
    )
    assert loaded.config.memory.soft_limit_percent == 0.80
    assert loaded.config.memory.spill.enabled is True
    assert loaded.config.project_settings("app").priority is ProjectPriority.HIGH


def test_project_cap_above_global_cap_warns(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects" / "app.yaml", "memory:\n  max_loaded_files: 5000\n")

    [warning] = load_config().warnings

    assert "memory.max_loaded_files = 1000" in str(warning) and warning.line == 2


def test_hidden_and_non_yaml_files_in_projects_are_ignored(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects" / ".app.yaml.swp", "garbage: [")
    write(tmp_leindex_home / "projects" / ".app.yaml.1234.tmp", "garbage: [")
    write(tmp_leindex_home / "projects" / "README.txt", "not yaml: [")

    assert load_config().config.projects == {}


def test_yml_suffix_works_and_yaml_wins_over_yml(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects" / "a.yml", "memory:\n  priority: LOW\n")
    write(tmp_leindex_home / "projects" / "b.yml", "memory:\n  priority: LOW\n")
    write(tmp_leindex_home / "projects" / "b.yaml", "memory:\n  priority: HIGH\n")

    loaded = load_config()

    assert loaded.config.project_settings("a").priority is ProjectPriority.LOW
    assert loaded.config.project_settings("b").priority is ProjectPriority.HIGH
    assert any(w.file == tmp_leindex_home / "projects" / "b.yml" for w in loaded.warnings)


def test_priority_names_are_case_insensitive(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects" / "app.yaml", "memory:\n  priority: critical\n")

    assert load_config().config.project_settings("app").priority is ProjectPriority.CRITICAL


@pytest.mark.parametrize(
    ("raw", "expected_under"),
    [("~/spill-here", "home"), ("relative/spill", "leindex_home"), ("/abs/spill", None)],
)
def test_spill_directory_expansion(
    tmp_leindex_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, raw, expected_under
) -> None:
    user_home = tmp_path / "user"
    monkeypatch.setenv("HOME", str(user_home))
    write(tmp_leindex_home / "config.yaml", f"memory:\n  spill:\n    directory: {raw}\n")

    directory = load_config().config.memory.spill.directory

    expected = {
        "home": user_home / "spill-here",
        "leindex_home": tmp_leindex_home / "relative" / "spill",
        None: Path("/abs/spill"),
    }[expected_under]
    assert directory == expected and directory.is_absolute()


def test_spill_directory_from_env_expands_tilde(
    tmp_leindex_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("LEINDEX_MEMORY_SPILL_DIRECTORY", "~/x")

    assert load_config().config.memory.spill.directory == tmp_path / "user" / "x"


def test_leindex_home_default_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    assert leindex_home({}) == tmp_path / ".leindex"
    assert leindex_home({"LEINDEX_HOME": "~/other"}) == tmp_path / "other"
    assert load_config(environ={}).config.memory.spill.directory == tmp_path / ".leindex" / "spill"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("FALSE", False), ("yes", True), ("off", False), ("1", True), ("0", False)],
)
def test_env_booleans(text: str, expected: bool) -> None:
    config = load_config(environ={"LEINDEX_MEMORY_MONITORING_ENABLED": text}).config

    assert config.memory.monitoring.enabled is expected


def test_every_memory_key_has_its_env_variable(tmp_leindex_home: Path) -> None:
    environ = {
        "LEINDEX_MEMORY_TOTAL_BUDGET_MB": "4096",
        "LEINDEX_MEMORY_SOFT_LIMIT_PERCENT": "0.75",
        "LEINDEX_MEMORY_HARD_LIMIT_PERCENT": "0.90",
        "LEINDEX_MEMORY_EMERGENCY_PERCENT": "0.97",
        "LEINDEX_MEMORY_MAX_LOADED_FILES": "10",
        "LEINDEX_MEMORY_MAX_CACHED_QUERIES": "11",
        "LEINDEX_MEMORY_SPILL_ENABLED": "false",
        "LEINDEX_MEMORY_SPILL_DIRECTORY": "/s",
        "LEINDEX_MEMORY_SPILL_MAX_SPILL_SIZE_MB": "12",
        "LEINDEX_MEMORY_MONITORING_ENABLED": "false",
        "LEINDEX_MEMORY_MONITORING_INTERVAL_SECONDS": "60",
        "LEINDEX_MEMORY_MONITORING_ALERT_ON_SOFT_LIMIT": "false",
        "LEINDEX_MEMORY_MONITORING_ALERT_ON_HARD_LIMIT": "false",
        "LEINDEX_MEMORY_MONITORING_ALERT_ON_EMERGENCY": "false",
        "LEINDEX_MEMORY_PROJECT_DEFAULTS_MAX_LOADED_FILES": "5",
        "LEINDEX_MEMORY_PROJECT_DEFAULTS_MAX_CACHED_QUERIES": "6",
        "LEINDEX_MEMORY_PROJECT_DEFAULTS_PRIORITY": "HIGH",
    }

    loaded = load_config(environ=environ)

    sources = {k: v for k, v in loaded.sources.items() if k.startswith("memory.")}
    assert len(sources) == len(environ) == 17
    for key, source in sources.items():
        assert (
            source == "env LEINDEX_MEMORY_" + key.removeprefix("memory.").replace(".", "_").upper()
        )
    memory = loaded.config.memory
    assert memory.total_budget_mb == 4096 and memory.monitoring.interval_seconds == 60
    assert memory.spill.directory == Path("/s") and memory.spill.max_spill_size_mb == 12
    assert memory.project_defaults.priority is ProjectPriority.HIGH
    assert loaded.warnings == []


def test_unknown_and_empty_env_variables_warn(tmp_leindex_home: Path) -> None:
    environ = {"LEINDEX_MEMORY_SOFT_LIMIT_PERCNT": "0.5", "LEINDEX_MEMORY_TOTAL_BUDGET_MB": " "}

    loaded = load_config(environ=environ)

    messages = [str(w) for w in loaded.warnings]
    assert any(
        "LEINDEX_MEMORY_SOFT_LIMIT_PERCNT" in m and "LEINDEX_MEMORY_SOFT_LIMIT_PERCENT" in m
        for m in messages
    )
    assert any("LEINDEX_MEMORY_TOTAL_BUDGET_MB" in m and "empty" in m for m in messages)
    assert loaded.config.memory.total_budget_mb == 3072


def test_config_models_are_frozen() -> None:
    config = load_config().config

    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError
        config.memory.total_budget_mb = 1  # type: ignore[misc]


def test_file_texts_replace_disk_content(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  total_budget_mb: 1000\n")
    candidate = {tmp_leindex_home / "projects" / "new.yaml": "memory:\n  priority: LOW\n"}

    loaded = load_config(file_texts=candidate)

    assert loaded.config.memory.total_budget_mb == 1000
    assert loaded.config.project_settings("new").priority is ProjectPriority.LOW
    assert not (tmp_leindex_home / "projects" / "new.yaml").exists()
