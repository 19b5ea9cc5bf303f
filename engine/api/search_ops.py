"""Search operations of the API: index a project, search, list projects, set a priority.

Each returns plain JSON-able dicts; bad input raises `ApiError` with a message for the user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.api import index_jobs
from engine.api.errors import ApiError
from engine.index import (
    SEARCH_MODES,
    IndexProgress,
    Project,
    QuerySyntaxError,
    UnknownProjectError,
    get_engine,
)
from engine.index.fulltext import FullTextBusyError, uses_query_syntax
from engine.priority import ProjectPriority


def _priority(value: Any) -> ProjectPriority | None:
    if value is None or isinstance(value, ProjectPriority):
        return value
    try:
        return ProjectPriority.from_name(str(value))
    except ValueError as error:
        raise ApiError(str(error)) from None


def project_dict(project: Project) -> dict[str, Any]:
    """A project as the API reports it."""
    progress = project.progress
    return {
        "name": project.name,
        "path": str(project.path),
        "priority": project.priority.name,
        "last_accessed": project.last_accessed,
        "indexed": project.ready.is_set(),
        "phase": progress.phase,
        "files_done": progress.files_done,
        "files_total": progress.files_total,
        "bytes_done": progress.bytes_done,
        "error": progress.error,
        "files": len(project.manifest.files) if project.manifest is not None else 0,
        "skipped": dict(project.skipped),
        "loaded_files": len(project.loaded_files),
        "max_loaded_files": project.settings.max_loaded_files,
        "cached_queries": len(project.query_cache),
        "max_cached_queries": project.settings.max_cached_queries,
        "loaded_content_bytes": project.loaded_content_bytes,
        "query_cache_bytes": project.query_cache_bytes,
        "vector_index_loaded": project.vector_index_loaded,
    }


def index_project(
    path: str,
    priority: str | ProjectPriority | None = None,
    wait: bool = True,
    on_progress: Callable[[IndexProgress], None] | None = None,
) -> dict[str, Any]:
    """Register `path` as a project and index it (waiting for the first index if `wait`).

    The index runs as a job on the engine's thread either way (`job` in the result: its id
    for `index_status` and `cancel_job`), so a shutdown or a cancel stops it between files.
    """
    directory = Path(str(path)).expanduser()
    if not directory.is_dir():
        raise ApiError(f"{path}: not a directory")
    level = _priority(priority)
    try:
        job = index_jobs.start_job(directory, level, on_progress)
    except (OSError, ValueError, RuntimeError, FullTextBusyError) as error:
        raise ApiError(f"{path}: cannot index: {error}") from None
    if wait:
        wait_for_job(job)
    return {"success": True, "project": project_dict(job.project), "job": job.to_dict()}


def index_result(job_id: str) -> dict[str, Any]:
    """What `index_project` answers, for a job started earlier: its project and status."""
    job = index_jobs.get_job(job_id)
    return {"success": True, "project": project_dict(job.project), "job": job.to_dict()}


def wait_for_job(job: index_jobs.IndexJob, timeout: float | None = None) -> bool:
    """Block until the job has finished (True) or `timeout` passed; a failed one raises."""
    deadline = None if timeout is None else time.monotonic() + timeout
    # In short steps: a first index that failed never sets `ready`.
    while not job.finished:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        job.project.ready.wait(0.05)
    if job.state == index_jobs.JOB_FAILED:
        raise ApiError(f"{job.project.path}: cannot index: {job.project.progress.error}")
    return True


def search(
    query: str,
    mode: str = "fulltext",
    project: str | None = None,
    limit: int = 20,
    literal: bool = False,
    wait_timeout_seconds: float = 30.0,
) -> dict[str, Any]:
    """Search one project (or all); waits up to `wait_timeout_seconds` for a first index."""
    if mode not in SEARCH_MODES:
        raise ApiError(f"unknown mode {mode!r}; allowed: {', '.join(SEARCH_MODES)}")
    from engine.api.file_ops import open_known_projects, resolve_name

    engine = get_engine()
    if project is not None:
        project = resolve_name(project)
    else:
        open_known_projects()
    try:
        targets = [engine.registry.get(project)] if project else engine.registry.list()
    except UnknownProjectError as error:
        raise ApiError(str(error)) from None
    deadline = time.monotonic() + max(0.0, float(wait_timeout_seconds))
    indexing: list[str] = []
    failed: list[str] = []
    for target in targets:
        # Wait in short steps: a first index that failed will never set `ready`.
        while not target.ready.is_set():
            if target.progress.phase == "error":
                failed.append(target.name)
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                indexing.append(target.name)
                break
            target.ready.wait(min(0.05, remaining))
    notes: list[str] = []
    try:
        try:
            response = engine.search(
                query, mode=mode, project=project, limit=limit, literal=literal
            )
        except QuerySyntaxError as error:
            # Code that is not query syntax (`std::vector`, `f("x")`) is searched as written;
            # a query using operators or fields explicitly gets the error with its position.
            if literal or not isinstance(query, str) or not query.strip():
                raise
            if uses_query_syntax(query):
                raise
            response = engine.search(query, mode=mode, project=project, limit=limit, literal=True)
            column = f" at column {error.position + 1}" if error.position is not None else ""
            notes.append(f"not valid query syntax{column}; searched as a literal string")
    except QuerySyntaxError as error:
        raise ApiError(str(error)) from None
    except UnknownProjectError as error:
        raise ApiError(str(error)) from None
    except ValueError as error:
        raise ApiError(str(error)) from None
    return {
        "query": response.query,
        "mode": response.mode,
        "from_cache": response.from_cache,
        "duration_ms": round(response.duration_ms, 3),
        "count": len(response.hits),
        "hits": [hit.to_dict() for hit in response.hits],
        "still_indexing": indexing,
        "index_failed": failed,
        "notes": notes,
    }


def list_projects() -> dict[str, Any]:
    """Every registered project with its state, caps and cache use."""
    return {"projects": [project_dict(project) for project in get_engine().registry.list()]}


def set_project_priority(name: str, priority: str | ProjectPriority) -> dict[str, Any]:
    """Change a project's eviction priority for this run."""
    level = _priority(priority)
    if level is None:
        raise ApiError("a priority is required")
    engine = get_engine()
    try:
        project = engine.registry.get(name)
    except UnknownProjectError as error:
        raise ApiError(str(error)) from None
    previous = project.priority
    engine.set_priority(name, level)
    return {
        "success": True,
        "project": name,
        "previous_priority": previous.name,
        "priority": level.name,
        "changes": [f"{name}: priority {previous.name} -> {level.name}"],
    }


def remove_project(project: str) -> dict[str, Any]:
    """Unregister a project and drop its caches; its index stays on disk for next time."""
    from engine.api.file_ops import resolve_project

    target = resolve_project(project, open_known=False)
    get_engine().remove_project(target.name)
    return {"success": True, "project": target.name, "path": str(target.path)}


def refresh_project(project: str, wait: bool = True) -> dict[str, Any]:
    """Re-read a project's directory: index new and changed files, drop deleted ones."""
    from engine.api.file_ops import resolve_project

    target = resolve_project(project)
    engine = get_engine()
    path = target.path
    engine.remove_project(target.name)
    return index_project(str(path), wait=wait)
