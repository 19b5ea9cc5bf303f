"""Read and merge the config: defaults < config.yaml < projects/<name>.yaml < env < overrides.

Every value is validated where it is read, so an error names the exact file and line (or
environment variable) it came from; the whole merge either succeeds or raises one ConfigError.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from engine.config.env import read_environment
from engine.config.errors import ConfigError, ConfigWarning
from engine.config.files import list_project_files, read_config_text
from engine.config.paths import (
    CONFIG_FILE_NAME,
    PROJECT_NAME_RULE,
    is_valid_project_name,
    leindex_home,
)
from engine.config.schema import (
    INDEX_EMBEDDER_ENV,
    INDEX_EMBEDDER_KEY,
    LEAF_BY_DOTTED,
    LEAF_FIELDS,
    PROJECT_KEYS,
    SECTIONS,
    IndexConfig,
    LeIndexConfig,
    MemoryConfig,
    ProjectMemoryOverrides,
    ProjectOverrides,
    check_value,
    defaults_by_dotted,
)
from engine.config.yaml_lines import KeyPath, ParsedYaml, parse_yaml

DEFAULT_SOURCE = "default"
OVERRIDE_SOURCE = "override"
_PER_PROJECT_ONLY = "only max_loaded_files, max_cached_queries and priority apply per project"
_DERIVED = {
    "soft_limit_mb": "soft_limit_percent",
    "hard_limit_mb": "hard_limit_percent",
    "emergency_limit_mb": "emergency_percent",
}
# Layers later in this order win; used to decide which of two clashing thresholds to blame.
_RANK = {"default": 0, "global": 1, "project": 2, "env": 3, "override": 4}


@dataclass
class LoadedConfig:
    """A merged config plus where each value came from and what was ignored."""

    config: LeIndexConfig
    sources: dict[str, str]
    warnings: list[ConfigWarning] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Origin:
    layer: str  # a key of _RANK
    source: str
    file: Path | None = None
    line: int | None = None
    env_var: str | None = None


def load_config(
    home: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    file_texts: Mapping[Path, str] | None = None,
    blame_file: Path | None = None,
) -> LoadedConfig:
    """Load and validate the merged config; raise ConfigError (file, line, key) on any bad input.

    `overrides` is the in-memory layer above the environment (dotted keys under `memory.`).
    `file_texts` replaces the content of the given files (or adds project files) without
    touching the disk: the config editor validates a candidate this way. When two thresholds
    clash, the one set by the highest layer is blamed, or the one from `blame_file` if given.
    """
    env = os.environ if environ is None else environ
    home = Path(home) if home is not None else leindex_home(env)
    merge = _Merge(home, {Path(p): t for p, t in (file_texts or {}).items()}, blame_file)
    merge.read_global_file()
    merge.read_project_files()
    merge.apply_environment(env)
    merge.apply_overrides(overrides or {})
    merge.check_thresholds_ordered()
    merge.warn_caps_above_global()
    return merge.result()


class _Merge:
    def __init__(self, home: Path, file_texts: dict[Path, str], blame_file: Path | None) -> None:
        self.home = home
        self.blame_file = blame_file
        self.file_texts = file_texts
        self.values: dict[str, Any] = defaults_by_dotted(home)
        self.origins: dict[str, _Origin] = {
            key: _Origin("default", DEFAULT_SOURCE) for key in self.values
        }
        self.project_values: dict[str, dict[str, Any]] = {}
        self.warnings: list[ConfigWarning] = []
        self.files: list[Path] = []
        self.index_embedder = IndexConfig().embedder
        self.origins[INDEX_EMBEDDER_KEY] = _Origin("default", DEFAULT_SOURCE)

    # -- reading files ------------------------------------------------------------------------

    def _parse(self, path: Path) -> ParsedYaml | None:
        text = read_config_text(path, self.file_texts)
        if text is None:
            return None
        self.files.append(path)
        parsed = parse_yaml(text, path)
        self.warnings.extend(parsed.warnings)
        if parsed.data is not None and not isinstance(parsed.data, dict):
            raise ConfigError(
                "the top level must be a mapping such as `memory:`",
                file=path,
                line=1,
                value=parsed.data,
            )
        return parsed

    def read_global_file(self) -> None:
        path = self.home / CONFIG_FILE_NAME
        parsed = self._parse(path)
        if parsed is None or parsed.data is None:
            return  # missing or empty: defaults
        origin = _Origin("global", f"global file {path}", file=path)
        for key, value in parsed.data.items():
            if key == "memory":
                self._read_memory_section(value, parsed, origin)
            elif key == "projects":
                self._read_projects_map(value, parsed, origin)
            elif key == "index":
                self._read_index_section(value, parsed, origin)
            else:
                self._warn_unknown(parsed, origin, (key,), ["memory", "projects", "index"])

    def _read_index_section(self, value: Any, parsed: ParsedYaml, origin: _Origin) -> None:
        for key, item in self._mapping(value, parsed, origin, ("index",)).items():
            if key != "embedder":
                self._warn_unknown(parsed, origin, ("index", key), ["embedder"])
            elif not isinstance(item, str) or not item.strip():
                raise ConfigError(
                    "expected an embedder name",
                    file=origin.file,
                    key_path=INDEX_EMBEDDER_KEY,
                    value=item,
                    allowed=(
                        "hashing, model2vec:NAME_OR_DIR, transformer:NAME_OR_DIR, fastembed:NAME"
                    ),
                )
            else:
                self.index_embedder = item.strip()
                self.origins[INDEX_EMBEDDER_KEY] = origin

    def read_project_files(self) -> None:
        for name, path in list_project_files(self.home, self.file_texts, self.warnings):
            parsed = self._parse(path)
            if parsed is None or parsed.data is None:
                continue
            origin = _Origin("project", f"project file {path}", file=path)
            for key, value in parsed.data.items():
                if key == "memory":
                    self._read_project_memory(name, value, parsed, origin, ("memory",))
                else:
                    self._warn_unknown(parsed, origin, (key,), ["memory"])

    # -- sections -----------------------------------------------------------------------------

    def _mapping(self, value: Any, parsed: ParsedYaml, origin: _Origin, path: KeyPath) -> dict:
        if value is None:
            return {}  # `memory:` with nothing under it
        if not isinstance(value, dict):
            raise ConfigError(
                "expected a mapping of keys",
                file=origin.file,
                line=parsed.line_of(path),
                key_path=".".join(path),
                value=value,
            )
        return value

    def _read_memory_section(self, value: Any, parsed: ParsedYaml, origin: _Origin) -> None:
        top_names = [leaf.path[0] for leaf in LEAF_FIELDS if len(leaf.path) == 1]
        for key, item in self._mapping(value, parsed, origin, ("memory",)).items():
            path = ("memory", key)
            if key in SECTIONS:
                section = self._mapping(item, parsed, origin, path)
                names = [leaf.path[1] for leaf in LEAF_FIELDS if leaf.path[0] == key]
                for sub_key, sub_item in section.items():
                    if sub_key in names:
                        self._set_leaf(f"memory.{key}.{sub_key}", sub_item, parsed, origin)
                    else:
                        self._warn_unknown(parsed, origin, (*path, sub_key), names)
            elif key in top_names:
                self._set_leaf(f"memory.{key}", item, parsed, origin)
            elif key in _DERIVED:
                self._warn(
                    parsed,
                    origin,
                    path,
                    f"derived from total_budget_mb; set {_DERIVED[key]} instead. Ignored",
                )
            else:
                self._warn_unknown(parsed, origin, path, [*top_names, *SECTIONS])

    def _read_projects_map(self, value: Any, parsed: ParsedYaml, origin: _Origin) -> None:
        for name, entry in self._mapping(value, parsed, origin, ("projects",)).items():
            path = ("projects", name)
            if not is_valid_project_name(name):
                raise ConfigError(
                    "not a valid project name",
                    file=origin.file,
                    line=parsed.line_of(path),
                    key_path=".".join(path),
                    allowed=PROJECT_NAME_RULE,
                )
            for key, item in self._mapping(entry, parsed, origin, path).items():
                if key == "memory":
                    self._read_project_memory(name, item, parsed, origin, (*path, "memory"))
                else:
                    self._warn_unknown(parsed, origin, (*path, key), ["memory"])

    def _read_project_memory(
        self, name: str, value: Any, parsed: ParsedYaml, origin: _Origin, path: KeyPath
    ) -> None:
        memory_names = {leaf.path[0] for leaf in LEAF_FIELDS} | set(_DERIVED)
        for key, item in self._mapping(value, parsed, origin, path).items():
            key_path = (*path, key)
            if key in PROJECT_KEYS:
                leaf = LEAF_BY_DOTTED[f"memory.project_defaults.{key}"]
                checked = self._check(leaf.dotted, item, parsed, origin, key_path)
                self.project_values.setdefault(name, {})[key] = checked
                self.origins[f"projects.{name}.memory.{key}"] = _Origin(
                    origin.layer, origin.source, origin.file, parsed.line_of(key_path)
                )
            elif key in memory_names:
                self._warn(parsed, origin, key_path, f"{_PER_PROJECT_ONLY}; ignored")
            else:
                self._warn_unknown(parsed, origin, key_path, list(PROJECT_KEYS))

    # -- values -------------------------------------------------------------------------------

    def _check(
        self, dotted: str, value: Any, parsed: ParsedYaml | None, origin: _Origin, path: KeyPath
    ) -> Any:
        leaf = LEAF_BY_DOTTED[dotted]
        try:
            return check_value(leaf, value, self.home)
        except ValueError as error:
            raise ConfigError(
                str(error),
                file=origin.file,
                line=parsed.line_of(path) if parsed else None,
                key_path=".".join(path),
                value=value,
                allowed=leaf.allowed,
                env_var=origin.env_var,
                origin=origin.layer,
            ) from None

    def _set_leaf(self, dotted: str, value: Any, parsed: ParsedYaml, origin: _Origin) -> None:
        path = tuple(dotted.split("."))
        self.values[dotted] = self._check(dotted, value, parsed, origin, path)
        self.origins[dotted] = _Origin(
            origin.layer, origin.source, origin.file, parsed.line_of(path)
        )

    def _set_from_layer(self, dotted: str, value: Any, origin: _Origin) -> None:
        self.values[dotted] = value
        self.origins[dotted] = origin
        # A project_defaults key from the environment (or an override) beats every
        # project's own value: env > project file > global file, per key.
        prefix = "memory.project_defaults."
        if dotted.startswith(prefix):
            key = dotted[len(prefix) :]
            for name, values in self.project_values.items():
                if key in values:
                    values[key] = value
                    self.origins[f"projects.{name}.memory.{key}"] = origin

    def apply_environment(self, environ: Mapping[str, str]) -> None:
        if environ.get(INDEX_EMBEDDER_ENV, "").strip():
            self.index_embedder = environ[INDEX_EMBEDDER_ENV].strip()
            self.origins[INDEX_EMBEDDER_KEY] = _Origin(
                "env", f"env {INDEX_EMBEDDER_ENV}", env_var=INDEX_EMBEDDER_ENV
            )
        values, warnings = read_environment(environ, self.home)
        self.warnings.extend(warnings)
        for dotted, (value, var) in values.items():
            self._set_from_layer(dotted, value, _Origin("env", f"env {var}", env_var=var))

    def apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        origin = _Origin("override", OVERRIDE_SOURCE)
        for dotted, value in overrides.items():
            if dotted not in LEAF_BY_DOTTED:
                raise ConfigError(
                    "not a settable key",
                    origin=OVERRIDE_SOURCE,
                    key_path=dotted,
                    value=value,
                    allowed=", ".join(LEAF_BY_DOTTED),
                )
            checked = self._check(dotted, value, None, origin, tuple(dotted.split(".")))
            self._set_from_layer(dotted, checked, origin)

    def check_thresholds_ordered(self) -> None:
        names = ["soft_limit_percent", "hard_limit_percent", "emergency_percent"]
        for lower, upper in zip(names, names[1:], strict=False):
            low_key, up_key = f"memory.{lower}", f"memory.{upper}"
            if self.values[low_key] < self.values[up_key]:
                continue
            # Blame the value set by the higher layer (usually the one just changed), unless the
            # caller is checking one file: then point into that file.
            low_origin, up_origin = self.origins[low_key], self.origins[up_key]
            blame_upper = _RANK[up_origin.layer] > _RANK[low_origin.layer]
            if self.blame_file is not None and self.blame_file in (low_origin.file, up_origin.file):
                blame_upper = up_origin.file == self.blame_file
            blamed, other = (up_key, low_key) if blame_upper else (low_key, up_key)
            relation = "above" if blame_upper else "below"
            origin = self.origins[blamed]
            raise ConfigError(
                f"must be {relation} {other} = {self.values[other]:g} "
                f"(from {self.origins[other].source})",
                file=origin.file,
                line=origin.line,
                env_var=origin.env_var,
                origin=origin.layer,
                key_path=blamed,
                value=self.values[blamed],
                allowed="soft_limit_percent < hard_limit_percent < emergency_percent",
            )

    def warn_caps_above_global(self) -> None:
        for key in ("max_loaded_files", "max_cached_queries"):
            cap = self.values[f"memory.{key}"]
            candidates = [
                (f"memory.project_defaults.{key}", self.values[f"memory.project_defaults.{key}"])
            ]
            candidates += [
                (f"projects.{name}.memory.{key}", values[key])
                for name, values in self.project_values.items()
                if key in values
            ]
            for dotted, value in candidates:
                if value > cap:
                    origin = self.origins[dotted]
                    self.warnings.append(
                        ConfigWarning(
                            f"{value} is above memory.{key} = {cap}; the global cap still applies",
                            file=origin.file,
                            line=origin.line,
                            key_path=dotted,
                            env_var=origin.env_var,
                        )
                    )

    # -- warnings and result ------------------------------------------------------------------

    def _warn(self, parsed: ParsedYaml, origin: _Origin, path: KeyPath, message: str) -> None:
        self.warnings.append(
            ConfigWarning(
                message, file=origin.file, line=parsed.line_of(path), key_path=".".join(path)
            )
        )

    def _warn_unknown(
        self, parsed: ParsedYaml, origin: _Origin, path: KeyPath, known: list[str]
    ) -> None:
        close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        self._warn(parsed, origin, path, f"unknown key, ignored{hint}")

    def result(self) -> LoadedConfig:
        memory: dict[str, Any] = {section: {} for section in SECTIONS}
        for leaf in LEAF_FIELDS:
            target = memory if len(leaf.path) == 1 else memory[leaf.path[0]]
            target[leaf.path[-1]] = self.values[leaf.dotted]
        try:
            config = LeIndexConfig(
                memory=MemoryConfig.model_validate(memory),
                index=IndexConfig(embedder=self.index_embedder),
                projects={
                    name: ProjectOverrides(memory=ProjectMemoryOverrides(**values))
                    for name, values in sorted(self.project_values.items())
                },
            )
        except pydantic.ValidationError as error:  # a backstop: every leaf was checked above
            raise ConfigError(f"invalid configuration: {error}") from None
        sources = {key: origin.source for key, origin in self.origins.items()}
        return LoadedConfig(config, sources, self._sorted_warnings(), self.files)

    def _sorted_warnings(self) -> list[ConfigWarning]:
        # Reading order: files as read, by line; environment warnings last.
        order = {path: index for index, path in enumerate(self.files)}
        return sorted(
            self.warnings,
            key=lambda w: (order.get(w.file, len(order)) if w.file else len(order), w.line or 0),
        )
