"""What differs between two configs, as the human lines a reload reports."""

from __future__ import annotations

from typing import Any

from engine.config.errors import format_value
from engine.config.schema import LEAF_FIELDS, PROJECT_KEYS, LeIndexConfig

_UNSET = "(unset)"


def flatten_config(config: LeIndexConfig) -> dict[str, Any]:
    """Every set value by dotted key: `memory.*` leaves, then `projects.<name>.memory.<key>`."""
    flat: dict[str, Any] = {}
    for leaf in LEAF_FIELDS:
        node: Any = config.memory
        for part in leaf.path:
            node = getattr(node, part)
        flat[leaf.dotted] = node
    for name, overrides in sorted(config.projects.items()):
        for key in PROJECT_KEYS:
            value = getattr(overrides.memory, key)
            if value is not None:
                flat[f"projects.{name}.memory.{key}"] = value
    return flat


def describe_changes(old: LeIndexConfig | None, new: LeIndexConfig) -> list[str]:
    """Lines like `memory.soft_limit_percent: 0.8 → 0.75`, in schema order; [] if none."""
    if old is None:
        return []
    before, after = flatten_config(old), flatten_config(new)
    keys = list(after) + [key for key in before if key not in after]
    lines = []
    for key in keys:
        old_value, new_value = before.get(key, _UNSET), after.get(key, _UNSET)
        if old_value != new_value:
            lines.append(f"{key}: {_show(old_value)} → {_show(new_value)}")
    return lines


def _show(value: Any) -> str:
    if value is _UNSET:
        return _UNSET
    if isinstance(value, float):
        return f"{value:g}"
    return format_value(value)
