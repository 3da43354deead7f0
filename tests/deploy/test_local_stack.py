"""deploy/local and `tellwell infra`: a second, private stack on spare ports (the shared one stays up).

The private stack reuses the Kafka jars and the FerretDB binary already installed under .local/
(symlinked into a temporary TELLWELL_LOCAL), so only start-up is timed here, not the first install.
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.infra import REPO

pytestmark = [pytest.mark.kafka, pytest.mark.mongo]

TELLWELL = str(Path(sys.executable).parent / "tellwell")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def run(args: list[str], env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed() -> Path:
    """The shared install (idempotent: a no-op when already there)."""
    result = subprocess.run(
        ["bash", str(REPO / "deploy/local/stack.sh"), "install"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return REPO / ".local"


def private_local(tmp: Path, installed: Path) -> Path:
    local = tmp / "local"
    (local / "bin").mkdir(parents=True)
    for ferretdb in (installed / "bin").glob("ferretdb-*"):
        (local / "bin" / ferretdb.name).symlink_to(ferretdb)
    for kafka in installed.glob("kafka-*"):
        if (kafka / ".installed").exists():
            (local / kafka.name).symlink_to(kafka)
    return local


class TestInfraCommands:
    def test_up_twice_status_down_status(self, tmp_path, installed):
        kafka_port = free_port()
        env = os.environ | {
            "TELLWELL_LOCAL": str(private_local(tmp_path, installed)),
            "KAFKA_PORT": str(kafka_port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "MONGO_PORT": str(free_port()),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
            "KAFKA_HEAP": "384m",
        }
        try:
            first = run([TELLWELL, "infra", "up"], env)
            assert first.returncode == 0, first.stderr + first.stdout
            assert "topics ready (created raw.article" in first.stdout

            second = run([TELLWELL, "infra", "up"], env)
            assert second.returncode == 0, second.stderr
            assert "already running" in second.stderr
            assert "topics ready\n" in second.stdout  # nothing created twice

            status = run([TELLWELL, "infra", "status"], env)
            assert status.returncode == 0
            assert "kafka: up" in status.stdout
            assert "ferretdb: up" in status.stdout
            assert f"127.0.0.1:{env['MONGO_PORT']}" in status.stdout
        finally:
            run_dir = Path(env["TELLWELL_LOCAL"]) / "run"
            pids = [int(p.read_text()) for p in run_dir.glob("*.pid")]
            down = run([TELLWELL, "infra", "down"], env)
        assert down.returncode == 0, down.stderr
        assert len(pids) == 2
        for pid in pids:  # the servers themselves are gone, not just the scripts that started them
            assert not alive(pid)
        after = run([TELLWELL, "infra", "status"], env)
        assert after.returncode == 1
        assert "kafka: down" in after.stdout
        assert "ferretdb: down" in after.stdout


@pytest.fixture
def bare_path(tmp_path) -> str:
    """A PATH with the shell basics only: no java, mvn or go."""
    bindir = tmp_path / "bare-bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "mkdir", "flock", "cat", "rm", "sed", "awk", "sleep", "seq"):
        found = shutil.which(tool)
        assert found, tool
        (bindir / tool).symlink_to(found)
    return str(bindir)


class TestClearErrors:
    @pytest.mark.parametrize(
        ("script", "missing"),
        [
            ("kafka.sh", "'java' not found: install a Java 17+"),
            ("ferretdb.sh", "'go' not found: install Go"),
        ],
    )
    def test_missing_toolchain_gives_one_line_naming_what_to_install(
        self, tmp_path, bare_path, script, missing
    ):
        env = {"PATH": bare_path, "TELLWELL_LOCAL": str(tmp_path / "fresh"), "HOME": str(tmp_path)}

        result = run(["bash", str(REPO / "deploy/local" / script), "up"], env)

        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("error: ")
        assert missing in lines[0]

    def test_taken_port_is_reported(self, tmp_path, installed):
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            port = squatter.getsockname()[1]
            env = os.environ | {
                "TELLWELL_LOCAL": str(private_local(tmp_path, installed)),
                "MONGO_PORT": str(port),
            }

            result = run(["bash", str(REPO / "deploy/local/ferretdb.sh"), "up"], env)

        assert result.returncode == 1
        assert f"port {port} is taken" in result.stderr
