"""The spill store: round trips, integrity checks, size bound and hostile input."""

from __future__ import annotations

import os
import pickle
import stat
import time
from pathlib import Path

import pytest

from engine.memory import spill as spill_module
from engine.memory import spill_format
from engine.memory.spill import (
    SpillFullError,
    SpillIntegrityError,
    SpillNotFoundError,
    SpillStore,
    SpillUnavailableError,
)

MB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> SpillStore:
    return SpillStore(tmp_path / "spill", 10 * MB, tmp_path / "home" / "spill.secret")


def _only_file(store: SpillStore) -> Path:
    [path] = [p for p in store.directory.iterdir() if p.name.endswith(".spill")]
    return path


@pytest.mark.parametrize(
    "value",
    [
        b"\x00raw bytes\xff" * 100,
        "text ✓ " * 100,
        {"queries": ["a", "b"], "count": 2, "ratio": 0.5, "ok": True, "none": None},
        [1, 2, [3, {"x": "y"}]],
        {"tuple": (1, 2), 3: "int key"},  # not plain JSON: pickled, comes back equal
        {1, 2, 3},
    ],
)
def test_round_trip_returns_an_equal_value(store, value):
    store.spill("key", value)
    assert store.load("key") == value


def test_codec_is_json_for_plain_data_and_pickle_otherwise(store):
    assert store.spill("a", {"k": [1, "2"]}).codec == "J"
    assert store.spill("b", {"k": (1, 2)}).codec == "P"
    assert store.spill("c", b"x").codec == "B"


def test_files_and_secret_are_private(store):
    store.spill("key", "value")
    assert stat.S_IMODE(_only_file(store).stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.secret_path.stat().st_mode) == 0o600
    assert len(store.secret_path.read_bytes()) == 32


def test_missing_key_is_not_found(store):
    with pytest.raises(SpillNotFoundError):
        store.load("never spilled")


def test_tampered_file_is_refused_and_set_aside(store):
    store.spill("key", {"data": "x" * 1000})
    path = _only_file(store)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(SpillIntegrityError, match="integrity") as caught:
        store.load("key")
    assert not path.exists()
    assert caught.value.set_aside_as is not None and ".tampered." in caught.value.set_aside_as.name
    with pytest.raises(SpillNotFoundError):
        store.load("key")


def test_truncated_file_is_refused_and_set_aside(store):
    store.spill("key", b"y" * 5000)
    path = _only_file(store)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(SpillIntegrityError, match="header says"):
        store.load("key")
    assert any(".truncated." in p.name for p in store.directory.iterdir())


def test_file_too_short_for_a_header_is_refused(store):
    store.spill("key", b"z")
    path = _only_file(store)
    path.write_bytes(b"LEISP")
    with pytest.raises(SpillIntegrityError, match="no header"):
        store.load("key")


def test_wrong_version_is_refused(store):
    store.spill("key", b"data")
    path = _only_file(store)
    raw = bytearray(path.read_bytes())
    raw[8] = 99  # the version byte
    path.write_bytes(bytes(raw))
    with pytest.raises(SpillIntegrityError, match="version 99"):
        store.load("key")
    assert any(".unsupported-version." in p.name for p in store.directory.iterdir())


def test_foreign_file_is_refused(store):
    store.spill("key", b"data")
    _only_file(store).write_bytes(b"#!/bin/sh\nrm -rf /\n" + b"\x00" * 64)
    with pytest.raises(SpillIntegrityError, match="not a LeIndex spill file"):
        store.load("key")


def test_forged_pickle_is_never_executed(store, tmp_path):
    """A pickle with a valid layout but without our secret is refused before unpickling."""
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    store.spill("key", {"placeholder": (1,)})
    path = _only_file(store)
    payload = pickle.dumps(Evil())
    key = b"key"
    header = spill_format.HEADER.pack(spill_format.MAGIC, 1, b"P", 0, len(key), len(payload))
    forged_mac = b"\x00" * 32
    path.write_bytes(header + key + payload + forged_mac)
    with pytest.raises(SpillIntegrityError):
        store.load("key")
    assert not marker.exists()


def test_file_swapped_between_keys_is_refused(store):
    store.spill("alpha", "A")
    store.spill("beta", "B")
    alpha = store.directory / spill_module._user_file_name("alpha")
    beta = store.directory / spill_module._user_file_name("beta")
    beta.write_bytes(alpha.read_bytes())
    with pytest.raises(SpillIntegrityError, match="holds key 'alpha'"):
        store.load("beta")


@pytest.mark.parametrize("key", ["../../etc/passwd", "/etc/passwd", "a/../../b", "..", "\x00"])
def test_keys_cannot_escape_the_directory(store, key, tmp_path):
    store.spill(key, "data")
    files = list(store.directory.iterdir())
    assert len(files) == 1 and files[0].parent == store.directory
    assert store.load(key) == "data"
    assert not (tmp_path / "etc").exists()


def test_empty_or_non_string_key_is_rejected(store):
    with pytest.raises(spill_module.SpillError):
        store.spill("", "x")
    with pytest.raises(spill_module.SpillError):
        store.spill(None, "x")  # type: ignore[arg-type]


def test_unwritable_directory_gives_a_clear_error(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        store = SpillStore(parent / "spill", 10 * MB, tmp_path / "spill.secret")
        with pytest.raises(SpillUnavailableError, match="cannot write spill file"):
            store.spill("key", "data")
    finally:
        parent.chmod(0o700)


def test_disabled_spill_is_refused(tmp_path):
    store = SpillStore(tmp_path / "s", MB, tmp_path / "secret", enabled=False)
    with pytest.raises(SpillUnavailableError, match="disabled"):
        store.spill("key", "data")


def test_full_store_refuses_user_data_and_keeps_what_is_there(tmp_path):
    store = SpillStore(tmp_path / "s", 1 * MB, tmp_path / "secret")
    store.spill("first", b"a" * (600 * 1024))
    with pytest.raises(SpillFullError, match="max_spill_size_mb"):
        store.spill("second", b"b" * (600 * 1024))
    assert store.load("first") == b"a" * (600 * 1024)
    assert store.usage_bytes() < MB


def test_full_store_drops_oldest_cache_spills_first(tmp_path):
    store = SpillStore(tmp_path / "s", 1 * MB, tmp_path / "secret")
    for i in range(3):
        store.spill_cache_entry("ns", i, b"c" * (300 * 1024))
    store.spill("user", b"u" * (300 * 1024))  # needs room: the oldest cache spill goes
    assert store.load_cache_entry("ns", 0) is None
    assert store.load_cache_entry("ns", 2) == b"c" * (300 * 1024)
    assert store.load("user") == b"u" * (300 * 1024)
    assert store.usage_bytes() <= MB


def test_cache_entry_load_deletes_the_file(store):
    store.spill_cache_entry("project|query_cache", ("q", "fulltext"), [1, 2])
    assert store.cache_spill_count() == 1
    assert store.load_cache_entry("project|query_cache", ("q", "fulltext")) == [1, 2]
    assert store.cache_spill_count() == 0
    assert store.load_cache_entry("project|query_cache", ("q", "fulltext")) is None


@pytest.mark.parametrize("flip_at_mb", [0.5, 8.0, 12.5, 19.9])
def test_a_flipped_byte_in_any_chunk_of_a_large_spill_is_refused(tmp_path: Path, flip_at_mb):
    store = SpillStore(tmp_path / "spill", 64 * MB, tmp_path / "home" / "spill.secret")
    payload = os.urandom(20 * MB)  # three MAC chunks, hashed in parallel
    store.spill("big", payload)
    assert store.load("big") == payload
    path = _only_file(store)
    raw = bytearray(path.read_bytes())
    raw[int(flip_at_mb * MB)] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(SpillIntegrityError, match="integrity"):
        store.load("big")


def test_tampered_cache_entry_loads_as_a_miss(store):
    store.spill_cache_entry("ns", "k", "value")
    path = _only_file(store)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert store.load_cache_entry("ns", "k") is None


def test_stale_cache_spills_of_dead_processes_are_removed(tmp_path):
    directory = tmp_path / "s"
    directory.mkdir()
    stale = directory / "c-999999999-abc.spill"
    stale.write_bytes(b"old")
    store = SpillStore(directory, MB, tmp_path / "secret")
    assert store.usage_bytes() == 0
    assert not stale.exists()


def test_temp_files_of_killed_spills_are_removed_once_stale(tmp_path):
    directory = tmp_path / "s"
    directory.mkdir()
    stale = directory / ".c-1-abc.spill.x81kq2za.tmp"  # a kill mid-write leaves this
    fresh = directory / ".u-key.spill.0a9sd8f7.tmp"  # may be another process's live write
    for leftover in (stale, fresh):
        leftover.write_bytes(b"x" * 4096)
    long_ago = time.time() - 3600
    os.utime(stale, (long_ago, long_ago))
    store = SpillStore(directory, MB, tmp_path / "secret")
    assert store.usage_bytes() == 0
    assert not stale.exists() and fresh.exists()


def test_wrong_size_secret_is_replaced(tmp_path):
    secret = tmp_path / "spill.secret"
    secret.write_bytes(b"short")
    key = spill_format.load_or_create_secret(secret)
    assert len(key) == 32 and secret.read_bytes() == key
    assert any(".invalid." in p.name for p in tmp_path.iterdir())


def test_large_payload_round_trip(store):
    data = os.urandom(3 * MB)
    store.spill("big", data)
    assert store.load("big") == data


def test_spill_directory_that_is_a_file_gives_a_clear_error(tmp_path):
    """Also covers running as root, where permission bits do not stop writes."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("in the way")
    store = SpillStore(blocker, 10 * MB, tmp_path / "spill.secret")
    with pytest.raises(SpillUnavailableError, match="cannot write spill file"):
        store.spill("key", "data")
    assert store.usage_bytes() == 0  # the reservation was released
