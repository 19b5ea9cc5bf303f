"""Finding and reading the config files, turning every OS-level failure into a ConfigError."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from engine.config.errors import ConfigError, ConfigWarning
from engine.config.paths import (
    PROJECT_FILE_SUFFIXES,
    PROJECT_NAME_RULE,
    PROJECTS_DIR_NAME,
    is_valid_project_name,
)


def read_config_text(path: Path, file_texts: Mapping[Path, str]) -> str | None:
    """The text of `path` (or its stand-in from `file_texts`); None if the file is missing."""
    if path in file_texts:
        return file_texts[path]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a YAML file", file=path) from None
    except PermissionError:
        raise ConfigError("cannot read the file: permission denied", file=path) from None
    except OSError as error:
        raise ConfigError(f"cannot read the file: {error.strerror}", file=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError("not UTF-8 text", file=path, line=line) from None


def list_project_files(
    home: Path, file_texts: Mapping[Path, str], warnings: list[ConfigWarning]
) -> list[tuple[str, Path]]:
    """`(project name, file)` for each `projects/<name>.yaml|.yml`, sorted by name.

    Dot files (editor and atomic-write temp files) and other suffixes are skipped; a file name
    that is not a valid project name is an error; `<name>.yaml` wins over `<name>.yml`.
    """
    directory = home / PROJECTS_DIR_NAME
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except FileNotFoundError:
        names = []
    except NotADirectoryError:
        raise ConfigError("expected a directory of <project>.yaml files", file=directory) from None
    except PermissionError:
        raise ConfigError("cannot list the directory: permission denied", file=directory) from None
    names += [p.name for p in file_texts if p.parent == directory and p.name not in names]
    chosen: dict[str, Path] = {}
    for file_name in sorted(names):
        path = directory / file_name
        if file_name.startswith(".") or path.suffix not in PROJECT_FILE_SUFFIXES:
            continue
        name = path.stem
        if not is_valid_project_name(name):
            raise ConfigError(
                f"file name {name!r} is not a valid project name",
                file=path,
                allowed=PROJECT_NAME_RULE,
            )
        if name in chosen:
            kept = chosen[name] if chosen[name].suffix == ".yaml" else path
            ignored = path if kept is chosen[name] else chosen[name]
            warnings.append(
                ConfigWarning(f"ignored: {kept.name} is used for project {name}", file=ignored)
            )
            path = kept
        chosen[name] = path
    return sorted(chosen.items())
