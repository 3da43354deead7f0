"""The cluster service's `tellwell` subcommands (entry point ``tellwell.cli``)."""

from __future__ import annotations

import typer

from tellwell.cluster.bench import bench_cluster


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("cluster")(bench_cluster)
