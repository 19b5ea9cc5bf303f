"""The one place persistence touches the engine's projects and cache keys.

Saving and restoring need to turn cache keys into the guide's strings and back; keeping that
here means a change in `engine.index`'s key types is a change in one small module.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.lifecycle.cache_state import (
    SEARCH_MODES,
    CachedQueryRecord,
    LoadedFileRecord,
    ProjectCacheState,
)


def project_key(project: Any) -> str:
    """The absolute path that names a project in `cache_state.json`."""
    return str(Path(project.path).absolute())


def open_projects(engine: Any) -> list[Any]:
    """The engine's registered projects."""
    return list(engine.registry.list())


def find_project(engine: Any, path: str) -> Any | None:
    """The open project registered at `path`, or None."""
    by_path = getattr(engine.registry, "by_path", None)
    if by_path is not None:
        try:
            found = by_path(Path(path))
        except (KeyError, ValueError):
            found = None
        if found is not None:
            return found
    for project in open_projects(engine):
        if project_key(project) == path:
            return project
    return None


def resolve_inside(resolved_root: Path, relative: str) -> Path | None:
    """`root / relative` if it stays inside `root` after resolving links, else None.

    `resolved_root` must already be resolved (callers resolve it once per project).
    """
    if not relative or "\x00" in relative or Path(relative).is_absolute():
        return None
    candidate = (resolved_root / relative).resolve()
    return candidate if candidate.is_relative_to(resolved_root) else None


def _relative_file_name(project: Any, key: Any) -> str | None:
    path = Path(key) if isinstance(key, str | os.PathLike) else None
    if path is None:
        return None
    if path.is_absolute():
        try:
            path = path.relative_to(Path(project.path).absolute())
        except ValueError:
            return None
    return path.as_posix()


def capture_project(project: Any) -> ProjectCacheState:
    """One project's loaded files (with mtime and size now) and cached queries, oldest first."""
    root = Path(project.path).absolute()
    files = []
    for key in list(project.loaded_files.keys()):  # a copy: the cache may change meanwhile
        name = _relative_file_name(project, key)
        if name is None:
            continue
        try:
            info = os.stat(root / name)
        except OSError:
            continue  # deleted since it was loaded: nothing to re-warm
        files.append(LoadedFileRecord(name, info.st_mtime_ns, info.st_size))
    queries = [q for q in map(query_record_from_key, project.query_cache.keys()) if q is not None]
    return ProjectCacheState(tuple(files), tuple(queries), float(project.last_accessed))


def query_record_from_key(key: Any) -> CachedQueryRecord | None:
    """A query-cache key as a record; keys carry the query and, when known, mode/limit/literal."""
    if isinstance(key, str):
        return CachedQueryRecord(key)
    if hasattr(key, "query"):
        fields = {
            name: getattr(key, name) for name in ("mode", "limit", "literal") if hasattr(key, name)
        }
        return _checked(str(key.query), **fields)
    if isinstance(key, tuple) and key and isinstance(key[0], str):
        names = ("mode", "limit", "literal")
        return _checked(key[0], **dict(zip(names, key[1:], strict=False)))
    return None


def _checked(query: str, mode: Any = "fulltext", limit: Any = 20, literal: Any = False):
    if mode not in SEARCH_MODES or not isinstance(limit, int) or not isinstance(literal, bool):
        return None
    return CachedQueryRecord(query, mode, limit, literal)


def warm_file(project: Any, relative: str, target: Path) -> None:
    """Bring one file back into the project's loaded-files cache (through `read_file`)."""
    if project.read_file(relative) is None:
        raise OSError(f"{target} is unreadable or binary now")


def rerun_query(engine: Any, project: Any, record: CachedQueryRecord) -> None:
    """Run a saved search again so its result lands in the project's query cache."""
    engine.search(
        record.query,
        mode=record.mode,
        project=project.name,
        limit=record.limit,
        literal=record.literal,
    )
