"""Spill files: data written to disk under an HMAC, read back only if the HMAC verifies.

File layout (version 2), all integers big-endian:

    magic "LEISPILL" | version u8 | codec 1 byte | reserved u16 | key length u32 |
    payload length u64 | key (UTF-8) | payload | MAC

    MAC = HMAC-SHA256(secret, header and key || SHA-256 of each 8 MB chunk of the payload)

(the chunk digests are computed in parallel, so the check keeps up with the disk).

Codecs: B = bytes, S = UTF-8 text, J = JSON (only for values made of dict[str]/list/str/
int/float/bool/None, so they come back equal), P = pickle for anything else. A pickle is
only unpickled after the HMAC over the whole file has verified with the secret key, which
lives in a 0600 file in LEINDEX_HOME: a file we did not write cannot get that far. A file
that fails any check (magic, version, length, HMAC, key) is set aside, never decoded.

Two kinds of spill share the directory and its size bound: user data (`spill_to_disk`,
names `u-<hash>.spill`, fsync'd: it cannot be regenerated) and cache entries (`c-<pid>-
<hash>.spill`, not fsync'd: they are a copy of data the engine can recompute). When the
bound would be passed, the oldest cache spills are deleted first; user data is never deleted
to make room: the spill is refused instead (SpillFullError).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.atomic import (
    STALE_TEMP_SECONDS,
    private_subdir_if_shared,
    remove_stale_temp_files,
    safe_child,
    set_aside,
)
from engine.memory.spill_format import (
    HEADER,
    MAC_SIZE,
    MAGIC,
    VERSION,
    SpillError,
    SpillFullError,
    SpillIntegrityError,
    SpillNotFoundError,
    SpillUnavailableError,
    decode,
    encode,
    load_or_create_secret,
    payload_mac,
    write_file,
)

__all__ = [
    "SpillError",
    "SpillFullError",
    "SpillIntegrityError",
    "SpillNotFoundError",
    "SpillRecord",
    "SpillStore",
    "SpillUnavailableError",
    "get_spill_store",
    "load_or_create_secret",
]

log = logging.getLogger(__name__)

SECRET_FILE_NAME = "spill.secret"
_MAX_KEY_BYTES = 64 * 1024
_SUFFIX = ".spill"


@dataclass(frozen=True)
class SpillRecord:
    """One spill written: its file, size on disk and codec."""

    key: str
    path: Path
    size_bytes: int
    codec: str


@dataclass
class _IndexEntry:
    size: int
    mtime: float
    is_cache: bool


class SpillStore:
    """The spill directory, bounded by `max_bytes`; thread-safe."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        secret_path: Path,
        enabled: bool = True,
    ) -> None:
        self.directory = private_subdir_if_shared(Path(directory))
        self.max_bytes = int(max_bytes)
        self.secret_path = Path(secret_path)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._index: dict[str, _IndexEntry] | None = None
        self._used = 0  # running sum of the index's sizes (kept with every index change)
        self._secret: bytes | None = None

    # --- public API -------------------------------------------------------------------

    def spill(self, key: str, data: Any) -> SpillRecord:
        """Write `data` under the user key `key` (durable: fsync'd)."""
        if not isinstance(key, str) or not key:
            raise SpillError(f"spill key must be a non-empty string (got {key!r})")
        return self._write(_user_file_name(key), key, data, is_cache=False)

    def load(self, key: str) -> Any:
        """Read back what `spill(key, ...)` wrote; the file stays (load it again if needed)."""
        if not isinstance(key, str) or not key:
            raise SpillNotFoundError(f"no spill for key {key!r}")
        return self._read(_user_file_name(key), key)

    def remove(self, key: str) -> bool:
        """Delete a user spill; True if there was one."""
        return self._delete(_user_file_name(key))

    def spill_cache_entry(self, namespace: str, key: Any, value: Any) -> SpillRecord:
        """Write one cache entry (not fsync'd: the engine can always recompute it)."""
        label = _cache_label(namespace, key)
        return self._write(_cache_file_name(label), label, value, is_cache=True)

    def load_cache_entry(self, namespace: str, key: Any) -> Any | None:
        """Read back and delete one spilled cache entry; None if it is gone or unreadable."""
        label = _cache_label(namespace, key)
        name = _cache_file_name(label)
        try:
            value = self._read(name, label)
        except SpillNotFoundError:
            return None
        except SpillError as error:
            log.warning("spilled cache entry %s not reloaded: %s", label, error)
            return None
        self._delete(name)
        return value

    def discard_cache_entry(self, namespace: str, key: Any) -> bool:
        """Delete a spilled cache entry without reading it."""
        return self._delete(_cache_file_name(_cache_label(namespace, key)))

    def discard_cache_entries(self, namespace: str, keys: Any) -> int:
        """Delete the spilled cache entries of `keys` (stale: invalidated or discarded)."""
        return sum(1 for key in keys if self.discard_cache_entry(namespace, key))

    def usage_bytes(self) -> int:
        """Bytes currently held in spill files of this directory."""
        with self._lock:
            self._load_index()
            return self._used

    def cache_spill_count(self) -> int:
        """Number of spilled cache entries on disk."""
        with self._lock:
            return sum(1 for entry in self._load_index().values() if entry.is_cache)

    def configure(self, max_bytes: int, enabled: bool) -> None:
        """Follow new config values (a lower bound applies to the next spill)."""
        self.max_bytes = int(max_bytes)
        self.enabled = enabled

    def discard_all_cache_spills(self) -> int:
        """Delete every cache spill of this process (e.g. at shutdown); return the count."""
        with self._lock:
            names = [n for n, e in self._load_index().items() if e.is_cache]
        return sum(1 for name in names if self._delete(name))

    # --- writing ----------------------------------------------------------------------

    def _write(self, name: str, key: str, data: Any, *, is_cache: bool) -> SpillRecord:
        if not self.enabled:
            raise SpillUnavailableError("spill to disk is disabled (memory.spill.enabled)")
        codec, payload = encode(data)
        key_bytes = key.encode("utf-8")
        if len(key_bytes) > _MAX_KEY_BYTES:
            raise SpillError(f"spill key is too long ({len(key_bytes)} bytes)")
        header = HEADER.pack(MAGIC, VERSION, codec, 0, len(key_bytes), len(payload)) + key_bytes
        size = len(header) + len(payload) + MAC_SIZE
        secret = self._get_secret()
        path = self._path(name)
        self._reserve(name, size, is_cache)
        try:
            write_file(path, header, payload, secret, durable=not is_cache)
        except OSError as error:
            self._unreserve(name)
            raise SpillUnavailableError(
                f"cannot write spill file in {self.directory}: {error.strerror or error}"
            ) from error
        except BaseException:
            self._unreserve(name)
            raise
        return SpillRecord(key=key, path=path, size_bytes=size, codec=codec.decode())

    def _reserve(self, name: str, size: int, is_cache: bool) -> None:
        """Account the new file, deleting the oldest cache spills if the bound needs it."""
        to_delete: list[str] = []
        with self._lock:
            index = self._load_index()
            previous = index.pop(name, None)
            if previous is not None:
                self._used -= previous.size
            used = self._used
            if used + size > self.max_bytes:
                for old_name, entry in sorted(index.items(), key=lambda item: item[1].mtime):
                    if used + size <= self.max_bytes:
                        break
                    if entry.is_cache:
                        to_delete.append(old_name)
                        used -= entry.size
            if used + size > self.max_bytes:
                if previous is not None:
                    index[name] = previous
                    self._used += previous.size
                raise SpillFullError(
                    f"spill directory {self.directory} is full: {size / 2**20:.1f} MB more "
                    f"would pass max_spill_size_mb ({self.max_bytes / 2**20:.0f} MB); "
                    f"{used / 2**20:.1f} MB is user data that is never dropped"
                )
            for old_name in to_delete:
                dropped = index.pop(old_name, None)
                if dropped is not None:
                    self._used -= dropped.size
            index[name] = _IndexEntry(size=size, mtime=time.time(), is_cache=is_cache)
            self._used += size
        for old_name in to_delete:
            with contextlib.suppress(OSError):
                os.unlink(self.directory / old_name)

    def _unreserve(self, name: str) -> None:
        self._delete_from_index(name)

    # --- reading ----------------------------------------------------------------------

    def _read(self, name: str, key: str) -> Any:
        path = self._path(name)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed in the finally below
        except FileNotFoundError:
            raise SpillNotFoundError(f"no spill for key {key!r}") from None
        except OSError as error:
            raise SpillUnavailableError(f"cannot read spill file {path}: {error}") from error
        try:
            size = os.fstat(handle.fileno()).st_size
            raw_header = handle.read(HEADER.size)
            if len(raw_header) < HEADER.size:
                self._reject(path, "truncated", f"{path}: truncated spill file (no header)")
            magic, version, codec, _reserved, key_len, payload_len = HEADER.unpack(raw_header)
            if magic != MAGIC:
                self._reject(path, "corrupt", f"{path}: not a LeIndex spill file")
            if version != VERSION:
                self._reject(
                    path,
                    "unsupported-version",
                    f"{path}: spill format version {version} is not supported "
                    f"(this build reads version {VERSION})",
                )
            expected = HEADER.size + key_len + payload_len + MAC_SIZE
            if key_len > _MAX_KEY_BYTES or size != expected:
                self._reject(
                    path,
                    "truncated",
                    f"{path}: spill file is {size} bytes, its header says {expected}",
                )
            body = bytearray(size - HEADER.size)
            view = memoryview(body)
            got = handle.readinto(view)
            if got != len(body):
                self._reject(path, "truncated", f"{path}: spill file shrank while reading")
        finally:
            handle.close()
        signed_header = raw_header + bytes(view[:key_len])
        mac = payload_mac(self._get_secret(), signed_header, view[key_len:-MAC_SIZE])
        if not hmac.compare_digest(mac, bytes(view[-MAC_SIZE:])):
            self._reject(path, "tampered", f"{path}: spill file failed its integrity check (HMAC)")
        stored_key = bytes(view[:key_len]).decode("utf-8", errors="replace")
        if stored_key != key:
            self._reject(path, "mismatched", f"{path}: spill file holds key {stored_key!r}")
        payload = view[key_len:-MAC_SIZE]
        return decode(codec, payload)

    def _reject(self, path: Path, reason: str, message: str) -> None:
        self._delete_from_index(path.name)
        moved: Path | None = None
        try:
            moved = set_aside(path, reason)
        except OSError as error:
            log.warning("could not set aside bad spill file %s: %s", path, error)
        log.warning("%s%s", message, f" (set aside as {moved.name})" if moved else "")
        raise SpillIntegrityError(message, moved)

    # --- housekeeping -----------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return safe_child(self.directory, name)

    def _delete(self, name: str) -> bool:
        self._delete_from_index(name)
        try:
            os.unlink(self._path(name))
            return True
        except FileNotFoundError:
            return False
        except OSError as error:
            log.warning("could not delete spill file %s: %s", name, error)
            return False

    def _delete_from_index(self, name: str) -> None:
        with self._lock:
            if self._index is not None:
                entry = self._index.pop(name, None)
                if entry is not None:
                    self._used -= entry.size

    def _load_index(self) -> dict[str, _IndexEntry]:
        """Scan the directory once (caller holds the lock); stale cache spills are deleted,
        and so are the temp files of writes killed part-way (a spilled cache's can be
        hundreds of MB, and no budget counts it)."""
        if self._index is not None:
            return self._index
        remove_stale_temp_files(self.directory, STALE_TEMP_SECONDS)
        index: dict[str, _IndexEntry] = {}
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            entries = []
        except OSError as error:
            log.warning("cannot list spill directory %s: %s", self.directory, error)
            entries = []
        for entry in entries:
            if not entry.name.endswith(_SUFFIX) or not entry.is_file(follow_symlinks=False):
                continue
            is_cache = entry.name.startswith("c-")
            if is_cache and not _owned_by_live_process(entry.name):
                # A cache spill of a process that is gone: no cache remembers its key.
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                continue
            stat = entry.stat(follow_symlinks=False)
            index[entry.name] = _IndexEntry(stat.st_size, stat.st_mtime, is_cache)
        self._index = index
        self._used = sum(entry.size for entry in index.values())
        return index

    def _get_secret(self) -> bytes:
        if self._secret is None:
            self._secret = load_or_create_secret(self.secret_path)
        return self._secret


def _user_file_name(key: str) -> str:
    return "u-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:48] + _SUFFIX


def _cache_label(namespace: str, key: Any) -> str:
    return f"{namespace}\x00{key!r}"


def _cache_file_name(label: str) -> str:
    digest = hashlib.sha256(label.encode("utf-8")).hexdigest()[:40]
    return f"c-{os.getpid()}-{digest}{_SUFFIX}"


def _owned_by_live_process(name: str) -> bool:
    try:
        pid = int(name.split("-", 2)[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_stores: dict[Path, SpillStore] = {}
_stores_lock = threading.Lock()


def get_spill_store(directory: Path, max_bytes: int, secret_path: Path, enabled: bool = True):
    """The one store per spill directory in this process (so its size index is shared)."""
    key = Path(directory).expanduser().absolute()
    with _stores_lock:
        store = _stores.get(key)
        if store is None or store.secret_path != Path(secret_path):
            store = SpillStore(key, max_bytes, secret_path, enabled)
            _stores[key] = store
        else:
            store.configure(max_bytes, enabled)
        return store
