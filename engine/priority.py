"""Project priority, shared by the config, the index registry and eviction."""

from __future__ import annotations

from enum import IntEnum


class ProjectPriority(IntEnum):
    """Eviction priority of a project: LOW is evicted first, CRITICAL never."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def from_name(cls, name: str) -> ProjectPriority:
        """Parse a priority name case-insensitively; raise ValueError naming the allowed values."""
        try:
            return cls[str(name).strip().upper()]
        except KeyError:
            allowed = ", ".join(member.name for member in cls)
            raise ValueError(f"unknown priority {name!r}; allowed: {allowed}") from None
