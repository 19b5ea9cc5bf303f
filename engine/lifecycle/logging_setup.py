"""The process log: `$LEINDEX_HOME/logs/leindex.log`, rotated, private, never stdout.

stdout is the MCP transport in headless mode and the screen in the TUI, so the runtime logs
to a file only. Files are created 0600 (including rotated ones) in a 0700 directory.
"""

from __future__ import annotations

import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path

from engine.atomic import PRIVATE_FILE_MODE, ensure_private_dir

LOG_DIR_NAME = "logs"
LOG_FILE_NAME = "leindex.log"
MAX_LOG_BYTES = 2 * 1024 * 1024
LOG_BACKUPS = 3
_FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"


class _PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files (the first and every rotated one) are 0600."""

    def _open(self):  # type: ignore[override]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE_MODE)
        os.chmod(self.baseFilename, PRIVATE_FILE_MODE)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8", errors=self.errors)


def log_file_path(home: Path) -> Path:
    """Where the runtime logs for `home`."""
    return Path(home) / LOG_DIR_NAME / LOG_FILE_NAME


def attach_file_logging(home: Path, level: int = logging.INFO) -> logging.Handler | None:
    """Add the rotating file handler to the root logger; None if the file cannot be opened."""
    try:
        ensure_private_dir(Path(home) / LOG_DIR_NAME)
        handler = _PrivateRotatingFileHandler(
            log_file_path(home), maxBytes=MAX_LOG_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
    except OSError as error:
        logging.getLogger(__name__).warning("cannot log to %s: %s", log_file_path(home), error)
        return None
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    # The root logger defaults to WARNING; let INFO through to our handler only if needed.
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return handler


def detach_file_logging(handler: logging.Handler | None) -> None:
    """Remove and close a handler added by `attach_file_logging`."""
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    handler.close()
