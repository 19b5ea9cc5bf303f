"""A restart answers its first full-text search from the saved index without loading what that
search does not need (numpy, hnswlib, tree-sitter grammars, textual): they cost start-up time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.index import Engine
from tests.integration.corpus import UNIQUE_FILE, UNIQUE_WORD

_REOPEN_AND_SEARCH = """
import json, sys
import leindex_tui.headless  # what `leindex --headless` imports before it serves
from engine import api
from engine.index import Engine, set_engine
engine = Engine(watch_files=False)
set_engine(engine)
api.index_project(sys.argv[1], wait=True)
result = api.search(sys.argv[2], literal=True, limit=5)
heavy = ("numpy", "hnswlib", "tree_sitter", "textual", "tokenizers", "safetensors")
paths = sorted({hit["path"] for hit in result["hits"]})
print(json.dumps({"hits": paths, "loaded": [m for m in heavy if m in sys.modules]}))
engine.close()
"""


def test_a_reopened_project_answers_full_text_without_numpy_or_grammars(
    small_corpus: Path, tmp_leindex_home: Path
):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    engine.add_project(small_corpus)  # the first index needs them all
    engine.close()
    done = subprocess.run(
        [sys.executable, "-c", _REOPEN_AND_SEARCH, str(small_corpus), UNIQUE_WORD],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LEINDEX_HOME": str(tmp_leindex_home)},
        check=True,
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["hits"] == [UNIQUE_FILE]
    assert answer["loaded"] == []
