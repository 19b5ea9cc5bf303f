"""The live config and the one reload path: read → validate → swap → notify observers.

The file watcher, SIGHUP, `leindex reload`, the TUI editor, `manage_memory(configure)` and
`reload_config()` all end in `ReloadManager._reload`. A failed reload leaves the running config
untouched. Observers run after the swap, outside every lock, one at a time and in reload order;
an observer may itself call `get_config()` or `reload_config()` without deadlocking (its reload
is delivered after the current round of notifications).
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from engine.config.changes import describe_changes
from engine.config.errors import ConfigError, ConfigWarning
from engine.config.loader import DEFAULT_SOURCE, LoadedConfig, load_config
from engine.config.paths import CONFIG_FILE_NAME, PROJECTS_DIR_NAME, leindex_home
from engine.config.schema import (
    LEAF_BY_DOTTED,
    LeIndexConfig,
    MemoryConfig,
    SpillConfig,
)

log = logging.getLogger(__name__)

_LIMIT_MB_KEYS = {
    "soft_limit_mb": "memory.soft_limit_percent",
    "hard_limit_mb": "memory.hard_limit_percent",
    "emergency_limit_mb": "memory.emergency_percent",
}


@dataclass(frozen=True)
class ConfigReloadEvent:
    """What observers receive after a successful reload."""

    timestamp: float
    new_config: LeIndexConfig
    old_config: LeIndexConfig | None
    changes: list[str] = field(default_factory=list)


class ConfigObserver:
    """Subclass and override `on_config_reloaded`; register with `register_observer`."""

    def on_config_reloaded(self, event: ConfigReloadEvent) -> None:
        """Called after each successful reload, outside any lock."""


class _Observer(Protocol):
    def on_config_reloaded(self, event: ConfigReloadEvent) -> None: ...


@dataclass
class ReloadResult:
    """The outcome of a reload: `success`, `reloaded_at`, `error` (one line) and `changes`."""

    success: bool
    reloaded_at: float
    error: str | None = None
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error_detail: ConfigError | None = None
    trigger: str | None = None
    """What asked for it ("SIGHUP", "leindex reload", "file change: ..."), set by the runtime."""


class ReloadManager:
    """Holds the live config as one reference and swaps it whole on reload."""

    def __init__(
        self,
        home: Path | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._home = Path(home) if home is not None else None
        self._environ = environ
        self._clock = clock
        self._loaded: LoadedConfig | None = None
        self._overrides: dict[str, Any] = {}
        self._observers: list[_Observer] = []
        self._pending: collections.deque[ConfigReloadEvent] = collections.deque()
        self._notifying = False
        self._lock = threading.Lock()  # guards the fields above; never held while calling out
        self._reload_lock = threading.Lock()  # one read→validate→swap at a time
        self.last_error: ConfigError | None = None
        """The error of the last failed load (or of the start-up load), None after a success."""

    @property
    def home(self) -> Path:
        """The LEINDEX_HOME this manager reads."""
        return self._home if self._home is not None else leindex_home(self._environ)

    @property
    def loaded(self) -> LoadedConfig:
        """The live config with its sources, warnings and files."""
        loaded = self._loaded
        if loaded is None:
            self._initial_load()
            loaded = self._loaded
            assert loaded is not None
        return loaded

    @property
    def overrides(self) -> dict[str, Any]:
        """A copy of the in-memory override layer (dotted keys)."""
        with self._lock:
            return dict(self._overrides)

    def get_config(self) -> LeIndexConfig:
        """The live config (loaded on first use). Cheap: one attribute read after that."""
        return self.loaded.config

    def _initial_load(self) -> None:
        with self._reload_lock:
            if self._loaded is not None:
                return
            try:
                loaded = load_config(self.home, self._environ, overrides=self._overrides)
            except Exception as error:
                # No previous good state exists yet: run on the built-in defaults and keep the
                # error where the UI, `leindex config validate` and diagnostics can show it.
                detail = _as_config_error(error)
                log.error("config not loaded, using built-in defaults: %s", detail)
                self.last_error = detail
                loaded = _defaults_only(self.home, detail)
            with self._lock:
                self._loaded = loaded

    def reload_config(self) -> ReloadResult:
        """Re-read the files and environment; swap and notify if valid, else change nothing."""
        return self._reload(lambda current, config: current)

    def apply_overrides(self, overrides: Mapping[str, Any]) -> ReloadResult:
        """Set in-memory values above the environment, validated through the reload path.

        Keys: `memory.soft_limit_percent`, `soft_limit_percent`, `spill.enabled`, a nested
        `{"memory": {...}}`, or `soft_limit_mb` / `hard_limit_mb` / `emergency_limit_mb`, which
        are stored as percents of the (new or current) budget. Earlier overrides are kept.
        """
        try:
            flat = _flatten_overrides(overrides)
        except ConfigError as error:
            return self._failure(error)
        self.loaded  # noqa: B018 - make sure a budget exists to convert MB limits against

        def merged(current: dict[str, Any], config: LeIndexConfig) -> dict[str, Any]:
            # Runs under the reload lock, so two concurrent calls cannot drop each other's keys.
            budget = flat.get("memory.total_budget_mb", config.memory.total_budget_mb)
            return {**current, **_limits_as_percents(flat, budget)}

        return self._reload(merged)

    def clear_overrides(self) -> ReloadResult:
        """Drop the override layer and reload."""
        return self._reload(lambda current, config: {})

    def validate_text(
        self, text: str, path: Path | str, kind: Literal["global", "project"] = "global"
    ) -> list[ConfigWarning]:
        """Validate `text` as the content of the global or a project file, merged with the
        other current files, env and overrides. Return that file's warnings; raise ConfigError.
        """
        home = self.home
        if kind == "global":
            target = home / CONFIG_FILE_NAME
        elif kind == "project":
            target = home / PROJECTS_DIR_NAME / Path(path).name
        else:
            raise ValueError(f"kind must be 'global' or 'project', not {kind!r}")
        loaded = load_config(
            home,
            self._environ,
            overrides=self.overrides,
            file_texts={target: text},
            blame_file=target,
        )
        return [warning for warning in loaded.warnings if warning.file == target]

    def register_observer(self, observer: _Observer) -> None:
        """Call `observer.on_config_reloaded(event)` after every successful reload."""
        with self._lock:
            if observer not in self._observers:
                self._observers.append(observer)

    def unregister_observer(self, observer: _Observer) -> None:
        """Stop notifying `observer` (no error if it was not registered)."""
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    # -- the one path -------------------------------------------------------------------------

    def _reload(
        self, next_overrides: Callable[[dict[str, Any], LeIndexConfig], dict[str, Any]]
    ) -> ReloadResult:
        with self._reload_lock:
            try:
                running = self._loaded.config if self._loaded is not None else LeIndexConfig()
                overrides = next_overrides(self.overrides, running)
                loaded = load_config(self.home, self._environ, overrides=overrides)
            except Exception as error:
                return self._failure(_as_config_error(error))
            timestamp = self._clock()
            with self._lock:
                old = self._loaded
                old_config = old.config if old is not None else None
                changes = describe_changes(old_config, loaded.config)
                self._loaded = loaded
                self._overrides = dict(overrides)
                self.last_error = None
                self._pending.append(
                    ConfigReloadEvent(timestamp, loaded.config, old_config, list(changes))
                )
        if changes:
            log.info("config reloaded: %s", "; ".join(changes))
        self._deliver_pending()
        return ReloadResult(
            success=True,
            reloaded_at=timestamp,
            changes=changes,
            warnings=[str(warning) for warning in loaded.warnings],
        )

    def _failure(self, error: ConfigError) -> ReloadResult:
        self.last_error = error
        log.warning("config reload failed, keeping the running config: %s", error)
        return ReloadResult(
            success=False, reloaded_at=self._clock(), error=str(error), error_detail=error
        )

    def _deliver_pending(self) -> None:
        # Whoever finds nobody delivering becomes the deliverer and drains the queue, so events
        # reach observers in swap order and a reload started by an observer is simply queued.
        with self._lock:
            if self._notifying:
                return
            self._notifying = True
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        self._notifying = False
                        return
                    event = self._pending.popleft()
                    observers = list(self._observers)
                for observer in observers:
                    try:
                        observer.on_config_reloaded(event)
                    except Exception:
                        log.exception("config observer %r failed", observer)
        except BaseException:
            with self._lock:
                self._notifying = False
            raise


def _as_config_error(error: Exception) -> ConfigError:
    if isinstance(error, ConfigError):
        return error
    log.exception("unexpected error while loading the config")
    return ConfigError(f"unexpected error while loading: {type(error).__name__}: {error}")


def _defaults_only(home: Path, error: ConfigError) -> LoadedConfig:
    config = LeIndexConfig(memory=MemoryConfig(spill=SpillConfig(directory=home / "spill")))
    sources = {key: DEFAULT_SOURCE for key in LEAF_BY_DOTTED}
    warning = ConfigWarning(f"using built-in defaults because of: {error}")
    return LoadedConfig(config, sources, [warning], [])


def _flatten_overrides(overrides: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten_overrides(value, dotted + "."))
            continue
        bare = dotted.removeprefix("memory.")
        if bare in _LIMIT_MB_KEYS:
            flat[bare] = value
        elif f"memory.{bare}" in LEAF_BY_DOTTED:
            flat[f"memory.{bare}"] = value
        else:
            raise ConfigError(
                "not a settable key",
                origin="override",
                key_path=dotted,
                value=value,
                allowed=", ".join([*LEAF_BY_DOTTED, *_LIMIT_MB_KEYS]),
            )
    return flat


def _limits_as_percents(flat: dict[str, Any], budget: Any) -> dict[str, Any]:
    result = {key: value for key, value in flat.items() if key not in _LIMIT_MB_KEYS}
    for key, percent_key in _LIMIT_MB_KEYS.items():
        if key not in flat:
            continue
        megabytes = flat[key]
        if isinstance(megabytes, bool) or not isinstance(megabytes, int | float):
            raise ConfigError(
                "expected a number of MB", origin="override", key_path=key, value=megabytes
            )
        if not isinstance(budget, int | float) or isinstance(budget, bool) or budget <= 0:
            raise ConfigError(
                "needs a valid total_budget_mb", origin="override", key_path=key, value=megabytes
            )
        if not 0 < megabytes <= budget:
            raise ConfigError(
                f"must be within the budget (total_budget_mb = {budget})",
                origin="override",
                key_path=key,
                value=megabytes,
                allowed=f"a number of MB in (0, {budget}]",
            )
        result[percent_key] = _exact_fraction(megabytes, budget)
    return result


def _exact_fraction(megabytes: float, budget: float) -> float:
    # Prefer the float whose product with the budget gives back exactly the MB asked for,
    # so `soft_limit_mb` reads 2457.0 rather than 2456.9999999999995.
    fraction = megabytes / budget
    for candidate in (fraction, math.nextafter(fraction, 1), math.nextafter(fraction, 0)):
        if candidate * budget == megabytes:
            return candidate
    return fraction


# ---------------------------------------------------------------------------------------------
# The process default

_default_manager: ReloadManager | None = None
_default_lock = threading.Lock()


def get_reload_manager() -> ReloadManager:
    """The process-wide ReloadManager (reading `$LEINDEX_HOME` and the live environment)."""
    global _default_manager
    manager = _default_manager
    if manager is None:
        with _default_lock:
            if _default_manager is None:
                _default_manager = ReloadManager()
            manager = _default_manager
    return manager


def set_reload_manager(manager: ReloadManager | None) -> None:
    """Install `manager` as the process default (None: a fresh one on next use). For the
    runtime and tests."""
    global _default_manager
    with _default_lock:
        _default_manager = manager


def get_config() -> LeIndexConfig:
    """The live config of the process default manager."""
    return get_reload_manager().get_config()


def reload_config() -> ReloadResult:
    """Reload the process default manager's config (the guide's `reload_config()`)."""
    return get_reload_manager().reload_config()


def validate_config_text(
    text: str, path: Path | str, kind: Literal["global", "project"] = "global"
) -> list[ConfigWarning]:
    """Validate candidate YAML for the global or a project file (`ReloadManager.validate_text`)."""
    return get_reload_manager().validate_text(text, path, kind)
