"""Point a threshold-ordering error at the key the user changed, not at its untouched partner.

The engine checks one file at a time and, inside a file, blames the upper key of a pair; only
the editor knows which of the two the user just edited.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

ORDERED_KEYS = (
    "memory.soft_limit_percent",
    "memory.hard_limit_percent",
    "memory.emergency_percent",
)
_ORDER_MESSAGE = re.compile(r"must be (above|below) (memory\.[a-z_]+) = ")


def _memory_values(text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError:
        return {}
    memory = document.get("memory") if isinstance(document, dict) else None
    if not isinstance(memory, dict):
        return {}
    return {f"memory.{key}": value for key, value in memory.items()}


def key_line(text: str, dotted: str) -> int | None:
    """The 1-based line where `dotted`'s leaf key is set in `text`, if it is."""
    leaf = dotted.rsplit(".", 1)[-1]
    pattern = re.compile(rf"^\s+{re.escape(leaf)}\s*:")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None


def reblame_threshold_error(
    error: dict[str, Any], before_text: str, after_text: str
) -> dict[str, Any]:
    """`error` re-pointed at the changed key when it blames the ordering partner the user left
    alone; any other error is returned as it is."""
    blamed = error.get("key_path")
    match = _ORDER_MESSAGE.search(str(error.get("message", "")))
    if blamed not in ORDERED_KEYS or match is None:
        return error
    other = match.group(2)
    before, after = _memory_values(before_text), _memory_values(after_text)
    changed = {key for key in ORDERED_KEYS if before.get(key) != after.get(key)}
    if blamed in changed or other not in changed or other not in after:
        return error
    relation = "below" if match.group(1) == "above" else "above"
    blamed_value = after.get(blamed, error.get("value"))
    return {
        **error,
        "key_path": other,
        "line": key_line(after_text, other) or error.get("line"),
        "message": (
            f"{other} = {after[other]}: must be {relation} {blamed} = {blamed_value} "
            "(allowed: soft_limit_percent < hard_limit_percent < emergency_percent)"
        ),
    }
