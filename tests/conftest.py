"""Shared fixtures: every test runs with its own LEINDEX_HOME, never the real one."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def tmp_leindex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated LEINDEX_HOME with no LEINDEX_* variables leaking in from the environment."""
    import os

    for name in list(os.environ):
        if name.startswith("LEINDEX_"):
            monkeypatch.delenv(name)
    home = tmp_path / "leindex-home"
    monkeypatch.setenv("LEINDEX_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def fresh_config_manager(tmp_leindex_home: Path):
    """Each test gets a fresh process-default config manager reading its own LEINDEX_HOME."""
    from engine.config import set_reload_manager

    set_reload_manager(None)
    yield
    set_reload_manager(None)


class FakeProbe:
    """A memory probe whose readings the test sets: `rss_mb`, plus whatever `follow()` adds.

    `follow` (optional) returns extra bytes, e.g. the bytes the engine's caches hold, so
    that dropping cache entries makes the "measured" RSS fall as it would for real.
    """

    def __init__(self, rss_mb: float = 100.0, heap_fraction: float = 0.6) -> None:
        self.rss_mb = rss_mb
        self.heap_fraction = heap_fraction
        self.follow = None
        self.mapped = 0
        self.trim_calls = 0

    def rss_bytes(self) -> int:
        extra = self.follow() if self.follow is not None else 0
        return int(self.rss_mb * 1024 * 1024) + int(extra)

    def sample(self):
        from engine.memory.probe import ProbeSample

        rss = self.rss_bytes()
        heap = int(rss * self.heap_fraction)
        return ProbeSample(
            rss=rss, anon=heap, file=rss - heap, stack=132 * 1024, code=4096, heap=heap
        )

    def mapped_bytes(self, prefix) -> int:
        return self.mapped

    def return_memory_to_os(self) -> bool:
        self.trim_calls += 1
        return True


@pytest.fixture
def fake_probe() -> FakeProbe:
    """A FakeProbe at 100 MB RSS (set `rss_mb` / `follow` to drive it)."""
    return FakeProbe()


class FakeProject:
    """A project with the real byte-accounted caches and a pretend vector index."""

    def __init__(self, name: str, priority, last_accessed: float, root: Path) -> None:
        from engine.index.caches import ByteAccountedLRU, LoadedFileCache

        class _QueryCache(ByteAccountedLRU):
            kind = "query_cache"

        self.name = name
        self.path = root / name
        self.index_dir = root / "indexes" / name
        self.priority = priority
        self.last_accessed = last_accessed
        self.loaded_files = LoadedFileCache(10**6, 10**12, owner=name)
        self.query_cache = _QueryCache(10**6, 10**12, owner=name)
        self.vector_index_loaded = True
        self.vector_bytes = 0

    def drop_caches(self):
        return self.loaded_files.clear() + self.query_cache.clear()

    def unload_vectors(self) -> int:
        released, self.vector_bytes = self.vector_bytes, 0
        self.vector_index_loaded = False
        return released

    def fill(self, files: int = 0, queries: int = 0, size: int = 10_000) -> FakeProject:
        for i in range(files):
            self.loaded_files.put(f"src/{self.name}/f{i}.py", "x" * size)
        for i in range(queries):
            self.query_cache.put(("q", str(i)), ["hit"] * (size // 8))
        return self


class FakeEngine:
    """Just enough engine for the memory manager: a registry of FakeProjects."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.projects: dict[str, FakeProject] = {}
        self.registry = self

    def add(self, name: str, priority=None, last_accessed: float = 0.0) -> FakeProject:
        from engine.priority import ProjectPriority

        project = FakeProject(name, priority or ProjectPriority.MEDIUM, last_accessed, self.root)
        self.projects[name] = project
        return project

    def list(self) -> list[FakeProject]:
        return list(self.projects.values())

    def cache_bytes(self) -> int:
        return sum(
            p.loaded_files.bytes + p.query_cache.bytes + p.vector_bytes
            for p in self.projects.values()
        )


@pytest.fixture
def fake_engine(tmp_path: Path) -> FakeEngine:
    """An empty FakeEngine; add projects with `fake_engine.add(name, priority, last_accessed)`."""
    return FakeEngine(tmp_path)


SMALL_CORPUS_FILES = {
    "src/engine_core.py": (
        "class MemoryTracker:\n"
        '    """Tracks resident memory of the process."""\n'
        "\n"
        "    def get_current_usage_mb(self):\n"
        "        return read_resident_set_size() / 1024\n"
        "\n"
        "\n"
        "def read_resident_set_size():\n"
        "    with open('/proc/self/statm') as handle:\n"
        "        return int(handle.read().split()[1])\n"
    ),
    "src/http_client.py": (
        "import socket\n"
        "\n"
        "\n"
        "def open_http_connection(host, port=80):\n"
        "    sock = socket.create_connection((host, port))\n"
        "    return sock\n"
        "\n"
        "\n"
        "def send_request(sock, path):\n"
        "    sock.sendall(f'GET {path} HTTP/1.0\\r\\n\\r\\n'.encode())\n"
    ),
    "src/parser.py": (
        "import argparse\n"
        "\n"
        "\n"
        "def parse_command_line_arguments(argv):\n"
        "    parser = argparse.ArgumentParser(prog='demo')\n"
        "    parser.add_argument('--verbose', action='store_true')\n"
        "    return parser.parse_args(argv)\n"
    ),
    "docs/notes.md": "# Notes\n\nThe eviction order follows priority: LOW first.\n",
    ".gitignore": "*.log\nsecret/\n",
    "debug.log": "MemoryTracker appears in an ignored log file\n",
    "secret/keys.py": "MemoryTracker = 'ignored directory'\n",
    "node_modules/lib/index.js": "function MemoryTracker() {}\n",
    "build/out.py": "MemoryTracker = 'build output'\n",
}


def write_small_corpus(root: Path) -> Path:
    """Write the small corpus (see `small_corpus`) under `root`; returns `root`."""
    for rel, text in SMALL_CORPUS_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "image.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00MemoryTracker")
    (root / "src" / "latin1.py").write_bytes(b"# caf\xe9 latin-1 comment\nlatin_marker = 1\n")
    return root


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A tiny project: three Python files, a doc, a .gitignore and things that must be skipped
    (ignored file and dir, node_modules, build, a binary file, a non-UTF-8 file)."""
    return write_small_corpus(tmp_path / "corpus")
