"""Low-level readers of Linux /proc for this process (and glibc's `malloc_trim`); every function
degrades to None off Linux."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Callable
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PROC_SELF = Path("/proc/self")


def statm_rss_bytes(pid: int | None = None) -> int | None:
    """Resident set size from /proc/self/statm, or /proc/PID/statm (one short read: the
    cheap path); None if it cannot be read (no /proc, or the process is gone)."""
    directory = _PROC_SELF if pid is None else _PROC_SELF.parent / str(pid)
    try:
        fields = (directory / "statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * PAGE_SIZE


def status_fields() -> dict[str, int] | None:
    """The kB fields of /proc/self/status (VmRSS, RssAnon, RssFile, VmStk, VmExe, ...) in bytes."""
    try:
        text = (_PROC_SELF / "status").read_text()
    except OSError:
        return None
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0]) * 1024
    return fields


def mapped_rss_by_path(path_prefix: str | os.PathLike[str]) -> int | None:
    """Resident bytes of file mappings whose path starts with `path_prefix` (from smaps)."""
    prefix = str(path_prefix)
    try:
        text = (_PROC_SELF / "smaps").read_text()
    except OSError:
        return None
    total = 0
    counting = False
    for line in text.splitlines():
        first = line.split(maxsplit=1)[0] if line else ""
        if "-" in first and not first.endswith(":"):
            # A mapping header: "start-end perms offset dev inode [path]".
            parts = line.split(maxsplit=5)
            counting = len(parts) == 6 and parts[5].startswith(prefix)
        elif counting and first == "Rss:":
            total += int(line.split()[1]) * 1024
    return total


def stack_and_code_rss() -> tuple[int, int] | None:
    """Resident bytes of the stack mappings ([stack]) and of executable file mappings (the
    interpreter's and every shared library's text), from the Rss lines of smaps."""
    try:
        text = (_PROC_SELF / "smaps").read_text()
    except OSError:
        return None
    stack = code = 0
    kind = ""
    for line in text.splitlines():
        first = line.split(maxsplit=1)[0] if line else ""
        if "-" in first and not first.endswith(":"):
            parts = line.split(maxsplit=5)
            name = parts[5] if len(parts) == 6 else ""
            if name.startswith("[stack"):
                kind = "stack"
            elif len(parts) > 1 and "x" in parts[1] and name.startswith("/"):
                kind = "code"
            else:
                kind = ""
        elif kind and first == "Rss:":
            value = int(line.split()[1]) * 1024
            if kind == "stack":
                stack += value
            else:
                code += value
    return stack, code


def load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim` (gives free heap pages back to the OS), or None where absent."""
    trim = _libc_function("malloc_trim")
    if trim is not None:
        trim.argtypes = [ctypes.c_size_t]
        trim.restype = ctypes.c_int
    return trim


# mallopt's parameter number for the mmap threshold (glibc's malloc.h).
_M_MMAP_THRESHOLD = -3


def fix_mmap_threshold(nbytes: int) -> bool:
    """Serve every allocation of `nbytes` or more with its own mapping, returned to the OS when
    freed (glibc `mallopt`); False where there is no glibc.

    By default glibc raises this threshold to the size of each large block freed (up to
    32 MB), after which numpy's temporaries come from the heap and stay resident once freed:
    RSS, which the budget is measured by, then holds the largest transients seen as well as
    what is live. Setting it fixes it."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, int(nbytes)))


def _libc_function(name: str):
    """A C library function by name, or None where there is none (musl, macOS, Windows)."""
    # The process's own symbols first: find_library("c") may run an `ldconfig` subprocess.
    found = _symbol(None, name)
    if found is None:
        libc = ctypes.util.find_library("c")
        found = _symbol(libc, name) if libc else None
    return found


def _symbol(library: str | None, name: str):
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError, TypeError):  # musl, macOS, Windows: no malloc_trim
        return None
