"""Search operations of the API: index a project, search, list projects, set a priority.

Each returns plain JSON-able dicts; bad input raises `ApiError` with a message for the user.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.api import index_jobs, search_options
from engine.api.errors import ApiError
from engine.index import (
    SEARCH_MODES,
    IndexProgress,
    Project,
    QuerySyntaxError,
    SearchHit,
    UnknownProjectError,
    get_engine,
)
from engine.index.engine import MAX_SEARCH_LIMIT
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
        "vector_search": project.vector_search,
        "vectors_pending": len(project.pending_vector_paths),
        "semantic_note": project.semantic_note,
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
    # A job cancelled meanwhile (cancel_index from another call) did not index everything.
    done = job.state == index_jobs.JOB_DONE
    return {"success": done, "project": project_dict(job.project), "job": job.to_dict()}


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
    *,
    glob: str | None = None,
    language: str | None = None,
    case_sensitive: bool = False,
    regex: bool = False,
    context_lines: int = 0,
    offset: int = 0,
) -> dict[str, Any]:
    """Search one project (or all); waits up to `wait_timeout_seconds` for a first index.

    `glob`/`language` keep hits in matching paths; `regex` matches each line of the candidate
    files with the query as a Python regex; `case_sensitive` applies to literal and regex
    queries; `context_lines` adds the lines around each hit; `offset` pages, and `has_more` /
    `next_offset` say whether another page exists. Several projects merge by score.
    """
    if mode not in SEARCH_MODES:
        raise ApiError(f"unknown mode {mode!r}; allowed: {', '.join(SEARCH_MODES)}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise ApiError(f"limit must be an integer from 1 to {MAX_SEARCH_LIMIT}: {limit!r}")
    _check_options(mode, literal, regex, case_sensitive, context_lines, offset)
    keep = search_options.path_filter(glob, language)
    pattern = search_options.compile_regex(query, case_sensitive) if regex else None
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
    indexing, failed = _wait_for_first_index(targets, wait_timeout_seconds)
    notes: list[str] = [
        f"{target.name}: answered from the saved index while it is brought up to date"
        for target in targets
        if target.servable.is_set() and not target.ready.is_set()
    ]
    if not targets:
        _check_query(query, literal or regex)
        notes.append("no project is indexed; call index_project first")
    wanted = offset + limit + 1  # one more than the page: whether there is a next page
    started = time.perf_counter()
    per_project: list[list[SearchHit]] = []
    from_cache = bool(targets)
    for target in targets:
        if pattern is not None:
            hits = search_options.regex_hits(target, pattern, keep, wanted, notes)
            from_cache = False
        else:
            hits, cached = _filtered_hits(
                engine, target, query, mode, literal, case_sensitive, keep, wanted, notes
            )
            from_cache = from_cache and cached
        per_project.append(hits)
    merged = per_project[0] if len(per_project) == 1 else search_options.merge_by_score(per_project)
    page = merged[offset : offset + limit]
    has_more = len(merged) > offset + limit
    return {
        "query": query,
        "mode": "regex" if regex else mode,
        "from_cache": from_cache,
        "duration_ms": round((time.perf_counter() - started) * 1000.0, 3),
        "count": len(page),
        "offset": offset,
        "has_more": has_more,
        "next_offset": offset + len(page) if has_more else None,
        "hits": [_hit_dict(engine, hit, context_lines) for hit in page],
        "still_indexing": indexing,
        "index_failed": failed,
        "notes": list(dict.fromkeys(notes)),
    }


def _check_options(
    mode: str, literal: bool, regex: bool, case_sensitive: bool, context_lines: int, offset: int
) -> None:
    if regex and literal:
        raise ApiError("regex and literal exclude each other: the regex is matched as written")
    if regex and mode != "fulltext":
        raise ApiError(f"regex applies to mode 'fulltext' only, not {mode!r}")
    if case_sensitive and not (literal or regex):
        raise ApiError("case_sensitive applies to literal=true or regex=true queries only")
    if not isinstance(context_lines, int) or not (
        0 <= context_lines <= search_options.MAX_CONTEXT_LINES
    ):
        raise ApiError(
            f"context_lines must be 0 to {search_options.MAX_CONTEXT_LINES}: {context_lines!r}"
        )
    if not isinstance(offset, int) or offset < 0:
        raise ApiError(f"offset must be a non-negative integer: {offset!r}")


def _check_query(query: str, literal: bool) -> None:
    """Refuse a bad query even with no project to run it on (no index parses it then)."""
    if not isinstance(query, str) or not query.strip():
        raise ApiError("the query is empty")
    if literal or not uses_query_syntax(query):
        return
    import tantivy

    from engine.index.fulltext import explain_syntax_error

    schema_builder = tantivy.SchemaBuilder()
    schema_builder.add_text_field("content", stored=False)
    schema_builder.add_text_field("path", stored=False)
    try:
        tantivy.Index(schema_builder.build()).parse_query(query, ["content"])
    except ValueError as error:
        position, hint = explain_syntax_error(query)
        raise ApiError(str(QuerySyntaxError(query, str(error), position, hint))) from None


def _wait_for_first_index(
    targets: list[Project], wait_timeout_seconds: float
) -> tuple[list[str], list[str]]:
    """Wait for projects still in their first index; returns (still indexing, failed).

    A project reopened from a saved index answers at once (`servable`), while it is brought
    up to date with the files."""
    deadline = time.monotonic() + max(0.0, float(wait_timeout_seconds))
    indexing: list[str] = []
    failed: list[str] = []
    for target in targets:
        # Wait in short steps: a first index that failed will never set `ready`.
        while not target.servable.is_set():
            if target.progress.phase == "error":
                failed.append(target.name)
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                indexing.append(target.name)
                break
            target.servable.wait(min(0.05, remaining))
    return indexing, failed


def _filtered_hits(
    engine: Any,
    target: Project,
    query: str,
    mode: str,
    literal: bool,
    case_sensitive: bool,
    keep: search_options.PathFilter | None,
    wanted: int,
    notes: list[str],
) -> tuple[list[SearchHit], bool]:
    """At least `wanted` hits of one project that pass the filters, if it has that many.

    With a filter the engine is asked for more hits than wanted, four times more each round,
    until enough pass or the engine has no more.
    """
    filtering = keep is not None or case_sensitive
    asked = min(MAX_SEARCH_LIMIT, wanted * 4 if filtering else wanted)
    while True:
        response = _engine_search(engine, target.name, query, mode, asked, literal, notes)
        hits = [
            hit
            for hit in response.hits
            if (keep is None or keep(hit.path)) and (not case_sensitive or query in hit.text)
        ]
        if len(hits) >= wanted or len(response.hits) < asked or asked >= MAX_SEARCH_LIMIT:
            return hits, response.from_cache
        asked = min(MAX_SEARCH_LIMIT, asked * 4)


def _engine_search(
    engine: Any, name: str, query: str, mode: str, limit: int, literal: bool, notes: list[str]
) -> Any:
    """One project's engine search; code that is not query syntax is searched as written."""
    try:
        try:
            response = engine.search(query, mode=mode, project=name, limit=limit, literal=literal)
        except QuerySyntaxError as error:
            # Code that is not query syntax (`std::vector`, `f("x")`) is searched as written;
            # a query using operators or fields explicitly gets the error with its position.
            if literal or not isinstance(query, str) or not query.strip():
                raise
            if uses_query_syntax(query):
                raise
            response = engine.search(query, mode=mode, project=name, limit=limit, literal=True)
            column = f" at column {error.position + 1}" if error.position is not None else ""
            notes.append(f"not valid query syntax{column}; searched as a literal string")
    except (QuerySyntaxError, UnknownProjectError, ValueError) as error:
        raise ApiError(str(error)) from None
    notes.extend(response.notes)
    return response


def _hit_dict(engine: Any, hit: SearchHit, context_lines: int) -> dict[str, Any]:
    found = hit.to_dict()
    if context_lines:
        try:
            project = engine.registry.get(hit.project)
        except UnknownProjectError:
            return found
        context = search_options.context_for(project, hit, context_lines)
        found["before"] = context.before
        found["after"] = context.after
    return found


def project_names(refs: list[str], argument: str = "project") -> list[str]:
    """The registered names of these project references (name, path or folder name), open or
    only known on disk; none is opened. `ApiError` names the first unknown one."""
    from engine.api.file_ops import _known_names, resolve_project
    from engine.index.registry import known_projects, match_known

    engine = get_engine()
    names = []
    for ref in refs:
        try:
            names.append(resolve_project(ref, open_known=False).name)
            continue
        except ApiError:
            match = match_known(known_projects(engine.registry.indexes_dir), ref)
        if match is None:
            known = ", ".join(_known_names(engine)) or "none"
            raise ApiError(f"{argument}: unknown project {ref!r}; known: {known}")
        names.append(match[0])
    return names


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
