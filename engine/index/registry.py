"""The project registry: directories registered as projects, by unique name and by path."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

from engine.atomic import atomic_write_text, ensure_private_dir, safe_child
from engine.index.errors import UnknownProjectError
from engine.index.project import Project

PROJECT_FILE = "project.json"
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def base_name(path: Path) -> str:
    """A project name from a folder name, using only characters safe in a file name."""
    name = _UNSAFE_CHARS.sub("-", path.name).strip("-._")[:100]
    return name or "project"


class ProjectRegistry:
    """Projects by name; a name is claimed on disk (`indexes/<name>/project.json`) by its path,
    so the same directory gets the same name, and index, in every process."""

    def __init__(self, indexes_dir: Path, factory: Callable[[str, Path, Path], Project]) -> None:
        self.indexes_dir = Path(indexes_dir)
        self._factory = factory
        self._lock = threading.RLock()
        self._projects: dict[str, Project] = {}

    def add(self, path: str | Path) -> Project:
        """Register a directory (returning the existing project if it already is one)."""
        resolved = Path(path).expanduser().resolve()
        if not resolved.is_dir():
            raise NotADirectoryError(f"not a directory: {path}")
        with self._lock:
            existing = self.by_path(resolved)
            if existing is not None:
                return existing
            name = self._claim_name(resolved)
            project = self._factory(name, resolved, self.indexes_dir / name)
            self._projects[name] = project
            return project

    def _claim_name(self, path: Path) -> str:
        base = base_name(path)
        ensure_private_dir(self.indexes_dir)
        for counter in range(1, 10_000):
            name = base if counter == 1 else f"{base}-{counter}"
            if name in self._projects:
                continue
            index_dir = safe_child(self.indexes_dir, name)
            owner = _owner_of(index_dir)
            if owner is None:
                ensure_private_dir(index_dir)
                atomic_write_text(index_dir / PROJECT_FILE, json.dumps({"path": str(path)}))
                return name
            if owner == str(path):
                return name
        raise RuntimeError(f"no free project name for {path}")

    def remove(self, name: str) -> Project:
        """Unregister a project (its index stays on disk for next time); returns it."""
        with self._lock:
            project = self._projects.pop(name, None)
            if project is None:
                raise UnknownProjectError(name, list(self._projects))
            return project

    def get(self, name: str) -> Project:
        """The project called `name`; raises `UnknownProjectError`."""
        project = self._projects.get(name)
        if project is None:
            raise UnknownProjectError(name, list(self._projects))
        return project

    def list(self) -> list[Project]:
        """All projects, by name."""
        with self._lock:
            return [self._projects[name] for name in sorted(self._projects)]

    def by_path(self, path: str | Path) -> Project | None:
        """The project registered for this directory, if any."""
        resolved = Path(path).expanduser().resolve()
        with self._lock:
            for project in self._projects.values():
                if project.path == resolved:
                    return project
        return None

    def __len__(self) -> int:
        return len(self._projects)


def _owner_of(index_dir: Path) -> str | None:
    """The path that claimed `index_dir`; "" if it is claimed but unreadable; None if free."""
    if not index_dir.exists():
        return None
    try:
        document = json.loads((index_dir / PROJECT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        # A directory with no claim (an interrupted claim): free unless it holds an index.
        return None if not any(index_dir.iterdir()) else ""
    except (OSError, ValueError):
        return ""
    owner = document.get("path") if isinstance(document, dict) else None
    return owner if isinstance(owner, str) else ""


def known_projects(indexes_dir: Path) -> dict[str, Path]:
    """Projects indexed before (by any process): name -> directory, from their claims on disk."""
    found: dict[str, Path] = {}
    try:
        entries = sorted(Path(indexes_dir).iterdir())
    except OSError:
        return found
    for index_dir in entries:
        if not index_dir.is_dir() or index_dir.is_symlink():
            continue
        owner = _owner_of(index_dir)
        if owner:
            found[index_dir.name] = Path(owner)
    return found


def match_known(known: dict[str, Path], ref: str) -> tuple[str, Path] | None:
    """The known project `ref` names: its name, its path, or the name its path would get."""
    if ref in known:
        return ref, known[ref]
    candidate = Path(ref).expanduser()
    for name, path in known.items():
        if candidate.is_absolute() and str(path) == str(candidate.resolve()):
            return name, path
    for name, path in known.items():
        if path.name == ref or base_name(Path(ref)) == name:
            return name, path
    return None
