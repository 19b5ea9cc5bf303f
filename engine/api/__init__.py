"""The one way in for the TUI, the CLI and the MCP server: plain-dict operations.

Each group of operations lives in its own module; this package re-exports them so that
callers write `from engine import api; api.search(...)`.
"""

from engine.api.config_ops import reload_config
from engine.api.errors import ApiError

__all__ = ["ApiError", "reload_config"]
