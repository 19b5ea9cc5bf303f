"""The search options agents ask for, applied over the engine's hits: a path glob, a language,
case-sensitive literals, a regex mode, context lines, paging and the merge across projects.

Regex mode asks tantivy for candidate files when the pattern contains a word every match must
contain as a whole token (`\\bdef\\s+load_config\\b` → files with `load_config`); otherwise it
reads the indexed files in path order, up to `MAX_REGEX_FILES`. Files are read through the
project's loaded-files cache, so the reads stay inside the memory budget.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath

from engine.api.errors import ApiError
from engine.index import Project, SearchHit
from engine.index.line_match import MAX_LINE_CHARS

MAX_CONTEXT_LINES = 20
MAX_REGEX_FILES = 5000
# Candidate files asked of tantivy per round in regex mode (doubling each round).
_REGEX_FILES_PER_ROUND = 32

LANGUAGE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "python": (".py", ".pyi"),
    "javascript": (".js", ".mjs", ".cjs", ".jsx"),
    "typescript": (".ts", ".tsx", ".mts", ".cts"),
    "rust": (".rs",),
    "go": (".go",),
    "java": (".java",),
    "kotlin": (".kt", ".kts"),
    "c": (".c", ".h"),
    "cpp": (".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx", ".h"),
    "csharp": (".cs",),
    "ruby": (".rb",),
    "php": (".php",),
    "swift": (".swift",),
    "shell": (".sh", ".bash", ".zsh"),
    "markdown": (".md", ".markdown"),
    "yaml": (".yml", ".yaml"),
    "json": (".json",),
    "toml": (".toml",),
    "html": (".html", ".htm"),
    "css": (".css", ".scss"),
    "sql": (".sql",),
}

PathFilter = Callable[[str], bool]


def path_filter(glob: str | None, language: str | None) -> PathFilter | None:
    """A test on a hit's path for the glob and language given; None when neither is."""
    tests: list[PathFilter] = []
    if glob is not None:
        if not isinstance(glob, str) or not glob.strip():
            raise ApiError("glob must be a non-empty pattern such as 'src/**/*.py'")
        from engine.api.file_ops import _pattern_matcher

        tests.append(_pattern_matcher(glob))
    if language is not None:
        extensions = LANGUAGE_EXTENSIONS.get(str(language).lower())
        if extensions is None:
            known = ", ".join(sorted(LANGUAGE_EXTENSIONS))
            raise ApiError(f"unknown language {language!r}; known: {known}")
        tests.append(lambda rel: PurePosixPath(rel).suffix.lower() in extensions)
    if not tests:
        return None
    return lambda rel: all(test(rel) for test in tests)


def compile_regex(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    """The query as a Python regex (case-insensitive unless asked); `ApiError` if it is bad."""
    try:
        return re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as error:
        raise ApiError(f"bad regex {pattern!r}: {error}") from None


# Escapes that never match a letter or digit (a word boundary, a space, a non-word char).
_BOUNDARY_ESCAPES = frozenset("bsW")
_META = frozenset(".^$*+?{}[]()|\\")


def required_token(pattern: str) -> str | None:
    """The longest word every match of `pattern` contains as a whole tantivy token, if any.

    Only top-level literal text counts (no alternation, groups, classes or optional chars), and
    only a word bounded on both sides by something that cannot be a letter or digit: a
    literal separator, `\\b`, `\\s`, `\\W` or an anchor: in `\\bdef load_config\\(` `def`,
    `load` and `config` all are (tantivy splits at `_`), and `config` wins by length.
    """
    if "|" in pattern:
        return None
    # Each item: ("lit", char) for a required literal char, ("sep", "") for a boundary,
    # ("any", "") for something that may be a word character.
    # The pattern's own ends are no boundary: `load` also matches inside `loader`.
    items: list[tuple[str, str]] = [("any", "")]
    depth = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            i += 2
            if escaped in _BOUNDARY_ESCAPES:
                kind = ("sep", "")
            elif escaped.isalnum():
                kind = ("any", "")
            else:
                kind = ("lit", escaped)
        elif char == "[":
            end = pattern.find("]", i + 2)
            i = len(pattern) if end < 0 else end + 1
            kind = ("any", "")
        elif char in "()":
            depth += 1 if char == "(" else -1
            i += 1
            kind = ("any", "")
        elif char in "^$":
            i += 1
            kind = ("sep", "")
        elif char in _META:
            i += 1
            kind = ("any", "")
        else:
            i += 1
            kind = ("lit", char)
        if depth > 0 and kind[0] == "lit":
            kind = ("any", "")
        # A quantifier makes what it follows optional or repeated: no longer one known char.
        if i < len(pattern) and (pattern[i] in "?*{" or (pattern[i] == "+" and kind[0] == "lit")):
            kind = ("any", "")
        items.append(kind)
    items.append(("any", ""))
    best = None
    word: list[str] = []
    opened = False
    for kind, char in items:
        if kind == "lit" and char.isalnum():
            word.append(char)
            continue
        bounded = kind == "sep" or (kind == "lit" and not char.isalnum())
        if word and opened and bounded:
            token = "".join(word)
            if best is None or len(token) > len(best):
                best = token
        word = []
        opened = bounded
    return best


def regex_hits(
    project: Project,
    regex: re.Pattern[str],
    keep: PathFilter | None,
    wanted: int,
    notes: list[str],
) -> list[SearchHit]:
    """Lines of `project` that `regex` matches, best candidate file first, up to `wanted`."""
    hits: list[SearchHit] = []
    scanned = 0
    for score, rel in _regex_candidates(project, regex.pattern):
        if keep is not None and not keep(rel):
            continue
        if scanned >= MAX_REGEX_FILES:
            notes.append(
                f"{project.name}: regex read the first {MAX_REGEX_FILES} candidate files only; "
                "add a word the matches contain, a glob or a language to narrow it"
            )
            break
        scanned += 1
        text = project.read_file(rel)
        if text is None:
            continue
        for number, line in enumerate(text.split("\n"), start=1):
            if regex.search(line):
                hits.append(SearchHit(project.name, rel, number, line[:MAX_LINE_CHARS], score))
                if len(hits) >= wanted:
                    return hits
    return hits


def _regex_candidates(project: Project, pattern: str) -> Iterator[tuple[float, str]]:
    """(score, path) of the files a match can be in: tantivy's if a token is required."""
    index = project.fulltext
    token = required_token(pattern)
    query = index.literal(token) if index is not None and token else None
    if query is None:
        manifest = project.manifest
        for rel in sorted(manifest.files) if manifest is not None else []:
            yield 1.0, rel
        return
    offset, page = 0, _REGEX_FILES_PER_ROUND
    while True:
        files = index.search(query, limit=page, offset=offset)
        yield from files
        if len(files) < page:
            return
        offset += page
        page *= 2


def merge_by_score(per_project: Iterable[list[SearchHit]]) -> list[SearchHit]:
    """Hits of several projects in one list, best score first, each project's order kept.

    Full-text line scores are BM25 file scores (definitions boosted just above their project's
    best), semantic ones cosine similarities and hybrid ones reciprocal-rank sums: each on one
    scale across projects, so a weak hit of a small project no longer sits above a strong one
    as it did when projects were interleaved by rank.
    """
    return list(heapq.merge(*per_project, key=lambda hit: -hit.score))


@dataclass(frozen=True)
class HitContext:
    """The lines around one hit."""

    before: list[str]
    after: list[str]


def context_for(project: Project, hit: SearchHit, lines: int) -> HitContext:
    """Up to `lines` lines before and after the hit's line (none if the file is unreadable)."""
    text = project.read_file(hit.path)
    if text is None or lines <= 0:
        return HitContext([], [])
    all_lines = text.split("\n")
    if text.endswith("\n"):
        all_lines.pop()  # the final newline ends the last line; it does not start another
    index = hit.line - 1
    before = all_lines[max(0, index - lines) : max(0, index)]
    after = all_lines[index + 1 : index + 1 + lines]
    return HitContext(
        [line[:MAX_LINE_CHARS] for line in before], [line[:MAX_LINE_CHARS] for line in after]
    )
