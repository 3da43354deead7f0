"""The score service's `tellwell` subcommands (entry point ``tellwell.cli``)."""

from __future__ import annotations

import typer

from tellwell.score.bench import bench_score


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("score")(bench_score)
