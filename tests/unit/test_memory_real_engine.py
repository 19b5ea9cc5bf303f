"""The memory manager driving the real engine: caches, vectors, spill reload, API JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import api
from engine.api import ApiError
from engine.index import Engine
from engine.memory import EvictionManager, MemoryManager, ProjectPriority, set_memory_manager

WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def _corpus(root: Path, files: int = 12) -> Path:
    root.mkdir(parents=True)
    for n in range(files):
        word = WORDS[n % len(WORDS)]
        body = "\n".join(f"def {word}_{n}_{i}(x):\n    return x + {i}" for i in range(20))
        (root / f"mod_{n:02d}.py").write_text(f'"""{word} module {n}."""\n{body}\n')
    return root


@pytest.fixture
def engine(tmp_path, tmp_leindex_home):
    engine = Engine(home=tmp_leindex_home, watch_files=False)
    engine.add_project(_corpus(tmp_path / "low"), priority=ProjectPriority.LOW)
    engine.add_project(_corpus(tmp_path / "crit"), priority=ProjectPriority.CRITICAL)
    yield engine
    engine.close()


@pytest.fixture
def manager(engine):
    manager = MemoryManager(engine=engine)
    set_memory_manager(manager)
    EvictionManager().clear_history()
    yield manager
    set_memory_manager(None)
    EvictionManager().clear_history()


def _warm(engine):
    answers = {}
    for word in WORDS:
        answers[word] = engine.search(word, project="low").hits
        engine.search(word, project="crit")
    for project in engine.registry.list():
        for n in range(12):
            project.read_file(f"mod_{n:02d}.py")
    return answers


def test_spilled_query_cache_and_files_reload_with_the_same_answers(engine, manager):
    answers = _warm(engine)
    low = engine.registry.get("low")
    text_before = low.read_file("mod_03.py")
    result = manager.spill_caches(trigger="key")
    assert result.entries_spilled >= len(WORDS) + 12
    assert len(low.query_cache) == 0 and len(low.loaded_files) == 0
    crit = engine.registry.get("crit")
    assert len(crit.query_cache) == len(WORDS)  # CRITICAL projects are not spilled
    for word in WORDS:
        response = engine.search(word, project="low")
        assert response.hits == answers[word]
        assert response.from_cache  # came back from the spill file
    assert low.read_file("mod_03.py") == text_before


def test_eviction_unloads_vectors_and_search_still_answers(engine, manager):
    answers = _warm(engine)
    low = engine.registry.get("low")
    for name in ("low", "crit"):  # vectors load lazily, on the first semantic search
        engine.search("alpha", mode="semantic", project=name)
    assert low.vector_index_loaded
    result = manager.evict(1000, ProjectPriority.HIGH, trigger="api")
    assert result.evicted_projects == ["low"]
    assert not low.vector_index_loaded and len(low.loaded_files) == 0
    assert engine.registry.get("crit").vector_index_loaded
    assert engine.search("alpha", project="low").hits == answers["alpha"]
    semantic = engine.search("alpha function", mode="semantic", project="low")
    assert semantic.hits and low.vector_index_loaded


def test_status_and_breakdown_count_the_real_caches(engine, manager):
    _warm(engine)
    status = manager.get_status()
    assert status.loaded_files == 24 and status.cached_queries == 16
    breakdown = manager.get_breakdown()
    assert breakdown.loaded_content_mb == pytest.approx(engine.totals.loaded_content_bytes / 2**20)
    assert breakdown.indexes_mb > 0  # hnswlib vectors in memory
    dashboard = manager.get_dashboard_status()
    assert {p.name for p in dashboard.projects} == {"low", "crit"}


def test_get_diagnostics_memory_has_exactly_the_guide_fields(engine, manager):
    _warm(engine)
    result = api.get_diagnostics(type="memory")
    assert list(result) == [
        "timestamp",
        "process_memory_mb",
        "peak_memory_mb",
        "heap_size_mb",
        "gc_objects",
        "active_threads",
        "loaded_files",
        "cached_queries",
        "soft_limit_exceeded",
        "hard_limit_exceeded",
        "memory_breakdown",
    ]
    assert list(result["memory_breakdown"]) == [
        "total_mb",
        "process_rss_mb",
        "heap_mb",
        "loaded_content_mb",
        "query_cache_mb",
        "indexes_mb",
        "other_mb",
    ]
    assert result["loaded_files"] == 24
    assert result["peak_memory_mb"] >= result["process_memory_mb"] > 0


def test_manage_memory_cleanup_has_the_guide_fields(engine, manager):
    _warm(engine)
    result = api.manage_memory("cleanup")
    assert set(result) == {"success", "freed_mb", "duration_seconds", "cleanup_details"}
    assert result["cleanup_details"]["files_unloaded"] == 6  # half of the LOW project's 12
    assert result["cleanup_details"]["cache_entries_cleared"] == 4
    assert result["success"] is True


def test_manage_memory_configure_applies_live(manager):
    result = api.manage_memory("configure", soft_limit_mb=2457, hard_limit_mb=2857)
    assert result == {
        "success": True,
        "previous_limits": {"soft_limit_mb": 2457.6, "hard_limit_mb": 2857.0},
        "new_limits": {"soft_limit_mb": 2457, "hard_limit_mb": 2857},
    }
    assert manager.limits.soft_mb == pytest.approx(2457)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"soft_limit_mb": 2900, "hard_limit_mb": 2800}, "must be below"),
        ({"soft_limit_mb": 0}, "positive"),
        ({"hard_limit_mb": 5000}, "emergency limit"),
        ({"soft_limit_mb": "lots"}, "number"),
        ({}, "needs soft_limit_mb"),
    ],
)
def test_manage_memory_configure_rejects_bad_limits(manager, kwargs, message):
    with pytest.raises(ApiError, match=message):
        api.manage_memory("configure", **kwargs)
    assert manager.limits.soft_mb == pytest.approx(3072 * 0.8)


def test_manage_memory_evict_spill_gc_status(engine, manager):
    _warm(engine)
    evicted = api.manage_memory("evict", target_mb=1, priority_threshold="high", trigger="mcp")
    assert evicted["evicted_projects"] == ["low"] and evicted["trigger"] == "mcp"
    assert evicted["success"] is True and isinstance(evicted["target_met"], bool)
    history = api.get_diagnostics("eviction")
    assert history["count"] == 1 and history["evictions"][0]["trigger"] == "mcp"
    assert api.manage_memory("spill")["success"] is True
    assert api.manage_memory("gc")["gc_objects_collected"] >= 0
    assert api.manage_memory("status")["level"] == "NORMAL"
    projects = api.get_diagnostics("projects")["projects"]
    assert {row["name"] for row in projects} == {"low", "crit"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: api.manage_memory("defrag"), "unknown action"),
        (lambda: api.manage_memory("evict"), "needs target_mb"),
        (lambda: api.manage_memory("evict", target_mb=-5), "positive"),
        (lambda: api.manage_memory("evict", target_mb=5, priority_threshold="x"), "priority"),
        (lambda: api.manage_memory("evict", target_mb=5, excluded_projects="low"), "list"),
        (lambda: api.manage_memory("gc", trigger="cron"), "trigger"),
        (lambda: api.get_diagnostics(type="disk"), "unknown diagnostics type"),
    ],
)
def test_bad_api_arguments_raise_api_error(manager, call, message):
    with pytest.raises(ApiError, match=message):
        call()


def test_config_diagnostics_have_sources(manager):
    result = api.get_diagnostics("config")
    assert result["config"]["memory"]["total_budget_mb"] == 3072
    assert result["sources"]["memory.total_budget_mb"] == "default"


def test_graceful_shutdown_persists_state_and_removes_cache_spills(
    engine, manager, tmp_leindex_home
):
    _warm(engine)
    manager.spill_caches()
    assert manager.spill_store().cache_spill_count() > 0
    manager.spill_to_disk("user-data", {"kept": True})
    manager.start_monitoring(interval=10)
    manager.graceful_shutdown()
    assert not manager.monitoring
    assert (tmp_leindex_home / "cache_state.json").exists()
    assert manager.spill_store().cache_spill_count() == 0
    assert manager.load_from_disk("user-data") == {"kept": True}


def test_the_real_engine_has_what_the_memory_layer_reads(engine):
    from engine.memory.seams import ManagedCache, ManagedEngine, ManagedProject

    assert isinstance(engine, ManagedEngine)
    for project in engine.registry.list():
        assert isinstance(project, ManagedProject)
        assert isinstance(project.loaded_files, ManagedCache)
        assert isinstance(project.query_cache, ManagedCache)
