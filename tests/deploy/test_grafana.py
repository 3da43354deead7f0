"""deploy/grafana/tellwell.json reads only metrics the services really export, with their real labels.

Every PromQL expression is parsed with Prometheus' grammar (promql-parser, installed by
deploy/grafana/promql.sh into .local/); the exported series and their label names come from the
Prometheus registry the five service apps fill when they are built, in this process.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from tests.fixtures.infra import REPO

DASHBOARD = REPO / "deploy/grafana/tellwell.json"
SERVICES = ("ingest", "cluster", "summarize", "score", "gateway")
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def exported(registry: CollectorRegistry) -> dict[str, set[str]]:
    """Series name -> label names, for every series the registry would expose on /metrics."""
    series: dict[str, set[str]] = {}
    for collector in set(registry._names_to_collectors.values()):  # no public listing of collectors
        declared = set(getattr(collector, "_labelnames", ()))
        for family in collector.collect():
            for suffix in SUFFIXES.get(family.type, ("",)):
                labels = declared | {"le"} if suffix == "_bucket" else set(declared)
                series.setdefault(family.name + suffix, set()).update(labels)
            for sample in family.samples:
                series.setdefault(sample.name, set()).update(sample.labels)
    return series


@cache
def service_series() -> dict[str, set[str]]:
    for svc in SERVICES:  # building each app registers its broker's and its own metrics
        importlib.import_module(f"tellwell.{svc}.app")
    return exported(REGISTRY)


def references(dashboard: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["bash", str(REPO / "deploy/grafana/promql.sh"), "refs", str(dashboard)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    refs: list[dict[str, Any]] = json.loads(result.stdout)
    return refs


def problems(refs: list[dict[str, Any]], series: dict[str, set[str]]) -> list[str]:
    found = []
    for ref in refs:
        where = f"{ref['panel']}: {ref['expr']}"
        for selector in ref["selectors"]:
            name = selector["name"]
            if name not in series:
                found.append(f"{where}: no service exports {name}")
                continue
            for label in set(selector["labels"]) - series[name] - TARGET_LABELS:
                found.append(f"{where}: {name} has no label {label!r}")
        for grouping in ref["groupings"]:
            available = set().union(*(series.get(m, set()) for m in grouping["metrics"])) | TARGET_LABELS
            for label in set(grouping["labels"]) - available:
                found.append(f"{where}: grouping by {label!r}, which none of {grouping['metrics']} has")
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


@pytest.fixture(scope="module")
def refs() -> list[dict[str, Any]]:
    return references(DASHBOARD)


def test_every_query_reads_real_series_with_real_labels(refs):
    assert len(refs) >= 20
    assert problems(refs, service_series()) == []


def test_the_check_catches_an_unknown_metric_and_a_wrong_label(tmp_path):
    broken = {
        "panels": [
            {"title": "bad", "targets": [{"expr": "sum by (route) (rate(tellwell_not_a_metric_total[5m]))"}]},
            {"title": "bad", "targets": [{"expr": 'sum by (colour) (tellwell_consumer_lag{shade="x"})'}]},
        ]
    }
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    found = problems(references(path), service_series())
    assert any("no service exports tellwell_not_a_metric_total" in p for p in found)
    assert any("has no label 'shade'" in p for p in found)
    assert any("grouping by 'colour'" in p for p in found)


def test_it_shows_throughput_lag_latency_dead_letters_and_http(refs):
    used = {s["name"] for ref in refs for s in ref["selectors"]}
    assert {
        "tellwell_received_processed_messages_total",  # throughput
        "tellwell_published_messages_total",
        "tellwell_consumer_lag",  # lag
        "tellwell_received_processed_messages_duration_seconds_bucket",  # handler latency
        "tellwell_dead_letters_total",  # DLQ
        "tellwell_gateway_requests_total",  # HTTP rate
        "tellwell_gateway_request_seconds_bucket",  # HTTP latency
    } <= used


def test_the_dashboard_is_well_formed(dashboard):
    panels = dashboard["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        area = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            # Grafana's own $__rate_interval etc. start with "__"; the rest must be defined variables.
            assert set(re.findall(r"\$\{?([A-Za-z]\w*)", target["expr"])) <= variables, panel["title"]
