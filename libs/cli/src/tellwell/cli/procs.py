"""Processes of a running TellWell: the local stack (default or private) and the service processes.

``tellwell up``/``demo``, ``tellwell bench pipeline`` and the end-to-end and fault tests all start
the same things the same way, through this module:

* ``LocalStack`` drives ``deploy/local`` (Kafka + FerretDB). The default stack lives in ``.local``
  on the usual ports; a *private* stack (``LocalStack.private(folder)``) has its own data, logs
  and ports, so a benchmark or a fault test can stop its broker without touching anyone else's.
* ``ServiceProcs`` runs services as separate OS processes (``uvicorn tellwell.<svc>.app:app``) with
  one environment, waits for their ``/readyz``, kills (SIGKILL) and restarts them, and samples their
  resident memory.
* ``service_address`` is where a service listens: the flag, else ``<SERVICE>_HOST``/``_PORT``, else
  the default; ``StopSignals`` tells a stop the user asked for (Ctrl-C, SIGTERM) from a crash.

Example::

    stack = LocalStack.private(Path(".local/e2e"), kafka_port=19092, mongo_port=27018)
    stack.up()
    with ServiceProcs(stack.env(database="e2e"), logs=stack.logs) as procs:
        procs.start("cluster")
        procs.wait_ready()
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self


class Service(StrEnum):
    ingest = "ingest"
    cluster = "cluster"
    summarize = "summarize"
    score = "score"
    gateway = "gateway"


DEFAULT_PORTS = {
    Service.gateway: 8000,
    Service.ingest: 8001,
    Service.cluster: 8002,
    Service.summarize: 8003,
    Service.score: 8004,
}


def repo_root() -> Path:
    """The checkout this CLI runs from (where ``deploy/local`` lives)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "deploy" / "local" / "stack.sh").is_file():
            return parent
    cwd = Path.cwd()
    if (cwd / "deploy" / "local" / "stack.sh").is_file():
        return cwd
    raise FileNotFoundError("deploy/local/stack.sh not found: run tellwell from a TellWell checkout")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


DEFAULT_HOST = "127.0.0.1"


def service_address(
    service: Service | str,
    host: str | None = None,
    port: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, int]:
    """(host, port) of a service: the flag wins, else ``<SERVICE>_HOST``/``<SERVICE>_PORT``, else
    the default (127.0.0.1 and the service's own port). Raises ValueError on a bad port variable."""
    service = Service(service)
    env = os.environ if environ is None else environ
    prefix = service.value.upper()
    host = host or env.get(f"{prefix}_HOST") or DEFAULT_HOST
    if port is None:
        raw = env.get(f"{prefix}_PORT", "").strip()
        if not raw:
            port = DEFAULT_PORTS[service]
        elif raw.isdigit() and 0 < int(raw) < 65536:
            port = int(raw)
        else:
            raise ValueError(f"{prefix}_PORT={raw!r} is not a port number (1-65535)")
    return host, port


def connect_host(host: str) -> str:
    """Where to reach a server bound to ``host`` from this machine."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def service_command(service: Service | str, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        f"tellwell.{Service(service).value}.app:app",
        "--host",
        host,
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "20",
    ]


def tellwell_argv(*args: str) -> list[str]:
    """The command line of a ``tellwell`` subcommand (a service's plugin too) as a child process."""
    return [sys.executable, "-c", "from tellwell.cli.main import main; main()", *args]


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_until(predicate: object, timeout_s: float, interval_s: float = 0.3) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval_s)
    return False


@dataclass(frozen=True)
class LocalStack:
    """Kafka + FerretDB from ``deploy/local``; ``state`` None means the default stack in ``.local``."""

    state: Path | None = None
    kafka_port: int = 9092
    controller_port: int = 9093
    mongo_port: int = 27017

    @classmethod
    def private(cls, state: Path, *, kafka_port: int = 0, mongo_port: int = 0) -> LocalStack:
        """A stack of its own in ``state`` (ports picked free when 0)."""
        return cls(
            state=state.resolve(),
            kafka_port=kafka_port or free_port(),
            controller_port=free_port(),
            mongo_port=mongo_port or free_port(),
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}"

    @property
    def logs(self) -> Path:
        return (self.state or repo_root() / ".local") / "logs"

    def pids(self) -> dict[str, int]:
        """Process ids of the running Kafka and FerretDB (from their pid files)."""
        found: dict[str, int] = {}
        for component in ("kafka", "ferretdb"):
            path = (self.state or repo_root() / ".local") / "run" / f"{component}.pid"
            with contextlib.suppress(OSError, ValueError):
                found[component] = int(path.read_text().strip())
        return found

    def script_env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.state is not None:
            env["TELLWELL_STATE"] = str(self.state)
        env |= {
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "MONGO_PORT": str(self.mongo_port),
        }
        return env

    def run(self, action: str, component: str = "stack") -> int:
        """``deploy/local/<component>.sh <action>``: component is stack, kafka or ferretdb."""
        script = repo_root() / "deploy" / "local" / f"{component}.sh"
        return subprocess.call(["bash", str(script), action], env=self.script_env())

    def up(self) -> None:
        if self.run("up") != 0:
            raise RuntimeError(f"the local stack did not start (logs in {self.logs})")

    def down(self) -> None:
        self.run("down")

    def is_up(self) -> bool:
        return self.run("status") == 0

    def env(self, *, database: str, qdrant_path: Path | None = None) -> dict[str, str]:
        """What a service process needs to use this stack with its own database."""
        qdrant = qdrant_path or (self.state or repo_root() / ".local") / "data" / f"qdrant-{database}"
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "MONGO_URL": self.mongo_url,
            "MONGO_DATABASE": database,
            "QDRANT_PATH": str(qdrant),
        }


@dataclass
class ServiceProc:
    """One service process (a replica) and what is known of it."""

    service: Service
    name: str
    port: int
    log: Path
    popen: subprocess.Popen[bytes]
    peak_rss_mb: float = 0.0
    restarts: int = 0
    host: str = DEFAULT_HOST

    @property
    def url(self) -> str:
        return f"http://{connect_host(self.host)}:{self.port}"

    def exit_status(self) -> str:
        """How it ended, for a message: ``exit code 1``, ``killed by SIGKILL`` (or ``running``)."""
        code = self.popen.poll()
        if code is None:
            return "running"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def ready(self) -> bool:
        return self.alive() and http_ok(f"{self.url}/readyz")


@dataclass
class ServiceProcs:
    """Service processes sharing one environment (stack + database); a context manager."""

    env: dict[str, str]
    logs: Path
    host: str = "127.0.0.1"
    procs: dict[str, ServiceProc] = field(default_factory=dict)
    _sampler: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Self:
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_all()

    def start(
        self,
        service: Service | str,
        *,
        name: str | None = None,
        port: int | None = None,
        host: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> ServiceProc:
        """Start a replica; ``extra`` adds environment variables (e.g. a replica id)."""
        service = Service(service)
        name = name or service.value
        port = port or free_port()
        host = host or self.host
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.log"
        env = dict(os.environ) | self.env | (extra or {})
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                service_command(service, host, port), stdout=out, stderr=subprocess.STDOUT, env=env
            )
        proc = ServiceProc(service, name, port, log, popen, host=host)
        if name in self.procs:
            proc.restarts = self.procs[name].restarts + 1
            proc.peak_rss_mb = self.procs[name].peak_rss_mb
        self.procs[name] = proc
        return proc

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait for every process's /readyz; raise naming the ones that exited or never got ready."""
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            while not proc.ready():
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited during start-up (see {proc.log})")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name} not ready after {timeout_s:.0f} s (see {proc.log})")
                time.sleep(0.3)

    def kill(self, name: str) -> None:
        """SIGKILL: no drain, no goodbye (a crash)."""
        proc = self.procs[name]
        if proc.alive():
            proc.popen.send_signal(signal.SIGKILL)
            proc.popen.wait(timeout=30)

    def restart(self, name: str) -> ServiceProc:
        old = self.procs[name]
        self.kill(name)
        return self.start(old.service, name=name, port=old.port, host=old.host)

    def stop_all(self, timeout_s: float = 25.0) -> None:
        self._stop.set()
        for proc in self.procs.values():
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU time each running process has used so far."""
        return cpu_seconds({name: proc.popen.pid for name, proc in self.procs.items() if proc.alive()})

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if not proc.alive()]

    def _sample_rss(self) -> None:
        import psutil

        while not self._stop.wait(0.5):
            for proc in list(self.procs.values()):
                try:
                    rss = psutil.Process(proc.popen.pid).memory_info().rss / 2**20
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                proc.peak_rss_mb = max(proc.peak_rss_mb, rss)


class StopSignals:
    """Records the first SIGINT or SIGTERM a supervisor gets, then raises it as KeyboardInterrupt.

    A terminal sends Ctrl-C to its whole foreground process group, so the services a supervisor
    started get SIGINT too and exit on their own: ``received`` tells the supervisor the stop was
    asked for, so those exits (and whatever the interrupt broke midway) are not a crash. Later
    signals are ignored, so they cannot cut the shutdown short and orphan services still
    draining: ``uv run`` (as ``make demo`` runs us) forwards a second SIGINT 200 ms after the
    terminal's. A signal ignored when the process started (a background job) stays ignored.
    Installing our own handler also keeps ``asyncio.run`` from installing its own, which turns
    a Ctrl-C into a task cancellation that a library may swallow.

    Example::

        with StopSignals() as stop:
            try:
                supervise()
            except BaseException:
                if stop.received is None:
                    raise            # a real failure
    """

    def __init__(self, signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> Self:
        for sig in self.signals:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
            raise KeyboardInterrupt


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time used so far by each named process (those that exist)."""
    import psutil

    used: dict[str, float] = {}
    for name, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        used[name] = times.user + times.system
    return used
