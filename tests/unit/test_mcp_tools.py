"""The MCP tool layer on its own: schemas, error mapping and progress, over a fake engine.api.

The real engine is exercised end to end over stdio in tests/integration/test_mcp_stdio.py;
here the API functions are replaced so each behaviour of the thin layer is checked alone.
"""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from mcp import Client

from engine import api
from leindex_tui import mcp_tools


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple, dict]]:
    """Replace the API functions the tools call with recorders; returns the call log."""
    log: list[tuple[str, tuple, dict]] = []

    def recorder(name: str, result: Any):
        def fake(*args: Any, **kwargs: Any) -> Any:
            log.append((name, args, kwargs))
            if isinstance(result, Exception):
                raise result
            return result(*args, **kwargs) if callable(result) else result

        return fake

    def fake_search(query: str, **kwargs: Any) -> dict[str, Any]:
        if query == "AND AND":
            raise api.ApiError("invalid query 'AND AND': syntax error at position 0")
        if query == "boom":
            raise RuntimeError("engine bug")
        return {"query": query, "hits": [], **kwargs}

    indexed: dict[str, dict[str, Any]] = {}

    def fake_index(path: str, priority=None, wait=True, on_progress=None) -> dict[str, Any]:
        if path == "/no/such/dir":
            raise api.ApiError("/no/such/dir: no such directory")
        if on_progress is not None:
            on_progress(SimpleNamespace(files_done=0, files_total=0, phase="scanning"))
            for done in range(1, 4):
                on_progress(SimpleNamespace(files_done=done, files_total=3, phase="indexing"))
            on_progress(SimpleNamespace(files_done=3, files_total=3, phase="ready"))
        project = {"name": "proj", "path": path, "priority": priority or "MEDIUM"}
        indexed[project["name"]] = project
        return {"project": project, "job": {"job_id": "index-1", "state": "running"}}

    def fake_status(job_id: str | None = None) -> dict[str, Any]:
        return {"jobs": [{"job_id": "index-1", "state": "done", "project": "proj", "error": None}]}

    def fake_result(job_id: str) -> dict[str, Any]:
        return {"project": indexed["proj"], "job": fake_status(job_id)["jobs"][0]}

    monkeypatch.setattr(api, "get_diagnostics", recorder("get_diagnostics", {"ok": 1}), False)
    monkeypatch.setattr(api, "manage_memory", recorder("manage_memory", {"success": True}), False)
    monkeypatch.setattr(api, "search", recorder("search", fake_search), False)
    monkeypatch.setattr(api, "index_project", recorder("index_project", fake_index), False)
    monkeypatch.setattr(api, "index_status", recorder("index_status", fake_status), False)
    monkeypatch.setattr(api, "index_result", recorder("index_result", fake_result), False)
    monkeypatch.setattr(api, "reload_config", recorder("reload_config", {"success": True}), False)
    return log


def _payload(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


async def test_every_tool_has_a_description_and_typed_parameters() -> None:
    async with Client(mcp_tools.build_server()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}

    assert {
        "get_diagnostics",
        "manage_memory",
        "index_project",
        "search",
        "reload_config",
        "get_file_outline",
        "find_symbol",
        "find_references",
        "list_projects",
        "find_files",
        "read_file",
        "remove_project",
        "refresh_project",
    } <= set(tools)
    for tool in tools.values():
        assert tool.description and len(tool.description) > 20
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
    props = {name: tool.input_schema.get("properties", {}) for name, tool in tools.items()}
    assert props["get_diagnostics"]["type"]["enum"] == ["memory", "eviction", "config", "projects"]
    assert set(props["manage_memory"]["action"]["enum"]) == {
        "cleanup",
        "configure",
        "spill",
        "evict",
        "gc",
        "status",
    }
    assert props["search"]["mode"]["enum"] == ["fulltext", "semantic", "hybrid"]
    assert props["search"]["limit"]["type"] == "integer"
    assert tools["manage_memory"].input_schema["required"] == ["action"]
    assert tools["index_project"].input_schema["required"] == ["path"]
    assert tools["search"].input_schema["required"] == ["query"]


async def test_arguments_reach_the_api_with_mcp_as_trigger(calls: list) -> None:
    async with Client(mcp_tools.build_server()) as client:
        _payload(await client.call_tool("get_diagnostics", {"type": "eviction"}))
        _payload(
            await client.call_tool(
                "manage_memory",
                {"action": "evict", "target_mb": 5, "priority_threshold": "LOW"},
            )
        )
        found = _payload(
            await client.call_tool("search", {"query": "parse", "wait_timeout_seconds": 2})
        )

    assert calls[0] == ("get_diagnostics", (), {"type": "eviction"})
    assert calls[1] == (
        "manage_memory",
        ("evict",),
        {"trigger": "mcp", "target_mb": 5.0, "priority_threshold": "LOW"},
    )
    assert found["wait_timeout_seconds"] == 2.0 and found["mode"] == "fulltext"


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("manage_memory", {"action": "explode"}, "'cleanup'"),
        ("get_diagnostics", {"type": "disk"}, "'memory'"),
        ("search", {"query": "x", "limit": "many"}, "limit"),
        ("search", {"query": "x", "mode": "fuzzy"}, "'hybrid'"),
        ("search", {}, "query"),
        ("index_project", {}, "path"),
        ("index_project", {"path": 42}, "path"),
        ("manage_memory", {"action": "configure", "soft_limit_mb": -1}, "soft_limit_mb"),
        ("search", {"query": "AND AND"}, "invalid query 'AND AND'"),
        ("index_project", {"path": "/no/such/dir"}, "no such directory"),
        ("search", {"query": "boom"}, "internal error (RuntimeError: engine bug)"),
    ],
)
async def test_bad_input_is_an_error_result_and_the_server_keeps_serving(
    calls: list, tool: str, arguments: dict, expected: str
) -> None:
    async with Client(mcp_tools.build_server()) as client:
        result = await client.call_tool(tool, arguments)
        assert result.is_error
        assert expected in result.content[0].text
        assert _payload(await client.call_tool("get_diagnostics", {})) == {"ok": 1}


async def test_index_project_forwards_progress_when_the_client_asks(calls: list) -> None:
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    async with Client(mcp_tools.build_server()) as client:
        result = await client.call_tool(
            "index_project", {"path": "/src", "priority": "HIGH"}, progress_callback=on_progress
        )

    assert _payload(result)["project"]["priority"] == "HIGH"
    assert _payload(result)["job"]["state"] == "done"
    assert reports, "no progress notification arrived"
    values = [progress for progress, _, _ in reports]
    assert values == sorted(set(values)), f"progress must only increase: {values}"
    # Reports are coalesced, so the last one sent is "indexing" or "ready" at 3 of 3.
    assert reports[-1][1] == 100.0 and reports[-1][2].endswith(": 3/3 files")
    assert all(0 <= progress <= 100 for progress in values)
    assert calls[0][2]["on_progress"] is not None


async def test_index_project_without_wait_returns_at_once(calls: list) -> None:
    async with Client(mcp_tools.build_server()) as client:
        result = _payload(await client.call_tool("index_project", {"path": "/src", "wait": False}))

    assert result["job"]["state"] == "running"
    assert [name for name, _, _ in calls] == ["index_project"], "wait=false must not wait"


def test_latest_progress_keeps_only_the_newest_report() -> None:
    latest = mcp_tools._LatestProgress()
    assert latest.take(0) == (0, None)
    writers = [threading.Thread(target=latest.update, args=(n,)) for n in range(5)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    version, progress = latest.take(0)
    assert version == 5 and progress in range(5)
    assert latest.take(version) == (version, None)


async def test_bad_arguments_are_described_in_one_line_naming_each_parameter(calls: list) -> None:
    async with Client(mcp_tools.build_server()) as client:
        result = await client.call_tool("search", {"limit": "many", "mode": "fuzzy"})

    text = result.content[0].text
    assert result.is_error and "\n" not in text and "errors.pydantic.dev" not in text
    assert "query: required" in text
    assert "mode: Input should be 'fulltext', 'semantic' or 'hybrid' (got 'fuzzy')" in text
    assert "limit:" in text and "(got 'many')" in text
    assert calls == [], "a call with bad arguments must not reach the API"


@pytest.mark.parametrize("make_path", [lambda tmp: tmp / "missing", lambda tmp: tmp / "file.txt"])
def test_run_headless_refuses_a_path_that_is_not_a_directory(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], make_path
) -> None:
    import sys

    from leindex_tui.headless import run_headless

    (tmp_path / "file.txt").write_text("not a project\n")
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # run_headless points stdout at stderr

    status = run_headless([str(make_path(tmp_path))])

    captured = capsys.readouterr()
    assert status == 2
    assert "directory" in captured.err and str(make_path(tmp_path)) in captured.err
    assert captured.out == ""


def test_only_ready_reports_one_hundred_percent():
    from engine.index.results import IndexProgress
    from leindex_tui.mcp_tools import _progress_message

    last_stage = IndexProgress(42, 42, 0, "indexing", stage="semantic")
    ready = IndexProgress(42, 42, 0, "ready")
    assert _progress_message(last_stage)[0] < 100.0
    assert _progress_message(ready) == (100.0, 100.0, "ready: 42/42 files")
