"""The one reload path: read → validate → swap → notify; failures change nothing."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from engine.config import (
    ConfigError,
    ConfigObserver,
    ReloadManager,
    get_config,
    get_reload_manager,
    reload_config,
    validate_config_text,
)
from engine.priority import ProjectPriority


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class Recorder(ConfigObserver):
    def __init__(self) -> None:
        self.events = []

    def on_config_reloaded(self, event) -> None:
        self.events.append(event)


@pytest.fixture
def config_file(tmp_leindex_home: Path) -> Path:
    return write(tmp_leindex_home / "config.yaml", "memory:\n  soft_limit_percent: 0.8\n")


def test_get_config_loads_lazily_from_leindex_home(config_file: Path) -> None:
    write(config_file, "memory:\n  total_budget_mb: 2048\n")

    assert get_config().memory.total_budget_mb == 2048
    assert get_config() is get_config()  # one reference until a reload swaps it


def test_reload_swaps_config_and_notifies_each_observer_once(config_file: Path) -> None:
    manager = get_reload_manager()
    before = get_config()
    recorder = Recorder()
    manager.register_observer(recorder)
    write(config_file, "memory:\n  soft_limit_percent: 0.75\n")

    result = reload_config()

    assert result.success and result.error is None
    assert result.changes == ["memory.soft_limit_percent: 0.8 → 0.75"]
    [event] = recorder.events
    assert event.new_config is get_config() and event.old_config is before
    assert event.new_config.memory.soft_limit_percent == 0.75
    assert event.timestamp == result.reloaded_at
    assert event.changes == result.changes


def test_observers_are_called_once_per_reload_even_without_changes(config_file: Path) -> None:
    recorder = Recorder()
    get_reload_manager().register_observer(recorder)
    get_reload_manager().register_observer(recorder)  # registering twice is one registration

    reload_config()
    reload_config()

    assert len(recorder.events) == 2
    assert recorder.events[1].changes == []


def test_invalid_yaml_keeps_previous_config_and_reports_file_line(config_file: Path) -> None:
    manager = get_reload_manager()
    recorder = Recorder()
    manager.register_observer(recorder)
    before = get_config()
    write(config_file, "memory:\n  soft_limit_percent: [0.5\n")

    result = reload_config()

    assert not result.success and result.changes == []
    assert f"{config_file}:" in result.error
    assert result.error_detail.file == config_file and result.error_detail.line is not None
    assert get_config() is before
    assert recorder.events == []
    assert manager.last_error is result.error_detail


def test_invalid_value_keeps_previous_config_and_names_key(config_file: Path) -> None:
    before = get_config()
    write(config_file, "memory:\n  total_budget_mb: -1\n")

    result = reload_config()

    assert not result.success
    assert f"{config_file}:2: memory.total_budget_mb = -1" in result.error
    assert get_config() is before


def test_success_after_failure_clears_last_error(config_file: Path) -> None:
    manager = get_reload_manager()
    write(config_file, "memory: [")
    assert not manager.reload_config().success
    write(config_file, "memory:\n  total_budget_mb: 1024\n")

    assert manager.reload_config().success
    assert manager.last_error is None and get_config().memory.total_budget_mb == 1024


def test_changes_list_project_values(config_file: Path, tmp_leindex_home: Path) -> None:
    get_config()
    write(tmp_leindex_home / "projects" / "api.yaml", "memory:\n  priority: HIGH\n")

    result = reload_config()

    assert result.changes == ["projects.api.memory.priority: (unset) → HIGH"]


def test_raising_observer_does_not_stop_the_others(
    config_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(ConfigObserver):
        def on_config_reloaded(self, event) -> None:
            raise RuntimeError("observer bug")

    first, last = Recorder(), Recorder()
    manager = get_reload_manager()
    for observer in (first, Broken(), last):
        manager.register_observer(observer)

    with caplog.at_level(logging.ERROR, logger="engine.config.reload"):
        result = reload_config()

    assert result.success
    assert len(first.events) == 1 and len(last.events) == 1
    assert "observer bug" in caplog.text


def test_unregistered_observer_is_not_called(config_file: Path) -> None:
    recorder = Recorder()
    manager = get_reload_manager()
    manager.register_observer(recorder)
    manager.unregister_observer(recorder)
    manager.unregister_observer(recorder)  # no error the second time

    reload_config()

    assert recorder.events == []


def _run_with_deadlock_guard(target) -> None:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "reload deadlocked"


def test_observer_calling_get_config_and_reload_does_not_deadlock(config_file: Path) -> None:
    seen = []

    class Reentrant(ConfigObserver):
        def on_config_reloaded(self, event) -> None:
            seen.append(get_config().memory.soft_limit_percent)
            if len(seen) == 1:
                seen.append(reload_config().success)

    get_reload_manager().register_observer(Reentrant())
    write(config_file, "memory:\n  soft_limit_percent: 0.7\n")

    _run_with_deadlock_guard(reload_config)

    # The nested reload is delivered after the first round, so the observer ran twice.
    assert seen == [0.7, True, 0.7]


def test_concurrent_reloads_deliver_every_event_in_swap_order(config_file: Path) -> None:
    manager = get_reload_manager()
    recorder = Recorder()
    manager.register_observer(recorder)
    get_config()

    def reload_many() -> None:
        for _ in range(20):
            assert manager.reload_config().success

    threads = [threading.Thread(target=reload_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(recorder.events) == 80
    # Each event's old config is the previous event's new config: nothing delivered out of order.
    for earlier, later in zip(recorder.events, recorder.events[1:], strict=False):
        assert later.old_config is earlier.new_config
    assert recorder.events[-1].new_config is get_config()


def test_apply_overrides_expresses_mb_limits_as_percents(config_file: Path) -> None:
    manager = get_reload_manager()

    result = manager.apply_overrides({"soft_limit_mb": 2457, "hard_limit_mb": 2857})

    memory = get_config().memory
    assert result.success
    assert (memory.soft_limit_mb, memory.hard_limit_mb) == (2457, 2857)
    assert memory.soft_limit_percent == pytest.approx(2457 / 3072)
    assert manager.loaded.sources["memory.soft_limit_percent"] == "override"


def test_overrides_sit_above_env_and_survive_reloads(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEINDEX_MEMORY_TOTAL_BUDGET_MB", "4096")
    manager = get_reload_manager()
    assert manager.apply_overrides({"memory": {"total_budget_mb": 1024}}).success
    write(config_file, "memory:\n  soft_limit_percent: 0.7\n")

    assert reload_config().success

    assert get_config().memory.total_budget_mb == 1024
    assert get_config().memory.soft_limit_percent == 0.7
    assert manager.clear_overrides().success
    assert get_config().memory.total_budget_mb == 4096


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"soft_limit_mb": 5000}, "soft_limit_mb = 5000"),
        ({"soft_limit_mb": "lots"}, "soft_limit_mb = 'lots'"),
        ({"soft_limit_mb": 3000}, "must be below memory.hard_limit_percent"),
        ({"sofft_limit_percent": 0.5}, "sofft_limit_percent = 0.5: not a settable key"),
        ({"memory.max_loaded_files": 0}, "memory.max_loaded_files = 0"),
        ({"project_defaults.priority": "URGENT"}, "LOW, MEDIUM, HIGH, CRITICAL"),
    ],
)
def test_invalid_overrides_change_nothing(config_file: Path, overrides, fragment: str) -> None:
    manager = get_reload_manager()
    recorder = Recorder()
    manager.register_observer(recorder)
    before = get_config()

    result = manager.apply_overrides(overrides)

    assert not result.success and fragment in result.error
    assert get_config() is before and manager.overrides == {} and recorder.events == []


def test_override_of_project_default_beats_project_files(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "projects" / "api.yaml", "memory:\n  priority: HIGH\n")

    get_reload_manager().apply_overrides({"project_defaults.priority": "low"})

    assert get_config().project_settings("api").priority is ProjectPriority.LOW


def test_startup_with_bad_config_runs_on_defaults_and_keeps_the_error(config_file: Path) -> None:
    write(config_file, "memory:\n  total_budget_mb: nope\n")
    manager = ReloadManager()

    config = manager.get_config()

    assert config.memory.total_budget_mb == 3072
    assert manager.last_error is not None and manager.last_error.line == 2
    assert "using built-in defaults" in str(manager.loaded.warnings[0])


def test_reloaded_at_comes_from_the_injected_clock(tmp_leindex_home: Path) -> None:
    manager = ReloadManager(home=tmp_leindex_home, environ={}, clock=lambda: 1234.5)

    assert manager.reload_config().reloaded_at == 1234.5


def test_validate_config_text_in_context_of_other_files(tmp_leindex_home: Path) -> None:
    write(tmp_leindex_home / "config.yaml", "memory:\n  hard_limit_percent: 0.85\n")
    project = tmp_leindex_home / "projects" / "api.yaml"

    warnings = validate_config_text(
        "memory:\n  priority: HIGH\n  colour: red\n", project, "project"
    )

    assert [(w.file, w.line) for w in warnings] == [(project, 3)]
    assert not project.exists()  # validation never writes


def test_validate_config_text_rejects_candidate_conflicting_with_other_layers(
    tmp_leindex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEINDEX_MEMORY_HARD_LIMIT_PERCENT", "0.85")
    path = tmp_leindex_home / "config.yaml"

    with pytest.raises(ConfigError) as caught:
        validate_config_text("memory:\n  soft_limit_percent: 0.9\n", path)

    assert caught.value.file == path and caught.value.line == 2


def test_validate_config_text_reports_syntax_error_line(tmp_leindex_home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config_text("memory:\n  a: 1\n b: 2\n", tmp_leindex_home / "config.yaml")

    assert caught.value.line == 3


def test_concurrent_overrides_keep_each_others_keys(tmp_leindex_home: Path) -> None:
    manager = get_reload_manager()

    def apply(key: str, value: int) -> None:
        for _ in range(20):
            assert manager.apply_overrides({key: value}).success

    threads = [
        threading.Thread(target=apply, args=("max_loaded_files", 7)),
        threading.Thread(target=apply, args=("max_cached_queries", 9)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert manager.overrides == {"memory.max_loaded_files": 7, "memory.max_cached_queries": 9}
