"""Config operations of the API: reload the config files through the one reload path."""

from __future__ import annotations

import datetime as _dt
from typing import Any


def _json_time(value: Any) -> Any:
    """A reload time as JSON: seconds since the epoch stay as they are, datetimes as ISO text."""
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


def reload_config() -> dict[str, Any]:
    """Re-read config.yaml and projects/*.yaml and apply them live.

    Returns `{success, reloaded_at, error, changes}`. An invalid file changes nothing: the
    running config stays, `success` is false and `error` names the file, line and key.
    """
    from engine.config import reload_config as reload_live_config

    result = reload_live_config()
    error = getattr(result, "error", None)
    return {
        "success": bool(result.success),
        "reloaded_at": _json_time(getattr(result, "reloaded_at", None)),
        "error": None if error is None else str(error),
        "changes": [str(change) for change in (getattr(result, "changes", None) or [])],
    }


# --- config files for the TUI's editor -------------------------------------------------------

# The keys the editor's form offers, as dotted paths inside the file (global file first).
GLOBAL_FORM_KEYS = (
    "memory.total_budget_mb",
    "memory.soft_limit_percent",
    "memory.hard_limit_percent",
    "memory.emergency_percent",
    "memory.monitoring.interval_seconds",
    "memory.max_loaded_files",
    "memory.max_cached_queries",
    "memory.project_defaults.priority",
)
PROJECT_FORM_KEYS = ("memory.max_loaded_files", "memory.max_cached_queries", "memory.priority")


def _config_file_path(kind: str, project: str | None) -> Any:
    """The file the editor reads and writes: config.yaml or projects/<name>.yaml under home."""
    from engine.api.errors import ApiError
    from engine.atomic import safe_child
    from engine.config import leindex_home

    home = leindex_home()
    if kind == "global":
        return home / "config.yaml"
    if kind != "project":
        raise ApiError(f"unknown config file kind {kind!r}; allowed: global, project")
    if not project:
        raise ApiError("a project config file needs a project name")
    try:
        return safe_child(home / "projects", f"{project}.yaml")
    except ValueError as error:
        raise ApiError(str(error)) from None


def _effective_values(kind: str, project: str | None) -> dict[str, Any]:
    """The live value of each form key (whatever its source), to prefill the editor's form."""
    from engine.config import get_config

    config = get_config()
    if kind == "project" and project:
        settings = config.project_settings(project)
        return {
            "memory.max_loaded_files": settings.max_loaded_files,
            "memory.max_cached_queries": settings.max_cached_queries,
            "memory.priority": settings.priority.name,
        }
    memory = config.memory
    return {
        "memory.total_budget_mb": memory.total_budget_mb,
        "memory.soft_limit_percent": memory.soft_limit_percent,
        "memory.hard_limit_percent": memory.hard_limit_percent,
        "memory.emergency_percent": memory.emergency_percent,
        "memory.monitoring.interval_seconds": memory.monitoring.interval_seconds,
        "memory.max_loaded_files": memory.max_loaded_files,
        "memory.max_cached_queries": memory.max_cached_queries,
        "memory.project_defaults.priority": memory.project_defaults.priority.name,
    }


def new_file_template(kind: str, project: str | None = None) -> str:
    """A starting text for a config file that does not exist yet: every key, commented out.

    The values shown are what applies now without the file (built-in defaults for the global
    file, the current project defaults for a project file).
    """
    import yaml

    from engine.config import MemoryConfig, get_config

    if kind == "project":
        defaults = get_config().memory.project_defaults
        intro = (
            f"# Overrides for project {project!r}. Uncomment a key to change it; the values\n"
            "# shown are the project defaults that apply now.\n"
        )
        body = {"memory": defaults.model_dump(mode="json")}
    else:
        intro = (
            "# LeIndex global config. Every key is commented out, so the built-in defaults\n"
            "# shown here apply; uncomment a key to change it (see docs/configuration.md).\n"
        )
        derived = {"soft_limit_mb", "hard_limit_mb", "emergency_limit_mb"}
        body = {"memory": MemoryConfig().model_dump(mode="json", exclude=derived)}
    lines = yaml.safe_dump(body, sort_keys=False).splitlines(keepends=True)
    return intro + "".join(f"# {line}" for line in lines)


def read_config_file(kind: str = "global", project: str | None = None) -> dict[str, Any]:
    """The text of the global (`kind="global"`) or a project's config file, for editing.

    Returns `{path, exists, text, effective}`; a missing file reads as `new_file_template`
    (every key commented out, so saving it unchanged changes nothing), and `effective` maps
    each form key to its live value.
    """
    from engine.api.errors import ApiError

    path = _config_file_path(kind, project)
    try:
        text = path.read_text(encoding="utf-8")
        exists = True
    except FileNotFoundError:
        text, exists = new_file_template(kind, project), False
    except (OSError, UnicodeDecodeError) as error:
        raise ApiError(f"cannot read {path}: {error}") from None
    return {
        "path": str(path),
        "exists": exists,
        "text": text,
        "effective": _effective_values(kind, project),
    }


def save_config_file(text: str, kind: str = "global", project: str | None = None) -> dict[str, Any]:
    """Validate `text` as that config file, write it atomically and reload the live config.

    Returns `{success, path, error, warnings, reload}`. On invalid text nothing is written and
    `error` is `{message, file, line, key_path}` (line 1-based, or None) so the editor can point
    at it; `reload` is the reload result dict when the file was written.
    """
    from engine.atomic import atomic_write_text
    from engine.config import ConfigError, validate_config_text

    path = _config_file_path(kind, project)
    try:
        warnings = validate_config_text(text, path, kind=kind)
    except ConfigError as error:
        return {
            "success": False,
            "path": str(path),
            "error": {
                "message": str(error),
                "file": None if error.file is None else str(error.file),
                "line": error.line,
                "key_path": error.key_path,
            },
            "warnings": [],
            "reload": None,
        }
    atomic_write_text(path, text)
    return {
        "success": True,
        "path": str(path),
        "error": None,
        "warnings": [str(warning) for warning in warnings or ()],
        "reload": reload_config(),
    }
