"""The gateway's `tellwell` subcommands (entry point ``tellwell.cli``)."""

from __future__ import annotations

import typer

from tellwell.gateway.bench import bench_gateway


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("gateway")(bench_gateway)
