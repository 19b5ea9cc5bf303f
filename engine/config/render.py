"""The merged config as YAML, each value annotated with where it came from (`config show`)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from engine.config.changes import flatten_config
from engine.config.loader import LoadedConfig
from engine.config.schema import LEAF_FIELDS, PROJECT_KEYS

_DERIVED = ("soft_limit_mb", "hard_limit_mb", "emergency_limit_mb")


def render_annotated_yaml(loaded: LoadedConfig, project: str | None = None) -> str:
    """YAML of the merged config with `# <source>` after each value; with `project`, also the
    settings resolved for that project and where each came from."""
    config = loaded.config
    flat = flatten_config(config)
    rows: list[tuple[str, str]] = [("memory:", "")]
    section = None
    for leaf in LEAF_FIELDS:
        if len(leaf.path) == 2 and leaf.path[0] != section:
            section = leaf.path[0]
            rows.append((f"  {section}:", ""))
        indent = "  " * len(leaf.path)
        rows.append(
            (f"{indent}{leaf.path[-1]}: {_scalar(flat[leaf.dotted])}", loaded.sources[leaf.dotted])
        )
    memory = config.memory
    derived = ", ".join(f"{name} = {getattr(memory, name):g}" for name in _DERIVED)
    rows.append((f"  # derived: {derived}", ""))
    index = getattr(config, "index", None)
    if index is not None:
        rows += [
            ("index:", ""),
            (f"  embedder: {_scalar(index.embedder)}", loaded.sources.get("index.embedder", "")),
        ]
    if config.projects:
        rows.append(("projects:", ""))
        for name, overrides in config.projects.items():
            rows += [(f"  {_scalar(name)}:", ""), ("    memory:", "")]
            for key in PROJECT_KEYS:
                value = getattr(overrides.memory, key)
                if value is not None:
                    source = loaded.sources.get(f"projects.{name}.memory.{key}", "")
                    rows.append((f"      {key}: {_scalar(value)}", source))
    if project is not None:
        settings = config.project_settings(project)
        rows += [(f"# settings resolved for project {project}", ""), ("project_settings:", "")]
        rows.append((f"  name: {_scalar(project)}", ""))
        for key in PROJECT_KEYS:
            source = loaded.sources.get(f"projects.{project}.memory.{key}")
            if source is None:
                default_key = f"memory.project_defaults.{key}"
                source = f"{loaded.sources[default_key]} (via {default_key})"
            rows.append((f"  {key}: {_scalar(getattr(settings, key))}", source))
    width = max(len(text) for text, source in rows if source)
    lines = [f"{text.ljust(width)}  # {source}" if source else text for text, source in rows]
    return "\n".join(lines) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()
