"""``tellwell bench ingest``: a JSONL import to ``raw.article`` on the running stack (MongoDB and
Kafka from the environment), through the same code as ``tellwell import``; prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from tellwell.ingest.cli import database, import_file
from tellwell.ingest.settings import Settings


def bench_ingest(
    input: Annotated[Path, typer.Option("--input", exists=True, dir_okay=False, help="JSONL to import.")],
    batch: Annotated[int, typer.Option(min=1, max=5000)] = 500,
    database_name: Annotated[
        str | None, typer.Option("--database", help="Default: a fresh bench database, dropped after.")
    ] = None,
) -> None:
    """JSONL import to raw.article on the running stack; prints one JSON line.

    The articles still go to ``raw.article`` (a running cluster service will take them)."""
    import psutil

    db_name = database_name or f"tellwell_bench_{int(time.time())}"
    os.environ["MONGO_DATABASE"] = db_name
    process = psutil.Process()
    peak = process.memory_info().rss

    def sample(_: int) -> None:
        nonlocal peak
        peak = max(peak, process.memory_info().rss)

    started = time.perf_counter()
    result, errors = asyncio.run(import_file(input, batch, sample))
    elapsed = time.perf_counter() - started
    if database_name is None:  # ours alone: nothing else reads it, so it does not pile up
        asyncio.run(drop_database(db_name))
    articles = len(result.created) + len(result.duplicates)
    typer.echo(
        json.dumps(
            {
                "bench": "ingest",
                "input": input.name,
                "articles": articles,
                "created": len(result.created),
                "copies": len(result.copies),
                "invalid": len(errors),
                "seconds": round(elapsed, 3),
                "articles_per_s": round(articles / elapsed, 1),
                "peak_rss_mb": round(peak / 2**20, 1),
                "batch": batch,
                "database": db_name,
            }
        )
    )


async def drop_database(name: str) -> None:
    async with database(Settings()) as db:
        await db.client.drop_database(name)
