"""A 10,000-file project under a 256 MB budget, indexed by a real child process whose peak
RSS is measured from outside (psutil) and reported; no time is asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.timeout(300)

REPO_ROOT = Path(__file__).resolve().parents[2]
FILES = 10_000
BUDGET_MB = 256
PROBES = (0, 4_999, FILES - 1)  # files whose unique word the child searches for

CHILD_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from engine.runtime import Runtime

    runtime = Runtime(paths=[sys.argv[2]], watch_config=False)
    runtime.start()
    (project,) = runtime.engine.registry.list()
    indexed = project.ready.wait(240)
    found = {
        word: sorted({hit.path for hit in runtime.engine.search(word).hits})
        for word in sys.argv[3:]
    }
    print(json.dumps({
        "indexed": indexed,
        "phase": project.progress.phase,
        "files": len(project.manifest.files) if project.manifest else 0,
        "found": found,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "budget_mb": runtime.memory_manager.limits.budget_mb,
    }), flush=True)
    runtime.shutdown()
    """
)


def _word(n: int) -> str:
    return f"marker{n:05d}word"


def _write_project(root: Path) -> Path:
    for n in range(FILES):
        directory = root / f"pkg{n // 500:02d}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"mod_{n:05d}.py").write_text(
            f'"""Module {n}."""\n\n\ndef handler_{n}(request):\n'
            f"    # {_word(n)}\n    return request.get('key_{n % 97}')\n"
        )
    return root


def _sample_peak_rss(process: psutil.Process, done: threading.Event, peak: list[int]) -> None:
    while not done.wait(0.05):
        try:
            peak[0] = max(peak[0], process.memory_info().rss)
        except psutil.Error:
            return


def test_ten_thousand_files_index_under_a_256_mb_budget(
    tmp_path: Path, tmp_leindex_home: Path
) -> None:
    project = _write_project(tmp_path / "big")
    tmp_leindex_home.mkdir()
    (tmp_leindex_home / "config.yaml").write_text(f"memory:\n  total_budget_mb: {BUDGET_MB}\n")
    script = tmp_path / "scale_child.py"
    script.write_text(CHILD_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEINDEX_")}
    env["LEINDEX_HOME"] = str(tmp_leindex_home)
    words = [_word(n) for n in PROBES]

    child = subprocess.Popen(
        [sys.executable, str(script), str(REPO_ROOT), str(project), *words],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    done, peak = threading.Event(), [0]
    sampler = threading.Thread(
        target=_sample_peak_rss, args=(psutil.Process(child.pid), done, peak)
    )
    sampler.start()
    out, err = child.communicate(timeout=280)
    done.set()
    sampler.join()

    assert child.returncode == 0, err[-3000:]
    report = json.loads(out.splitlines()[-1])
    print(
        f"\n{FILES} files, budget {report['budget_mb']} MB: measured peak RSS "
        f"{peak[0] / 2**20:.1f} MB (psutil, sampled every 50 ms), "
        f"ru_maxrss {report['ru_maxrss_mb']:.1f} MB"
    )
    assert report["indexed"] and report["phase"] == "ready"
    assert report["files"] == FILES
    for n, word in zip(PROBES, words, strict=True):
        assert report["found"][word] == [f"pkg{n // 500:02d}/mod_{n:05d}.py"]
