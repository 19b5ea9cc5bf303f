"""Errors the search engine raises for bad input."""

from __future__ import annotations


class QuerySyntaxError(ValueError):
    """A query the full-text parser cannot read; the message says what is wrong."""

    def __init__(self, query: str, reason: str) -> None:
        super().__init__(f"invalid query {query!r}: {reason}")
        self.query = query
        self.reason = reason


class UnknownProjectError(KeyError):
    """No project of that name is registered."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        known_text = ", ".join(sorted(known)) if known else "none"
        self.message = f"unknown project {name!r} (known: {known_text})"
        super().__init__(self.message)
        self.name = name

    def __str__(self) -> str:
        return self.message
