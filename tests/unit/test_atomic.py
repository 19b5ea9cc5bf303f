from pathlib import Path

import pytest

from engine.atomic import atomic_write_text, safe_child, set_aside


def test_atomic_write_creates_private_file(tmp_path: Path) -> None:
    target = tmp_path / "state" / "cache_state.json"
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}"
    assert target.stat().st_mode & 0o777 == 0o600
    assert target.parent.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["cache_state.json"]


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".hidden", "", "a\x00b", "/etc/passwd"])
def test_safe_child_refuses_escaping_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        safe_child(tmp_path, name)


def test_set_aside_renames_with_reason(tmp_path: Path) -> None:
    bad = tmp_path / "cache_state.json"
    bad.write_text("garbage")
    moved = set_aside(bad, "corrupt")
    assert not bad.exists()
    assert moved.name.startswith("cache_state.json.corrupt.")
    assert moved.read_text() == "garbage"
