"""`cache_state.json`: the guide's shape, parsed as data and written atomically.

The guide's keys and types are kept exactly (`loaded_files` and `cached_queries` are lists of
strings). What a restore needs beyond them rides in optional keys parallel to those lists,
which older readers ignore:

- `loaded_file_stats`: `[[mtime_ns, size], ...]`, one per `loaded_files` entry, so a file
  changed or replaced since the save is not warmed with a stale identity;
- `cached_query_options`: `[{"mode": ..., "limit": ..., "literal": ...}, ...]`, one per
  `cached_queries` entry, so the query can be re-run exactly.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from engine.atomic import atomic_write_text

CACHE_STATE_FILE_NAME = "cache_state.json"
CACHE_STATE_VERSION = "1.0"
SEARCH_MODES = ("fulltext", "semantic", "hybrid")
# A state file is a few MB even for thousands of entries; anything far larger is not ours.
MAX_STATE_FILE_BYTES = 64 * 1024 * 1024


class CacheStateError(ValueError):
    """A state file that cannot be used; `reason` is "corrupt" or "unknown-version"."""

    def __init__(self, path: Path, message: str, reason: str = "corrupt") -> None:
        super().__init__(f"{path}: {message}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class LoadedFileRecord:
    """A loaded file, relative to its project, with its identity when it was saved."""

    path: str
    mtime_ns: int | None = None
    size: int | None = None


@dataclass(frozen=True)
class CachedQueryRecord:
    """A cached search, with what it takes to run it again."""

    query: str
    mode: str = "fulltext"
    limit: int = 20
    literal: bool = False


@dataclass(frozen=True)
class ProjectCacheState:
    """One project's entry: oldest first, so restoring in order rebuilds the same LRU order."""

    loaded_files: tuple[LoadedFileRecord, ...] = ()
    cached_queries: tuple[CachedQueryRecord, ...] = ()
    last_accessed: float = 0.0


@dataclass(frozen=True)
class CacheState:
    """The whole file: `projects` is keyed by the project's absolute path."""

    timestamp: float
    projects: dict[str, ProjectCacheState] = field(default_factory=dict)
    version: str = CACHE_STATE_VERSION

    @property
    def loaded_file_count(self) -> int:
        """Loaded files over all projects."""
        return sum(len(p.loaded_files) for p in self.projects.values())

    @property
    def cached_query_count(self) -> int:
        """Cached queries over all projects."""
        return sum(len(p.cached_queries) for p in self.projects.values())


def state_to_json(state: CacheState) -> str:
    """The guide's JSON for `state`, plus the optional parallel keys."""
    projects = {}
    for project_path, entry in state.projects.items():
        projects[project_path] = {
            "loaded_files": [record.path for record in entry.loaded_files],
            "cached_queries": [record.query for record in entry.cached_queries],
            "last_accessed": float(entry.last_accessed),
            "loaded_file_stats": [
                None
                if record.mtime_ns is None or record.size is None
                else [record.mtime_ns, record.size]
                for record in entry.loaded_files
            ],
            "cached_query_options": [
                {"mode": record.mode, "limit": record.limit, "literal": record.literal}
                for record in entry.cached_queries
            ],
        }
    document = {"version": state.version, "timestamp": float(state.timestamp), "projects": projects}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_cache_state(path: Path, state: CacheState) -> None:
    """Write `state` to `path` atomically (temp file, fsync, rename): never a torn file."""
    atomic_write_text(path, state_to_json(state))


def read_cache_state(path: Path) -> CacheState | None:
    """The state in `path`; None if there is no file; `CacheStateError` if it is unusable."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    if size > MAX_STATE_FILE_BYTES:
        raise CacheStateError(path, f"{size} bytes is larger than any state file we write")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CacheStateError(path, f"not valid JSON ({error})") from error
    return parse_cache_state(document, path)


def parse_cache_state(document: object, path: Path) -> CacheState:
    """Validate a decoded document key by key; any wrong type names the key that is wrong."""
    if not isinstance(document, dict):
        raise CacheStateError(path, "top level is not an object")
    version = document.get("version")
    if version != CACHE_STATE_VERSION:
        raise CacheStateError(
            path, f"version {version!r} is not {CACHE_STATE_VERSION!r}", reason="unknown-version"
        )
    timestamp = _number(document.get("timestamp"), path, "timestamp")
    projects_value = document.get("projects")
    if not isinstance(projects_value, dict):
        raise CacheStateError(path, "projects: expected an object of project paths")
    projects = {}
    for project_path, entry in projects_value.items():
        projects[project_path] = _parse_project(entry, path, f"projects[{project_path!r}]")
    return CacheState(timestamp=timestamp, projects=projects, version=version)


def _parse_project(entry: object, path: Path, where: str) -> ProjectCacheState:
    if not isinstance(entry, dict):
        raise CacheStateError(path, f"{where}: expected an object")
    files = _string_list(entry.get("loaded_files", []), path, f"{where}.loaded_files")
    queries = _string_list(entry.get("cached_queries", []), path, f"{where}.cached_queries")
    last_accessed = _number(entry.get("last_accessed", 0.0), path, f"{where}.last_accessed")
    stats = _parallel(
        entry.get("loaded_file_stats"), len(files), path, f"{where}.loaded_file_stats"
    )
    options = _parallel(
        entry.get("cached_query_options"), len(queries), path, f"{where}.cached_query_options"
    )
    file_records = tuple(
        _file_record(name, stat, path, f"{where}.loaded_file_stats[{index}]")
        for index, (name, stat) in enumerate(zip(files, stats, strict=True))
    )
    query_records = tuple(
        _query_record(text, option, path, f"{where}.cached_query_options[{index}]")
        for index, (text, option) in enumerate(zip(queries, options, strict=True))
    )
    return ProjectCacheState(file_records, query_records, last_accessed)


def _file_record(name: str, stat: object, path: Path, where: str) -> LoadedFileRecord:
    if stat is None:
        return LoadedFileRecord(name)
    if (
        not isinstance(stat, list)
        or len(stat) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in stat)
    ):
        raise CacheStateError(path, f"{where}: expected [mtime_ns, size] as two integers")
    return LoadedFileRecord(name, stat[0], stat[1])


def _query_record(text: str, option: object, path: Path, where: str) -> CachedQueryRecord:
    if option is None:
        return CachedQueryRecord(text)
    if not isinstance(option, dict):
        raise CacheStateError(path, f"{where}: expected an object")
    mode = option.get("mode", "fulltext")
    limit = option.get("limit", 20)
    literal = option.get("literal", False)
    if mode not in SEARCH_MODES:
        raise CacheStateError(path, f"{where}.mode: {mode!r} is not one of {SEARCH_MODES}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000:
        raise CacheStateError(path, f"{where}.limit: {limit!r} is not an integer in 1..10000")
    if not isinstance(literal, bool):
        raise CacheStateError(path, f"{where}.literal: {literal!r} is not true or false")
    return CachedQueryRecord(text, mode, limit, literal)


def _string_list(value: object, path: Path, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CacheStateError(path, f"{where}: expected a list of strings")
    return value


def _parallel(value: object, length: int, path: Path, where: str) -> list[object]:
    """An optional list parallel to another; absent means "no extra information"."""
    if value is None:
        return [None] * length
    if not isinstance(value, list) or len(value) != length:
        raise CacheStateError(path, f"{where}: expected a list of {length} entries")
    return value


def _number(value: object, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CacheStateError(path, f"{where}: expected a number, got {value!r}")
    return float(value)
