"""deploy/k8s renders, passes the Kubernetes schemas, and agrees with the code it deploys.

The renderer (kustomize) and the schema validator (kubernetes-validate, which bundles the
Kubernetes JSON schemas) are installed by deploy/k8s/tools.sh from the package registries and
cached under .local/. KEDA's ScaledObject is a CRD outside those schemas: it is checked here,
field by field, against the Deployments and against the consumer groups the services subscribe with.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from tellwell.common.settings import KafkaSettings, MongoSettings, QdrantSettings
from tellwell.common.topics import Topic
from tests.fixtures.infra import REPO, Infra

K8S = REPO / "deploy/k8s"
TOOLS = K8S / "tools.sh"
OVERLAYS = ("dev", "production")
SERVICES = ("ingest", "cluster", "summarize", "score", "gateway")
# `make images` builds each image from deploy/Dockerfile with its port: "gateway:8000", ...
MAKEFILE_PORTS = re.search(r"^SERVICE_PORTS := (.+)$", (REPO / "Makefile").read_text(), re.M).group(1).split()
CONSUMERS = ("cluster", "summarize", "score")
CONFIG = "tellwell-config"
# (topic, consumer group) each consumer's lag is measured on: DESIGN.md §2, as the code subscribes.
LAG_SOURCES = {
    "cluster": (Topic.raw_article.value, "cluster"),
    "summarize": (Topic.story_cluster.value, "summarize"),
    "score": (Topic.story_summary.value, "score"),
}
SECRET = "tellwell-secrets"


def tool(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(TOOLS), *args], capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def tools_installed() -> None:
    result = tool("install")
    assert result.returncode == 0, result.stderr


@cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    result = tool("kustomize", "build", str(K8S / "overlays" / overlay))
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def config_data(docs: tuple[dict[str, Any], ...]) -> dict[str, str]:
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith(CONFIG)]
    data: dict[str, str] = config["data"]
    return data


def scaled_targets(docs: tuple[dict[str, Any], ...]) -> set[str]:
    return {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(docs, "ScaledObject").values()}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (main,) = deployment["spec"]["template"]["spec"]["containers"]
    return main  # type: ignore[no-any-return]


def service_settings(name: str) -> type[BaseSettings]:
    return importlib.import_module(f"tellwell.{name}.settings").Settings  # type: ignore[no-any-return]


def settings_env_names() -> set[str]:
    """Every environment variable some settings class of the code reads."""
    names = {
        str(cls.model_config.get("env_prefix", "")) + field.upper()
        for cls in (KafkaSettings, MongoSettings, QdrantSettings)
        for field in cls.model_fields
    }
    for svc in SERVICES:
        cls = service_settings(svc)
        prefix = str(cls.model_config.get("env_prefix", ""))
        names |= {prefix + f.upper() for f in cls.model_fields if f not in ("kafka", "mongo", "qdrant")}
    return names


def subscriptions(svc: str) -> set[tuple[str, str]]:
    """(topic, consumer group) of every subscriber the service's real app registers."""
    app = importlib.import_module(f"tellwell.{svc}.app").app
    broker = getattr(app, "broker", None)
    return {
        (topic, sub.group_id)
        for sub in (broker.subscribers if broker is not None else [])
        for topic in sub.topic_names
    }


@pytest.fixture(params=OVERLAYS)
def docs(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ...]:
    return render(request.param)


def validate(tmp_path: Path, docs: tuple[dict[str, Any], ...]) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return tool("validate", "--strict", "--kubernetes-version", "1.33", str(path))


class TestRendering:
    def test_every_overlay_passes_the_kubernetes_schemas(self, docs, tmp_path):
        result = validate(tmp_path, docs)
        assert result.returncode == 0, result.stdout + result.stderr
        core = [d for d in docs if not d["apiVersion"].startswith("keda.sh/")]
        assert result.stdout.count(" passed for resource ") == len(core)

    def test_the_validator_catches_a_broken_deployment(self, tmp_path):
        docs = copy.deepcopy(render("dev"))
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        container(deployment)["ports"][0]["containerPort"] = "eight-thousand"
        container(deployment)["livenessProbe"]["httpGet"]["pathh"] = "/healthz"
        assert validate(tmp_path, docs).returncode != 0

    def test_every_service_has_a_deployment_a_service_and_a_disruption_budget(self, docs):
        deployments, services, pdbs = (
            of_kind(docs, k) for k in ("Deployment", "Service", "PodDisruptionBudget")
        )
        for svc in SERVICES:
            pod_labels = deployments[svc]["spec"]["template"]["metadata"]["labels"]
            selector = deployments[svc]["spec"]["selector"]["matchLabels"]
            assert selector.items() <= pod_labels.items()
            assert services[svc]["spec"]["selector"].items() <= pod_labels.items()
            assert pdbs[svc]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
            # maxUnavailable, not minAvailable: a one-replica service must not block node drains.
            assert pdbs[svc]["spec"]["maxUnavailable"] == 1


class TestServicesMatchTheCode:
    def test_ports_are_the_settings_defaults_and_the_images_ones(self, docs):
        deployments, services = of_kind(docs, "Deployment"), of_kind(docs, "Service")
        for svc in SERVICES:
            port = service_settings(svc).model_fields["port"].default
            main = container(deployments[svc])
            assert main["ports"] == [{"name": "http", "containerPort": port}]
            env = {e["name"]: e.get("value") for e in main.get("env", [])}
            assert env[f"{svc.upper()}_PORT"] == str(port)
            assert services[svc]["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]
            assert f"{svc}:{port}" in MAKEFILE_PORTS  # what `make images` builds it with
            assert deployments[svc]["spec"]["template"]["metadata"]["annotations"][
                "prometheus.io/port"
            ] == str(port)

    def test_images_are_the_ones_the_dockerfiles_build(self, docs):
        for svc, deployment in of_kind(docs, "Deployment").items():
            image = container(deployment)["image"]
            assert re.fullmatch(rf"([\w.-]+/)*tellwell-{svc}:[\w.-]+", image), image
            assert svc in {sp.split(":")[0] for sp in MAKEFILE_PORTS}  # `make images`: tellwell-<svc>

    def test_probes_liveness_on_healthz_readiness_on_readyz(self, docs):
        for svc, deployment in of_kind(docs, "Deployment").items():
            main = container(deployment)
            assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, svc
            assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, svc
            assert main["startupProbe"]["httpGet"]["path"] == "/healthz", svc
            # /readyz runs each check with a 2 s timeout (tellwell.common.observability.run_checks).
            assert main["readinessProbe"]["timeoutSeconds"] > 2, svc

    def test_every_container_has_requests_and_a_memory_limit(self, docs):
        for svc, deployment in of_kind(docs, "Deployment").items():
            resources = container(deployment)["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), svc
            assert "memory" in resources["limits"], svc

    def test_every_variable_set_is_one_the_code_reads(self, docs):
        known = settings_env_names() | {"HOME"}
        assert {"KAFKA_BOOTSTRAP_SERVERS", "CLUSTER_PORT"} <= known  # the helper sees them
        assert set(config_data(docs)) <= known
        for secret in of_kind(docs, "Secret").values():
            assert set(secret["data"]) <= known
        example = (K8S / "overlays/production/secrets.env.example").read_text().splitlines()
        assert {line.split("=")[0] for line in example if "=" in line and line[0] != "#"} <= known
        for deployment in of_kind(docs, "Deployment").values():
            assert {e["name"] for e in container(deployment).get("env", [])} <= known

    def test_config_and_secret_reach_every_service(self, docs):
        configs = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
        secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
        for svc, deployment in of_kind(docs, "Deployment").items():
            refs = container(deployment)["envFrom"]
            (config,) = [r["configMapRef"]["name"] for r in refs if "configMapRef" in r]
            (secret,) = [r["secretRef"]["name"] for r in refs if "secretRef" in r]
            assert config in configs, svc
            # production takes the Secret from the operator's secret store (documented), dev generates it.
            assert secret in secrets or (secret == SECRET and not secrets), svc

    def test_the_dev_secret_holds_the_mongo_url_with_credentials(self):
        import base64

        (secret,) = of_kind(render("dev"), "Secret").values()
        url = base64.b64decode(secret["data"]["MONGO_URL"]).decode()
        assert re.match(r"mongodb(\+srv)?://[^:/]+:[^@/]+@", url), url


class TestScaling:
    def test_consumers_scale_on_the_lag_of_the_group_and_topic_they_subscribe(self, docs):
        config = config_data(docs)
        deployments = of_kind(docs, "Deployment")
        for name, scaled in of_kind(docs, "ScaledObject").items():
            assert scaled["apiVersion"] == "keda.sh/v1alpha1"
            spec = scaled["spec"]
            target = spec["scaleTargetRef"]["name"]
            assert target in deployments, name
            assert target in CONSUMERS, name
            assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
            # More consumers than partitions would sit idle.
            assert spec["maxReplicaCount"] <= int(config["KAFKA_PARTITIONS"])
            # The production overlay patches the brokers of the first trigger: the lag one.
            trigger, *others = spec["triggers"]
            assert trigger["type"] == "kafka"
            assert all(other["type"] != "kafka" for other in others)
            meta = trigger["metadata"]
            assert meta["bootstrapServers"] == config["KAFKA_BOOTSTRAP_SERVERS"]
            assert int(meta["lagThreshold"]) > 0
            assert meta["offsetResetPolicy"] == "earliest"
            assert (meta["topic"], meta["consumerGroup"]) == LAG_SOURCES[target]
            # KEDA must watch the group and topic the service's app really subscribes with.
            assert LAG_SOURCES[target] in subscriptions(target), target

    def test_summarize_also_scales_on_its_pending_backlog_in_mongodb(self, docs):
        from tellwell.summarize import repository

        (summarize,) = [
            s for s in of_kind(docs, "ScaledObject").values() if s["metadata"]["name"] == "summarize"
        ]
        (backlog,) = [t["metadata"] for t in summarize["spec"]["triggers"] if t["type"] == "mongodb"]
        assert backlog["collection"] == repository.PENDING
        assert backlog["dbName"] == config_data(docs)["MONGO_DATABASE"]
        assert backlog["connectionStringFromEnv"] == "MONGO_URL"  # from the Deployment's Secret
        assert json.loads(backlog["query"]) == {}
        assert int(backlog["queryValue"]) > 0
        refs = container(of_kind(docs, "Deployment")["summarize"])["envFrom"]
        assert any("secretRef" in r for r in refs)

    def test_every_subscribing_service_but_cluster_is_scaled_on_lag(self, docs):
        # cluster is stateful per story (one active replica); the other consumers are stateless.
        scaled = scaled_targets(docs)
        for svc in SERVICES:
            if subscriptions(svc):
                assert (svc in scaled) == (svc != "cluster"), svc

    def test_http_services_scale_on_cpu_and_nothing_has_two_autoscalers(self, docs):
        hpas = of_kind(docs, "HorizontalPodAutoscaler")
        assert set(hpas) == {"ingest", "gateway"}
        for name, hpa in hpas.items():
            assert hpa["spec"]["scaleTargetRef"] == {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
            }
            (metric,) = hpa["spec"]["metrics"]
            assert metric["resource"]["name"] == "cpu"
        scaled = scaled_targets(docs)
        assert not scaled & set(hpas)  # KEDA makes its own HPA: two on one Deployment would fight

    def test_autoscaled_deployments_leave_the_replica_count_to_the_autoscaler(self, docs):
        autoscaled = scaled_targets(docs)
        autoscaled |= set(of_kind(docs, "HorizontalPodAutoscaler"))
        for name, deployment in of_kind(docs, "Deployment").items():
            assert ("replicas" in deployment["spec"]) == (name not in autoscaled), name

    def test_dev_runs_one_cluster_replica_on_the_embedded_index_volume(self):
        docs = render("dev")
        config = config_data(docs)
        assert "QDRANT_URL" not in config
        cluster = of_kind(docs, "Deployment")["cluster"]
        assert cluster["spec"]["replicas"] == 1
        assert cluster["spec"]["strategy"]["type"] == "Recreate"
        mounts = {m["name"]: m["mountPath"] for m in container(cluster)["volumeMounts"]}
        assert config["QDRANT_PATH"].startswith(mounts["qdrant-edge"] + "/")
        (volume,) = [v for v in cluster["spec"]["template"]["spec"]["volumes"] if v["name"] == "qdrant-edge"]
        assert volume["persistentVolumeClaim"]["claimName"] in of_kind(docs, "PersistentVolumeClaim")
        assert "cluster" not in scaled_targets(docs)

    def test_production_cluster_is_one_replica_on_a_qdrant_server(self):
        docs = render("production")
        assert config_data(docs)["QDRANT_URL"].startswith("http")
        cluster = of_kind(docs, "Deployment")["cluster"]
        assert "volumeMounts" not in container(cluster) or all(
            m["name"] != "qdrant-edge" for m in container(cluster)["volumeMounts"]
        )
        assert not of_kind(docs, "PersistentVolumeClaim")
        assert cluster["spec"]["replicas"] == 1
        assert cluster["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
        assert "cluster" not in scaled_targets(docs)


@pytest.mark.kafka
def test_the_dev_topics_job_creates_the_topics_with_the_code(infra: Infra):
    (job,) = of_kind(render("dev"), "Job").values()
    (main,) = job["spec"]["template"]["spec"]["containers"]
    assert main["command"][:2] == ["python", "-c"]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap}
    result = subprocess.run(
        [sys.executable, "-c", main["command"][2]], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("[")  # the names it created (none when they exist)
