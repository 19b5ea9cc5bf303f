"""Fault injection: the review findings of issue 15, each with the test that keeps it fixed."""

from __future__ import annotations

import errno
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from engine.atomic import ensure_private_dir
from engine.index.caches import ByteAccountedLRU
from engine.memory import spill_format
from engine.memory.cache_spill import attach_loader, namespace_for
from engine.memory.monitoring import Monitor
from engine.memory.spill import SpillStore, SpillUnavailableError


class _Project:
    path = "/p"
    name = "p"


def _store(tmp_path: Path, max_bytes: int = 10_000_000) -> SpillStore:
    return SpillStore(tmp_path / "spill", max_bytes, tmp_path / "spill.secret")


def _spill_files(store: SpillStore) -> list[str]:
    return sorted(p.name for p in store.directory.glob("c-*.spill"))


def test_invalidate_deletes_spill_files(tmp_path):
    store = _store(tmp_path)
    cache = ByteAccountedLRU(100, 10_000_000)
    attach_loader(_Project(), cache, store)
    namespace = namespace_for(_Project(), cache)
    for i in range(3):
        cache.put(i, f"value {i}")
    for key, value in cache.spill_out():
        store.spill_cache_entry(namespace, key, value)
    assert len(_spill_files(store)) == 3
    cache.discard(0)
    assert len(_spill_files(store)) == 2
    cache.invalidate()
    assert _spill_files(store) == []
    assert store.usage_bytes() == 0


def test_running_total_matches_directory(tmp_path):
    store = _store(tmp_path, max_bytes=2000)
    for i in range(50):
        store.spill_cache_entry("ns", i, "x" * 100)
    on_disk = sum(p.stat().st_size for p in store.directory.glob("*.spill"))
    assert store.usage_bytes() == on_disk <= 2000


def test_enospc_on_spill_write_is_reported_not_fatal(tmp_path, monkeypatch):
    store = _store(tmp_path)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spill_format, "_write_all", full_disk)
    with pytest.raises(SpillUnavailableError, match="No space left"):
        store.spill("user-key", b"data")
    monkeypatch.undo()
    assert store.usage_bytes() == 0
    assert not list(store.directory.glob(".*.tmp"))
    store.spill("user-key", b"data")
    assert store.load("user-key") == b"data"


def _make_secret(path: str, queue) -> None:
    queue.put(spill_format.load_or_create_secret(Path(path)))


def test_racing_first_starts_share_one_secret(tmp_path):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    path = str(tmp_path / "home" / "spill.secret")
    workers = [context.Process(target=_make_secret, args=(path, queue)) for _ in range(6)]
    for worker in workers:
        worker.start()
    secrets = {queue.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(60)
    assert secrets == {Path(path).read_bytes()}


def test_existing_directory_is_not_chmodded(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o777)
    ensure_private_dir(shared)
    assert shared.stat().st_mode & 0o777 == 0o777
    store = SpillStore(shared, 1000, tmp_path / "secret")
    assert store.directory == shared / f"leindex-{os.getuid()}"
    store.spill("k", b"v")
    assert store.directory.stat().st_mode & 0o777 == 0o700


def test_monitor_never_runs_two_threads():
    release = threading.Event()
    entered = threading.Event()

    class _Manager:
        def __init__(self):
            self.clock = lambda: 0.0

    monitor = Monitor(_Manager())
    monitor.tick = lambda: (entered.set(), release.wait(30))  # a long enforcement
    monitor.start(0.01)
    assert entered.wait(10)
    monitor.stop(timeout=0.05)  # times out while the tick still runs
    restarted = threading.Thread(target=monitor.start, args=(0.01,))
    restarted.start()
    restarted.join(0.2)
    alive = [t for t in threading.enumerate() if t.name == "leindex-memory-monitor"]
    assert len(alive) == 1
    release.set()
    restarted.join(10)
    monitor.stop()
    assert not restarted.is_alive()


def test_punctuation_only_literal_is_refused(tmp_path):
    from engine.index.errors import QuerySyntaxError
    from engine.index.searcher import fulltext_hits

    class _Index:
        def literal(self, text):
            return None

    class _P:
        fulltext = _Index()

    with pytest.raises(QuerySyntaxError, match="only of punctuation"):
        fulltext_hits(_P(), "->", 10, literal=True)


def _fulltext_paths(index) -> set[str]:
    return {path for _score, path in index.search(index.all_files(), 100)}


def test_files_of_a_commit_killed_before_meta_json_do_not_block_later_commits(tmp_path):
    """kill -9 after tantivy wrote a commit's files but before meta.json: the leftovers are
    removed on open, so the next commit (which picks the same file names) succeeds."""

    from engine.index.fulltext import FullTextIndex

    directory = tmp_path / "fulltext"
    index = FullTextIndex(directory, 0)
    with index.batch() as batch:
        batch.put("a.py", "alpha")
        batch.put("b.py", "beta")
    meta_before = (directory / "meta.json").read_bytes()
    with index.batch() as batch:
        batch.delete("a.py")  # writes <segment>.<opstamp>.del
    del index
    (directory / "meta.json").write_bytes(meta_before)  # as if killed before meta.json

    reopened = FullTextIndex(directory, 0)
    with reopened.batch() as batch:
        batch.delete("a.py")  # the same opstamp, the same .del name

    assert _fulltext_paths(reopened) == {"b.py"}
