"""The spill file format: header, codecs, HMAC, the secret key and the streaming writer.

See engine/memory/spill.py for the layout and the rules; this module only encodes,
decodes and writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import pickle
import struct
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.atomic import ensure_private_dir, fsync_directory, set_aside

log = logging.getLogger(__name__)

MAGIC = b"LEISPILL"
VERSION = 2  # 2: the MAC covers per-chunk SHA-256 digests of the payload (hashed in parallel)
HEADER = struct.Struct(">8sBcHIQ")
MAC_SIZE = 32
SECRET_SIZE = 32
MAC_CHUNK_BYTES = 8 * 1024 * 1024
_PARALLEL_MAC_MIN_BYTES = 1024 * 1024
_hash_pool: ThreadPoolExecutor | None = None
_hash_pool_lock = threading.Lock()


class SpillError(Exception):
    """A spill or load that could not be done; the message says why."""


class SpillIntegrityError(SpillError):
    """A spill file failed its checks (tampered, truncated, wrong version); it was set aside."""

    def __init__(self, message: str, set_aside_as: Path | None = None) -> None:
        super().__init__(message)
        self.set_aside_as = set_aside_as


class SpillFullError(SpillError):
    """The spill would pass `max_spill_size_mb` even after dropping every cache spill."""


class SpillUnavailableError(SpillError):
    """Spilling is disabled, or the spill directory cannot be written."""


class SpillNotFoundError(SpillError, KeyError):
    """Nothing is spilled under that key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not spilled"


def load_or_create_secret(path: Path) -> bytes:
    """The HMAC key: 32 random bytes in a 0600 file, created on first use."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if len(data) == SECRET_SIZE:
            if path.stat().st_mode & 0o077:
                log.warning("%s was readable by others; restricting it to 0600", path)
                os.chmod(path, 0o600)
            return data
        moved = set_aside(path, "invalid")
        log.warning("%s had the wrong size; set aside as %s, new key created", path, moved)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise SpillUnavailableError(f"cannot read spill key {path}: {error}") from error
    secret = os.urandom(SECRET_SIZE)
    try:
        ensure_private_dir(path.parent)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secret)
                handle.flush()
                os.fsync(handle.fileno())
            # link() fails if the key exists: of two racing first starts one wins and the
            # other reads the winner's key (a replace would let the loser's spills fail).
            os.link(temp_name, path)
        except FileExistsError:
            data = path.read_bytes()
            if len(data) != SECRET_SIZE:
                raise SpillUnavailableError(f"spill key {path} is being written; retry") from None
            return data
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
        fsync_directory(path.parent)
    except OSError as error:
        raise SpillUnavailableError(f"cannot create spill key {path}: {error}") from error
    return secret


def payload_mac(secret: bytes, header: bytes, payload: Any) -> bytes:
    """HMAC-SHA256 over the header and the SHA-256 of each 8 MB chunk of the payload.

    Hashing chunks lets every core take a share (hashlib releases the GIL), so the check
    keeps up with the disk; the HMAC over the ordered digests still binds every byte.
    """
    view = memoryview(payload).cast("B")
    chunks = [
        view[start : start + MAC_CHUNK_BYTES] for start in range(0, len(view), MAC_CHUNK_BYTES)
    ]
    if len(chunks) > 1:
        digests = list(_get_hash_pool().map(_sha256, chunks))
    else:
        digests = [_sha256(chunk) for chunk in chunks]
    mac = hmac.new(secret, header, hashlib.sha256)
    for digest in digests:
        mac.update(digest)
    return mac.digest()


def _sha256(chunk: memoryview) -> bytes:
    return hashlib.sha256(chunk).digest()


def _get_hash_pool() -> ThreadPoolExecutor:
    global _hash_pool
    with _hash_pool_lock:
        if _hash_pool is None:
            workers = max(2, os.cpu_count() or 2)
            _hash_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="spill-mac")
        return _hash_pool


def write_file(path: Path, header: bytes, payload: Any, secret: bytes, *, durable: bool) -> None:
    """Write header + payload + MAC to a temp file and rename it into place.

    For large payloads the MAC is computed in parallel while this thread writes, so spilling
    costs about what the write itself costs.
    """
    directory = path.parent
    ensure_private_dir(directory)
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    # The MAC is computed on a thread of its own (which fans the chunks out to the hash pool;
    # it must not itself be a pool task, or two concurrent spills could starve the pool).
    mac_result: list[bytes] = []
    hasher: threading.Thread | None = None
    if len(payload) >= _PARALLEL_MAC_MIN_BYTES:
        hasher = threading.Thread(
            target=lambda: mac_result.append(payload_mac(secret, header, payload)),
            name="spill-mac",
            daemon=True,
        )
        hasher.start()
    else:
        mac_result.append(payload_mac(secret, header, payload))
    try:
        with os.fdopen(fd, "wb", buffering=0) as handle:
            _write_all(handle, header)
            _write_all(handle, payload)
            if hasher is not None:
                hasher.join()
                hasher = None
            if not mac_result:
                raise SpillError("computing the spill file's MAC failed")
            _write_all(handle, mac_result[0])
            if durable:
                os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        if hasher is not None:
            hasher.join()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if durable:
        fsync_directory(directory)


def _write_all(handle: Any, data: Any) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = handle.write(view)
        view = view[written:]


def encode(data: Any) -> tuple[bytes, Any]:
    if isinstance(data, bytes | bytearray):
        return b"B", data
    if isinstance(data, memoryview):
        return b"B", data.cast("B") if data.contiguous else data.tobytes()
    if isinstance(data, str):
        return b"S", data.encode("utf-8")
    if _is_plain_json(data):
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        return b"J", text.encode("utf-8")
    try:
        return b"P", pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # PicklingError, TypeError (locks, sockets), RecursionError
        raise SpillError(f"cannot serialise a {type(data).__name__}: {error}") from error


def decode(codec: bytes, payload: memoryview) -> Any:
    if codec == b"B":
        return payload.tobytes()
    if codec == b"S":
        return str(payload, "utf-8")
    if codec == b"J":
        return json.loads(str(payload, "utf-8"))
    if codec == b"P":
        # Safe only because the HMAC over this exact payload has verified (see module doc).
        return pickle.loads(payload)
    raise SpillError(f"unknown spill codec {codec!r}")


def _is_plain_json(value: Any, depth: int = 0) -> bool:
    """True if JSON gives back an equal value (no tuples, no non-str keys, no other types)."""
    if depth > 100:
        return False
    kind = type(value)
    if kind in (str, int, float, bool) or value is None:
        return True
    if kind is list:
        return all(_is_plain_json(item, depth + 1) for item in value)
    if kind is dict:
        return all(type(k) is str and _is_plain_json(v, depth + 1) for k, v in value.items())
    return False
