"""The values a search returns."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

SEARCH_MODES = ("fulltext", "semantic", "hybrid")


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching line: `path:line: text`, with the project it belongs to."""

    project: str
    path: str
    line: int
    text: str
    score: float

    def size_in_memory(self) -> int:
        """Bytes of the hit and its fields, counted as if none were shared."""
        return (
            sys.getsizeof(self)
            + sys.getsizeof(self.project)
            + sys.getsizeof(self.path)
            + sys.getsizeof(self.line)
            + sys.getsizeof(self.text)
            + sys.getsizeof(self.score)
        )

    def format(self) -> str:
        """The hit as ripgrep prints it: `path:line: text`."""
        return f"{self.path}:{self.line}: {self.text}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (used by the API and by spill files)."""
        return {
            "project": self.project,
            "path": self.path,
            "line": self.line,
            "text": self.text,
            "score": self.score,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchHit:
        """Inverse of `to_dict`; raises ValueError naming the field that is wrong."""
        try:
            return cls(
                project=_typed(data, "project", str),
                path=_typed(data, "path", str),
                line=_typed(data, "line", int),
                text=_typed(data, "text", str),
                score=float(_typed(data, "score", (int, float))),
            )
        except TypeError as error:
            raise ValueError(f"search hit is not an object: {error}") from None


def _typed(data: dict[str, Any], key: str, kind: Any) -> Any:
    value = data.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"search hit field {key!r} has a wrong value: {value!r}")
    return value


@dataclass(frozen=True)
class SearchResponse:
    """Hits in rank order, how they were found and how long it took."""

    hits: tuple[SearchHit, ...]
    mode: str
    query: str
    from_cache: bool
    duration_ms: float
    # One line per degraded part, e.g. "semantic unavailable for <project>: <reason>".
    notes: tuple[str, ...] = ()


STAGE_FULLTEXT = "full-text"
STAGE_SEMANTIC = "semantic"


@dataclass(frozen=True)
class IndexProgress:
    """How far indexing a project has got; `phase` is scanning, indexing, ready or error.

    While indexing, `stage` is full-text (files made searchable, committed batch by batch)
    or semantic (their vectors, afterwards), and `paused` the reason when the run waits for
    the memory budget to have room ("" when running).
    """

    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0
    phase: str = "pending"
    error: str | None = None
    stage: str = ""
    paused: str = ""
