"""SignalRelay: handlers only queue; callbacks run on the relay thread; old handlers come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from engine.signals import SignalRelay, signal_name


def test_signal_runs_callback_on_the_relay_thread_not_the_main_thread() -> None:
    seen: list[tuple[int, str]] = []
    done = threading.Event()

    def on_hup(signum: int) -> None:
        seen.append((signum, threading.current_thread().name))
        done.set()

    relay = SignalRelay({signal.SIGHUP: on_hup}, name="relay-under-test")
    previous = signal.getsignal(signal.SIGHUP)
    relay.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert done.wait(5)
    finally:
        relay.uninstall()

    assert seen == [(signal.SIGHUP, "relay-under-test")]
    assert signal.getsignal(signal.SIGHUP) == previous


def test_failing_callback_does_not_stop_later_signals() -> None:
    calls: list[int] = []
    done = threading.Event()

    def flaky(signum: int) -> None:
        calls.append(signum)
        if len(calls) == 1:
            raise RuntimeError("first one fails")
        done.set()

    relay = SignalRelay({signal.SIGHUP: flaky})
    relay.install()
    try:
        relay.deliver(signal.SIGHUP)
        relay.deliver(signal.SIGHUP)
        assert done.wait(5)
    finally:
        relay.uninstall()
    assert calls == [signal.SIGHUP, signal.SIGHUP]


def test_install_off_the_main_thread_is_refused() -> None:
    relay = SignalRelay({signal.SIGHUP: lambda s: None})
    errors: list[BaseException] = []

    def install() -> None:
        try:
            relay.install()
        except RuntimeError as error:
            errors.append(error)

    thread = threading.Thread(target=install)
    thread.start()
    thread.join()
    assert errors and "main thread" in str(errors[0])


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGHUP, "SIGHUP"), (999, "999")])
def test_signal_name(signum: int, name: str) -> None:
    assert signal_name(signum) == name


def test_after_an_off_main_thread_uninstall_signals_act_as_before() -> None:
    calls: list[int] = []
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: calls.append(signum))
    relay = SignalRelay({signal.SIGHUP: lambda s: calls.append(-1)})
    relay.install()
    try:
        stopper = threading.Thread(target=relay.uninstall)
        stopper.start()
        stopper.join()
        # Still our handler (only the main thread may swap it), but acting as the old one.
        os.kill(os.getpid(), signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert calls == [signal.SIGHUP]


def test_relay_can_be_installed_again_after_uninstall() -> None:
    done = threading.Event()
    relay = SignalRelay({signal.SIGHUP: lambda s: done.set()})
    relay.install()
    relay.uninstall()
    relay.install()
    try:
        os.kill(os.getpid(), signal.SIGHUP)
        assert done.wait(5)
    finally:
        relay.uninstall()


def test_signal_reaches_the_relay_while_the_main_thread_is_parked() -> None:
    # The child's main thread sits in a plain lock wait, the kernel may hand the signal to
    # any of its threads: the wakeup pipe must still get it to the relay at once.
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    script = textwrap.dedent(
        """
        import os, signal, sys, threading, time
        sys.path.insert(0, sys.argv[1])
        from engine.signals import SignalRelay

        def on_hup(signum):
            print("hup", flush=True)

        relay = SignalRelay({signal.SIGHUP: on_hup})
        relay.install()
        assert relay.uses_wakeup_fd
        # Busy threads that the kernel may pick to run the C-level handler.
        for _ in range(4):
            threading.Thread(target=lambda: [time.sleep(0.0001) for _ in iter(int, 1)],
                             daemon=True).start()
        print("ready", flush=True)
        threading.Event().wait()
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(repo)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        for _ in range(5):
            os.kill(child.pid, signal.SIGHUP)
            assert child.stdout.readline().strip() == "hup"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_each_delivery_is_handled_once_though_two_paths_report_it() -> None:
    calls: list[int] = []
    relay = SignalRelay({signal.SIGHUP: calls.append})
    relay.install()
    try:
        assert relay.uses_wakeup_fd
        for _ in range(3):
            os.kill(os.getpid(), signal.SIGHUP)
        deadline = threading.Event()
        for _ in range(100):
            if len(calls) >= 3:
                break
            deadline.wait(0.01)
        deadline.wait(0.1)  # time for a duplicate to show up, if there were one
    finally:
        relay.uninstall()
    assert calls == [signal.SIGHUP] * 3
