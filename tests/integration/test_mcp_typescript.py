"""The headless server through the official TypeScript SDK client (where node and npm are).

The SDK is installed into a temporary directory for this run (never globally); a small ES
module client spawns `leindex --headless CORPUS`, negotiates, lists the tools and calls the
ones an agent uses after a search, and prints what it got as one JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.corpus import UNIQUE_FILE, UNIQUE_WORD, write_corpus

pytestmark = pytest.mark.timeout(240)

SDK_PACKAGE = "@modelcontextprotocol/sdk@^1"

CLIENT = r"""
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = JSON.parse(process.env.LEINDEX_SERVER_ARGV);
const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "ignore" });
const client = new Client({ name: "leindex-ts-test", version: "1.0.0" });
await client.connect(transport);
const payload = (result) => JSON.parse(result.content[0].text);
const call = async (name, args) => client.callTool({ name, arguments: args }, undefined, {
  timeout: 120000,
});
const out = { server: client.getServerVersion() };
await client.ping();
out.tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
const found = await call("search", { query: process.env.UNIQUE_WORD, wait_timeout_seconds: 60 });
out.search = payload(found);
const first = out.search.hits[0];
out.read = payload(await call("read_file", { path: first.path, start_line: 1, end_line: 3 }));
out.symbol = payload(await call("find_symbol", { name: "parse_config_0" }));
const bad = await call("read_file", { path: "../../etc/passwd" });
out.bad = { isError: bad.isError === true, text: bad.content[0].text };
await client.close();
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def sdk_dir(tmp_path_factory) -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the TypeScript SDK client cannot run")
    directory = tmp_path_factory.mktemp("ts-sdk")
    (directory / "package.json").write_text('{"name": "leindex-ts-test", "type": "module"}')
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", SDK_PACKAGE],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=180,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm could not install {SDK_PACKAGE}: {installed.stderr.strip()[-500:]}")
    (directory / "client.mjs").write_text(CLIENT)
    return directory


def test_the_typescript_sdk_client_uses_the_tools_an_agent_needs(
    sdk_dir: Path, tmp_path: Path, tmp_leindex_home: Path
) -> None:
    corpus = write_corpus(tmp_path / "corpus")
    script = Path(sys.executable).with_name("leindex")
    argv = [str(script), "--headless", str(corpus)]
    env = dict(
        os.environ,
        LEINDEX_HOME=str(tmp_leindex_home),
        LEINDEX_SERVER_ARGV=json.dumps(argv),
        UNIQUE_WORD=UNIQUE_WORD,
    )
    completed = subprocess.run(
        ["node", "client.mjs"], cwd=sdk_dir, capture_output=True, text=True, env=env, timeout=200
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = json.loads(completed.stdout.strip().splitlines()[-1])

    assert out["server"]["name"]
    assert {"search", "read_file", "find_symbol", "find_files", "list_projects"} <= set(
        out["tools"]
    )
    assert out["search"]["hits"][0]["path"] == UNIQUE_FILE
    assert (
        out["read"]["content"].splitlines()[0]
        == '1\t"""Module 7: helpers for the storage subsystem."""'
    )
    assert [(s["path"], s["line"]) for s in out["symbol"]["symbols"]] == [("pkg/module_00.py", 6)]
    assert out["bad"]["isError"] and "'..' is not allowed" in out["bad"]["text"]
