"""Symbol operations of the API: a file's outline, definitions by name, a symbol's references.

They read the symbol table the indexer keeps next to each project's full-text index
(`engine.index.symbols`). `project` is a name, or a path, or None for every open project.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from engine.api.errors import ApiError
from engine.api.file_ops import resolve_project
from engine.index import Project, get_engine, searcher

# Upper bound on what one call returns (an agent pages by narrowing, not by scrolling).
MAX_RESULTS = 500


def _projects(project: str | None) -> list[Project]:
    if project is None:
        return get_engine().registry.list()
    return [resolve_project(project)]


def _store(project: Project):
    index = project.fulltext
    if index is None:
        raise ApiError(f"{project.name}: not indexed yet (or closed)")
    return index.symbols


def _symbol_dict(project: Project, symbol) -> dict[str, Any]:
    return {
        "project": project.name,
        "name": symbol.name,
        "kind": symbol.kind,
        "path": symbol.path,
        "line": symbol.line,
        "end_line": symbol.end_line,
    }


def _relative(project: Project, path: str) -> str:
    """`path` relative to the project root; refuses anything outside it."""
    if not isinstance(path, str) or not path.strip() or "\x00" in path:
        raise ApiError("a file path is required")
    root = Path(project.path)
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        try:
            rel = candidate.resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            raise ApiError(f"{path}: outside project {project.name}") from None
    else:
        rel = posixpath.normpath(path.replace("\\", "/"))
    if rel == ".." or rel.startswith("../") or rel.startswith("/"):
        raise ApiError(f"{path}: outside project {project.name}")
    return rel


def get_file_outline(path: str, project: str | None = None) -> dict[str, Any]:
    """The definitions of one indexed file, in line order, with kinds and line spans."""
    targets = _projects(project)
    errors = []
    for target in targets:
        try:
            rel = _relative(target, path)
        except ApiError as error:
            errors.append(str(error))
            continue
        manifest = target.manifest
        if manifest is None or rel not in manifest.files:
            errors.append(f"{rel}: not an indexed file of {target.name}")
            continue
        symbols = _store(target).outline(rel)
        return {
            "project": target.name,
            "path": rel,
            "count": len(symbols),
            "symbols": [_symbol_dict(target, s) for s in symbols[:MAX_RESULTS]],
        }
    if not targets:
        raise ApiError("no project is open")
    raise ApiError("; ".join(errors))


def find_symbol(
    name: str,
    project: str | None = None,
    kind: str | None = None,
    prefix: bool = False,
    limit: int = 100,
) -> dict[str, Any]:
    """Definitions named `name` (or starting with it, with `prefix` or a trailing `*`)."""
    if not isinstance(name, str) or not name.strip("* \t"):
        raise ApiError("a symbol name is required")
    limit = max(1, min(int(limit), MAX_RESULTS))
    name = name.strip()
    if name.endswith("*"):
        prefix, name = True, name.rstrip("*")
    found = []
    for target in _projects(project):
        if target.fulltext is None:
            continue
        symbols = _store(target).find(name, prefix=prefix, kind=kind or None, limit=limit)
        if not symbols and not prefix and kind in (None, "", "macro"):
            symbols = searcher.constant_definitions(target, name, limit)
        for symbol in symbols:
            found.append(_symbol_dict(target, symbol))
    found = found[:limit]
    return {"name": name, "prefix": prefix, "kind": kind, "count": len(found), "symbols": found}


def find_references(name: str, project: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Lines that use `name` as a whole word, from the full-text index, definitions excluded."""
    if not isinstance(name, str) or not name.strip():
        raise ApiError("a symbol name is required")
    name = name.strip()
    limit = max(1, min(int(limit), MAX_RESULTS))
    word = re.compile(r"(?<![\w$])" + re.escape(name) + r"(?![\w$])")
    references = []
    definitions = 0
    for target in _projects(project):
        if target.fulltext is None:
            continue
        symbols = _store(target).find(name, limit=MAX_RESULTS)
        if not symbols:
            symbols = searcher.constant_definitions(target, name, MAX_RESULTS)
        defined = {(s.path, s.line) for s in symbols}
        definitions += len(defined)
        hits = searcher._plain_fulltext_hits(target, name, limit + len(defined), True)
        for hit in hits:
            if (hit.path, hit.line) in defined or not word.search(hit.text):
                continue
            references.append(hit.to_dict())
    references = references[:limit]
    return {
        "name": name,
        "definitions": definitions,
        "count": len(references),
        "references": references,
    }
