"""The guide's `memory:` schema: typed, frozen models, their defaults, and the leaf-key table.

The models hold the defaults and the invariants; `LEAF_FIELDS` lists every settable key once,
with its type and what is allowed, so the loader (files), `env` (environment variables) and
the override layer validate values the same way and name them the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    computed_field,
    field_serializer,
    model_validator,
)

from engine.priority import ProjectPriority

PROJECT_KEYS = ("max_loaded_files", "max_cached_queries", "priority")
"""The keys that apply per project (in `projects/<name>.yaml` and the global `projects:` map)."""

# In JSON (diagnostics, MCP) a priority is its name, as users write it in YAML, not its number.
PriorityByName = Annotated[
    ProjectPriority,
    PlainSerializer(lambda priority: priority.name, return_type=str, when_used="json"),
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


class SpillConfig(_Frozen):
    """`memory.spill`: where and how much cached data may be spilled to disk."""

    enabled: bool = True
    directory: Path = Field(default_factory=lambda: _default_home() / "spill")
    max_spill_size_mb: int = Field(default=1000, gt=0)


class MonitoringConfig(_Frozen):
    """`memory.monitoring`: the background RSS check and which levels raise alerts."""

    enabled: bool = True
    interval_seconds: float = Field(default=30.0, gt=0)
    alert_on_soft_limit: bool = True
    alert_on_hard_limit: bool = True
    alert_on_emergency: bool = True


class ProjectDefaults(_Frozen):
    """`memory.project_defaults`: per-project caps and priority when a project sets none."""

    max_loaded_files: int = Field(default=100, gt=0)
    max_cached_queries: int = Field(default=50, gt=0)
    priority: PriorityByName = ProjectPriority.MEDIUM


class MemoryConfig(_Frozen):
    """`memory:` — the budget, its three thresholds (fractions of it) and the cache caps."""

    total_budget_mb: int = Field(default=3072, gt=0)
    soft_limit_percent: float = Field(default=0.80, gt=0, le=1)
    hard_limit_percent: float = Field(default=0.93, gt=0, le=1)
    emergency_percent: float = Field(default=0.98, gt=0, le=1)
    max_loaded_files: int = Field(default=1000, gt=0)
    max_cached_queries: int = Field(default=500, gt=0)
    spill: SpillConfig = Field(default_factory=SpillConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    project_defaults: ProjectDefaults = Field(default_factory=ProjectDefaults)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def soft_limit_mb(self) -> float:
        """The soft limit in MB (`total_budget_mb * soft_limit_percent`)."""
        return self.total_budget_mb * self.soft_limit_percent

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hard_limit_mb(self) -> float:
        """The hard limit in MB (`total_budget_mb * hard_limit_percent`)."""
        return self.total_budget_mb * self.hard_limit_percent

    @computed_field  # type: ignore[prop-decorator]
    @property
    def emergency_limit_mb(self) -> float:
        """The emergency limit in MB (`total_budget_mb * emergency_percent`)."""
        return self.total_budget_mb * self.emergency_percent

    @field_serializer("soft_limit_mb", "hard_limit_mb", "emergency_limit_mb", when_used="json")
    def _limit_mb_for_display(self, value: float) -> float:
        # 3072 * 0.8 is 2457.6000000000004 in binary floating point; people read 2457.6.
        return round(value, 3)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> MemoryConfig:
        # The loader reports this with file and line first; this is the backstop for
        # models built directly.
        if not self.soft_limit_percent < self.hard_limit_percent < self.emergency_percent:
            raise ValueError(
                "thresholds must be ordered soft_limit_percent < hard_limit_percent "
                "< emergency_percent"
            )
        return self


class ProjectMemoryOverrides(_Frozen):
    """A project's own `memory:` keys; None means "not set here"."""

    max_loaded_files: int | None = Field(default=None, gt=0)
    max_cached_queries: int | None = Field(default=None, gt=0)
    priority: PriorityByName | None = None


class ProjectOverrides(_Frozen):
    """What one project file (or one entry of the global `projects:` map) sets."""

    memory: ProjectMemoryOverrides = Field(default_factory=ProjectMemoryOverrides)


@dataclass(frozen=True)
class ProjectSettings:
    """The resolved per-project settings the index and eviction use."""

    max_loaded_files: int
    max_cached_queries: int
    priority: ProjectPriority


class IndexConfig(_Frozen):
    """`index:` — how the index is built. `embedder`: `hashing` (built in, the default),
    `model2vec:NAME_OR_DIR`, `transformer:NAME_OR_DIR` or `fastembed:NAME`; env
    `LEINDEX_EMBEDDER`."""

    embedder: str = "hashing"


INDEX_EMBEDDER_KEY = "index.embedder"
INDEX_EMBEDDER_ENV = "LEINDEX_EMBEDDER"


class LeIndexConfig(_Frozen):
    """The whole merged configuration: `memory` plus the per-project overrides by name."""

    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    projects: dict[str, ProjectOverrides] = Field(default_factory=dict)

    def project_settings(self, name: str) -> ProjectSettings:
        """Settings for project `name`: its overrides, else `memory.project_defaults`.

        The loader has already folded in the precedence (env > project file > global
        `projects:` map), so each key is simply "the project's value if set, else the default".
        """
        defaults = self.memory.project_defaults
        own = self.projects.get(name, ProjectOverrides()).memory
        return ProjectSettings(
            max_loaded_files=_first_set(own.max_loaded_files, defaults.max_loaded_files),
            max_cached_queries=_first_set(own.max_cached_queries, defaults.max_cached_queries),
            priority=_first_set(own.priority, defaults.priority),
        )


def _first_set(value: Any, default: Any) -> Any:
    return default if value is None else value


def _default_home() -> Path:
    from engine.config.paths import leindex_home

    return leindex_home()


# ---------------------------------------------------------------------------------------------
# Leaf keys

LeafKind = Literal["int", "float", "percent", "bool", "priority", "path"]

_ALLOWED = {
    "int": "a whole number > 0",
    "float": "a number > 0",
    "percent": "a fraction in (0, 1], e.g. 0.8 for 80%",
    "bool": "true or false",
    "priority": "one of " + ", ".join(p.name for p in ProjectPriority),
    "path": "a directory path (~ is expanded)",
}


@dataclass(frozen=True)
class LeafField:
    """One settable key under `memory:`."""

    path: tuple[str, ...]  # without the leading "memory"
    kind: LeafKind

    @property
    def dotted(self) -> str:
        """`memory.spill.enabled` etc."""
        return "memory." + ".".join(self.path)

    @property
    def env_var(self) -> str:
        """The guide's pattern: LEINDEX_MEMORY_ + the key path in upper case, joined by `_`."""
        return "LEINDEX_MEMORY_" + "_".join(self.path).upper()

    @property
    def allowed(self) -> str:
        """What values are accepted, in words."""
        return _ALLOWED[self.kind]


LEAF_FIELDS: tuple[LeafField, ...] = (
    LeafField(("total_budget_mb",), "int"),
    LeafField(("soft_limit_percent",), "percent"),
    LeafField(("hard_limit_percent",), "percent"),
    LeafField(("emergency_percent",), "percent"),
    LeafField(("max_loaded_files",), "int"),
    LeafField(("max_cached_queries",), "int"),
    LeafField(("spill", "enabled"), "bool"),
    LeafField(("spill", "directory"), "path"),
    LeafField(("spill", "max_spill_size_mb"), "int"),
    LeafField(("monitoring", "enabled"), "bool"),
    LeafField(("monitoring", "interval_seconds"), "float"),
    LeafField(("monitoring", "alert_on_soft_limit"), "bool"),
    LeafField(("monitoring", "alert_on_hard_limit"), "bool"),
    LeafField(("monitoring", "alert_on_emergency"), "bool"),
    LeafField(("project_defaults", "max_loaded_files"), "int"),
    LeafField(("project_defaults", "max_cached_queries"), "int"),
    LeafField(("project_defaults", "priority"), "priority"),
)
LEAF_BY_DOTTED: dict[str, LeafField] = {leaf.dotted: leaf for leaf in LEAF_FIELDS}
SECTIONS = ("spill", "monitoring", "project_defaults")


def check_value(leaf: LeafField, value: Any, home: Path) -> Any:
    """Return `value` as the leaf's type, or raise ValueError saying what is wrong.

    YAML already typed the value, so no string is turned into a number here (`"3072"` in
    YAML is a mistake worth reporting); `env.parse_env_text` does that for environment text.
    """
    kind = leaf.kind
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {_type_name(value)}")
        return value
    if kind == "priority":
        if isinstance(value, ProjectPriority):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a priority name, got {_type_name(value)}")
        try:
            return ProjectPriority.from_name(value)
        except ValueError:
            raise ValueError("unknown priority") from None
    if kind == "path":
        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a directory path, got {_type_name(value)}")
        if "\0" in value:
            raise ValueError("a path cannot contain a NUL character")
        path = Path(value.strip()).expanduser()
        # A relative spill directory is taken relative to LEINDEX_HOME, not to whatever
        # directory leindex happened to start in.
        return path if path.is_absolute() else (home / path)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_type_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    if kind == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("must be a whole number")
            value = int(value)
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value
    value = float(value)
    if value <= 0:
        raise ValueError("must be greater than 0")
    if kind == "percent" and value > 1:
        hint = f" (did you mean {value / 100:g}?)" if 1 < value <= 100 else ""
        raise ValueError("a fraction of the budget must be at most 1" + hint)
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def defaults_by_dotted(home: Path) -> dict[str, Any]:
    """The built-in default of every leaf key, with the spill directory under `home`."""
    memory = MemoryConfig(spill=SpillConfig(directory=home / "spill"))
    result: dict[str, Any] = {}
    for leaf in LEAF_FIELDS:
        node: Any = memory
        for part in leaf.path:
            node = getattr(node, part)
        result[leaf.dotted] = node
    return result
