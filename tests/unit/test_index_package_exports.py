"""`engine.index` names are imported on first use, and every one of them resolves."""

from __future__ import annotations

import subprocess
import sys

import engine.index


def test_every_exported_name_resolves() -> None:
    for name in engine.index.__all__:
        assert getattr(engine.index, name) is not None, name


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        engine.index.NoSuchThing  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("engine.index.NoSuchThing resolved")


def test_importing_one_submodule_does_not_load_the_engine() -> None:
    code = (
        "import sys, engine.index.symbols, engine.index.chunker; "
        "print(sorted(m for m in ('engine.index.engine', 'tantivy', 'hnswlib', 'engine.config')"
        " if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
