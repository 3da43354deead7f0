"""Each service runs as its own process via `tellwell serve`, with health, readiness and metrics."""

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.infra import REPO, Infra
from tests.fixtures.waiting import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.mongo]

SERVICES = ["ingest", "cluster", "summarize", "score", "gateway"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_status(url: str, status: int, timeout: float = 45.0, contains: str = "") -> tuple[int, str]:
    """The first answer of ``url`` with ``status`` (and ``contains``); the last one after ``timeout``."""
    last: tuple[int, str] = (0, "")

    def answered() -> bool:
        nonlocal last
        try:
            last = get(url)
        except OSError:
            return False
        return last[0] == status and contains in last[1].replace('":"', '": "')

    try:
        wait_until(answered, timeout_s=timeout, interval_s=0.3, what=f"{url} to answer {status}")
    except AssertionError:
        pass  # the caller's assertion shows the last answer and the service's log
    return last


def serve(service: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    tellwell = Path(sys.executable).parent / "tellwell"
    return subprocess.Popen(
        [str(tellwell), "serve", service, "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def service_env(infra: Infra, tmp_path: Path) -> dict[str, str]:
    return os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "MONGO_URL": infra.mongo_url,
        "MONGO_DATABASE": "tellwell_test_services",
        "QDRANT_PATH": str(tmp_path / "qdrant"),
        "TELLWELL_ROOT": str(REPO),
    }


class TestServiceProcesses:
    @pytest.mark.parametrize("service", SERVICES)
    def test_serves_health_readiness_metrics_and_stops_on_sigterm(self, service, service_env, tmp_path):
        port = free_port()
        proc = serve(service, port, service_env, tmp_path / f"{service}.log")
        try:
            status, body = wait_status(f"http://127.0.0.1:{port}/readyz", 200)
            assert status == 200, (
                f"{service} not ready: {body}\n{(tmp_path / f'{service}.log').read_text()[-2000:]}"
            )
            assert '"mongo": "ok"' in body.replace('":"', '": "')
            if service != "gateway":
                assert '"kafka": "ok"' in body.replace('":"', '": "')
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            status, metrics = get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert "# TYPE" in metrics
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        log = (tmp_path / f"{service}.log").read_text()
        assert code in (0, -signal.SIGTERM), log[-2000:]  # uvicorn re-raises SIGTERM after a clean shutdown
        assert "Application shutdown complete" in log

    def test_readiness_reports_an_unreachable_store(self, service_env, tmp_path):
        port = free_port()
        env = service_env | {
            "MONGO_URL": f"mongodb://127.0.0.1:{free_port()}",
            "MONGO_SERVER_SELECTION_TIMEOUT_MS": "300",
        }
        proc = serve("summarize", port, env, tmp_path / "summarize.log")
        try:
            # starting up, Kafka may not answer yet either: wait until only the store is missing
            status, body = wait_status(f"http://127.0.0.1:{port}/readyz", 503, contains='"kafka": "ok"')
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        assert status == 503
        assert '"kafka": "ok"' in body
        assert '"mongo": "' in body
        assert '"mongo": "ok"' not in body
