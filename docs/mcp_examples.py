"""Produce the example requests and responses of docs/mcp.md from a real headless server.

Run: `.venv/bin/python docs/mcp_examples.py [PROJECT_DIR] > /tmp/mcp-examples.md`

It starts `leindex --headless PROJECT_DIR` (default: this repository's `engine/` folder) with a
throw-away LEINDEX_HOME, calls every tool through the SDK's stdio client, and prints Markdown:
the parameter table of each tool (from `list_tools`) and each request with its response.
Long lists in responses are cut to their first entries (marked with "…").
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_LIST_ITEMS = 3


def _shorten(value: Any) -> Any:
    """Cut long lists so the docs stay readable; everything else is printed as returned."""
    if isinstance(value, list):
        kept = [_shorten(item) for item in value[:MAX_LIST_ITEMS]]
        return kept + ["…"] if len(value) > MAX_LIST_ITEMS else kept
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    return value


def _fence(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```\n"


def _parameter_table(tool: Any) -> str:
    properties = tool.input_schema.get("properties", {})
    required = set(tool.input_schema.get("required", []))
    if not properties:
        return "No parameters.\n"
    rows = ["| parameter | type | default | description |", "| --- | --- | --- | --- |"]
    for name, schema in properties.items():
        kind = _type_text(schema)
        default = "required" if name in required else json.dumps(schema.get("default"))
        rows.append(f"| `{name}` | {kind} | {default} | {schema.get('description', '')} |")
    return "\n".join(rows) + "\n"


def _type_text(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return " \\| ".join(f'`"{value}"`' for value in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_type_text(option) for option in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type_text(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


async def _example(session: ClientSession, name: str, arguments: dict[str, Any]) -> str:
    result = await session.call_tool(name, arguments)
    text = result.content[0].text if result.content else ""
    try:
        response: Any = _shorten(json.loads(text))
    except json.JSONDecodeError:
        response = text
    out = "Request:\n\n" + _fence({"name": name, "arguments": arguments})
    label = "Response (isError: true)" if result.is_error else "Response"
    if isinstance(response, str):
        return out + f"\n{label}:\n\n```text\n{response}\n```\n"
    return out + f"\n{label}:\n\n" + _fence(response)


async def main(project: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="leindex-docs-") as home:
        (Path(home) / "config.yaml").write_text("memory:\n  total_budget_mb: 3072\n")
        params = StdioServerParameters(
            command=str(Path(sys.executable).with_name("leindex")),
            args=["--headless", str(project)],
            env={"LEINDEX_HOME": home},
            cwd=str(REPO_ROOT),
        )
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {tool.name: tool for tool in (await session.list_tools()).tools}
            other = str(REPO_ROOT / "leindex_tui")
            calls: list[tuple[str, str, dict[str, Any]]] = [
                ("list_projects", "the project given on the command line", {}),
                ("search", "full-text search", {"query": "atomic_write_bytes", "limit": 3}),
                (
                    "search",
                    "hybrid search in one project",
                    {
                        "query": "spill to disk",
                        "mode": "hybrid",
                        "project": project.name,
                        "limit": 2,
                    },
                ),
                (
                    "search",
                    "glob filter, one context line, paging",
                    {"query": "lock", "glob": "memory/*.py", "context_lines": 1, "limit": 2},
                ),
                (
                    "search",
                    "the next page (offset = the previous next_offset)",
                    {"query": "lock", "glob": "memory/*.py", "limit": 2, "offset": 2},
                ),
                (
                    "search",
                    "regex mode, case-sensitive",
                    {"query": r"def \w+_mb\(", "regex": True, "case_sensitive": True, "limit": 3},
                ),
                ("search", "error: invalid query", {"query": "parse AND (config"}),
                ("search", "error: an argument the tool does not take", {"query": "x", "top": 3}),
                (
                    "search",
                    "error: an option the mode ignores",
                    {"query": "x", "mode": "semantic", "literal": True},
                ),
                ("find_files", "a glob", {"pattern": "memory/*.py", "limit": 4}),
                ("find_files", "a regex", {"pattern": "re:(^|/)test_", "limit": 4}),
                ("find_symbol", "where it is defined", {"name": "atomic_write_bytes"}),
                ("find_symbol", "by prefix and kind", {"name": "Memory*", "kind": "class"}),
                ("get_file_outline", "a file's definitions", {"path": "atomic.py"}),
                (
                    "read_file",
                    "a line range",
                    {"path": "atomic.py", "start_line": 1, "end_line": 8},
                ),
                ("read_file", "error: a path outside the project", {"path": "../README.md"}),
                (
                    "find_references",
                    "where it is used",
                    {"name": "atomic_write_bytes", "limit": 3},
                ),
                ("get_diagnostics", 'type="memory" (the guide\'s fields)', {"type": "memory"}),
                ("get_diagnostics", 'type="projects"', {"type": "projects"}),
                ("get_diagnostics", 'type="config" (merged, with sources)', {"type": "config"}),
                ("get_diagnostics", "error: unknown type", {"type": "disk"}),
                ("manage_memory", 'action="cleanup"', {"action": "cleanup"}),
                (
                    "manage_memory",
                    'action="configure"',
                    {"action": "configure", "soft_limit_mb": 2457, "hard_limit_mb": 2857},
                ),
                ("manage_memory", 'action="status" (after configure)', {"action": "status"}),
                ("manage_memory", 'action="spill"', {"action": "spill"}),
                (
                    "manage_memory",
                    'action="evict", protecting a project named by its path',
                    {
                        "action": "evict",
                        "target_mb": 50,
                        "priority_threshold": "MEDIUM",
                        "excluded_projects": [str(project)],
                    },
                ),
                ("manage_memory", 'action="gc"', {"action": "gc"}),
                (
                    "manage_memory",
                    "error: soft limit not below hard limit",
                    {"action": "configure", "soft_limit_mb": 3000, "hard_limit_mb": 2000},
                ),
                (
                    "manage_memory",
                    "error: hard limit beyond the budget",
                    {"action": "configure", "soft_limit_mb": 2000, "hard_limit_mb": 9000},
                ),
                ("manage_memory", "error: unknown action", {"action": "explode"}),
                (
                    "manage_memory",
                    "error: an argument the action ignores",
                    {"action": "cleanup", "target_mb": 50},
                ),
                (
                    "manage_memory",
                    "error: an unknown project in excluded_projects",
                    {"action": "evict", "target_mb": 50, "excluded_projects": ["nope"]},
                ),
                (
                    "get_diagnostics",
                    'type="eviction" (after the evict above)',
                    {"type": "eviction"},
                ),
                (
                    "index_project",
                    "start in the background (wait: false)",
                    {"path": other, "wait": False},
                ),
                ("get_index_status", "every job", {}),
                ("cancel_index", "error: an unknown job", {"job_id": "index-99"}),
                (
                    "index_project",
                    "index and wait (already indexed: returns at once)",
                    {"path": other, "priority": "HIGH"},
                ),
                (
                    "index_project",
                    "error: a file, not a directory",
                    {"path": str(REPO_ROOT / "README.md")},
                ),
                ("refresh_project", "re-scan a project", {"project": "leindex_tui"}),
                ("remove_project", "stop serving a project", {"project": other}),
                ("reload_config", "reload", {}),
            ]
            examples: dict[str, list[str]] = {name: [] for name in tools}
            for name, label, arguments in calls:
                text = await _example(session, name, arguments)
                examples[name].append(f"#### {label}\n\n{text}")
            for name, tool in tools.items():
                print(f"### `{name}`\n\n{tool.description}\n\n{_parameter_table(tool)}")
                print("\n".join(examples[name]))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "engine"
    anyio.run(main, target.resolve())
