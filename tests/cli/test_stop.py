"""Ctrl-C on `tellwell up` / `make demo` is a clean stop: what was stopped is printed, exit 0.

A terminal sends SIGINT to its whole foreground process group, so the tests start the command in
a process group of its own and signal that group, services included, as a terminal would. They
run on a private stack (own Kafka and FerretDB on free ports): the services' consumer groups and
topics never touch anyone else's broker.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tellwell.cli.procs import LocalStack, Service, StopSignals
from tests.e2e.harness import private_stack
from tests.fixtures.infra import REPO

TELLWELL = Path(sys.executable).parent / "tellwell"
ALL_STOPPED = "stopped: " + ", ".join(s.value for s in Service)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(autouse=True)
def sigint_as_in_a_terminal() -> Iterator[None]:
    """SIGINT with Python's default handler, as a process started from a terminal has it: a test run
    started in the background (``cmd &``) inherits SIGINT ignored, which StopSignals respects."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


# Runs a command with SIGINT back to its default first (an ignored SIGINT is inherited across exec).
_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


class TestStopSignals:
    @staticmethod
    def signal_self(sig: signal.Signals) -> None:
        os.kill(os.getpid(), sig)
        time.sleep(5)  # the handler runs here, in the main thread

    def test_first_signal_is_recorded_and_raised(self):
        with StopSignals() as stop, pytest.raises(KeyboardInterrupt):
            self.signal_self(signal.SIGINT)
        assert stop.received is signal.SIGINT

    def test_later_signals_do_not_interrupt_the_shutdown(self):
        with StopSignals() as stop:
            with pytest.raises(KeyboardInterrupt):
                self.signal_self(signal.SIGTERM)
            started = time.monotonic()
            os.kill(os.getpid(), signal.SIGINT)  # as `uv run` forwards one 200 ms later
            time.sleep(0.3)  # intended: a second signal arriving now must not cut this sleep short
            assert time.monotonic() - started >= 0.3
        assert stop.received is signal.SIGTERM

    def test_previous_handlers_come_back(self):
        before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
        with StopSignals():
            assert signal.getsignal(signal.SIGINT) is not before[0]
        assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before

    def test_an_ignored_signal_stays_ignored(self):
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            with StopSignals():
                assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        finally:
            signal.signal(signal.SIGINT, previous)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with private_stack(tmp_path_factory.mktemp("stop-stack")) as started:
        yield started


@pytest.fixture
def demo_env(stack: LocalStack, tmp_path: Path) -> dict[str, str]:
    """The private stack, a database of this test, free ports for the five services."""
    env = os.environ | stack.env(database=f"stop_{uuid.uuid4().hex[:8]}", qdrant_path=tmp_path / "qdrant")
    env |= {f"{s.value.upper()}_PORT": str(free_port()) for s in Service}
    env |= {"INGEST_POLL_ENABLED": "false", "UV_NO_SYNC": "1"}
    return env


def ctrl_c(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole foreground group


def interrupt(
    command: list[str],
    env: dict[str, str],
    *,
    when: str | None = None,
    after_s: float = 0.0,
    act: Callable[[subprocess.Popen[bytes]], None] = ctrl_c,
) -> tuple[int, str]:
    """Run ``command`` in a process group of its own; once ``when`` is printed (then ``after_s``
    seconds), ``act`` on it (Ctrl-C); returns (exit status, everything it printed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _DEFAULT_SIGINT, *command],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        process_group=0,
    )
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.decode(errors="replace"))
            if when is not None and when in lines[-1]:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if when is not None:
            assert seen.wait(300) or proc.poll() is not None, "".join(lines)[-3000:]
            assert proc.poll() is None, f"exited before {when!r}:\n{''.join(lines)[-3000:]}"
        time.sleep(after_s)
        act(proc)
        code = proc.wait(timeout=120)
        left = group_members(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    reader.join(timeout=10)
    output = "".join(lines)
    # Nothing it started may outlive it (a service still draining after the supervisor is gone).
    assert not left, f"still running after it exited: {left}\n{output}"
    return code, output


def group_members(pgid: int) -> list[str]:
    """Live processes of a process group (zombies aside)."""
    import psutil

    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(f"{p.pid} {' '.join(p.info['cmdline'] or [])[:120]}")
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def ports(env: dict[str, str]) -> list[int]:
    return [int(env[f"{s.value.upper()}_PORT"]) for s in Service]


@pytest.mark.kafka
@pytest.mark.mongo
@pytest.mark.e2e
class TestCtrlC:
    def test_when_up_is_a_clean_stop(self, demo_env, tmp_path):
        command = [str(TELLWELL), "up", "--no-stack", "--logs", str(tmp_path / "logs")]
        code, output = interrupt(command, demo_env, when="TellWell is up")
        assert code == 0, output
        assert ALL_STOPPED in output
        assert "error" not in output.lower()
        assert "Traceback" not in output
        assert not [p for p in ports(demo_env) if listening(p)]

    def test_during_start_up_is_a_clean_stop(self, demo_env, tmp_path):
        command = [str(TELLWELL), "up", "--no-stack", "--logs", str(tmp_path / "logs")]
        code, output = interrupt(command, demo_env, after_s=4.0)
        assert code == 0, output
        assert ALL_STOPPED in output
        assert "error" not in output.lower()
        assert "Traceback" not in output

    def test_a_service_that_dies_is_still_an_error(self, demo_env, tmp_path):
        import psutil

        def kill_gateway(proc: subprocess.Popen[bytes]) -> None:
            for child in psutil.Process(proc.pid).children():
                if "tellwell.gateway.app:app" in child.cmdline():
                    child.kill()

        command = [str(TELLWELL), "up", "--no-stack", "--logs", str(tmp_path / "logs")]
        code, output = interrupt(command, demo_env, when="TellWell is up", act=kill_gateway)
        assert code == 1, output
        assert "error: service(s) exited: gateway (killed by SIGKILL)" in output
        assert "stopped:" not in output

    def test_make_demo_while_stories_form(self, demo_env, tmp_path):
        # -o install: the packages are installed already (and others may be using this venv).
        demo_args = f"DEMO_ARGS=--no-stack --logs {tmp_path / 'logs'}"
        command = ["make", "--no-print-directory", "-o", "install", "demo", demo_args]
        code, output = interrupt(command, demo_env, when="stories appear on")
        assert ALL_STOPPED in output, output
        assert "error:" not in output.lower()
        assert "Traceback" not in output
        # The recipe exits 0, so make reports no "Error 1"; but GNU make, interrupted itself,
        # re-raises SIGINT once its child is done (it may print "*** [demo] Interrupt").
        assert " Error " not in output
        assert code in (0, -signal.SIGINT), output
        assert not [p for p in ports(demo_env) if listening(p)]
