"""LeIndex configuration: the guide's `memory:` schema, its loader and zero-downtime reload.

Precedence, per key: built-in defaults < `$LEINDEX_HOME/config.yaml` <
`$LEINDEX_HOME/projects/<name>.yaml` < `LEINDEX_MEMORY_*` environment variables < in-memory
overrides (`ReloadManager.apply_overrides`).
"""

from engine.config.errors import ConfigError, ConfigWarning
from engine.config.loader import LoadedConfig, load_config
from engine.config.paths import is_valid_project_name, leindex_home
from engine.config.reload import (
    ConfigObserver,
    ConfigReloadEvent,
    ReloadManager,
    ReloadResult,
    get_config,
    get_reload_manager,
    reload_config,
    set_reload_manager,
    validate_config_text,
)
from engine.config.render import render_annotated_yaml
from engine.config.schema import (
    LEAF_FIELDS,
    LeIndexConfig,
    MemoryConfig,
    MonitoringConfig,
    ProjectDefaults,
    ProjectMemoryOverrides,
    ProjectOverrides,
    ProjectSettings,
    SpillConfig,
)

__all__ = [
    "LEAF_FIELDS",
    "ConfigError",
    "ConfigObserver",
    "ConfigReloadEvent",
    "ConfigWarning",
    "LeIndexConfig",
    "LoadedConfig",
    "MemoryConfig",
    "MonitoringConfig",
    "ProjectDefaults",
    "ProjectMemoryOverrides",
    "ProjectOverrides",
    "ProjectSettings",
    "ReloadManager",
    "ReloadResult",
    "SpillConfig",
    "get_config",
    "get_reload_manager",
    "is_valid_project_name",
    "leindex_home",
    "load_config",
    "reload_config",
    "render_annotated_yaml",
    "set_reload_manager",
    "validate_config_text",
]
