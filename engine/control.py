"""The local control channel: a running instance answers `leindex diagnostics|status|reload`.

The server listens on `$LEINDEX_HOME/control.sock` (file 0600 in a 0700 home) on one small
daemon thread, takes newline-delimited JSON requests (`{"op": "diagnostics", "type": "memory"}`,
`{"op": "status"}`, `{"op": "reload"}`) and answers each with one JSON line built through
`engine.api`, so the figures are the running engine's own. A peer whose uid (SO_PEERCRED) is
not the owner's is refused. A socket file left by a killed process is found stale (nobody
accepts on it) and replaced; a live one belongs to another instance and is left alone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import socket
import stat
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CONTROL_SOCKET_NAME = "control.sock"
CONTROL_OPS = ("diagnostics", "status", "reload")
CLIENT_TIMEOUT_SECONDS = 10.0
# A client that connects and says nothing must not hold the one serving thread for long.
SERVER_READ_TIMEOUT_SECONDS = 5.0
MAX_REQUEST_BYTES = 64 * 1024
MAX_REPLY_BYTES = 64 * 1024 * 1024
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid

ReloadCallable = Callable[[], Any]
"""Runs one reload through the runtime's reload path and returns its `ReloadResult`."""


class ControlError(Exception):
    """The control channel cannot be used; `str()` is one line saying why."""


class NoInstanceError(ControlError):
    """No instance answers under this home: no socket, or a stale one nobody listens on."""


class RefusedError(ControlError):
    """The instance refused us (another user's process, by its peer credentials)."""


@dataclass(frozen=True)
class PeerCredentials:
    """Who is on the other end of a Unix socket, as the kernel reports it (SO_PEERCRED)."""

    pid: int
    uid: int
    gid: int


@dataclass(frozen=True)
class ControlReply:
    """A running instance's answer: its pid, which face it is (dashboard, headless) and the
    operation's result as `engine.api` returned it."""

    pid: int
    face: str
    home: str
    result: dict[str, Any]


def socket_path(home: Path | str) -> Path:
    """Where the instance using `home` listens."""
    return Path(home) / CONTROL_SOCKET_NAME


def read_peer_credentials(connection: socket.socket) -> PeerCredentials:
    """The connected peer's pid, uid and gid (Linux SO_PEERCRED)."""
    raw = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return PeerCredentials(pid=pid, uid=uid, gid=gid)


def refusal_reason(peer: PeerCredentials, owner_uid: int) -> str | None:
    """None if `peer` may talk to an instance owned by `owner_uid`, else why not.

    Only the same uid: root is not let in either, it has its own ways to inspect a process.
    """
    if peer.uid == owner_uid:
        return None
    return (
        f"refused: the leindex control socket belongs to uid {owner_uid}, "
        f"and the connecting process (pid {peer.pid}) runs as uid {peer.uid}"
    )


# --- answering ---------------------------------------------------------------------------------


def answer(
    request: Mapping[str, Any], *, reload: ReloadCallable | None = None, face: str = "in-process"
) -> dict[str, Any]:
    """The reply to one request, from this process's engine: `{"ok": true, "pid", "face",
    "home", "result"}` or `{"ok": false, "error"}`. Never raises for a bad request."""
    from engine import api
    from engine.config import leindex_home

    op = request.get("op")
    try:
        if op == "diagnostics":
            result = api.get_diagnostics(type=str(request.get("type", "memory")))
        elif op == "status":
            result = status_summary()
        elif op == "reload":
            if reload is None:
                raise api.ApiError("this process has no running instance to reload")
            result = reload_summary(reload())
        else:
            raise api.ApiError(f"unknown op {op!r}; allowed: {', '.join(CONTROL_OPS)}")
    except api.ApiError as error:
        return {"ok": False, "error": str(error)}
    return {
        "ok": True,
        "pid": os.getpid(),
        "face": face,
        "home": str(leindex_home()),
        "result": result,
    }


def status_summary() -> dict[str, Any]:
    """Budget, RSS, level, caches, projects and config problems of this process's engine."""
    from engine import api

    status = api.manage_memory("status")
    config = api.get_diagnostics(type="config")
    projects = api.get_diagnostics(type="projects")["projects"]
    return {
        "level": status["level"],
        "rss_mb": round(float(status["current_mb"]), 1),
        "budget_mb": round(float(status["budget_mb"]), 1),
        "soft_limit_mb": round(float(status["soft_limit_mb"]), 1),
        "hard_limit_mb": round(float(status["hard_limit_mb"]), 1),
        "loaded_files": status["loaded_files"],
        "cached_queries": status["cached_queries"],
        "projects": [
            {
                "name": project["name"],
                "path": project["path"],
                "indexed": project["indexed"],
                "files_total": project["files_total"],
                "loaded_files": project["loaded_files"],
                "priority": project["priority"],
            }
            for project in projects
        ],
        "config_error": config["error"],
        # A start-up error leaves built-in defaults (every source "default"); a later bad
        # reload keeps the last good config.
        "config_on_defaults": config["error"] is not None
        and all(source == "default" for source in config["sources"].values()),
        "config_warnings": config["warnings"],
    }


def reload_summary(result: Any) -> dict[str, Any]:
    """A `ReloadResult` as JSON."""
    error = getattr(result, "error", None)
    return {
        "success": bool(getattr(result, "success", False)),
        "reloaded_at": getattr(result, "reloaded_at", None),
        "error": None if error is None else str(error),
        "changes": [str(change) for change in getattr(result, "changes", None) or ()],
        "warnings": [str(warning) for warning in getattr(result, "warnings", None) or ()],
    }


# --- server ------------------------------------------------------------------------------------


class ControlServer:
    """Serves `answer()` on the home's control socket from one daemon thread."""

    def __init__(
        self,
        home: Path | str,
        *,
        reload: ReloadCallable | None = None,
        face: str = "dashboard",
        owner_uid: int | None = None,
    ) -> None:
        """`owner_uid` (default: ours) is the only uid let in; tests pass another to be refused."""
        self.path = socket_path(home)
        self.face = face
        self._reload = reload
        self._owner_uid = os.getuid() if owner_uid is None else owner_uid
        self._listener: socket.socket | None = None
        self._bound_inode: tuple[int, int] | None = None
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread: threading.Thread | None = None

    def start(self) -> ControlServer:
        """Bind and listen; raise ControlError if the path is unusable or another instance
        answers on it already."""
        if not hasattr(socket, "SO_PEERCRED"):
            raise ControlError("this platform cannot check a peer's uid (no SO_PEERCRED)")
        _check_path_length(self.path)
        self._clear_stale_socket()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(str(self.path))
            os.chmod(self.path, 0o600)
            listener.listen(8)
            info = os.stat(self.path)
        except OSError as error:
            listener.close()
            if error.errno == errno.EADDRINUSE:
                raise ControlError(f"another leindex just took {self.path}") from None
            raise ControlError(f"cannot listen on {self.path}: {error.strerror}") from None
        self._listener = listener
        self._bound_inode = (info.st_dev, info.st_ino)
        self._thread = threading.Thread(target=self._serve, name="leindex-control", daemon=True)
        self._thread.start()
        log.info("control channel listening on %s", self.path)
        return self

    def stop(self) -> None:
        """Stop serving and remove the socket file (only if it is still ours)."""
        with contextlib.suppress(OSError):
            self._wake_write.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=SERVER_READ_TIMEOUT_SECONDS + 1)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            self._remove_own_socket()
        for end in (self._wake_read, self._wake_write):
            end.close()

    def _clear_stale_socket(self) -> None:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            # Not ours to delete: whatever it is, the user may want it.
            raise ControlError(f"{self.path} exists and is not a socket; move it away")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(str(self.path))
        except ConnectionRefusedError:
            log.info("replacing stale control socket %s (nobody listens on it)", self.path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            raise ControlError(f"cannot check {self.path}: {error}") from None
        finally:
            probe.close()
        raise ControlError(f"another leindex already answers on {self.path}")

    def _remove_own_socket(self) -> None:
        try:
            info = os.lstat(self.path)
        except FileNotFoundError:
            return
        if (info.st_dev, info.st_ino) == self._bound_inode:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def _serve(self) -> None:
        listener = self._listener
        assert listener is not None
        while True:
            try:
                ready, _, _ = select.select([listener, self._wake_read], [], [])
            except (OSError, ValueError):
                return
            if self._wake_read in ready:
                return
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                try:
                    self._handle(connection)
                except Exception:  # noqa: BLE001 - one bad client must not end the channel
                    log.exception("control request failed")

    def _handle(self, connection: socket.socket) -> None:
        connection.settimeout(SERVER_READ_TIMEOUT_SECONDS)
        reason = refusal_reason(read_peer_credentials(connection), self._owner_uid)
        if reason is not None:
            log.warning("control channel: %s", reason)
            _send(connection, {"ok": False, "refused": True, "error": reason})
            return
        buffer = b""
        while True:
            try:
                chunk = connection.recv(65536)
            except (TimeoutError, OSError):
                return
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    _send(connection, self._reply(line))
            if len(buffer) > MAX_REQUEST_BYTES:
                _send(connection, {"ok": False, "error": "request too long"})
                return

    def _reply(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (ValueError, UnicodeDecodeError) as error:
            return {"ok": False, "error": f"bad request, not JSON: {error}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "bad request: expected a JSON object with an 'op'"}
        try:
            return answer(request, reload=self._reload, face=self.face)
        except Exception as error:  # noqa: BLE001 - the client gets the error, the server lives
            log.exception("control op %r failed", request.get("op"))
            return {"ok": False, "error": f"{request.get('op')} failed: {error}"}


def _send(connection: socket.socket, reply: Mapping[str, Any]) -> None:
    with contextlib.suppress(OSError):
        connection.sendall(json.dumps(reply, default=str).encode() + b"\n")


def _check_path_length(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise ControlError(
            f"{path} is longer than a Unix socket path may be ({MAX_SOCKET_PATH_BYTES} bytes); "
            "use a shorter LEINDEX_HOME"
        )


# --- client ------------------------------------------------------------------------------------


def request(
    home: Path | str,
    op: str,
    *,
    timeout: float = CLIENT_TIMEOUT_SECONDS,
    server_uid: int | None = None,
    **arguments: Any,
) -> ControlReply:
    """Ask the instance running on `home` for `op`.

    The server must run as `server_uid` (default: our uid), checked like the server checks
    us, so a socket planted in a shared home by someone else is not believed.
    Raises NoInstanceError when nobody answers there (no socket, or a stale one), RefusedError
    when the instance refuses us (or is not ours), ControlError for anything else.
    """
    home = Path(home)
    path = socket_path(home)
    try:
        _check_path_length(path)
    except ControlError as error:
        raise NoInstanceError(f"no running leindex found under {home} ({error})") from None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        _connect(connection, home, path, timeout)
        _check_server(connection, path, os.getuid() if server_uid is None else server_uid)
        with contextlib.suppress(OSError):
            # A refusing server may have answered and closed already: its reply is still read.
            connection.sendall(json.dumps({"op": op, **arguments}).encode() + b"\n")
        reply = _read_reply(connection, path, timeout)
    finally:
        connection.close()
    if not reply.get("ok"):
        error_type = RefusedError if reply.get("refused") else ControlError
        raise error_type(str(reply.get("error") or "the running leindex gave no reason"))
    result = reply.get("result")
    return ControlReply(
        pid=int(reply.get("pid", 0)),
        face=str(reply.get("face", "")),
        home=str(reply.get("home", home)),
        result=result if isinstance(result, dict) else {"value": result},
    )


def _connect(connection: socket.socket, home: Path, path: Path, timeout: float) -> None:
    try:
        connection.connect(str(path))
    except FileNotFoundError:
        raise NoInstanceError(f"no running leindex found under {home}") from None
    except ConnectionRefusedError:
        raise NoInstanceError(
            f"no running leindex found under {home} ({path.name} is stale: nobody listens on it)"
        ) from None
    except PermissionError:
        raise ControlError(f"not allowed to connect to {path} (another user's socket?)") from None
    except TimeoutError:
        raise ControlError(f"the leindex on {path} did not accept within {timeout:g} s") from None
    except OSError as error:
        raise ControlError(f"cannot connect to {path}: {error.strerror or error}") from None


def _check_server(connection: socket.socket, path: Path, expected_uid: int) -> None:
    if not hasattr(socket, "SO_PEERCRED"):
        return  # no server can run here without it (ControlServer.start refuses)
    server = read_peer_credentials(connection)
    if server.uid != expected_uid:
        raise RefusedError(
            f"not asking {path}: it is served by uid {server.uid} (pid {server.pid}), "
            f"not by uid {expected_uid}"
        )


def _read_reply(connection: socket.socket, path: Path, timeout: float) -> dict[str, Any]:
    buffer = b""
    while b"\n" not in buffer:
        try:
            chunk = connection.recv(1 << 20)
        except TimeoutError:
            raise ControlError(
                f"the leindex on {path} did not answer within {timeout:g} s"
            ) from None
        except OSError as error:
            raise ControlError(f"lost the connection to {path}: {error}") from None
        if not chunk:
            raise ControlError(f"the leindex on {path} closed the connection without answering")
        buffer += chunk
        if len(buffer) > MAX_REPLY_BYTES:
            raise ControlError(f"the reply from {path} is too long")
    try:
        reply = json.loads(buffer.split(b"\n", 1)[0])
    except (ValueError, UnicodeDecodeError):
        raise ControlError(f"the reply from {path} is not JSON") from None
    if not isinstance(reply, dict):
        raise ControlError(f"the reply from {path} is not a JSON object")
    return reply
