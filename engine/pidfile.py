"""The `leindex.pid` file: one owner per LEINDEX_HOME, stale files replaced, removed at exit."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from engine.atomic import PRIVATE_FILE_MODE, atomic_write_text, ensure_private_dir

PID_FILE_NAME = "leindex.pid"


@dataclass(frozen=True)
class PidFileStatus:
    """What `PidFile.acquire()` found: whether this process owns the file, and why not if not."""

    owned: bool
    owner_pid: int | None
    replaced_stale_pid: int | None = None
    warning: str | None = None


class PidFileError(RuntimeError):
    """The pidfile could not be read or written (permissions, a directory in its place...)."""


def read_pid(path: Path) -> int | None:
    """The pid recorded in `path`, or None if the file is missing, empty or not a positive int."""
    try:
        text = Path(path).read_text(encoding="ascii", errors="replace").strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    return pid if pid > 0 else None


# A process that started this long after the pidfile was written cannot have written it.
_PID_REUSE_SLACK_SECONDS = 2.0


def pid_alive(pid: int, written_at: float | None = None) -> bool:
    """True if `pid` runs, is not a zombie, and (given the pidfile's mtime) could have written it.

    The start-time check catches a pid reused by an unrelated process after a crash or
    reboot, which must neither block a new owner nor receive `leindex reload`'s SIGHUP.
    """
    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = process.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        # Someone else's live process: it exists, we just may not inspect it.
        return True
    return written_at is None or started <= written_at + _PID_REUSE_SLACK_SECONDS


def _mtime(path: Path) -> float | None:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return None


class PidFile:
    """`$LEINDEX_HOME/leindex.pid`: created exclusively, so two starters cannot both own it."""

    def __init__(self, path: Path, pid: int | None = None) -> None:
        self.path = Path(path)
        self.pid = pid if pid is not None else os.getpid()
        self._owned = False

    @property
    def owned(self) -> bool:
        """True between a successful `acquire()` and `release()`."""
        return self._owned

    def acquire(self) -> PidFileStatus:
        """Take the pidfile unless a live process holds it; a dead owner's file is replaced."""
        ensure_private_dir(self.path.parent)
        # Starters on one home decide one at a time, so two cannot both judge a file stale
        # and both believe they replaced it. The lock is held for microseconds, never at run time.
        lock_path = self.path.with_name(f".{self.path.name}.lock")
        lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX)
            return self._acquire_locked()
        finally:
            os.close(lock_fd)  # closing releases the flock

    def _acquire_locked(self) -> PidFileStatus:
        if self._create_exclusive():
            self._owned = True
            return PidFileStatus(owned=True, owner_pid=self.pid)
        recorded = read_pid(self.path)
        if recorded == self.pid:
            self._owned = True
            return PidFileStatus(owned=True, owner_pid=self.pid)
        if recorded is not None and pid_alive(recorded, _mtime(self.path)):
            return PidFileStatus(
                owned=False,
                owner_pid=recorded,
                warning=(
                    f"another leindex (pid {recorded}) already runs on {self.path.parent}; "
                    f"this one (pid {self.pid}) keeps running but does not own {self.path.name}, "
                    "so `leindex reload` and SIGHUP via the pidfile reach the other one"
                ),
            )
        # Stale (dead pid) or garbage: replace it in one rename so a reader never sees it empty.
        try:
            atomic_write_text(self.path, f"{self.pid}\n")
        except OSError as error:
            raise PidFileError(f"cannot replace stale pidfile {self.path}: {error}") from error
        self._owned = True
        return PidFileStatus(owned=True, owner_pid=self.pid, replaced_stale_pid=recorded)

    def release(self) -> bool:
        """Remove the pidfile if this process still owns it; True if it was removed. Idempotent."""
        if not self._owned:
            return False
        self._owned = False
        # Never delete a file a newer owner wrote after we lost it somehow.
        if read_pid(self.path) != self.pid:
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
            return True
        return False

    def _create_exclusive(self) -> bool:
        """Create the pidfile only if absent, already holding the pid (never seen empty).

        The pid is written to an O_CREAT|O_EXCL temp file (mkstemp) which is then hard-linked
        into place: link() fails with EEXIST exactly like O_EXCL, but the name only appears
        once the content is complete, so `leindex reload` never reads a half-written file.
        """
        fd, temp_name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(f"{self.pid}\n".encode("ascii"))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, PRIVATE_FILE_MODE)
            try:
                os.link(temp_name, self.path)
            except FileExistsError:
                return False
            except OSError as error:
                raise PidFileError(f"cannot create pidfile {self.path}: {error}") from error
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)


def running_instance_pid(home: Path) -> tuple[int | None, str | None]:
    """(pid, None) for a live owner of `home`'s pidfile, else (None, a one-line reason)."""
    path = Path(home) / PID_FILE_NAME
    if not path.exists():
        return None, f"no leindex is running on {home} (no {PID_FILE_NAME})"
    pid = read_pid(path)
    if pid is None:
        return None, f"{path} does not hold a pid; no leindex is running on {home}"
    if not pid_alive(pid, _mtime(path)):
        return None, f"{path} is stale: pid {pid} is not running; no leindex is running on {home}"
    return pid, None
