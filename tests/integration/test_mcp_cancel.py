"""Long indexing under `leindex --headless`: cancel stops the work, shutdown is prompt, and the
next index resumes from what was saved.

A generated corpus of several thousand files takes seconds to index, long enough to stop it
part-way. Elapsed times below are generous liveness bounds ("did it exit at all"), not speed
assertions.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.integration.corpus import UNIQUE_FILE, UNIQUE_WORD, write_corpus
from tests.integration.test_mcp_stdio import (
    CONFIG_YAML,
    REPO_ROOT,
    HeadlessServer,
    _server_command,
    _start_server,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

CORPUS_MODULES = 12_000
CORPUS_FILES = CORPUS_MODULES + 2  # pkg/__init__.py and README.md
# Stop once this many files are done: part-way, with a committed part worth keeping.
STOP_AFTER_FILES = 1_000
EXIT_BOUND_SECONDS = 10.0


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("big") / "big-project", modules=CORPUS_MODULES)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "leindex-home"
    path.mkdir()
    (path / "config.yaml").write_text(CONFIG_YAML)
    return path


class RawServer:
    """`leindex --headless` driven line by line, so the test decides when stdin closes."""

    def __init__(self, home: Path) -> None:
        command, args = _server_command()
        self.home = home
        self.process = subprocess.Popen(
            [command, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=(home / "server-stderr.log").open("w"),
            env={**os.environ, "LEINDEX_HOME": str(home), "PYTHONUNBUFFERED": "1"},
            cwd=str(REPO_ROOT),
            text=True,
        )
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "cancel-test", "version": "1"},
                },
            }
        )
        assert "result" in self.receive(), self.stderr()
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the server closed stdout; stderr:\n{self.stderr()}"
        return json.loads(line)

    def stderr(self) -> str:
        return (self.home / "server-stderr.log").read_text(errors="replace")[-3000:]

    def index_until(self, path: Path, files_done: int) -> float:
        """Start index_project(wait=true) and return once progress has passed `files_done`."""
        self.send(
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {
                    "name": "index_project",
                    "arguments": {"path": str(path), "wait": True},
                    "_meta": {"progressToken": "index"},
                },
            }
        )
        while True:
            message = self.receive()
            assert message.get("method") == "notifications/progress", (message, self.stderr())
            # "indexing (full-text): 1200/12002 files": stop once past `files_done` there.
            found = re.match(r"indexing \((\S+)\): (\d+)/", message["params"].get("message", ""))
            if found and (found.group(1) != "full-text" or int(found.group(2)) >= files_done):
                return message["params"]["progress"]

    def wait_exit(self, bound: float) -> float:
        """Seconds until the process exited; fails if it is still running after `bound`."""
        started = time.monotonic()
        try:
            self.process.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"the server was still running {bound} s later; stderr:\n{self.stderr()}")
        return time.monotonic() - started


async def _resume_and_search(home: Path, corpus: Path) -> dict[str, Any]:
    """Restart without PATHs, index the corpus again and check every file is searchable.

    Returns the largest `files_total` the resumed index reported: below the corpus size when
    it resumed from the saved part rather than starting over.
    """
    running = await _start_server(home, [])
    try:
        totals: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            # The last report ("ready": all files) counts the saved part too; the full-text
            # stage counts only the files this run indexes in full-text.
            found = re.match(r"indexing \(full-text\): \d+/(\d+) files", message or "")
            if found:
                totals.append(float(found.group(1)))

        result = await running.ok(
            "index_project", {"path": str(corpus)}, progress_callback=on_progress
        )
        assert result["job"]["state"] == "done", result
        assert result["project"]["files"] == CORPUS_FILES, result["project"]
        found = await running.ok("search", {"query": UNIQUE_WORD})
        assert found["hits"] and found["hits"][0]["path"] == UNIQUE_FILE, found
        return {"max_total": max(totals, default=0)}
    finally:
        await running.close()


def _assert_state_saved(home: Path) -> None:
    state = json.loads((home / "cache_state.json").read_text())
    assert set(state) >= {"version", "timestamp", "projects"}, state
    assert not (home / "leindex.pid").exists(), "stale pidfile left behind"


async def test_closing_stdin_during_a_long_index_exits_promptly_and_the_next_run_resumes(
    home: Path, big_corpus: Path
) -> None:
    server = RawServer(home)
    server.index_until(big_corpus, STOP_AFTER_FILES)

    assert server.process.stdin is not None
    server.process.stdin.close()
    server.wait_exit(EXIT_BOUND_SECONDS)

    assert server.process.returncode == 0, server.stderr()
    _assert_state_saved(home)
    resumed = await _resume_and_search(home, big_corpus)
    assert 0 < resumed["max_total"] < CORPUS_FILES, resumed


async def test_sigterm_during_a_long_index_exits_promptly_and_the_next_run_resumes(
    home: Path, big_corpus: Path
) -> None:
    server = RawServer(home)
    server.index_until(big_corpus, STOP_AFTER_FILES)

    server.process.send_signal(signal.SIGTERM)
    server.wait_exit(EXIT_BOUND_SECONDS)

    _assert_state_saved(home)
    resumed = await _resume_and_search(home, big_corpus)
    assert 0 < resumed["max_total"] < CORPUS_FILES, resumed


async def test_closing_stdin_while_a_search_reopens_a_known_project_exits_promptly(
    home: Path, big_corpus: Path
) -> None:
    first = RawServer(home)
    first.index_until(big_corpus, STOP_AFTER_FILES)
    assert first.process.stdin is not None
    first.process.stdin.close()
    first.wait_exit(EXIT_BOUND_SECONDS)
    # Known from its index on disk only (no saved cache state to restore it from).
    (home / "cache_state.json").unlink()
    second = RawServer(home)  # no PATHs: the search reopens the project, indexing the rest
    second.send(
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "search", "arguments": {"query": UNIQUE_WORD}},
        }
    )
    time.sleep(1.0)

    assert second.process.stdin is not None
    second.process.stdin.close()
    second.wait_exit(EXIT_BOUND_SECONDS)

    _assert_state_saved(home)
    resumed = await _resume_and_search(home, big_corpus)
    # How far the second server got in its second is not up to the test (with indexing
    # workers it may finish the full-text stage): the next run never starts over.
    assert resumed["max_total"] < CORPUS_FILES, resumed


async def _job_status(server: HeadlessServer) -> dict[str, Any]:
    jobs = (await server.ok("get_index_status"))["jobs"]
    assert len(jobs) == 1, jobs
    return jobs[0]


async def test_cancelling_index_project_stops_the_work_and_a_later_call_completes(
    home: Path, big_corpus: Path
) -> None:
    server = await _start_server(home, [])
    try:
        async with anyio.create_task_group() as group:

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                found = re.match(r"indexing \(full-text\): (\d+)/", message or "")
                if found and int(found.group(1)) >= STOP_AFTER_FILES:
                    group.cancel_scope.cancel()  # the SDK sends notifications/cancelled

            group.start_soon(
                lambda: server.session.call_tool(
                    "index_project", {"path": str(big_corpus)}, progress_callback=on_progress
                )
            )

        with anyio.fail_after(EXIT_BOUND_SECONDS):
            while (status := await _job_status(server))["state"] != "cancelled":
                await anyio.sleep(0.05)
        await anyio.sleep(0.5)
        later = await _job_status(server)

        assert later["files_done"] == status["files_done"], "indexing went on after the cancel"
        assert STOP_AFTER_FILES <= status["files_done"] < CORPUS_FILES, status
        result = await server.ok("index_project", {"path": str(big_corpus)})
        assert result["job"]["state"] == "done"
        assert result["project"]["files"] == CORPUS_FILES, result["project"]
        found = await server.ok("search", {"query": UNIQUE_WORD})
        assert found["hits"][0]["path"] == UNIQUE_FILE, found
    finally:
        await server.close()


async def test_index_project_without_wait_returns_a_job_whose_progress_can_be_polled(
    home: Path, big_corpus: Path
) -> None:
    server = await _start_server(home, [])
    try:
        started = await server.ok("index_project", {"path": str(big_corpus), "wait": False})

        assert started["job"]["state"] == "running", started["job"]
        seen: list[tuple[int, int]] = []  # (0 full-text, 1 semantic, 2 done; files done)
        with anyio.fail_after(90):
            while True:
                status = (
                    await server.ok("get_index_status", {"job_id": started["job"]["job_id"]})
                )["jobs"][0]
                stage = 2 if status["state"] == "done" else int(status["stage"] == "semantic")
                seen.append((stage, status["files_done"]))
                if status["state"] == "done":
                    break
                await anyio.sleep(0.2)
        assert status["files_done"] == status["files_total"] == CORPUS_FILES, status
        # Full-text, then semantic, each counting up: polled progress never goes back.
        assert seen == sorted(seen) and len(set(seen)) > 2, f"no progress seen in between: {seen}"
    finally:
        await server.close()
