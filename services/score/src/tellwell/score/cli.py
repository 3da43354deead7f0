"""The score service's `tellwell` subcommands (entry point ``tellwell.cli``)."""

from __future__ import annotations

import typer

from tellwell.score.bench import bench_score
from tellwell.score.bench_confidence import bench_confidence
from tellwell.score.bench_related import bench_related


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    groups["bench"].command("score")(bench_score)
    groups["bench"].command("confidence")(bench_confidence)
    groups["bench"].command("related")(bench_related)
