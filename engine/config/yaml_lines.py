"""YAML parsing that remembers the line of every key, so errors can say `file:line`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.config.errors import ConfigError, ConfigWarning

KeyPath = tuple[str, ...]

# A config file is a few dozen lines; this bounds alias expansion ("billion laughs").
_MAX_NODES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class ParsedYaml:
    """Plain data from a YAML document plus `lines[key_path]` = 1-based line of that key."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    warnings: list[ConfigWarning] = field(default_factory=list)

    def line_of(self, path: KeyPath) -> int | None:
        """Line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


def parse_yaml(text: str, file: Path) -> ParsedYaml:
    """Parse one YAML document; raise ConfigError(file, line) on a syntax error.

    Duplicate keys are warned about; when both values are mappings they are merged (the guide's
    own example repeats `projects:`), otherwise the later value wins as in plain YAML.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as error:  # e.g. ReaderError: a control character in the text
        raise ConfigError(f"not valid YAML text: {error}", file=file) from None
    parsed = ParsedYaml(data=None)
    if node is not None:
        builder = _Builder(file, parsed)
        parsed.data = builder.build(node, ())
    return parsed


class _Builder:
    def __init__(self, file: Path, parsed: ParsedYaml) -> None:
        self.file = file
        self.parsed = parsed
        self.constructor = SafeConstructor()
        self.node_count = 0
        self.active: set[int] = set()

    def build(self, node: Node, path: KeyPath) -> Any:
        self.node_count += 1
        if self.node_count > _MAX_NODES:
            raise ConfigError(
                "document too large (alias expansion?)",
                file=self.file,
                line=node.start_mark.line + 1,
            )
        if id(node) in self.active:
            raise ConfigError("recursive YAML alias", file=self.file, line=node.start_mark.line + 1)
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._build_mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, str(i))) for i, item in enumerate(node.value)]
            assert isinstance(node, ScalarNode)
            return self._construct_scalar(node, path, "value")
        finally:
            self.active.discard(id(node))

    def _construct_scalar(self, node: ScalarNode, path: KeyPath, what: str) -> Any:
        # PyYAML's constructors raise ValueError/TypeError (a bad !!int, a date like
        # 2001-13-01) as well as YAMLError (an unknown !!python tag): all are bad input.
        try:
            return self.constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
            raise ConfigError(
                f"cannot read {what}: {getattr(error, 'problem', None) or error}",
                file=self.file,
                line=node.start_mark.line + 1,
                key_path=".".join(path) or None,
            ) from None

    def _build_mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                self._warn("YAML merge keys (<<) are not supported; ignored", line, path)
                continue
            if not isinstance(key_node, ScalarNode):
                raise ConfigError(
                    "a key must be a plain name, not a list or mapping",
                    file=self.file,
                    line=line,
                    key_path=".".join(path) or None,
                )
            key = str(self._construct_scalar(key_node, path, "key"))
            key_path = (*path, key)
            value = self.build(value_node, key_path)
            if key in result:
                first_line = self.parsed.lines.get(key_path)
                if isinstance(result[key], dict) and isinstance(value, dict):
                    result[key] = _deep_merge(result[key], value)
                    how = "the two blocks are merged"
                else:
                    result[key] = value
                    how = "this later value wins"
                self._warn(f"duplicate key (first at line {first_line}); {how}", line, key_path)
                continue
            result[key] = value
            self.parsed.lines[key_path] = line
        return result

    def _warn(self, message: str, line: int, path: KeyPath) -> None:
        self.parsed.warnings.append(
            ConfigWarning(message, file=self.file, line=line, key_path=".".join(path) or None)
        )


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(merged.get(key), dict) and isinstance(value, dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
