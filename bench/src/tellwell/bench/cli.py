"""The benchmarks' `tellwell bench` subcommands (entry point ``tellwell.cli``).

``tellwell bench pipeline`` (the whole system as separate processes) is the CLI's own.
"""

from __future__ import annotations

import typer

from tellwell.bench.cluster import bench_cluster
from tellwell.bench.confidence import bench_confidence
from tellwell.bench.gateway import bench_gateway
from tellwell.bench.ingest import bench_ingest
from tellwell.bench.related import bench_related
from tellwell.bench.score import bench_score
from tellwell.bench.summarize import bench_summarize


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    bench = groups["bench"]
    bench.command("cluster")(bench_cluster)
    bench.command("gateway")(bench_gateway)
    bench.command("ingest")(bench_ingest)
    bench.command("score")(bench_score)
    bench.command("confidence")(bench_confidence)
    bench.command("related")(bench_related)
    bench.command("summarize")(bench_summarize)
