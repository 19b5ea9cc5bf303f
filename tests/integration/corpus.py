"""A small generated source tree for integration tests (used by conftest and tests)."""

from __future__ import annotations

import textwrap
from pathlib import Path

# A word that occurs in exactly one file of the corpus, so a search for it has one right answer.
UNIQUE_WORD = "zanzibarquux"
UNIQUE_FILE = "pkg/module_07.py"

_MODULE = textwrap.dedent(
    '''\
    """Module {n}: helpers for the {topic} subsystem."""

    import json


    def parse_{topic}_{n}(text):
        """Parse a {topic} record from text."""
        return json.loads(text)


    class {Topic}Cache{n}:
        """Keeps recent {topic} lookups in memory."""

        def __init__(self, capacity={capacity}):
            self.capacity = capacity
            self.entries = {{}}

        def lookup(self, key):
            return self.entries.get(key)
    '''
)

_TOPICS = ("config", "network", "storage", "render", "billing")


def write_corpus(root: Path, modules: int = 20) -> Path:
    """Write a deterministic tree of Python and Markdown files under `root`; returns `root`."""
    package = root / "pkg"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""The sample package."""\n')
    for n in range(modules):
        topic = _TOPICS[n % len(_TOPICS)]
        text = _MODULE.format(n=n, topic=topic, Topic=topic.title(), capacity=16 * (n + 1))
        if f"pkg/module_{n:02d}.py" == UNIQUE_FILE:
            text += f"\n\n# The {UNIQUE_WORD} constant marks this file for search tests.\n"
            text += f"{UNIQUE_WORD.upper()} = 42\n"
        (package / f"module_{n:02d}.py").write_text(text)
    (root / "README.md").write_text("# Sample\n\nA generated corpus for LeIndex tests.\n")
    return root
