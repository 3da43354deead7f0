"""``tellwell summarize train-category``: rebuild the bundled category prototypes from a labelled
JSONL stream (``shared/data/README.md`` format; the gold ``story`` label forms the stories).

``read_stories`` is also how ``tellwell bench summarize`` reads its stream.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer

from tellwell.common.events import Category
from tellwell.common.jsonl import Kind, read_jsonl
from tellwell.summarize.category import BUNDLED, DESCRIPTIONS, CategoryModel

UCI_CATEGORIES = {
    "b": Category.business,
    "t": Category.technology,
    "e": Category.entertainment,
    "m": Category.health,
}

STREAM_REQUIRED: dict[str, Kind] = {"id": (str, int), "published_at": datetime, "story": (str, int)}
STREAM_OPTIONAL: dict[str, Kind] = {"title": str, "text": str, "url": str, "source": str, "category": str}


def read_stories(path: Path) -> tuple[list[list[dict[str, Any]]], list[Category | None]]:
    """Rows grouped by gold story (stream order within each), and each story's gold category.

    ``published_at`` comes back as a datetime; a row without ``id``, ``published_at`` or ``story``
    raises ``JsonlError`` naming its line.
    """
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_jsonl(path, required=STREAM_REQUIRED, optional=STREAM_OPTIONAL):
        groups[str(row["story"])].append(row)
    stories = list(groups.values())
    labels = [UCI_CATEGORIES.get(str(rows[0].get("category"))) for rows in stories]
    return stories, labels


def train_category(
    input: Annotated[
        Path, typer.Option("--input", exists=True, dir_okay=False, help="Labelled JSONL stream (uci-head).")
    ],
    output: Annotated[
        Path | None, typer.Option(help="Where to write (default: the package's bundled file).")
    ] = None,
) -> None:
    """Rebuild the bundled category prototypes from a stream with a `category` field (b/t/e/m)."""
    stories, labels = read_stories(input)
    labelled = [
        ([r.get("title") or "" for r in rows], label)
        for rows, label in zip(stories, labels, strict=True)
        if label is not None
    ]
    if not labelled:
        raise typer.BadParameter("no story with a known category in the input")
    model = CategoryModel.train(labelled)
    data = model.to_json()
    data["built_from"] = {"input": input.name, "stories": len(labelled), "categories": sorted(DESCRIPTIONS)}
    target = output or Path(str(resources.files("tellwell.summarize") / "data" / BUNDLED))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
    typer.echo(f"wrote {target} ({target.stat().st_size // 1024} KiB) from {len(labelled)} stories")
