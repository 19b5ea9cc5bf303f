"""Saving the cache state records what is cached now; dropped entries do not come back."""

from __future__ import annotations

from pathlib import Path

from engine.index import Engine
from engine.memory.persistence import load_cache_state, save_cache_state


def test_each_save_holds_only_what_is_cached_now(tmp_leindex_home: Path, tmp_path: Path) -> None:
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    for index in range(6):
        (project_dir / f"f{index}.py").write_text(f"value_{index} = {index}\n")
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    try:
        project = engine.add_project(project_dir)
        for batch in (("f0.py", "f1.py"), ("f2.py", "f3.py"), ("f4.py", "f5.py")):
            project.drop_caches()
            for rel in batch:
                project.read_file(rel)
            save_cache_state(engine, tmp_leindex_home)

        state = load_cache_state(tmp_leindex_home / "cache_state.json").state
        [saved] = state.projects.values()
        assert [record.path for record in saved.loaded_files] == ["f4.py", "f5.py"]
    finally:
        engine.close()
