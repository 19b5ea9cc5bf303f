"""Precedence, per key: built-in default < config.yaml < projects/<name>.yaml < environment."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from engine.config import load_config
from engine.priority import ProjectPriority


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# key path under memory, env variable, (default, global file, env) values
MEMORY_CASES = {
    "total_budget_mb": ("LEINDEX_MEMORY_TOTAL_BUDGET_MB", (3072, 4000, 5000)),
    "soft_limit_percent": ("LEINDEX_MEMORY_SOFT_LIMIT_PERCENT", (0.80, 0.70, 0.60)),
    "hard_limit_percent": ("LEINDEX_MEMORY_HARD_LIMIT_PERCENT", (0.93, 0.90, 0.85)),
    "emergency_percent": ("LEINDEX_MEMORY_EMERGENCY_PERCENT", (0.98, 0.96, 0.95)),
    "max_loaded_files": ("LEINDEX_MEMORY_MAX_LOADED_FILES", (1000, 2000, 3000)),
    "monitoring.interval_seconds": (
        "LEINDEX_MEMORY_MONITORING_INTERVAL_SECONDS",
        (30.0, 10.0, 5.0),
    ),
}
MEMORY_LAYERS = [(), ("global",), ("env",), ("global", "env")]


def _yaml_for(key: str, value: object) -> str:
    parts = key.split(".")
    text, indent = "memory:\n", "  "
    for part in parts[:-1]:
        text += f"{indent}{part}:\n"
        indent += "  "
    return text + f"{indent}{parts[-1]}: {value}\n"


def _get(config, key: str):
    node = config.memory
    for part in key.split("."):
        node = getattr(node, part)
    return node


@pytest.mark.parametrize("layers", MEMORY_LAYERS, ids=lambda layers: "+".join(layers) or "none")
@pytest.mark.parametrize("key", list(MEMORY_CASES))
def test_memory_key_precedence(tmp_leindex_home: Path, key: str, layers: tuple[str, ...]) -> None:
    env_var, (default, in_file, in_env) = MEMORY_CASES[key]
    environ = {"LEINDEX_HOME": str(tmp_leindex_home)}
    if "global" in layers:
        write(tmp_leindex_home / "config.yaml", _yaml_for(key, in_file))
    if "env" in layers:
        environ[env_var] = str(in_env)

    loaded = load_config(environ=environ)

    expected, source = default, "default"
    if "global" in layers:
        expected, source = in_file, f"global file {tmp_leindex_home / 'config.yaml'}"
    if "env" in layers:
        expected, source = in_env, f"env {env_var}"
    assert _get(loaded.config, key) == expected
    assert loaded.sources[f"memory.{key}"] == source


def test_memory_keys_in_a_project_file_do_not_apply(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects" / "app.yaml", "memory:\n  total_budget_mb: 99\n")

    loaded = load_config()

    assert loaded.config.memory.total_budget_mb == 3072
    assert any("only max_loaded_files" in str(w) for w in loaded.warnings)


# Per-project keys: (builtin, project_defaults in config.yaml, projects: map in config.yaml,
# projects/<name>.yaml, LEINDEX_MEMORY_PROJECT_DEFAULTS_<KEY>)
PROJECT_CASES = {
    "priority": (ProjectPriority.MEDIUM, "LOW", "HIGH", "CRITICAL", "low"),
    "max_loaded_files": (100, 150, 200, 250, 300),
    "max_cached_queries": (50, 60, 70, 80, 90),
}
PROJECT_LAYERS = ("defaults", "map", "file", "env")
ALL_SUBSETS = [combo for size in range(5) for combo in itertools.combinations(PROJECT_LAYERS, size)]


@pytest.mark.parametrize("layers", ALL_SUBSETS, ids=lambda layers: "+".join(layers) or "none")
@pytest.mark.parametrize("key", list(PROJECT_CASES))
def test_project_key_precedence(tmp_leindex_home: Path, key: str, layers: tuple[str, ...]) -> None:
    builtin, in_defaults, in_map, in_file, in_env = PROJECT_CASES[key]
    global_text = ""
    if "defaults" in layers:
        global_text += f"memory:\n  project_defaults:\n    {key}: {in_defaults}\n"
    if "map" in layers:
        global_text += f"projects:\n  core-api:\n    memory:\n      {key}: {in_map}\n"
    if global_text:
        write(tmp_leindex_home / "config.yaml", global_text)
    if "file" in layers:
        write(tmp_leindex_home / "projects" / "core-api.yaml", f"memory:\n  {key}: {in_file}\n")
    environ = {"LEINDEX_HOME": str(tmp_leindex_home)}
    if "env" in layers:
        environ[f"LEINDEX_MEMORY_PROJECT_DEFAULTS_{key.upper()}"] = str(in_env)

    settings = load_config(environ=environ).config.project_settings("core-api")

    expected = builtin
    for layer, value in zip(PROJECT_LAYERS, (in_defaults, in_map, in_file, in_env), strict=True):
        if layer in layers:
            expected = value
    if isinstance(expected, str):
        expected = ProjectPriority.from_name(expected)
    assert getattr(settings, key) == expected


def test_other_projects_use_project_defaults(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects" / "core-api.yaml", "memory:\n  priority: HIGH\n")
    write(tmp_leindex_home / "config.yaml", "memory:\n  project_defaults:\n    priority: LOW\n")

    config = load_config().config

    assert config.project_settings("core-api").priority is ProjectPriority.HIGH
    assert config.project_settings("elsewhere").priority is ProjectPriority.LOW
    assert config.project_settings("elsewhere").max_loaded_files == 100


def test_project_file_overrides_map_per_key_not_whole_entry(tmp_leindex_home: Path) -> None:
    write(
        tmp_leindex_home / "config.yaml",
        "projects:\n  core-api:\n    memory:\n      priority: HIGH\n      max_loaded_files: 500\n",
    )
    write(tmp_leindex_home / "projects" / "core-api.yaml", "memory:\n  max_loaded_files: 50\n")

    settings = load_config().config.project_settings("core-api")

    assert settings.max_loaded_files == 50
    assert settings.priority is ProjectPriority.HIGH
