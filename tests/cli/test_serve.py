"""`tellwell serve <service>`: where it listens is the flag, else <SERVICE>_HOST/_PORT, else the default."""

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tellwell.cli import main
from tellwell.cli.procs import DEFAULT_PORTS, Service, service_address
from tests.fixtures.infra import Infra
from tests.fixtures.processes import stop_process
from tests.fixtures.waiting import wait_until

ADDRESS_VARS = [f"{s.value.upper()}_{part}" for s in Service for part in ("HOST", "PORT")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch):
    """Run `tellwell serve ...` in-process with exec replaced; returns (exit code, output, argv)."""
    for var in ADDRESS_VARS:
        monkeypatch.delenv(var, raising=False)
    calls: list[list[str]] = []
    monkeypatch.setattr(main.os, "execv", lambda path, argv: calls.append(list(argv)))

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, list[str]]:
        result = CliRunner().invoke(main.app, ["serve", *args], env=env)
        return result.exit_code, result.output, calls[-1] if calls else []

    return run


def address(argv: list[str]) -> tuple[str, int]:
    return argv[argv.index("--host") + 1], int(argv[argv.index("--port") + 1])


class TestServeAddress:
    def test_defaults_without_flag_or_variable(self, served):
        code, output, argv = served("gateway")
        assert code == 0, output
        assert address(argv) == ("127.0.0.1", 8000)
        assert "tellwell.gateway.app:app" in argv

    def test_port_from_the_service_variable(self, served):
        code, output, argv = served("gateway", env={"GATEWAY_PORT": "8123"})
        assert code == 0, output
        assert address(argv) == ("127.0.0.1", 8123)

    def test_host_from_the_service_variable(self, served):
        code, output, argv = served("ingest", env={"INGEST_HOST": "0.0.0.0"})
        assert code == 0, output
        assert address(argv) == ("0.0.0.0", DEFAULT_PORTS[Service.ingest])

    def test_another_services_variable_is_ignored(self, served):
        code, output, argv = served("score", env={"GATEWAY_PORT": "8123", "INGEST_HOST": "0.0.0.0"})
        assert code == 0, output
        assert address(argv) == ("127.0.0.1", DEFAULT_PORTS[Service.score])

    def test_flags_win_over_the_variables(self, served):
        env = {"CLUSTER_PORT": "8123", "CLUSTER_HOST": "0.0.0.0"}
        code, output, argv = served("cluster", "--port", "8555", "--host", "127.0.0.2", env=env)
        assert code == 0, output
        assert address(argv) == ("127.0.0.2", 8555)

    @pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
    def test_a_bad_port_variable_is_a_one_line_error(self, served, value):
        code, output, argv = served("gateway", env={"GATEWAY_PORT": value})
        assert code == 1
        assert argv == []
        assert f"error: GATEWAY_PORT='{value}' is not a port number" in output
        assert "Traceback" not in output


class TestServiceAddress:
    def test_empty_variables_count_as_unset(self):
        assert service_address("summarize", environ={"SUMMARIZE_PORT": " ", "SUMMARIZE_HOST": ""}) == (
            "127.0.0.1",
            DEFAULT_PORTS[Service.summarize],
        )


@pytest.mark.mongo
class TestServeProcess:
    def test_gateway_listens_on_gateway_port(self, infra: Infra, tmp_path: Path):
        port = free_port()
        env = os.environ | {
            "MONGO_URL": infra.mongo_url,
            "MONGO_DATABASE": "tellwell_test_cli_serve",
            "GATEWAY_PORT": str(port),
            "GATEWAY_HOST": "127.0.0.1",
        }
        log = tmp_path / "gateway.log"
        tellwell = Path(sys.executable).parent / "tellwell"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(tellwell), "serve", "gateway"], env=env, stdout=out, stderr=out)
        try:

            def healthy() -> bool:
                assert proc.poll() is None, (
                    f"exited, nothing on GATEWAY_PORT={port}:\n{log.read_text()[-2000:]}"
                )
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                        return r.status == 200
                except OSError:
                    return False

            wait_until(
                healthy,
                timeout_s=60,
                interval_s=0.3,
                what=lambda: f"the gateway on GATEWAY_PORT={port}:\n{log.read_text()[-2000:]}",
            )
        finally:
            stop_process(proc, timeout_s=30)
