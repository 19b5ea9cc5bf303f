"""The one way in for the TUI, the CLI and the MCP server: plain-dict operations.

Each group of operations lives in its own module; this package re-exports them so that
callers write `from engine import api; api.search(...)`.
"""

from engine.api.config_ops import read_config_file, reload_config, save_config_file
from engine.api.errors import ApiError
from engine.api.file_ops import find_files, list_known_projects, read_file, resolve_name
from engine.api.index_jobs import cancel_job, index_status
from engine.api.memory_ops import dashboard_status, get_diagnostics, manage_memory
from engine.api.search_ops import (
    index_project,
    index_result,
    list_projects,
    project_names,
    refresh_project,
    remove_project,
    search,
    set_project_priority,
)
from engine.api.symbol_ops import find_references, find_symbol, get_file_outline

__all__ = [
    "ApiError",
    "cancel_job",
    "index_status",
    "dashboard_status",
    "find_references",
    "find_symbol",
    "get_file_outline",
    "find_files",
    "list_known_projects",
    "read_file",
    "refresh_project",
    "remove_project",
    "resolve_name",
    "get_diagnostics",
    "index_project",
    "index_result",
    "list_projects",
    "project_names",
    "manage_memory",
    "read_config_file",
    "reload_config",
    "save_config_file",
    "search",
    "set_project_priority",
]
