"""The summarize service's `tellwell` subcommands (entry point ``tellwell.cli``)."""

from __future__ import annotations

import typer

from tellwell.summarize.train import train_category


def register(app: typer.Typer, groups: dict[str, typer.Typer]) -> None:
    summarize = typer.Typer(help="Summarize service tools.", no_args_is_help=True)
    summarize.command("train-category")(train_category)
    app.add_typer(summarize, name="summarize")
