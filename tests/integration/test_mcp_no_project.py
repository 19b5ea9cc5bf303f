"""`leindex --headless` with no project at all: queries are still checked, and say why empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_mcp_stdio import CONFIG_YAML, _start_server

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


async def test_a_bad_query_is_an_error_even_when_no_project_is_open(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG_YAML)
    server = await _start_server(tmp_path, [])
    try:
        message = await server.error("search", {"query": "parse AND (config"})
        empty = await server.ok("search", {"query": "parse"})
    finally:
        await server.close()

    assert "parse AND (config" in message and "column" in message.lower(), message
    assert empty["hits"] == [] and empty["has_more"] is False
    assert any("index_project" in note for note in empty["notes"]), empty
