"""Indexing jobs: every index started through the API runs on the engine's own thread, can be
cancelled, and can be polled by its id.

The engine tracks the thread, so a shutdown stops it between two files and saves what it did;
a cancelled job stops the same way and unregisters its project, so the next `index_project`
resumes from the saved part instead of starting over.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api.errors import ApiError
from engine.index import IndexProgress, Project, get_engine
from engine.priority import ProjectPriority

JOB_RUNNING = "running"
JOB_CANCELLING = "cancelling"
JOB_CANCELLED = "cancelled"
JOB_DONE = "done"
JOB_FAILED = "failed"
# Finished jobs kept for polling; older ones are forgotten first.
MAX_FINISHED_JOBS = 50

_ids = itertools.count(1)
_jobs: dict[str, IndexJob] = {}
_jobs_lock = threading.Lock()


@dataclass
class IndexJob:
    """One first index of a project, started by `start_job`."""

    job_id: str
    project: Project
    started_at: float
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.project.ready.is_set() or self.project.progress.phase == "error"

    @property
    def state(self) -> str:
        if self.project.progress.phase == "error":
            return JOB_FAILED
        if self.stop.is_set():
            return JOB_CANCELLED if self.project.ready.is_set() else JOB_CANCELLING
        return JOB_DONE if self.project.ready.is_set() else JOB_RUNNING

    def to_dict(self) -> dict[str, Any]:
        progress = self.project.progress
        return {
            "job_id": self.job_id,
            "project": self.project.name,
            "path": str(self.project.path),
            "state": self.state,
            "phase": progress.phase,
            # While indexing: "full-text" (searchable as each batch commits), then "semantic";
            # files_done / files_total count the stage's files.
            "stage": progress.stage,
            "paused": progress.paused,
            "files_done": progress.files_done,
            "files_total": progress.files_total,
            "error": progress.error,
            "started_at": self.started_at,
        }


def start_job(
    directory: Path,
    priority: ProjectPriority | None,
    on_progress: Callable[[IndexProgress], None] | None,
) -> IndexJob:
    """Register `directory` and index it on the engine's thread; returns the job at once."""
    engine = get_engine()
    stop = threading.Event()
    project = engine.index_project_async(
        directory, priority=priority, on_progress=on_progress, should_stop=stop.is_set
    )
    job = IndexJob(f"index-{next(_ids)}", project, time.time(), stop)
    with _jobs_lock:
        _jobs[job.job_id] = job
        _forget_old_jobs()
    return job


def _forget_old_jobs() -> None:
    finished = [job_id for job_id, job in _jobs.items() if job.finished]
    for job_id in finished[: max(0, len(finished) - MAX_FINISHED_JOBS)]:
        del _jobs[job_id]


def get_job(job_id: str) -> IndexJob:
    """The job with this id; `ApiError` naming the known ids if there is none."""
    with _jobs_lock:
        job = _jobs.get(job_id)
        known = sorted(_jobs)
    if job is None:
        listed = ", ".join(known) or "none"
        raise ApiError(f"unknown index job {job_id!r}; known jobs: {listed}")
    return job


def list_jobs() -> list[IndexJob]:
    """Every job still remembered, oldest first."""
    with _jobs_lock:
        return list(_jobs.values())


def cancel_job(job_id: str) -> dict[str, Any]:
    """Ask a job to stop after the file it is on; the part done stays indexed and saved."""
    job = get_job(job_id)
    if not job.finished:
        job.stop.set()
    return {"success": True, "job": job.to_dict()}


def index_status(job_id: str | None = None) -> dict[str, Any]:
    """One job's state and progress, or every remembered job's."""
    if job_id is not None:
        return {"jobs": [get_job(job_id).to_dict()]}
    return {"jobs": [job.to_dict() for job in list_jobs()]}
