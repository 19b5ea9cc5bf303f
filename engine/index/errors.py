"""Errors the search engine raises for bad input."""

from __future__ import annotations


class QuerySyntaxError(ValueError):
    """A query the full-text parser cannot read; the message says what is wrong."""

    def __init__(
        self, query: str, reason: str, position: int | None = None, hint: str | None = None
    ) -> None:
        where = f" at column {position + 1}" if position is not None else ""
        tail = f"; hint: {hint}" if hint else ""
        super().__init__(f"invalid query {query!r}{where}: {reason}{tail}")
        self.query = query
        self.reason = reason
        self.position = position
        self.hint = hint


class UnknownProjectError(KeyError):
    """No project of that name is registered."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        known_text = ", ".join(sorted(known)) if known else "none"
        self.message = f"unknown project {name!r} (known: {known_text})"
        super().__init__(self.message)
        self.name = name

    def __str__(self) -> str:
        return self.message
