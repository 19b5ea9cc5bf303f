"""`leindex --headless` end to end: a real server process, the SDK's stdio client, a real index.

One server process serves the whole module (started on a generated corpus, with its own
LEINDEX_HOME); the tests run in file order against it and the last one ends the session and
checks the persisted state; a second process on the same home checks that the state is restored
and saved again on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
import pytest_asyncio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.integration.corpus import UNIQUE_FILE, UNIQUE_WORD, write_corpus

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

REPO_ROOT = Path(__file__).resolve().parents[2]
CALL_TIMEOUT_SECONDS = 60.0
CONFIG_YAML = """\
memory:
  total_budget_mb: 4096
  max_cached_queries: 500
  monitoring:
    interval_seconds: 1
"""

MEMORY_FIELDS = {
    "timestamp": float,
    "process_memory_mb": float,
    "peak_memory_mb": float,
    "heap_size_mb": float,
    "gc_objects": int,
    "active_threads": int,
    "loaded_files": int,
    "cached_queries": int,
    "soft_limit_exceeded": bool,
    "hard_limit_exceeded": bool,
    "memory_breakdown": dict,
}
BREAKDOWN_FIELDS = (
    "total_mb",
    "process_rss_mb",
    "heap_mb",
    "loaded_content_mb",
    "query_cache_mb",
    "indexes_mb",
    "other_mb",
)


# Strong references to the session-holding tasks, so none is garbage-collected mid-run.
_session_tasks: set[asyncio.Task[None]] = set()


def _server_command() -> tuple[str, list[str]]:
    """The venv's `leindex` console script, or the module if the package is not installed."""
    script = Path(sys.executable).with_name("leindex")
    if script.exists():
        return str(script), ["--headless"]
    return sys.executable, ["-m", "leindex_tui.cli", "--headless"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _has_type(value: Any, expected: type) -> bool:
    if expected is float:
        return _is_number(value)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


@dataclass
class HeadlessServer:
    """A running `leindex --headless` and the client session connected to it."""

    home: Path
    corpus: Path
    session: ClientSession
    stray_output: list[Exception]
    stop: anyio.Event
    stopped: anyio.Event
    progress: list[tuple[float, float | None, str | None]] = field(default_factory=list)

    async def call(self, tool: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        try:
            with anyio.fail_after(CALL_TIMEOUT_SECONDS):
                return await self.session.call_tool(tool, arguments or {}, **kwargs)
        except Exception as error:
            # A dead or stuck server shows up here; its stderr says why.
            raise AssertionError(
                f"{tool}({arguments}) raised {error!r}; server stderr ends:\n{self.stderr_tail()}"
            ) from error

    def stderr_tail(self, lines: int = 40) -> str:
        log = self.home / "server-stderr.log"
        text = log.read_text(errors="replace") if log.exists() else "(no stderr log)"
        return "\n".join(text.splitlines()[-lines:])

    async def ok(self, tool: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """Call a tool that must succeed; returns its JSON payload."""
        result = await self.call(tool, arguments, **kwargs)
        assert not result.is_error, f"{tool}({arguments}) failed: {result.content[0].text}"
        payload = json.loads(result.content[0].text)
        assert result.structured_content in (None, payload)
        return payload

    async def error(self, tool: str, arguments: dict[str, Any]) -> str:
        """Call a tool that must fail; returns the error text."""
        result = await self.call(tool, arguments)
        assert result.is_error, f"{tool}({arguments}) should have failed: {result.content}"
        return result.content[0].text

    async def close(self) -> None:
        """Close the session (stdin EOF) and wait until the server process has exited."""
        self.stop.set()
        with anyio.fail_after(30):
            await self.stopped.wait()


async def _start_server(home: Path, paths: list[Path]) -> HeadlessServer:
    command, args = _server_command()
    params = StdioServerParameters(
        command=command,
        args=[*args, *map(str, paths)],
        env={"LEINDEX_HOME": str(home), "PYTHONUNBUFFERED": "1"},
        cwd=str(REPO_ROOT),
    )
    stray_output: list[Exception] = []

    async def on_message(message: Any) -> None:
        # A line on stdout that is not JSON-RPC arrives here as an exception.
        if isinstance(message, Exception):
            stray_output.append(message)

    ready: dict[str, HeadlessServer] = {}
    started = anyio.Event()
    stop = anyio.Event()
    stopped = anyio.Event()

    # The client must be entered and left in one task; tests call it from their own tasks.
    async def hold_session() -> None:
        try:
            with (home / "server-stderr.log").open("w") as errlog:
                async with (
                    stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write, message_handler=on_message) as session,
                ):
                    await session.initialize()
                    ready["server"] = HeadlessServer(
                        home, paths[0] if paths else home, session, stray_output, stop, stopped
                    )
                    started.set()
                    await stop.wait()
        finally:
            stopped.set()
            started.set()

    # A plain task, not a task group: pytest-asyncio runs a fixture's set-up and tear-down in
    # different tasks, and a task group must be left in the task that entered it.
    _session_tasks.add(asyncio.get_running_loop().create_task(hold_session()))
    with anyio.fail_after(60):
        await started.wait()
    if "server" not in ready:
        log = (home / "server-stderr.log").read_text()
        raise RuntimeError(f"headless server did not start:\n{log}")
    return ready["server"]


def _new_home(factory: pytest.TempPathFactory) -> Path:
    home = factory.mktemp("leindex-home")
    (home / "config.yaml").write_text(CONFIG_YAML)
    return home


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(
    module_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HeadlessServer]:
    home = _new_home(tmp_path_factory)
    running = await _start_server(home, [module_corpus])
    try:
        yield running
    finally:
        await running.close()


# --- listing ---------------------------------------------------------------------------


async def test_a_search_right_after_start_waits_for_the_first_index(
    server: HeadlessServer,
) -> None:
    # The corpus is indexed in the background from start-up; this is the first call.
    found = await server.ok("search", {"query": UNIQUE_WORD, "wait_timeout_seconds": 60})

    paths = [hit["path"] for hit in found["hits"]]
    assert any(path.endswith(UNIQUE_FILE) for path in paths), found
    assert found["still_indexing"] == []


async def test_every_tool_is_listed_with_a_description_and_typed_parameters(
    server: HeadlessServer,
) -> None:
    with anyio.fail_after(CALL_TIMEOUT_SECONDS):
        tools = {tool.name: tool for tool in (await server.session.list_tools()).tools}

    assert {"get_diagnostics", "manage_memory", "index_project", "search", "reload_config"} <= set(
        tools
    )
    for tool in tools.values():
        assert tool.description, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name}"
    assert set(tools["manage_memory"].input_schema["properties"]["action"]["enum"]) == {
        "cleanup",
        "configure",
        "spill",
        "evict",
        "gc",
        "status",
    }
    diagnostics_type = tools["get_diagnostics"].input_schema["properties"]["type"]
    assert set(diagnostics_type["enum"]) == {"memory", "eviction", "config", "projects"}
    mode = tools["search"].input_schema["properties"]["mode"]
    assert set(mode["enum"]) == {"fulltext", "semantic", "hybrid"}


# --- tools for using results ----------------------------------------------------------


async def test_list_find_and_read_through_the_sdk(server: HeadlessServer) -> None:
    with anyio.fail_after(CALL_TIMEOUT_SECONDS):
        listed = await server.ok("list_projects")
        assert [p["status"] for p in listed["projects"]] == ["indexed"]
        by_path = await server.ok(
            "find_files", {"pattern": "**/*.py", "project": str(server.corpus)}
        )
        assert UNIQUE_FILE in {f["path"] for f in by_path["files"]}
        read = await server.ok("read_file", {"path": UNIQUE_FILE, "start_line": 1, "end_line": 2})
        assert read["content"].startswith("1\t")
        assert read["end_line"] <= 2
        huge = await server.ok("read_file", {"path": UNIQUE_FILE, "end_line": 10**9})
        assert huge["end_line"] == huge["total_lines"]


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("read_file", {"path": "../../etc/passwd"}, "'..'"),
        ("read_file", {"path": "/etc/passwd"}, "outside"),
        ("find_files", {"pattern": "*.py", "project": "no-such-project"}, "unknown project"),
        ("search", {"query": "x", "project": "no-such-project"}, "unknown project"),
        ("read_file", {"path": "x.py", "start_line": "1"}, "start_line"),
        ("search", {"query": "x", "limit": "10"}, "limit"),
        ("index_project", {"path": "/tmp", "wait": "yes"}, "wait"),
    ],
)
async def test_bad_file_arguments_are_error_results(
    server: HeadlessServer, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    with anyio.fail_after(CALL_TIMEOUT_SECONDS):
        assert expected in await server.error(tool, arguments)


# --- get_diagnostics -------------------------------------------------------------------


async def test_memory_diagnostics_have_exactly_the_guides_fields_and_types(
    server: HeadlessServer,
) -> None:
    report = await server.ok("get_diagnostics", {"type": "memory"})

    assert set(report) == set(MEMORY_FIELDS)
    for name, expected in MEMORY_FIELDS.items():
        assert _has_type(report[name], expected), f"{name}={report[name]!r}"
    breakdown = report["memory_breakdown"]
    assert set(breakdown) == set(BREAKDOWN_FIELDS)
    assert all(_is_number(breakdown[name]) for name in BREAKDOWN_FIELDS), breakdown


async def test_memory_diagnostics_are_live_measurements(server: HeadlessServer) -> None:
    first = await server.ok("get_diagnostics", {"type": "memory"})
    await anyio.sleep(0.05)
    second = await server.ok("get_diagnostics", {"type": "memory"})

    assert second["timestamp"] > first["timestamp"]
    # A Python process with tantivy and numpy loaded is well above 10 MB RSS.
    assert second["process_memory_mb"] > 10
    assert second["peak_memory_mb"] >= second["process_memory_mb"] - 1
    assert second["gc_objects"] > 1000 and second["active_threads"] >= 2
    breakdown = second["memory_breakdown"]
    assert breakdown["process_rss_mb"] == pytest.approx(second["process_memory_mb"], abs=5)
    parts = breakdown["loaded_content_mb"] + breakdown["query_cache_mb"] + breakdown["indexes_mb"]
    assert breakdown["indexes_mb"] > 0, "the corpus index should be accounted"
    assert breakdown["total_mb"] >= parts


async def test_projects_diagnostics_list_the_startup_project(server: HeadlessServer) -> None:
    report = await server.ok("get_diagnostics", {"type": "projects"})

    text = json.dumps(report)
    assert str(server.corpus) in text or server.corpus.name in text, report


async def test_config_diagnostics_show_values_with_their_sources(server: HeadlessServer) -> None:
    report = await server.ok("get_diagnostics", {"type": "config"})

    text = json.dumps(report)
    assert "total_budget_mb" in text and "4096" in text
    assert "config.yaml" in text, "the global file should be named as a source"
    assert "default" in text, "keys not in the file should say they are defaults"


async def test_eviction_diagnostics_are_a_history(server: HeadlessServer) -> None:
    report = await server.ok("get_diagnostics", {"type": "eviction"})

    assert isinstance(report["evictions"], list)
    assert report["count"] == len(report["evictions"])


# --- manage_memory ---------------------------------------------------------------------


async def test_cleanup_reports_the_guides_fields(server: HeadlessServer) -> None:
    result = await server.ok("manage_memory", {"action": "cleanup"})

    assert set(result) >= {"success", "freed_mb", "duration_seconds", "cleanup_details"}
    assert result["success"] is True
    assert _is_number(result["freed_mb"]) and _is_number(result["duration_seconds"])
    details = result["cleanup_details"]
    assert set(details) == {"gc_objects_collected", "cache_entries_cleared", "files_unloaded"}
    assert all(isinstance(details[key], int) for key in details), details


async def test_configure_changes_the_limits_that_status_and_diagnostics_report(
    server: HeadlessServer,
) -> None:
    before = await server.ok("get_diagnostics", {"type": "memory"})
    assert before["soft_limit_exceeded"] is False
    low = {"soft_limit_mb": 1.0, "hard_limit_mb": 2.0}

    result = await server.ok("manage_memory", {"action": "configure", **low})
    try:
        assert result["success"] is True
        assert set(result) >= {"success", "previous_limits", "new_limits"}
        assert result["new_limits"] == {"soft_limit_mb": 1.0, "hard_limit_mb": 2.0}
        assert result["previous_limits"]["soft_limit_mb"] == pytest.approx(4096 * 0.80, abs=0.1)
        assert result["previous_limits"]["hard_limit_mb"] == pytest.approx(4096 * 0.93, abs=0.1)
        status = await server.ok("manage_memory", {"action": "status"})
        assert "1.0" in json.dumps(status) and "2.0" in json.dumps(status), status
        after = await server.ok("get_diagnostics", {"type": "memory"})
        assert after["soft_limit_exceeded"] is True
        assert after["hard_limit_exceeded"] is True
    finally:
        restored = await server.ok(
            "manage_memory",
            {"action": "configure", "soft_limit_mb": 4096 * 0.80, "hard_limit_mb": 4096 * 0.93},
        )
        assert restored["success"] is True
    assert (await server.ok("get_diagnostics", {"type": "memory"}))["hard_limit_exceeded"] is False


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"soft_limit_mb": 3000, "hard_limit_mb": 2000}, "soft"),
        ({"soft_limit_mb": 2000, "hard_limit_mb": 2000}, "soft"),
        ({"soft_limit_mb": 1000, "hard_limit_mb": 999_999}, "budget"),
    ],
)
async def test_configure_rejects_limits_that_do_not_make_sense(
    server: HeadlessServer, limits: dict[str, float], expected: str
) -> None:
    message = await server.error("manage_memory", {"action": "configure", **limits})

    assert expected in message.lower(), message
    status = await server.ok("manage_memory", {"action": "status"})
    assert "999999" not in json.dumps(status)


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("spill", {"success", "entries_spilled", "bytes_written", "freed_mb", "errors"}),
        ("gc", {"success", "gc_objects_collected", "freed_mb", "duration_seconds"}),
        ("status", {"current_mb", "level", "budget_mb", "soft_limit_mb", "hard_limit_mb"}),
    ],
)
async def test_other_memory_actions_report_what_they_did(
    server: HeadlessServer, action: str, fields: set[str]
) -> None:
    result = await server.ok("manage_memory", {"action": action})

    assert fields <= set(result), result
    assert result.get("success", True) is True, result
    assert result.get("errors", []) == []


async def test_evict_frees_by_priority_and_records_history(server: HeadlessServer) -> None:
    await server.ok("search", {"query": "parse", "limit": 5})
    before = await server.ok("get_diagnostics", {"type": "eviction"})

    result = await server.ok(
        "manage_memory",
        {"action": "evict", "target_mb": 1, "priority_threshold": "CRITICAL"},
    )

    assert result["trigger"] == "mcp" and result["total_candidates"] >= 1, result
    after = await server.ok("get_diagnostics", {"type": "eviction"})
    assert after["count"] == before["count"] + 1
    assert after["evictions"][-1]["trigger"] == "mcp"
    again = await server.ok("search", {"query": UNIQUE_WORD})
    assert any(hit["path"].endswith(UNIQUE_FILE) for hit in again["hits"])


async def _corpus_project_name(server: HeadlessServer) -> str:
    projects = (await server.ok("list_projects"))["projects"]
    return next(p["name"] for p in projects if p["path"] == str(server.corpus.resolve()))


async def _evict_everything(server: HeadlessServer, excluded: list[str] | None) -> list[str]:
    await server.ok("search", {"query": "parse", "limit": 5})  # something cached to evict
    arguments: dict[str, Any] = {
        "action": "evict",
        "target_mb": 100_000,
        "priority_threshold": "CRITICAL",
    }
    if excluded is not None:
        arguments["excluded_projects"] = excluded
    return (await server.ok("manage_memory", arguments))["evicted_projects"]


@pytest.mark.parametrize("by", ["path", "folder name"])
async def test_excluded_projects_named_by_path_or_folder_protect_the_project(
    server: HeadlessServer, by: str
) -> None:
    name = await _corpus_project_name(server)
    reference = str(server.corpus) if by == "path" else server.corpus.name

    assert name in await _evict_everything(server, None), "control: evicted when not excluded"
    assert name not in await _evict_everything(server, [reference])


# --- search and index_project ----------------------------------------------------------


@pytest.mark.parametrize("mode", ["fulltext", "semantic", "hybrid"])
async def test_search_modes_find_the_unique_file(server: HeadlessServer, mode: str) -> None:
    found = await server.ok("search", {"query": UNIQUE_WORD, "mode": mode, "limit": 3})

    assert 1 <= len(found["hits"]) <= 3
    assert found["hits"][0]["path"].endswith(UNIQUE_FILE), found["hits"][0]
    hit = found["hits"][0]
    assert {"project", "path", "line", "text", "score"} <= set(hit)


async def test_index_project_reports_progress_and_becomes_searchable(
    server: HeadlessServer, tmp_path: Path
) -> None:
    extra = write_corpus(tmp_path / "extra-project", modules=40)
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    result = await server.ok(
        "index_project",
        {"path": str(extra), "priority": "HIGH"},
        progress_callback=on_progress,
    )

    assert reports, "no progress notification while indexing"
    values = [progress for progress, _, _ in reports]
    assert values == sorted(set(values)), f"progress must only increase: {values}"
    assert reports[-1][0] == reports[-1][1] == 100, reports[-1]
    assert reports[-1][2] == "ready: 42/42 files", reports[-1]  # 40 modules, __init__, README
    name = result.get("name") or result.get("project", {}).get("name")
    assert name, result
    found = await server.ok("search", {"query": UNIQUE_WORD, "project": name})
    assert found["hits"] and all(hit["project"] == name for hit in found["hits"])


# --- search options --------------------------------------------------------------------


def _in_corpus(server: HeadlessServer) -> dict[str, str]:
    """Search the module's corpus only (other tests add projects)."""
    return {"project": str(server.corpus)}


async def test_search_glob_keeps_only_matching_paths(server: HeadlessServer) -> None:
    found = await server.ok(
        "search", {**_in_corpus(server), "query": "parse", "glob": "pkg/module_1*.py"}
    )

    assert found["hits"], found
    assert all(hit["path"].startswith("pkg/module_1") for hit in found["hits"]), found["hits"]


async def test_search_language_keeps_only_that_languages_files(server: HeadlessServer) -> None:
    markdown = await server.ok(
        "search", {**_in_corpus(server), "query": "generated", "language": "markdown"}
    )
    python = await server.ok(
        "search", {**_in_corpus(server), "query": "generated", "language": "python"}
    )

    assert {hit["path"] for hit in markdown["hits"]} == {"README.md"}, markdown["hits"]
    assert all(hit["path"].endswith(".py") for hit in python["hits"]), python


async def test_case_sensitive_literal_matches_the_exact_case_only(server: HeadlessServer) -> None:
    upper = UNIQUE_WORD.upper()
    either = await server.ok("search", {**_in_corpus(server), "query": upper, "literal": True})
    exact = await server.ok(
        "search", {**_in_corpus(server), "query": upper, "literal": True, "case_sensitive": True}
    )

    assert len(either["hits"]) == 2, either  # the comment (lower case) and the constant
    assert [hit["text"] for hit in exact["hits"]] == [f"{upper} = 42"], exact


async def test_regex_mode_matches_lines_of_the_candidate_files(server: HeadlessServer) -> None:
    constant = await server.ok(
        "search", {**_in_corpus(server), "query": r"^[A-Z]+\s*=\s*\d+$", "regex": True}
    )
    parsers = await server.ok(
        "search",
        {**_in_corpus(server), "query": r"\bdef parse_\w+_1\d\(", "regex": True, "limit": 50},
    )

    assert [(h["path"], h["text"]) for h in constant["hits"]] == [
        (UNIQUE_FILE, f"{UNIQUE_WORD.upper()} = 42")
    ], constant
    paths = sorted(hit["path"] for hit in parsers["hits"])
    assert paths == [f"pkg/module_{n}.py" for n in range(10, 20)], paths
    assert constant["mode"] == "regex"


async def test_context_lines_come_from_the_file_around_each_hit(server: HeadlessServer) -> None:
    found = await server.ok(
        "search",
        {
            **_in_corpus(server),
            "query": f"{UNIQUE_WORD.upper()} = 42",
            "literal": True,
            "context_lines": 2,
        },
    )
    hit = found["hits"][0]
    around = await server.ok(
        "read_file",
        {
            **_in_corpus(server),
            "path": hit["path"],
            "start_line": hit["line"] - 2,
            "end_line": hit["line"] - 1,
        },
    )

    assert len(hit["before"]) == 2 and hit["after"] == [], hit
    assert all(line in around["content"] for line in hit["before"]), (hit, around)


def _places(found: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(hit["project"], hit["path"], hit["line"]) for hit in found["hits"]]


async def test_paging_returns_the_next_hits_and_says_when_there_are_more(
    server: HeadlessServer,
) -> None:
    whole = await server.ok("search", {**_in_corpus(server), "query": "lookup", "limit": 10})
    first = await server.ok("search", {**_in_corpus(server), "query": "lookup", "limit": 5})
    second = await server.ok(
        "search",
        {**_in_corpus(server), "query": "lookup", "limit": 5, "offset": first["next_offset"]},
    )
    last = await server.ok("search", {**_in_corpus(server), "query": "lookup", "limit": 500})

    assert first["has_more"] is True and first["next_offset"] == 5, first
    # Scores may differ with the page size (definitions are boosted relative to the page);
    # which lines come, and in which order, may not.
    assert _places(first) + _places(second) == _places(whole)
    assert last["has_more"] is False and last["next_offset"] is None, last


async def test_hits_of_several_projects_are_merged_by_score(
    server: HeadlessServer, tmp_path: Path
) -> None:
    tiny = tmp_path / "tiny-project"
    tiny.mkdir()
    filler = "\n".join(f"unrelated filler line {n} about nothing" for n in range(200))
    (tiny / "notes.md").write_text(filler + "\nthe lookup table is elsewhere\n")
    (tiny / "other.md").write_text("the lookup of lookups\n")
    await server.ok("index_project", {"path": str(tiny)})

    found = await server.ok("search", {"query": "lookup", "limit": 30})

    projects = {hit["project"] for hit in found["hits"]}
    scores = [hit["score"] for hit in found["hits"]]
    assert len(projects) >= 2, found["hits"]
    assert scores == sorted(scores, reverse=True), scores
    await server.ok("remove_project", {"project": str(tiny)})


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("manage_memory", {"action": "explode"}, "action"),
        ("manage_memory", {}, "action"),
        ("get_diagnostics", {"type": "disk"}, "type"),
        ("search", {"query": "x", "limit": "many"}, "limit"),
        ("search", {"query": "x", "mode": "fuzzy"}, "mode"),
        ("search", {"query": 7}, "query"),
        ("search", {}, "query"),
        ("index_project", {}, "path"),
        ("index_project", {"path": "/definitely/not/here"}, "/definitely/not/here"),
        ("index_project", {"path": "README.md"}, "README.md"),
        ("search", {"query": "parse AND (config"}, "query"),
        ("search", {"query": "parse", "project": "no-such-project"}, "no-such-project"),
        ("manage_memory", {"action": "evict", "target_mb": "lots"}, "target_mb"),
        ("search", {"query": "parse", "colour": "red"}, "'colour'"),
        ("list_projects", {"verbose": True}, "'verbose'"),
        ("manage_memory", {"action": "cleanup", "target_mb": 5}, "target_mb does not apply"),
        ("manage_memory", {"action": "gc", "soft_limit_mb": 5}, "soft_limit_mb does not apply"),
        (
            "manage_memory",
            {"action": "evict", "target_mb": 1, "excluded_projects": ["no-such-project"]},
            "excluded_projects: unknown project 'no-such-project'",
        ),
        ("search", {"query": "parse", "mode": "semantic", "literal": True}, "literal"),
        ("search", {"query": "parse", "regex": True, "literal": True}, "regex"),
        ("search", {"query": "(unclosed", "regex": True}, "bad regex"),
        ("search", {"query": "parse", "case_sensitive": True}, "case_sensitive"),
        ("search", {"query": "parse", "language": "cobol"}, "cobol"),
        ("search", {"query": "parse", "context_lines": 99}, "context_lines"),
        ("search", {"query": "parse", "offset": -1}, "offset"),
    ],
)
async def test_bad_arguments_give_an_error_result_and_the_server_keeps_serving(
    server: HeadlessServer, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    if arguments.get("path") == "README.md":
        arguments = {"path": str(server.corpus / "README.md")}

    message = await server.error(tool, arguments)

    assert expected.lower() in message.lower(), message
    assert (await server.ok("get_diagnostics", {"type": "memory"}))["timestamp"] > 0


async def test_unknown_tool_is_an_error(server: HeadlessServer) -> None:
    message = await server.error("format_disk", {})

    assert "format_disk" in message


# --- config reload ---------------------------------------------------------------------


async def _config_value(server: HeadlessServer, needle: str) -> bool:
    return needle in json.dumps(await server.ok("get_diagnostics", {"type": "config"}))


async def test_reload_config_reports_success(server: HeadlessServer) -> None:
    result = await server.ok("reload_config")

    assert result["success"] is True and result["error"] is None
    assert set(result) == {"success", "reloaded_at", "error", "changes"}


async def test_a_config_file_edit_during_the_session_is_seen(server: HeadlessServer) -> None:
    (server.home / "config.yaml").write_text(CONFIG_YAML.replace("500", "321"))

    deadline = time.monotonic() + 15
    while not await _config_value(server, "321"):
        assert time.monotonic() < deadline, "the edit was not picked up within 15 s"
        await anyio.sleep(0.2)


async def test_an_invalid_config_edit_is_rejected_and_the_old_config_stays(
    server: HeadlessServer,
) -> None:
    (server.home / "config.yaml").write_text(
        CONFIG_YAML.replace("500", "321") + "  soft_limit_percent: lots\n"
    )

    result = await server.ok("reload_config")

    assert result["success"] is False
    assert "config.yaml" in result["error"] and "soft_limit_percent" in result["error"]
    assert await _config_value(server, "321")
    (server.home / "config.yaml").write_text(CONFIG_YAML.replace("500", "321"))


# --- the end of the session ------------------------------------------------------------


async def test_nothing_but_mcp_messages_reached_stdout(server: HeadlessServer) -> None:
    assert server.stray_output == []


async def test_closing_stdin_shuts_down_and_persists_state(server: HeadlessServer) -> None:
    await server.ok("search", {"query": "lookup"})

    await server.close()

    state = json.loads((server.home / "cache_state.json").read_text())
    assert set(state) >= {"version", "timestamp", "projects"}
    assert str(server.corpus.resolve()) in state["projects"] or any(
        server.corpus.name in key for key in state["projects"]
    ), state["projects"].keys()
    assert not (server.home / "leindex.pid").exists(), "the pidfile should be released"
    assert server.stray_output == []


async def test_a_restart_restores_the_state_and_sigterm_persists_it_again(
    server: HeadlessServer,
) -> None:
    # The module's server has ended (previous test); a new one starts on the same home.
    saved = json.loads((server.home / "cache_state.json").read_text())
    running = await _start_server(server.home, [server.corpus])
    try:
        deadline = time.monotonic() + 20
        while True:
            memory = await running.ok("get_diagnostics", {"type": "memory"})
            if memory["loaded_files"] > 0 and memory["cached_queries"] > 0:
                break
            assert time.monotonic() < deadline, f"cache state not restored: {memory}"
            await anyio.sleep(0.1)
        pid = int((server.home / "leindex.pid").read_text().split()[0])

        os.kill(pid, signal.SIGTERM)

        deadline = time.monotonic() + 20
        while _alive(pid):
            assert time.monotonic() < deadline, "the server did not exit after SIGTERM"
            await anyio.sleep(0.05)
    finally:
        await running.close()
    state = json.loads((server.home / "cache_state.json").read_text())
    assert state["timestamp"] > saved["timestamp"], "SIGTERM should have saved the state anew"
    assert state["projects"], state
    assert not (server.home / "leindex.pid").exists()
    assert running.stray_output == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
