"""Crash-safe file writes and the path rules every state and spill file follows."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) if missing; a leaf we create is 0700.

    An existing directory is left as it is: it may be one the user chose and shares.
    """
    path = Path(path)
    if path.is_dir():
        return path
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    os.chmod(path, PRIVATE_DIR_MODE)
    return path


def private_subdir_if_shared(path: Path) -> Path:
    """`path`, or `path/leindex-<uid>` when `path` is an existing directory others can write
    (such as the system's temp directory), so our files never sit in a shared directory."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        return path
    if mode & 0o022:
        return path / f"leindex-{os.getuid()}"
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` so that `path` always holds either the old or the new content, never a mix."""
    atomic_write_stream(path, lambda handle: handle.write(data))


def atomic_write_stream(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """As `atomic_write_bytes`, with the content written by `write(handle)` piece by piece
    (so a large content is never held in memory whole)."""
    path = Path(path)
    ensure_private_dir(path.parent)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, PRIVATE_FILE_MODE)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_directory(directory: Path) -> None:
    """Make a rename in `directory` durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


# A temp file left unchanged this long is a killed write's, not a live one (saving the
# kernel's 228 MB of vectors, or spilling a 256 MB cache, takes seconds).
STALE_TEMP_SECONDS = 120.0


def remove_stale_temp_files(
    directory: Path, older_than_seconds: float | None, name: str | None = None
) -> int:
    """Delete the temp files `atomic_write_*` left in `directory` when killed mid-write (a
    vector set's can be hundreds of MB), of the file `name` only if given, once unchanged for
    `older_than_seconds` (a younger one may be another process's write in progress; None: at
    any age, for a caller that knows no other writer runs); returns how many were removed."""
    removed = 0
    cutoff = None if older_than_seconds is None else time.time() - older_than_seconds
    try:
        leftovers = list(Path(directory).glob(f".{name}.*.tmp" if name else ".*.tmp"))
    except OSError:
        return 0
    for leftover in leftovers:
        try:
            if cutoff is not None and leftover.stat().st_mtime >= cutoff:
                continue
            if leftover.is_file():
                leftover.unlink()
                removed += 1
        except OSError:  # gone meanwhile, or not ours to remove
            continue
    return removed


def set_aside(path: Path, reason: str) -> Path:
    """Rename a bad file out of the way (`name.<reason>.<timestamp>`) and return its new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.{reason}.{stamp}")
    counter = 1
    while target.exists():
        counter += 1
        target = path.with_name(f"{path.name}.{reason}.{stamp}-{counter}")
    os.replace(path, target)
    return target


def safe_child(directory: Path, name: str) -> Path:
    """`directory / name`, refusing any name that could leave `directory` (.., /, NUL, hidden)."""
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(
            f"invalid name {name!r}: use letters, digits, '.', '_' or '-' "
            "(no path separators, no leading dot, at most 200 characters)"
        )
    child = Path(directory) / name
    if child.resolve().parent != Path(directory).resolve():
        raise ValueError(f"invalid name {name!r}: it escapes {directory}")
    return child
