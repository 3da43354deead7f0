"""docker-compose.yml is consistent with the code: every service built, healthy-gated and configured."""

import re
import shutil
import subprocess

import pytest
import yaml

from tests.fixtures.infra import REPO

SERVICES = {"gateway": 8000, "ingest": 8001, "cluster": 8002, "summarize": 8003, "score": 8004}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


class TestCompose:
    def test_every_service_is_built_from_the_repo_root_with_the_one_dockerfile(self, compose):
        for name, port in SERVICES.items():
            build = compose["services"][name]["build"]
            assert build["context"] == "."
            assert build["dockerfile"] == "deploy/Dockerfile"
            assert build["args"] == {"SERVICE": name, "PORT": str(port)}
            assert (REPO / "services" / name / "src" / "tellwell" / name / "app.py").exists()
        assert compose["services"]["kafka-init"]["build"] == compose["services"]["ingest"]["build"]

    def test_every_long_running_container_has_a_healthcheck(self, compose):
        for name, spec in compose["services"].items():
            if name != "kafka-init":
                assert "test" in spec.get("healthcheck", {}), name

    def test_services_start_only_after_their_stores_are_healthy(self, compose):
        for name in SERVICES:
            deps = compose["services"][name]["depends_on"]
            assert deps["mongo"]["condition"] == "service_healthy"
            if name != "gateway":
                assert deps["kafka"]["condition"] == "service_healthy"
                assert deps["kafka-init"]["condition"] == "service_completed_successfully"
        assert compose["services"]["cluster"]["depends_on"]["qdrant"]["condition"] == "service_healthy"

    def test_topics_come_from_the_code_not_a_copy(self, compose):
        command = " ".join(compose["services"]["kafka-init"]["command"])
        assert "ensure_topics" in command

    @pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client on this machine")
    def test_docker_compose_parses_it(self):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode != 0:
            pytest.skip("the docker client has no compose plugin")
        result = subprocess.run(
            ["docker", "compose", "config", "-q"], cwd=REPO, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr


class TestDockerfile:
    def test_one_recipe_installs_the_makefiles_uv_and_runs_the_chosen_service(self):
        text = (REPO / "deploy" / "Dockerfile").read_text()
        makefile = (REPO / "Makefile").read_text()
        uv = re.search(r"^UV_VERSION := (\S+)$", makefile, re.M).group(1)
        assert f"ARG UV_VERSION={uv}\n" in text
        assert '--package="tellwell-${SERVICE}"' in text
        assert "exec uvicorn tellwell.${TELLWELL_SERVICE}.app:app" in text
        assert "TELLWELL_SERVICE=${SERVICE} TELLWELL_PORT=${PORT}" in text
        assert not list(REPO.glob("services/*/Dockerfile"))  # no copies left to drift
