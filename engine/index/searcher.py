"""Running one query against one project: full-text, lexical, semantic, and hybrid (lexical and
semantic fused)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.index.embed import code_tokens
from engine.index.errors import QuerySyntaxError
from engine.index.line_match import (
    MAX_LINE_CHARS,
    matching_lines,
    pattern_for_literal,
    pattern_for_query,
)
from engine.index.project import Project
from engine.index.results import SearchHit
from engine.index.symbols import Symbol

# Hybrid's weight of the lexical side (the semantic side gets the rest), tuned on the question
# eval (tests/bench/bench_search_quality.py; docs/search.md, "Evaluation"): with the hashing
# embedder 0.8 and 0.9 tie over both halves (MRR@10 0.3715 / 0.372), and 0.9 keeps hybrid at its
# lexical half on the check half where 0.8 falls 0.006 below it. An embedder whose semantic side
# is stronger says so with its own `hybrid_lexical_weight`.
LEXICAL_WEIGHT = 0.9
# Chunks each side of hybrid contributes to the fusion.
HYBRID_DEPTH = 50
# Files fetched from tantivy per round while collecting line hits.
_FILES_PER_ROUND = 16
# A file rarely deserves more than this many of the result lines.
_MAX_LINES_PER_FILE = 5


# `sym:NAME` (or `sym:PREFIX*`) searches definitions only.
_SYM_QUERY = re.compile(r"^sym:(\S+)$")
# A query that is one identifier (or a dotted/`::` path of them) may name a symbol.
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::)[A-Za-z_$][\w$]*)*$")
_C_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
# Files read, at most, when looking for a constant's `#define` through the full-text index.
_CONSTANT_FILES = 50


def symbol_hits(project: Project, name: str, limit: int) -> list[SearchHit]:
    """One hit per definition of `name` (a trailing `*` makes it a prefix), on its first line."""
    index = project.fulltext
    if index is None or not name:
        return []
    prefix = name.endswith("*")
    name = name.rstrip("*")
    if not name:
        raise QuerySyntaxError("sym:*", "sym: needs a name")
    found = index.symbols.find(name, prefix=prefix, limit=limit)
    if not found and not prefix:
        found = constant_definitions(project, name, limit)
    hits = []
    for rank, symbol in enumerate(found):
        text = project.read_file(symbol.path)
        line_text = ""
        if text is not None:
            lines = text.split("\n")
            if 0 < symbol.line <= len(lines):
                line_text = lines[symbol.line - 1].rstrip("\r")[:MAX_LINE_CHARS]
        # Exact-case matches first (the store's order); scores fall with rank.
        hits.append(SearchHit(project.name, symbol.path, symbol.line, line_text, 100.0 - rank))
    return hits


def constant_definitions(project: Project, name: str, limit: int) -> list[Symbol]:
    """`#define NAME value` lines, found through the full-text index: what the symbol table
    leaves out (the numeric constants of tables, `symbols.TABLE_CONSTANTS`). Case-insensitive
    as the table is, exact case first."""
    index = project.fulltext
    if index is None or not _C_IDENTIFIER.fullmatch(name):
        return []
    query = index.literal(f"define {name}")
    if query is None:
        return []
    # Object-like only: a function-like macro is always in the table.
    define = re.compile(rf"^[ \t]*#[ \t]*define[ \t]+({re.escape(name)})\b(?!\()", re.M | re.I)
    found = []
    for _score, rel in index.search(query, limit=min(_CONSTANT_FILES, max(limit, 10))):
        text = project.read_file(rel)
        if text is None:
            continue
        for match in define.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(Symbol(match.group(1), "macro", rel, line, line))
    found.sort(key=lambda symbol: (symbol.name != name, symbol.path, symbol.line))
    return found[:limit]


def fulltext_hits(project: Project, query: str, limit: int, literal: bool) -> list[SearchHit]:
    """Line hits for `query`, best file first, lines in file order within a file; a query that
    names a symbol lists its definitions first."""
    index = project.fulltext
    if index is None:
        return []
    if not literal:
        sym = _SYM_QUERY.match(query.strip())
        if sym:
            return symbol_hits(project, sym.group(1), limit)
    definitions = definition_hits(project, query, limit)
    rest = _plain_fulltext_hits(project, query, limit, literal)
    if not definitions:
        return rest
    top = max((hit.score for hit in rest), default=0.0)
    seen = {(hit.path, hit.line) for hit in definitions}
    boosted = [
        SearchHit(hit.project, hit.path, hit.line, hit.text, top + len(definitions) - rank)
        for rank, hit in enumerate(definitions)
    ]
    return (boosted + [hit for hit in rest if (hit.path, hit.line) not in seen])[:limit]


def definition_hits(project: Project, query: str, limit: int) -> list[SearchHit]:
    """The definitions of the symbol a one-identifier query names (`a.b.name`: of `name`)."""
    if not _IDENTIFIER.match(query.strip()):
        return []
    name = re.split(r"\.|::", query.strip())[-1]
    return [hit for hit in symbol_hits(project, name, limit) if _same_name(hit, name)]


def _same_name(hit: SearchHit, name: str) -> bool:
    return name in hit.text or name.lower() in hit.text.lower()


def _plain_fulltext_hits(
    project: Project, query: str, limit: int, literal: bool
) -> list[SearchHit]:
    index = project.fulltext
    if literal:
        if not query:
            raise QuerySyntaxError(query, "the literal is empty")
        tantivy_query = index.literal(query)
        if tantivy_query is None:
            # Only punctuation: every file would be a candidate and read in full.
            raise QuerySyntaxError(
                query,
                "a literal made only of punctuation matches every file; "
                "add a word or a name to it (e.g. 'x->y' rather than '->')",
            )
        pattern = pattern_for_literal(query)
    else:
        tantivy_query = index.parse(query)
        pattern = pattern_for_query(query)
    per_file = limit if literal or pattern is None else max(1, min(limit, _MAX_LINES_PER_FILE))
    hits: list[SearchHit] = []
    offset = 0
    page = _FILES_PER_ROUND
    while len(hits) < limit:
        # The page doubles each round: tantivy collects offset + limit documents per call,
        # so a fixed page with a growing offset would be quadratic in the files read.
        files = index.search(tantivy_query, limit=page, offset=offset)
        for score, rel in files:
            text = project.read_file(rel)
            if text is None:
                continue
            for taken, (line, line_text) in enumerate(matching_lines(text, pattern)):
                if taken >= per_file and not literal:
                    break
                hits.append(SearchHit(project.name, rel, line, line_text, float(score)))
                if len(hits) >= limit:
                    return hits
        if len(files) < page:
            break
        offset += page
        page *= 2
    return hits


def semantic_chunks(project: Project, query: str, limit: int) -> list[tuple[str, int, int, float]]:
    """Nearest chunks (path, start, end, similarity), loading the vector index if unloaded."""
    vectors = project.vectors
    if vectors is None and project.servable.is_set():
        # Loaded (through its reservation) once a saved index is open; a first index builds
        # its vectors in memory itself.
        project.load_vectors()
        vectors = project.vectors
    if vectors is None:
        return []
    vector = project.embedder.embed([query])[0]
    return vectors.query(vector, limit)


def semantic_hits(project: Project, query: str, limit: int) -> list[SearchHit]:
    """One hit per nearest chunk, on the chunk's line that best matches the query's words."""
    wanted = set(code_tokens(query))
    hits = []
    for rel, start, end, similarity in semantic_chunks(project, query, limit):
        line, text = _best_line(project, rel, start, end, wanted)
        hits.append(SearchHit(project.name, rel, line, text, similarity))
    return hits


def lexical_hits(project: Project, query: str, limit: int) -> list[SearchHit]:
    """One hit per chunk sharing the query's sub-tokens (BM25, OR), on its best line."""
    index = project.fulltext
    if index is None:
        return []
    wanted = set(code_tokens(query))
    hits = []
    for chunk in index.lexical_search(query, limit):
        line, text = _best_line(project, chunk.path, chunk.start, chunk.end, wanted)
        hits.append(SearchHit(project.name, chunk.path, line, text, chunk.score))
    return hits


@dataclass(slots=True)
class FusionCandidate:
    """What one side of hybrid found: a definition's lines or a chunk (for a literal, a
    matching line, standing for the semantic chunk it lies in)."""

    path: str
    start: int
    end: int
    score: float
    shown: SearchHit | None = None  # the exact line to show, when a side matched one


def hybrid_hits(
    project: Project,
    query: str,
    limit: int,
    literal: bool,
    lexical_weight: float | None = None,
) -> list[SearchHit]:
    """The lexical side (BM25 over sub-tokens with OR; for a literal, its matching lines) and
    the semantic side, fused by `fuse` (with `lexical_weight`, by default the embedder's);
    a query that names a symbol lists its definitions first."""
    if lexical_weight is None:
        lexical_weight = hybrid_lexical_weight(project)
    depth = max(limit, HYBRID_DEPTH)
    semantic = [
        FusionCandidate(rel, start, end, similarity)
        for rel, start, end, similarity in semantic_chunks(project, query, depth)
    ]
    if literal:
        lexical = _literal_candidates(project, query, depth, semantic)
    else:
        index = project.fulltext
        found = index.lexical_search(query, depth) if index is not None else []
        lexical = [FusionCandidate(c.path, c.start, c.end, c.score) for c in found]
    fused = fuse(lexical, semantic, lexical_weight)
    definitions = [] if literal else definition_hits(project, query, limit)
    wanted = set(code_tokens(query))
    hits = []
    top = fused[0][1] if fused else 0.0
    for rank, hit in enumerate(definitions):
        hits.append(
            SearchHit(hit.project, hit.path, hit.line, hit.text, top + len(definitions) - rank)
        )
    seen = {(hit.path, hit.line) for hit in definitions}
    for candidate, score in fused:
        if len(hits) >= limit:
            break
        if any(
            hit.path == candidate.path and candidate.start <= hit.line <= candidate.end
            for hit in definitions
        ):
            continue  # the definition already stands for its chunk
        shown = candidate.shown
        if shown is None:
            line, text = _best_line(project, candidate.path, candidate.start, candidate.end, wanted)
            shown = SearchHit(project.name, candidate.path, line, text, score)
        if (shown.path, shown.line) not in seen:  # a chunk and a definition in it, one line
            seen.add((shown.path, shown.line))
            hits.append(SearchHit(shown.project, shown.path, shown.line, shown.text, score))
    return hits[:limit]


def hybrid_lexical_weight(project: Project) -> float:
    """The lexical weight hybrid uses for `project`: its embedder's, else `LEXICAL_WEIGHT`."""
    return float(getattr(project.embedder, "hybrid_lexical_weight", LEXICAL_WEIGHT))


def fuse(
    lexical: list[FusionCandidate], semantic: list[FusionCandidate], lexical_weight: float
) -> list[tuple[FusionCandidate, float]]:
    """Candidates by `w * lexical + (1 - w) * semantic`, best first, each side's scores
    min-max normalised over what it returned. A lexical candidate (a definition, usually)
    takes the semantic score of the chunk its first line lies in, so agreeing evidence adds
    up; a chunk holding no lexical candidate stands alone on its semantic score."""
    lexical_range = _score_range(lexical)
    semantic_range = _score_range(semantic)
    chunks_of: dict[str, list[FusionCandidate]] = {}
    for chunk in semantic:
        chunks_of.setdefault(chunk.path, []).append(chunk)
    fused: list[tuple[FusionCandidate, float]] = []
    agreed: set[int] = set()
    for candidate in lexical:
        total = lexical_weight * _normalised(candidate.score, lexical_range)
        for chunk in chunks_of.get(candidate.path, ()):
            if chunk.start <= candidate.start <= chunk.end:
                total += (1.0 - lexical_weight) * _normalised(chunk.score, semantic_range)
                agreed.add(id(chunk))
                break
        fused.append((candidate, total))
    for chunk in semantic:
        if id(chunk) not in agreed:
            fused.append((chunk, (1.0 - lexical_weight) * _normalised(chunk.score, semantic_range)))
    fused.sort(key=lambda item: -item[1])
    return fused


def _score_range(side: list[FusionCandidate]) -> tuple[float, float]:
    scores = [candidate.score for candidate in side]
    return (min(scores), max(scores)) if scores else (0.0, 0.0)


def _normalised(score: float, score_range: tuple[float, float]) -> float:
    """`score` mapped to 0..1 over its side's range; a side of equal scores gives 1."""
    low, high = score_range
    return (score - low) / (high - low) if high > low else 1.0


def _literal_candidates(
    project: Project, query: str, depth: int, semantic: list[FusionCandidate]
) -> list[FusionCandidate]:
    """A literal's matching lines, each standing for the semantic chunk it lies in."""
    spans: dict[str, list[FusionCandidate]] = {}
    for candidate in semantic:
        spans.setdefault(candidate.path, []).append(candidate)
    candidates: dict[tuple[str, int], FusionCandidate] = {}
    for hit in _plain_fulltext_hits(project, query, depth, True):
        start = end = hit.line
        for chunk in spans.get(hit.path, ()):
            if chunk.start <= hit.line <= chunk.end:
                start, end = chunk.start, chunk.end
                break
        # The best-ranked exact line represents its chunk.
        candidates.setdefault(
            (hit.path, start), FusionCandidate(hit.path, start, end, hit.score, hit)
        )
    return list(candidates.values())


def _best_line(
    project: Project, rel: str, start: int, end: int, wanted: set[str]
) -> tuple[int, str]:
    """The line of a chunk sharing most words with the query (first non-blank line on a tie)."""
    text = project.read_file(rel)
    if text is None:
        return start, ""
    lines = text.split("\n")[start - 1 : end]
    best_line, best_text, best_score = start, "", -1
    for offset, line in enumerate(lines):
        if not line.strip():
            continue
        score = len(wanted.intersection(code_tokens(line))) if wanted else 0
        if score > best_score:
            best_line, best_text, best_score = start + offset, line, score
    best_text = best_text.rstrip("\r")
    if len(best_text) > MAX_LINE_CHARS:
        best_text = best_text[:MAX_LINE_CHARS] + "…"
    return best_line, best_text
