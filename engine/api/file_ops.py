"""File operations of the API: resolve a project by name or path, list known projects,
find indexed files by glob or regex, read a line range of a file.

Reads go through the project's loaded-files cache (and so its byte accounting). Paths never
escape the project: `..`, absolute paths and symlinks leading outside are refused.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path, PurePosixPath
from typing import Any

from engine.api.errors import ApiError
from engine.index import Project, UnknownProjectError, get_engine
from engine.index.registry import known_projects, match_known
from engine.index.walker import MAX_FILE_BYTES

MAX_READ_LINES = 2000
MAX_READ_CHARS = 200_000
MAX_FIND_RESULTS = 1000


def _known_names(engine: Any) -> list[str]:
    names = {project.name for project in engine.registry.list()}
    names.update(known_projects(engine.registry.indexes_dir))
    return sorted(names)


def resolve_project(ref: str, open_known: bool = True) -> Project:
    """The project `ref` names (its name, its path, or its folder name), reopening a project
    indexed in an earlier run on demand; raises `ApiError` naming the known projects."""
    if not isinstance(ref, str) or not ref.strip():
        raise ApiError("project must be a non-empty name or path")
    engine = get_engine()
    registry = engine.registry
    try:
        return registry.get(ref)
    except UnknownProjectError:
        pass
    candidate = Path(ref).expanduser()
    if candidate.is_absolute():
        project = registry.by_path(candidate)
        if project is not None:
            return project
    for project in registry.list():
        if project.path.name == ref:
            return project
    match = match_known(known_projects(registry.indexes_dir), ref)
    if match is None or not open_known:
        raise ApiError(
            f"unknown project {ref!r}; known: {', '.join(_known_names(engine)) or 'none'}"
        )
    name, path = match
    if not path.is_dir():
        raise ApiError(f"project {name!r}: its directory {path} no longer exists")
    try:
        return engine.add_project(path)
    except (OSError, ValueError, RuntimeError) as error:
        raise ApiError(f"project {name!r}: cannot reopen: {error}") from None


def resolve_name(ref: str) -> str:
    """The registered name of the project `ref` names (opening it if only known on disk)."""
    return resolve_project(ref).name


def open_known_projects() -> list[Project]:
    """Every project indexed before, reopened if needed (after a restart without PATHs)."""
    engine = get_engine()
    projects = []
    for path in known_projects(engine.registry.indexes_dir).values():
        if path.is_dir() and engine.registry.by_path(path) is None:
            try:
                projects.append(engine.add_project(path))
            except (OSError, ValueError, RuntimeError):
                continue
    return projects


def _single_or_all(project: str | None) -> list[Project]:
    if project is not None:
        return [resolve_project(project)]
    engine = get_engine()
    open_known_projects()
    projects = engine.registry.list()
    if not projects:
        raise ApiError("no project is indexed; call index_project first")
    return projects


def _pattern_matcher(pattern: str) -> Any:
    if not isinstance(pattern, str) or not pattern:
        raise ApiError("pattern must be a non-empty glob or re:<regex>")
    if pattern.startswith("re:"):
        try:
            regex = re.compile(pattern[3:])
        except re.error as error:
            raise ApiError(f"bad regex {pattern[3:]!r}: {error}") from None
        return lambda rel: regex.search(rel) is not None
    globs = [pattern]
    if pattern.startswith("**/"):
        globs.append(pattern[3:])  # `**/*.py` also matches top-level files
    if "/" not in pattern:
        return lambda rel: any(fnmatch.fnmatchcase(PurePosixPath(rel).name, g) for g in globs)
    return lambda rel: any(
        PurePosixPath(rel).match(g) or fnmatch.fnmatchcase(rel, g) for g in globs
    )


def _indexed_paths(project: Project) -> list[str]:
    if not project.ready.is_set() and project.manifest is None:
        return []
    manifest = project.manifest
    return sorted(manifest.files) if manifest is not None else []


def find_files(pattern: str, project: str | None = None, limit: int = 200) -> dict[str, Any]:
    """Indexed files whose path (relative to its project root) matches a glob or `re:` regex."""
    matches = _pattern_matcher(pattern)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_FIND_RESULTS:
        raise ApiError(f"limit must be an integer from 1 to {MAX_FIND_RESULTS}")
    files: list[dict[str, str]] = []
    total = 0
    for target in _single_or_all(project):
        for rel in _indexed_paths(target):
            if matches(rel):
                total += 1
                if len(files) < limit:
                    files.append({"project": target.name, "path": rel})
    return {
        "pattern": pattern,
        "count": len(files),
        "total": total,
        "truncated": total > len(files),
        "files": files,
    }


def _safe_relative(project: Project, path: str) -> str:
    """`path` as a POSIX path relative to the project root, refused if it leaves the project."""
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise ApiError("path must be a non-empty file path")
    raw = Path(path).expanduser()
    root = project.path.resolve()
    if raw.is_absolute():
        try:
            rel = raw.relative_to(root)
        except ValueError:
            raise ApiError(f"{path}: outside project {project.name!r} ({root})") from None
    else:
        rel = Path(path)
    if ".." in rel.parts:
        raise ApiError(f"{path}: '..' is not allowed; paths are relative to the project root")
    full = root / rel
    try:
        real = full.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ApiError(f"{path}: no such file in project {project.name!r}") from None
    if not real.is_relative_to(root):
        raise ApiError(f"{path}: a symlink leading outside project {project.name!r}")
    if not real.is_file():
        raise ApiError(f"{path}: not a file")
    return rel.as_posix()


def read_file(
    path: str,
    start_line: int | None = None,
    end_line: int | None = None,
    project: str | None = None,
) -> dict[str, Any]:
    """Lines `start_line`..`end_line` (1-based, inclusive) of a project file, numbered."""
    targets = _single_or_all(project)
    if project is None and len(targets) > 1:
        owners = [t for t in targets if _exists_in(t, path)]
        if len(owners) != 1:
            names = ", ".join(t.name for t in (owners or targets))
            raise ApiError(f"{path}: give project= (candidates: {names})")
        targets = owners
    target = targets[0]
    rel = _safe_relative(target, path)
    for name, value in (("start_line", start_line), ("end_line", end_line)):
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise ApiError(f"{name} must be an integer >= 1")
    size = (target.path / rel).stat().st_size
    if size > MAX_FILE_BYTES:
        raise ApiError(f"{rel}: too large to read ({size} bytes; limit {MAX_FILE_BYTES})")
    text = target.read_file(rel)
    if text is None:
        raise ApiError(f"{rel}: binary or not valid text; cannot be read as lines")
    lines = text.splitlines()
    first = start_line or 1
    last = min(end_line or len(lines), len(lines))
    if end_line is not None and start_line is not None and end_line < start_line:
        raise ApiError("end_line must be >= start_line")
    if lines and first > len(lines):
        raise ApiError(f"{rel}: start_line {first} is past the end ({len(lines)} lines)")
    truncated = False
    if last - first + 1 > MAX_READ_LINES:
        last = first + MAX_READ_LINES - 1
        truncated = True
    out: list[str] = []
    chars = 0
    for number in range(first, last + 1):
        line = f"{number}\t{lines[number - 1]}"
        if chars + len(line) > MAX_READ_CHARS:
            last = number - 1
            truncated = True
            break
        out.append(line)
        chars += len(line) + 1
    return {
        "project": target.name,
        "path": rel,
        "start_line": first,
        "end_line": max(last, first - 1),
        "total_lines": len(lines),
        "truncated": truncated,
        "content": "\n".join(out),
    }


def _exists_in(project: Project, path: str) -> bool:
    try:
        _safe_relative(project, path)
    except ApiError:
        return False
    return True


def list_known_projects() -> dict[str, Any]:
    """Open projects with their state, plus those indexed before that are not open yet."""
    from engine.api.search_ops import project_dict

    engine = get_engine()
    projects = []
    for project in engine.registry.list():
        entry = project_dict(project)
        entry["status"] = (
            "indexed" if project.ready.is_set() else project.progress.phase or "indexing"
        )
        projects.append(entry)
    for name, path in known_projects(engine.registry.indexes_dir).items():
        if engine.registry.by_path(path) is None and name not in {p["name"] for p in projects}:
            projects.append(
                {
                    "name": name,
                    "path": str(path),
                    "status": "known" if path.is_dir() else "missing",
                    "indexed": True,
                    "note": "indexed in an earlier run; opened on first use",
                }
            )
    return {"projects": sorted(projects, key=lambda p: p["name"])}
