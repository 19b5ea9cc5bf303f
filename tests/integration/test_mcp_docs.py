"""The client configuration snippets of docs/mcp.md: each parses, and launches a server.

The snippets' placeholder paths are replaced with this checkout's `leindex` script and a
generated project; the command, arguments and environment are otherwise used as written.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.integration.corpus import write_corpus
from tests.integration.test_mcp_stdio import REPO_ROOT, _server_command

pytestmark = [pytest.mark.timeout(60)]

DOC = REPO_ROOT / "docs" / "mcp.md"
PLACEHOLDER_SCRIPT = "/abs/path/to/leindex-tui/.venv/bin/leindex"


def _section() -> str:
    text = DOC.read_text()
    return text[text.index("## Registering the server") : text.index("## For agents")]


def _json_snippets() -> list[dict[str, Any]]:
    """The server entry of every JSON block (`mcpServers` or VS Code's `servers`)."""
    entries = []
    for block in re.findall(r"```json\n(.*?)```", _section(), flags=re.S):
        config = json.loads(block)
        servers = config.get("mcpServers") or config.get("servers")
        entries.append(servers["leindex"])
    return entries


def _claude_mcp_add_commands() -> list[list[str]]:
    """`claude mcp add ... -- COMMAND ARGS` lines: the part after `--`."""
    shell = "\n".join(re.findall(r"```sh\n(.*?)```", _section(), flags=re.S))
    joined = shell.replace("\\\n", " ")
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line)
        if words[:3] == ["claude", "mcp", "add"]:
            commands.append(words[words.index("--") + 1 :])
    return commands


def test_every_snippet_runs_the_headless_leindex_script() -> None:
    entries = _json_snippets()
    commands = _claude_mcp_add_commands()

    assert len(entries) == 4 and len(commands) == 2  # .mcp.json, Desktop, VS Code, Cursor
    for command in [[e["command"], *e["args"]] for e in entries] + commands:
        assert command[0] == PLACEHOLDER_SCRIPT and command[1] == "--headless", command


@pytest.mark.asyncio
@pytest.mark.parametrize("which", range(4))
async def test_a_json_snippet_starts_a_server_that_serves_the_tools(
    which: int, tmp_path: Path
) -> None:
    entry = _json_snippets()[which]
    project = write_corpus(tmp_path / "project", modules=3)
    script, _ = _server_command()
    args = [
        str(project) if arg.startswith(("/abs/", "${")) or arg == "." else arg
        for arg in entry["args"]
    ]
    env = {**entry.get("env", {}), "LEINDEX_HOME": str(tmp_path / "home")}
    params = StdioServerParameters(command=script, args=args, env=env, cwd=str(project))

    with (tmp_path / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = {tool.name for tool in (await session.list_tools()).tools}
            found = await session.call_tool("search", {"query": "parse"})

    assert {"search", "read_file", "find_symbol", "index_project"} <= tools
    assert not found.is_error, found.content
