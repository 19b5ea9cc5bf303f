"""Config operations of the API: reload the config files through the one reload path."""

from __future__ import annotations

import datetime as _dt
from typing import Any


def _json_time(value: Any) -> Any:
    """A reload time as JSON: seconds since the epoch stay as they are, datetimes as ISO text."""
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    return value


def reload_config() -> dict[str, Any]:
    """Re-read config.yaml and projects/*.yaml and apply them live.

    Returns `{success, reloaded_at, error, changes}`. An invalid file changes nothing: the
    running config stays, `success` is false and `error` names the file, line and key.
    """
    from engine.config import reload_config as reload_live_config

    result = reload_live_config()
    error = getattr(result, "error", None)
    return {
        "success": bool(result.success),
        "reloaded_at": _json_time(getattr(result, "reloaded_at", None)),
        "error": None if error is None else str(error),
        "changes": [str(change) for change in (getattr(result, "changes", None) or [])],
    }
