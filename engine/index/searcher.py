"""Running one query against one project: full-text, semantic, and their hybrid (RRF)."""

from __future__ import annotations

import re

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

# Reciprocal rank fusion's damping constant (the usual value from Cormack et al.).
RRF_K = 60
# Files fetched from tantivy per round while collecting line hits.
_FILES_PER_ROUND = 16
# A file rarely deserves more than this many of the result lines.
_MAX_LINES_PER_FILE = 5


# `sym:NAME` (or `sym:PREFIX*`) searches definitions only.
_SYM_QUERY = re.compile(r"^sym:(\S+)$")
# A query that is one identifier (or a dotted/`::` path of them) may name a symbol.
_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*(?:(?:\.|::)[A-Za-z_$][\w$]*)*$")


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
    if vectors is None and project.ready.is_set():
        # Not while the first index is built: that holds the project's lock for its duration.
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


def hybrid_hits(project: Project, query: str, limit: int, literal: bool) -> list[SearchHit]:
    """Full-text and semantic results fused by reciprocal rank; a line inside a chunk counts
    as that chunk, so agreeing evidence from both rankings adds up."""
    depth = max(limit, 10)
    lexical = fulltext_hits(project, query, depth, literal)
    chunks = semantic_chunks(project, query, depth)
    scores: dict[tuple, float] = {}
    shown: dict[tuple, SearchHit] = {}
    chunk_keys = {}
    for rank, (rel, start, end, _similarity) in enumerate(chunks):
        key = ("chunk", rel, start)
        chunk_keys.setdefault(rel, []).append((start, end, key))
        scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
    for rank, hit in enumerate(lexical):
        key = ("line", hit.path, hit.line)
        for start, end, chunk_key in chunk_keys.get(hit.path, ()):
            if start <= hit.line <= end:
                key = chunk_key
                break
        scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
        shown.setdefault(key, hit)  # the best-ranked exact line represents its chunk
    wanted = set(code_tokens(query))
    chunk_spans = {
        key: (rel, start, end) for rel, start, end, _ in chunks for key in [("chunk", rel, start)]
    }
    # A query naming a symbol: its definitions lead, whatever the fusion says.
    defined = {(hit.path, hit.line) for hit in definition_hits(project, query, depth)}
    if defined and not literal:
        top = max(scores.values(), default=0.0)
        for key, hit in shown.items():
            if (hit.path, hit.line) in defined:
                scores[key] = top + 1.0
    fused = []
    for key, score in sorted(scores.items(), key=lambda item: item[1], reverse=True)[:limit]:
        hit = shown.get(key)
        if hit is None:
            rel, start, end = chunk_spans[key]
            line, text = _best_line(project, rel, start, end, wanted)
            hit = SearchHit(project.name, rel, line, text, score)
        fused.append(SearchHit(hit.project, hit.path, hit.line, hit.text, score))
    return fused


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
