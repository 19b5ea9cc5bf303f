"""The control channel: `leindex diagnostics|status|reload` reach the running instance.

A real `leindex --headless` child (driven by the SDK's stdio client) answers a `leindex
diagnostics` run in a third process with its own figures; the socket is private and refuses
other uids; a socket left by a killed process is detected and replaced; with no instance the
commands say so and fall back to a fresh in-process engine.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from engine.control import (
    ControlError,
    ControlServer,
    PeerCredentials,
    RefusedError,
    refusal_reason,
    request,
    socket_path,
)
from leindex_tui import cli
from tests.integration.corpus import UNIQUE_WORD

REPO_ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60.0
FALLBACK = "; showing a fresh in-process engine"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
    env["LEINDEX_HOME"] = str(home)
    return env


def _leindex(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`leindex ARGS` in its own process, on `home`."""
    return subprocess.run(
        [sys.executable, "-m", "leindex_tui.cli", *args],
        cwd=REPO_ROOT,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )


async def _payload(session: ClientSession, tool: str, arguments: dict[str, Any]) -> Any:
    with anyio.fail_after(WAIT_SECONDS):
        result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def _wait_for_socket(home: Path) -> None:
    with anyio.fail_after(WAIT_SECONDS):
        while not socket_path(home).exists():
            await anyio.sleep(0.05)


# --- a running headless server, asked from another process -----------------------------------


@pytest.mark.timeout(120)
async def test_diagnostics_in_another_process_reports_the_headless_servers_figures(
    tmp_leindex_home: Path, small_corpus: Path
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "leindex_tui.cli", "--headless", str(small_corpus)],
        env={**_env(tmp_leindex_home), "PYTHONUNBUFFERED": "1"},
        cwd=str(REPO_ROOT),
    )
    tmp_leindex_home.mkdir(parents=True, exist_ok=True)
    with (tmp_leindex_home.parent / "server-stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await _payload(session, "search", {"query": UNIQUE_WORD, "wait_timeout_seconds": 60})
            await _payload(session, "read_file", {"path": "pkg/module_01.py"})
            own = await _payload(session, "get_diagnostics", {"type": "memory"})
            server_pid = int(tmp_leindex_home.joinpath("leindex.pid").read_text().split()[0])
            await _wait_for_socket(tmp_leindex_home)

            memory = await asyncio.to_thread(_leindex, tmp_leindex_home, "diagnostics")
            projects = await asyncio.to_thread(
                _leindex, tmp_leindex_home, "diagnostics", "--type", "projects"
            )
            status = await asyncio.to_thread(_leindex, tmp_leindex_home, "status")

    assert memory.returncode == 0, memory.stderr
    report = json.loads(memory.stdout)
    assert own["loaded_files"] > 0
    assert report["loaded_files"] == own["loaded_files"]
    assert report["cached_queries"] == own["cached_queries"]
    assert f"pid {server_pid}, headless" in memory.stderr
    assert FALLBACK not in memory.stderr
    (project,) = json.loads(projects.stdout)["projects"]
    assert project["path"] == str(small_corpus.resolve())
    assert status.returncode == 0, status.stderr
    assert f"leindex pid {server_pid} (headless)" in status.stdout
    assert f"{project['name']}: {project['files_total']} files, indexed" in status.stdout
    # The server's end of session took its socket with it.
    assert not socket_path(tmp_leindex_home).exists()


# --- the socket itself -----------------------------------------------------------------------


def test_socket_is_owner_only_in_a_private_home(start_runtime, tmp_leindex_home: Path) -> None:
    start_runtime(watch_config=False)

    mode = os.stat(socket_path(tmp_leindex_home)).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_leindex_home).st_mode) == 0o700


def test_shutdown_removes_the_socket(start_runtime, tmp_leindex_home: Path) -> None:
    runtime = start_runtime(watch_config=False)

    runtime.shutdown()

    assert not socket_path(tmp_leindex_home).exists()


def test_a_peer_with_another_uid_is_refused_by_the_credential_check() -> None:
    me = os.getuid()

    assert refusal_reason(PeerCredentials(pid=4321, uid=me, gid=0), owner_uid=me) is None
    reason = refusal_reason(PeerCredentials(pid=4321, uid=me + 1, gid=0), owner_uid=me)
    assert reason is not None
    assert f"uid {me + 1}" in reason and "pid 4321" in reason


def test_a_server_owned_by_another_uid_refuses_us(tmp_leindex_home: Path) -> None:
    tmp_leindex_home.mkdir(mode=0o700, parents=True)
    # Our real credentials, read by the kernel, against an owner uid that is not ours.
    server = ControlServer(tmp_leindex_home, owner_uid=os.getuid() + 1).start()
    try:
        with pytest.raises(RefusedError, match=f"runs as uid {os.getuid()}"):
            request(tmp_leindex_home, "status")
    finally:
        server.stop()


def test_the_client_does_not_believe_a_server_of_another_uid(start_runtime) -> None:
    runtime = start_runtime(watch_config=False)

    with pytest.raises(RefusedError, match=f"served by uid {os.getuid()} \\(pid {os.getpid()}\\)"):
        request(runtime.home, "status", server_uid=os.getuid() + 1)


def test_a_bad_request_gets_an_error_and_the_server_keeps_serving(
    start_runtime, tmp_leindex_home: Path
) -> None:
    start_runtime(watch_config=False)

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as raw:
        raw.settimeout(10)
        raw.connect(str(socket_path(tmp_leindex_home)))
        raw.sendall(b"this is not json\n")
        reply = json.loads(raw.makefile("rb").readline())
    with pytest.raises(ControlError, match="unknown op 'drop_tables'"):
        request(tmp_leindex_home, "drop_tables")

    assert reply["ok"] is False and "not JSON" in reply["error"]
    assert request(tmp_leindex_home, "status").pid == os.getpid()


# --- stale and foreign files -----------------------------------------------------------------

KILLED_CHILD = textwrap.dedent(
    """
    import sys, threading
    sys.path.insert(0, sys.argv[1])
    from engine.control import ControlServer
    ControlServer(sys.argv[2]).start()
    print("listening", flush=True)
    threading.Event().wait()
    """
)


def test_a_socket_left_by_a_killed_process_is_replaced(
    start_runtime, tmp_leindex_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_leindex_home.mkdir(mode=0o700, parents=True)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(REPO_ROOT), str(tmp_leindex_home)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "listening"
    child.send_signal(signal.SIGKILL)
    child.wait(WAIT_SECONDS)
    child.stdout.close()
    assert socket_path(tmp_leindex_home).exists()

    assert cli.main(["status"]) == 0
    stale = capsys.readouterr()
    runtime = start_runtime(watch_config=False)

    assert "control.sock is stale" in stale.err and FALLBACK in stale.err
    assert not any("control channel off" in warning for warning in runtime.warnings)
    assert request(tmp_leindex_home, "status").pid == os.getpid()


def test_a_live_socket_is_not_taken_over(tmp_leindex_home: Path) -> None:
    tmp_leindex_home.mkdir(mode=0o700, parents=True)
    first = ControlServer(tmp_leindex_home, face="first").start()
    try:
        with pytest.raises(ControlError, match="another leindex already answers"):
            ControlServer(tmp_leindex_home, face="second").start()
        assert request(tmp_leindex_home, "status").face == "first"
    finally:
        first.stop()


def test_a_file_in_the_sockets_place_is_kept_and_the_channel_is_off(
    start_runtime, tmp_leindex_home: Path
) -> None:
    tmp_leindex_home.mkdir(mode=0o700, parents=True)
    socket_path(tmp_leindex_home).write_text("user notes\n")

    runtime = start_runtime(watch_config=False)

    assert socket_path(tmp_leindex_home).read_text() == "user notes\n"
    assert any("control channel off" in w and "not a socket" in w for w in runtime.warnings)


# --- the commands, with and without an instance ----------------------------------------------


def test_status_without_an_instance_says_so_and_shows_a_fresh_engine(
    tmp_leindex_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status"]) == 0

    out, err = capsys.readouterr()
    assert f"no running leindex found under {tmp_leindex_home}{FALLBACK}" in err
    assert f"leindex pid {os.getpid()} (in-process)" in out
    assert "projects: none" in out


def test_diagnostics_without_an_instance_says_so(
    tmp_leindex_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["diagnostics"]) == 0

    out, err = capsys.readouterr()
    assert f"no running leindex found under {tmp_leindex_home}{FALLBACK}" in err
    assert json.loads(out)["loaded_files"] == 0


def test_reload_through_the_socket_reports_what_changed(
    start_runtime, tmp_leindex_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = start_runtime(watch_config=False)
    assert cli.main(["reload"]) == 0
    unchanged = capsys.readouterr().out
    (tmp_leindex_home / "config.yaml").write_text("memory:\n  max_cached_queries: 7\n")

    assert cli.main(["reload"]) == 0

    changed = capsys.readouterr().out
    assert f"leindex (pid {os.getpid()}) reloaded" in unchanged and "no changes" in unchanged
    assert "max_cached_queries" in changed
    assert runtime.last_reload.trigger == "leindex reload"


def test_reload_with_an_unusable_instance_exits_1(
    tmp_leindex_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tmp_leindex_home.mkdir(mode=0o700, parents=True)
    server = ControlServer(tmp_leindex_home, owner_uid=os.getuid() + 1).start()
    try:
        assert cli.main(["reload"]) == 1
    finally:
        server.stop()

    assert "refused" in capsys.readouterr().err
