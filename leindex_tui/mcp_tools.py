"""The MCP tools of headless mode: typed, described, thin wrappers over `engine.api`.

Each tool validates its arguments through its signature (the SDK turns the annotations into
the JSON schema an agent reads from `list_tools`, with `Literal` types as enums), runs the
blocking engine call on a worker thread so the event loop keeps serving, and turns the API's
`ApiError` into an MCP error result (`isError`) whose text is the API's message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal, TypeVar

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.func_metadata import func_metadata
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from engine import __version__, api

log = logging.getLogger(__name__)

T = TypeVar("T")

DiagnosticsType = Literal["memory", "eviction", "config", "projects"]
MemoryAction = Literal["cleanup", "configure", "spill", "evict", "gc", "status"]
PriorityName = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
SearchMode = Literal["fulltext", "semantic", "hybrid"]

# How often a tool that waits on indexing forwards the latest progress to the client: often
# enough to look live, rarely enough that a fast index does not flood the transport.
PROGRESS_INTERVAL_SECONDS = 0.2
# How often a waiting index_project looks at its job: a cancel or the end shows within this.
JOB_POLL_SECONDS = 0.05

SERVER_INSTRUCTIONS = """\
LeIndex: code search inside a fixed memory budget.
`list_projects` shows the indexed projects; `index_project` adds one (use wait=false and poll
`get_index_status` if your requests time out). To find code: `search` (fulltext, semantic or
hybrid; regex, glob, language, context_lines, offset paging), `find_symbol` for definitions,
`find_references` for uses, `find_files` for paths. To use a hit: `read_file(path,
start_line, end_line)` and `get_file_outline(path)`. `get_diagnostics(type="memory")` reports
memory use; `manage_memory` frees memory or changes the limits.
"""


async def _run_blocking(call: Callable[[], T]) -> T:
    """Run one engine call on a worker thread and map its failures to MCP error results.

    `abandon_on_cancel` lets a shutdown (stdin closed, SIGTERM) proceed without waiting for a
    long index or a search that is still waiting on one; the runtime's shutdown stops those.
    """
    try:
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    except ToolError:
        raise
    except (api.ApiError, ValueError, LookupError, OSError) as exc:
        # Anticipated bad input: the API's message is written for the caller as it is.
        raise ToolError(str(exc) or type(exc).__name__) from exc
    except Exception as exc:
        # A bug, not bad input: keep the server serving and say where to look.
        log.exception("engine call failed")
        raise ToolError(f"internal error ({type(exc).__name__}: {exc}); see the log") from exc


def _given(**kwargs: Any) -> dict[str, Any]:
    """The keyword arguments the caller actually gave, so the API applies its own defaults."""
    return {key: value for key, value in kwargs.items() if value is not None}


async def get_diagnostics(
    type: Annotated[
        DiagnosticsType,
        Field(
            description=(
                '"memory": live memory status and breakdown (the memory guide\'s fields); '
                '"eviction": history of evictions; "config": the merged config with the '
                'source of each value; "projects": indexed projects and their cache use.'
            )
        ),
    ] = "memory",
) -> dict[str, Any]:
    """Report LeIndex diagnostics: memory status, eviction history, merged config or projects."""
    return await _run_blocking(lambda: api.get_diagnostics(type=type))


async def manage_memory(
    action: Annotated[
        MemoryAction,
        Field(
            description=(
                '"cleanup": drop old cache entries and collect garbage; "configure": set '
                'soft_limit_mb and hard_limit_mb (applied live); "spill": move caches to '
                'disk; "evict": free target_mb by priority; "gc": run the garbage collector; '
                '"status": current limits and usage.'
            )
        ),
    ],
    soft_limit_mb: Annotated[
        float | None,
        Field(gt=0, description="configure: new soft limit in MB (must be below hard_limit_mb)"),
    ] = None,
    hard_limit_mb: Annotated[
        float | None,
        Field(gt=0, description="configure: new hard limit in MB (must fit in the budget)"),
    ] = None,
    target_mb: Annotated[
        float | None, Field(gt=0, description="evict: how many MB to free")
    ] = None,
    priority_threshold: Annotated[
        PriorityName | None,
        Field(description="evict: only evict projects at or below this priority"),
    ] = None,
    excluded_projects: Annotated[
        list[str] | None, Field(description="evict: project names never to evict")
    ] = None,
) -> dict[str, Any]:
    """Free memory or change the memory limits of the running LeIndex engine."""
    options = _given(
        soft_limit_mb=soft_limit_mb,
        hard_limit_mb=hard_limit_mb,
        target_mb=target_mb,
        priority_threshold=priority_threshold,
        excluded_projects=excluded_projects,
    )
    _refuse_inapplicable(action, options, _MEMORY_OPTION_ACTIONS)

    def call() -> dict[str, Any]:
        if excluded_projects is not None:
            # Named like any project argument; an unknown one would silently protect nothing.
            options["excluded_projects"] = api.project_names(
                excluded_projects, argument="excluded_projects"
            )
        return api.manage_memory(action, trigger="mcp", **options)

    return await _run_blocking(call)


# Which actions each optional manage_memory argument applies to.
_MEMORY_OPTION_ACTIONS = {
    "soft_limit_mb": ("configure",),
    "hard_limit_mb": ("configure",),
    "target_mb": ("evict",),
    "priority_threshold": ("evict",),
    "excluded_projects": ("evict",),
}


def _refuse_inapplicable(
    choice: str, given: Mapping[str, Any], applies_to: Mapping[str, tuple[str, ...]]
) -> None:
    """A ToolError naming each given argument that `choice` (an action or mode) ignores."""
    problems = [
        f"{name} does not apply to {choice!r} (only to: {', '.join(applies_to[name])})"
        for name in given
        if name in applies_to and choice not in applies_to[name]
    ]
    if problems:
        raise ToolError("inapplicable arguments: " + "; ".join(problems))


class _LatestProgress:
    """The newest progress report from the indexing thread; older unsent ones are dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Any = None
        self._version = 0

    def update(self, progress: Any) -> None:
        with self._lock:
            self._latest = progress
            self._version += 1

    def take(self, seen_version: int) -> tuple[int, Any]:
        with self._lock:
            if self._version == seen_version:
                return seen_version, None
            return self._version, self._latest


# Indexing runs two stages over the files (full-text, then semantic): MCP progress is a
# percentage of both, so it only grows; the message gives the stage's file counts.
_STAGE_SHARE = {"full-text": 0.0, "semantic": 50.0}


def _progress_message(progress: Any) -> tuple[float, float | None, str]:
    """`IndexProgress` → (percent, 100, message) for `notifications/progress`."""
    done = int(getattr(progress, "files_done", 0) or 0)
    total_files = int(getattr(progress, "files_total", 0) or 0)
    phase = getattr(progress, "phase", "") or "indexing"
    stage = getattr(progress, "stage", "") or ""
    if phase == "ready":
        percent = 100.0
    elif phase == "indexing" and total_files:
        percent = _STAGE_SHARE.get(stage, 0.0) + 50.0 * min(done, total_files) / total_files
        # Only "ready" is 100: the forwarder sends a value once, so a last stage that reached
        # 100 first would hide the "ready" report behind it (the end of a first index, the
        # manifest save and the symbol table's compaction, can take a tick or more).
        percent = min(percent, 99.9)
    else:
        percent = 0.0
    label = f"{phase} ({stage})" if stage and phase == "indexing" else str(phase)
    paused = getattr(progress, "paused", "") or ""
    message = f"{label}: {done}/{total_files} files" if total_files else label
    if paused:
        message += f", paused: {paused}"
    return round(percent, 2), 100.0, message


class _ProgressForwarder:
    """Forwards indexing progress to the client, each value once and only ever increasing.

    MCP requires the `progress` value to grow with every notification, so a report that does
    not advance (a phase change at the same file count) is not sent.
    """

    def __init__(self, latest: _LatestProgress, ctx: Context) -> None:
        self._latest = latest
        self._ctx = ctx
        self._seen_version = 0
        self._last_sent: float | None = None

    async def send_new(self) -> None:
        self._seen_version, progress = self._latest.take(self._seen_version)
        if progress is None:
            return
        done, total, message = _progress_message(progress)
        if self._last_sent is not None and done <= self._last_sent:
            return
        self._last_sent = done
        await self._ctx.report_progress(done, total, message)

    async def run(self) -> None:
        """Send new reports every `PROGRESS_INTERVAL_SECONDS` until cancelled."""
        while True:
            await self.send_new()
            await anyio.sleep(PROGRESS_INTERVAL_SECONDS)


async def index_project(
    path: Annotated[str, Field(min_length=1, description="Directory of the project to index")],
    ctx: Context,
    priority: Annotated[
        PriorityName | None,
        Field(description="Eviction priority of the project (default from config)"),
    ] = None,
    wait: Annotated[
        bool,
        Field(
            strict=True,
            description=(
                "true: return when the first index is complete (progress notifications are "
                "sent if the request has a progressToken; cancelling the request stops the "
                "indexing); false: return at once with a job id to poll with "
                "`get_index_status` (for hosts with request timeouts)"
            ),
        ),
    ] = True,
) -> dict[str, Any]:
    """Add a directory as a project and index it for full-text and semantic search."""
    latest = _LatestProgress()
    started = await _run_blocking(
        lambda: api.index_project(path, priority=priority, wait=False, on_progress=latest.update)
    )
    if not wait:
        return started
    job_id = started["job"]["job_id"]
    forwarder = _ProgressForwarder(latest, ctx)
    finished = False
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(forwarder.run)
            try:
                status = await _wait_for_job(job_id)
            finally:
                group.cancel_scope.cancel()
        finished = True
    finally:
        if not finished:
            # The request was cancelled (or the session ended): stop the work, not just the
            # reply. The part indexed so far is saved; index_project again resumes it.
            api.cancel_job(job_id)
    if status["state"] == "failed":
        raise ToolError(f"{path}: cannot index: {status['error']}")
    # The last report (100 %) may have arrived between two forwarding ticks.
    await forwarder.send_new()
    return await _run_blocking(lambda: api.index_result(job_id))


async def _wait_for_job(job_id: str) -> dict[str, Any]:
    """Poll the job on the event loop (a cheap read) until it has finished; its status."""
    while True:
        status = api.index_status(job_id)["jobs"][0]
        if status["state"] not in ("running", "cancelling"):
            return status
        await anyio.sleep(JOB_POLL_SECONDS)


async def get_index_status(
    job_id: Annotated[
        str | None,
        Field(description="The `job.job_id` index_project returned; default: every job"),
    ] = None,
) -> dict[str, Any]:
    """Progress of indexing jobs: state (running, cancelling, cancelled, done, failed), phase,
    files_done / files_total. Poll this after `index_project(wait=false)`."""
    return await _run_blocking(lambda: api.index_status(job_id))


async def cancel_index(
    job_id: Annotated[str, Field(min_length=1, description="The job id to stop")],
) -> dict[str, Any]:
    """Stop an indexing job after the file it is on; what it indexed is kept, and
    index_project on the same path later resumes from there."""
    return await _run_blocking(lambda: api.cancel_job(job_id))


async def search(
    query: Annotated[
        str,
        Field(
            min_length=1,
            description=(
                "What to look for. fulltext mode uses tantivy query syntax (e.g. "
                '`parse AND config`, `"exact phrase"`); set literal=true to search the text '
                "as typed."
            ),
        ),
    ],
    mode: Annotated[
        SearchMode,
        Field(description="fulltext (keywords), semantic (similar code) or hybrid (both)"),
    ] = "fulltext",
    project: Annotated[
        str | None, Field(description="Only search this project (name or path); default: all")
    ] = None,
    limit: Annotated[
        int, Field(strict=True, ge=1, le=500, description="Maximum number of hits")
    ] = 20,
    literal: Annotated[
        bool, Field(strict=True, description="Treat the query as plain text, not query syntax")
    ] = False,
    wait_timeout_seconds: Annotated[
        float,
        Field(
            ge=0,
            le=3600,
            description=(
                "If a project is still being indexed for the first time, wait up to this "
                "long for it instead of answering from a partial index"
            ),
        ),
    ] = 30.0,
    glob: Annotated[
        str | None,
        Field(
            min_length=1,
            description='Only hits in paths matching this glob ("src/**/*.py") or "re:<regex>"',
        ),
    ] = None,
    language: Annotated[
        str | None,
        Field(description="Only hits in files of this language (python, rust, go, ...)"),
    ] = None,
    case_sensitive: Annotated[
        bool,
        Field(strict=True, description="Match case exactly (with literal=true or regex=true)"),
    ] = False,
    regex: Annotated[
        bool,
        Field(
            strict=True,
            description=(
                "fulltext only: the query is a Python regex matched against each line of the "
                "candidate files (case-insensitive unless case_sensitive)"
            ),
        ),
    ] = False,
    context_lines: Annotated[
        int,
        Field(strict=True, ge=0, le=20, description="Lines before/after each hit to include"),
    ] = 0,
    offset: Annotated[
        int,
        Field(
            strict=True,
            ge=0,
            le=10_000,
            description="Skip this many hits (paging: pass the previous `next_offset`)",
        ),
    ] = 0,
) -> dict[str, Any]:
    """Search the indexed projects' code; returns hits with project, path, line, text, score,
    and `has_more` / `next_offset` for the next page."""
    given = {"literal": literal, "case_sensitive": case_sensitive, "regex": regex}
    _refuse_inapplicable(
        mode, {name: True for name, value in given.items() if value}, _SEARCH_OPTION_MODES
    )
    return await _run_blocking(
        lambda: api.search(
            query,
            mode=mode,
            project=project,
            limit=limit,
            literal=literal,
            wait_timeout_seconds=wait_timeout_seconds,
            glob=glob,
            language=language,
            case_sensitive=case_sensitive,
            regex=regex,
            context_lines=context_lines,
            offset=offset,
        )
    )


# Which search modes each switch applies to (semantic search has no literal text to match).
_SEARCH_OPTION_MODES = {
    "literal": ("fulltext", "hybrid"),
    "case_sensitive": ("fulltext", "hybrid"),
    "regex": ("fulltext",),
}


ProjectRef = Annotated[
    str | None,
    Field(description="Project name or directory path; default: the only/all open projects"),
]


async def list_projects() -> dict[str, Any]:
    """List projects: open ones with their indexing status and progress (files_done /
    files_total, pollable after `index_project(wait=false)`), and ones indexed in an earlier
    run (status "known", opened on first use)."""
    return await _run_blocking(api.list_known_projects)


async def find_files(
    pattern: Annotated[
        str,
        Field(min_length=1, description='Glob over indexed paths ("**/*.py") or "re:<regex>"'),
    ],
    project: ProjectRef = None,
    limit: Annotated[
        int, Field(strict=True, ge=1, le=1000, description="Maximum number of paths")
    ] = 200,
) -> dict[str, Any]:
    """Find indexed files by glob or regex over their paths relative to the project root."""
    return await _run_blocking(lambda: api.find_files(pattern, project=project, limit=limit))


async def read_file(
    path: Annotated[str, Field(min_length=1, description="File path relative to the project root")],
    start_line: Annotated[
        int | None, Field(strict=True, ge=1, description="First line (1-based)")
    ] = None,
    end_line: Annotated[
        int | None, Field(strict=True, ge=1, description="Last line (inclusive)")
    ] = None,
    project: ProjectRef = None,
) -> dict[str, Any]:
    """Read a line range of a project file, each line prefixed with its number (capped at
    2000 lines / 200k characters; `truncated` says so)."""
    return await _run_blocking(
        lambda: api.read_file(path, start_line=start_line, end_line=end_line, project=project)
    )


async def remove_project(
    project: Annotated[str, Field(min_length=1, description="Project name or directory path")],
) -> dict[str, Any]:
    """Stop serving a project and free its caches; its index stays on disk for next time."""
    return await _run_blocking(lambda: api.remove_project(project))


async def refresh_project(
    project: Annotated[str, Field(min_length=1, description="Project name or directory path")],
) -> dict[str, Any]:
    """Re-scan a project's directory and index new, changed and deleted files."""
    return await _run_blocking(lambda: api.refresh_project(project))


async def reload_config() -> dict[str, Any]:
    """Re-read config.yaml and projects/*.yaml and apply them live (no restart)."""
    return await _run_blocking(api.reload_config)


def _describe_validation_error(error: ValidationError) -> str:
    """One line per bad argument: its name, what was expected and what came (no doc URLs)."""
    problems = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]) or "arguments"
        if item["type"] == "missing":
            problems.append(f"{name}: required")
        else:
            problems.append(f"{name}: {item['msg']} (got {item['input']!r})")
    return "invalid arguments: " + "; ".join(problems)


class _ArgumentCheck:
    """Server middleware that answers a `tools/call` with bad arguments itself.

    The SDK rejects such a call too, but its message is pydantic's multi-line report with
    documentation links; an agent reads this one-line version more reliably. Arguments that
    pass are handed on untouched (the SDK validates them again, cheaply).
    """

    def __init__(self, tools: list[Callable[..., Any]]) -> None:
        self._metadata = {tool.__name__: func_metadata(tool, skip_names=["ctx"]) for tool in tools}

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        if ctx.method == "tools/call" and isinstance(ctx.params, Mapping):
            metadata = self._metadata.get(ctx.params.get("name"))
            arguments = ctx.params.get("arguments") or {}
            if metadata is not None and isinstance(arguments, dict):
                problem = _unknown_arguments(metadata, arguments)
                if problem is None:
                    try:
                        metadata.validate_arguments(arguments)
                    except ValidationError as error:
                        problem = _describe_validation_error(error)
                if problem is not None:
                    text = f"Error executing tool {ctx.params['name']}: {problem}"
                    return CallToolResult(
                        content=[TextContent(type="text", text=text)], is_error=True
                    )
        return await call_next(ctx)


def _unknown_arguments(metadata: Any, arguments: Mapping[str, Any]) -> str | None:
    """The arguments the tool does not take, named with the ones it does; None if all known."""
    known = list(metadata.arg_model.model_fields)
    unknown = [name for name in arguments if name not in known]
    if not unknown:
        return None
    names = ", ".join(repr(name) for name in unknown)
    return f"unknown arguments {names}; this tool takes: {', '.join(known) or 'no arguments'}"


_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_CHANGES_STATE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, open_world_hint=False
)


def build_server(
    lifespan: Callable[[MCPServer[Any]], AbstractAsyncContextManager[Any]] | None = None,
) -> MCPServer[Any]:
    """The LeIndex MCP server with its tools; `lifespan` starts and stops the engine."""
    server: MCPServer[Any] = MCPServer(
        "leindex",
        title="LeIndex",
        instructions=SERVER_INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
        lifespan=lifespan,
    )
    server.add_tool(get_diagnostics, title="Diagnostics", annotations=_READ_ONLY)
    server.add_tool(manage_memory, title="Manage memory", annotations=_CHANGES_STATE)
    server.add_tool(index_project, title="Index a project", annotations=_CHANGES_STATE)
    server.add_tool(get_index_status, title="Indexing status", annotations=_READ_ONLY)
    server.add_tool(cancel_index, title="Cancel indexing", annotations=_CHANGES_STATE)
    server.add_tool(search, title="Search code", annotations=_READ_ONLY)
    server.add_tool(reload_config, title="Reload config", annotations=_CHANGES_STATE)
    server.add_tool(list_projects, title="List projects", annotations=_READ_ONLY)
    server.add_tool(find_files, title="Find files", annotations=_READ_ONLY)
    server.add_tool(read_file, title="Read a file", annotations=_READ_ONLY)
    server.add_tool(remove_project, title="Remove a project", annotations=_CHANGES_STATE)
    server.add_tool(refresh_project, title="Refresh a project", annotations=_CHANGES_STATE)
    server.middleware.append(
        _ArgumentCheck(
            [
                get_diagnostics,
                manage_memory,
                index_project,
                get_index_status,
                cancel_index,
                search,
                reload_config,
                list_projects,
                find_files,
                read_file,
                remove_project,
                refresh_project,
            ]
        )
    )
    register_symbol_tools(server)
    return server


# -- symbol tools (definitions index of the search-quality issue) ---------------------------

SymbolKind = Annotated[
    str | None,
    Field(
        description=(
            "Only this kind: function, method, class, struct, union, enum, macro, type, "
            "interface, trait, module, constant"
        )
    ),
]
ProjectArg = Annotated[
    str | None,
    Field(description="Project name or path; default: every open project"),
]


async def get_file_outline(
    path: Annotated[str, Field(description="File path relative to the project root")],
    project: ProjectArg = None,
) -> dict[str, Any]:
    """A file's symbol definitions (functions, classes, structs, macros, ...) with kinds and
    line spans, in line order."""
    return await _run_blocking(lambda: api.get_file_outline(path, project=project))


async def find_symbol(
    name: Annotated[str, Field(description="Symbol name; a trailing * matches a prefix")],
    project: ProjectArg = None,
    kind: SymbolKind = None,
    prefix: Annotated[bool, Field(description="Match names starting with `name`")] = False,
    limit: Annotated[int, Field(ge=1, le=500, description="Maximum definitions")] = 100,
) -> dict[str, Any]:
    """Where a symbol is defined: definitions by exact name (exact case first) or by prefix."""
    return await _run_blocking(
        lambda: api.find_symbol(name, project=project, kind=kind, prefix=prefix, limit=limit)
    )


async def find_references(
    name: Annotated[str, Field(description="Symbol name (matched as a whole word)")],
    project: ProjectArg = None,
    limit: Annotated[int, Field(ge=1, le=500, description="Maximum lines")] = 100,
) -> dict[str, Any]:
    """Lines that use a symbol (whole-word matches from the index), its definitions excluded."""
    return await _run_blocking(lambda: api.find_references(name, project=project, limit=limit))


SYMBOL_TOOLS = (get_file_outline, find_symbol, find_references)


def register_symbol_tools(server: MCPServer[Any]) -> None:
    """Add the symbol tools (and their argument check) to a server built by `build_server`."""
    server.add_tool(get_file_outline, title="File outline", annotations=_READ_ONLY)
    server.add_tool(find_symbol, title="Find symbol", annotations=_READ_ONLY)
    server.add_tool(find_references, title="Find references", annotations=_READ_ONLY)
    server.middleware.append(_ArgumentCheck(list(SYMBOL_TOOLS)))
