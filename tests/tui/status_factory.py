"""DashboardStatus values built by hand (the guide's figures), for widget and snapshot tests."""

from __future__ import annotations

from dataclasses import replace

from engine.memory.status import BreakdownNode, DashboardStatus, EvictionRecord, ProjectSummary

# 2026-01-01 12:00:00 UTC: every timestamp in these values is relative to it.
BASE_TIME = 1767268800.0

LEVEL_CURRENT_MB = {"NORMAL": 1995.0, "SOFT": 2600.0, "HARD": 2900.0, "EMERGENCY": 3040.0}


def guide_breakdown(total_mb: float = 3072.0, loaded_content_mb: float = 480.0) -> BreakdownNode:
    """The guide's 'Memory Breakdown' tree, with the given total and loaded content."""
    heap_other = 120.0
    heap = loaded_content_mb + 240.0 + 360.0 + heap_other
    rss_other = total_mb - heap - 50.0 - 100.0
    return BreakdownNode(
        key="total",
        label="Total Memory",
        mb=total_mb,
        source="measured",
        children=(
            BreakdownNode(
                key="heap",
                label="Heap Memory",
                mb=heap,
                source="measured",
                children=(
                    BreakdownNode(
                        "heap.loaded_content", "Loaded Content", loaded_content_mb, "accounted"
                    ),
                    BreakdownNode("heap.query_cache", "Query Cache", 240.0, "accounted"),
                    BreakdownNode("heap.indexes", "Index Structures", 360.0, "accounted"),
                    BreakdownNode("heap.other", "Other", heap_other, "derived"),
                ),
            ),
            BreakdownNode("stack", "Stack Memory", 50.0, "measured"),
            BreakdownNode("code", "Code Segment", 100.0, "measured"),
            BreakdownNode(
                key="other_rss",
                label="Other RSS",
                mb=rss_other,
                source="derived",
                children=(
                    BreakdownNode("other_rss.tantivy", "Tantivy Index", 600.0, "measured"),
                    BreakdownNode("other_rss.other", "Other", rss_other - 600.0, "derived"),
                ),
            ),
        ),
    )


def guide_projects() -> tuple[ProjectSummary, ...]:
    """Three projects of different priorities; the last still in its first indexing."""
    return (
        ProjectSummary(
            "core-api", "/src/core-api", "HIGH", 412, 120, 620.5, BASE_TIME - 5, True, 2400, 2400
        ),
        ProjectSummary(
            "legacy-code",
            "/src/legacy-code",
            "LOW",
            38,
            4,
            41.0,
            BASE_TIME - 900,
            True,
            930,
            930,
            vectors_loaded=False,
        ),
        ProjectSummary(
            "temp-analysis",
            "/src/temp-analysis",
            "MEDIUM",
            0,
            0,
            0.0,
            0.0,
            False,
            120,
            400,
            phase="indexing",
            stage="full-text",
            bytes_done=3 * 1024 * 1024,
        ),
    )


def guide_eviction(offset_seconds: float = -60.0) -> EvictionRecord:
    """One eviction at BASE_TIME + offset, as the EMERGENCY level would record it."""
    return EvictionRecord(
        timestamp=BASE_TIME + offset_seconds,
        trigger="key",
        target_mb=500.0,
        freed_mb=512.3,
        evicted_count_mb=498.0,
        evicted_count=163,
        total_candidates=240,
        evicted_projects=("legacy-code",),
        duration_seconds=1.2,
    )


def make_status(level: str = "NORMAL", **changes: object) -> DashboardStatus:
    """A full snapshot at `level` with the guide's budget and thresholds; override any field."""
    current = LEVEL_CURRENT_MB[level]
    status = DashboardStatus(
        timestamp=BASE_TIME,
        level=level,
        current_mb=current,
        peak_mb=max(current, 2100.0),
        budget_mb=3072.0,
        soft_limit_percent=0.80,
        hard_limit_percent=0.93,
        emergency_percent=0.98,
        soft_limit_mb=3072 * 0.80,
        hard_limit_mb=3072 * 0.93,
        emergency_limit_mb=3072 * 0.98,
        loaded_files=850,
        max_loaded_files=1000,
        cached_queries=320,
        max_cached_queries=500,
        spilled_mb=12.0,
        max_spill_mb=1000.0,
        monitoring_interval_seconds=30.0,
        breakdown=guide_breakdown(total_mb=current),
        rss_history_mb=tuple(1800.0 + (i % 7) * 30 + i * 2 for i in range(40)) + (current,),
        projects=guide_projects(),
        evictions=(),
    )
    return replace(status, **changes)
