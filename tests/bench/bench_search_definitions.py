"""Definitions check: for well-known standard-library names, is a definition in the top 3?

Run with `make bench`. Indexes a copy of a slice of the running interpreter's standard library
and prints, for each name, the top 3 full-text hits, with definitions first (the engine) and
without (the same engine with the definition lookup switched off), and the two counts.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

from engine.index import Engine, searcher

STDLIB = Path(sysconfig.get_paths()["stdlib"])
PARTS = ("asyncio", "email", "http", "logging", "json", "concurrent", "importlib")
FILES = ("argparse.py", "dataclasses.py", "functools.py", "pathlib.py", "subprocess.py")
WANTED = {
    "ArgumentParser": "argparse.py",
    "partial": "functools.py",
    "Popen": "subprocess.py",
    "dataclass": "dataclasses.py",
    "PurePath": "pathlib.py",
    "JSONDecoder": "json/decoder.py",
    "get_event_loop": "asyncio/events.py",
    "getLogger": "logging/__init__.py",
    "HTTPConnection": "http/client.py",
    "ThreadPoolExecutor": "concurrent/futures/thread.py",
    "lru_cache": "functools.py",
    "import_module": "importlib/__init__.py",
}


def _corpus(root: Path) -> Path:
    for part in PARTS:
        shutil.copytree(STDLIB / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in FILES:
        shutil.copy(STDLIB / name, root / name)
    return root


def _count(engine: Engine) -> int:
    found = 0
    for name, path in WANTED.items():
        top = engine.search(name, mode="fulltext", limit=10).hits[:3]
        good = any(hit.path == path and ("def " in hit.text or "class " in hit.text) for hit in top)
        found += good
        print(f"  {name:20} {'ok ' if good else 'MISS'} {[f'{h.path}:{h.line}' for h in top]}")
    return found


def test_definitions_in_top_3(tmp_path, tmp_leindex_home, monkeypatch):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        engine.add_project(_corpus(tmp_path / "stdlib-slice"))
        print("\nwith definitions first:")
        with_defs = _count(engine)
        monkeypatch.setattr(searcher, "definition_hits", lambda *args: [])
        engine.registry.list()[0].query_cache.invalidate()
        print("without:")
        without = _count(engine)
    finally:
        engine.close()
    print(f"definition in top 3: {with_defs}/{len(WANTED)} (without the lookup: {without})")
    assert with_defs >= without
