"""``tellwell bench cluster``: clustering quality and speed on a labelled news stream.

Reads a JSONL stream in order (``shared/data/README.md`` format), feeds it to ``Clusterer`` in
batches as the live service would (real ``Encoder``, real Qdrant Edge index in a temporary
directory) and scores the final story of every article (following merges) against the gold
``story`` labels, which the clusterer never sees. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import resource
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from tellwell.bench.options import JsonOnly, Stream
from tellwell.cluster.domain import Params
from tellwell.cluster.engine import EMBED_MAX_TOKENS, ArticleIn, Clusterer
from tellwell.common.embed import Encoder, TextEncoder
from tellwell.common.jsonl import Kind, read_jsonl
from tellwell.common.vectors import EdgeIndex

# ---------------------------------------------------------------- metrics


def _contingency(pred: Sequence[Any], gold: Sequence[Any]) -> np.ndarray:
    if len(pred) != len(gold):
        raise ValueError("pred and gold differ in length")
    _, p = np.unique(np.asarray(pred, dtype=object).astype(str), return_inverse=True)
    _, g = np.unique(np.asarray(gold, dtype=object).astype(str), return_inverse=True)
    table = np.zeros((p.max() + 1 if len(p) else 0, g.max() + 1 if len(g) else 0), dtype=np.float64)
    np.add.at(table, (p, g), 1.0)
    return table


def bcubed(pred: Sequence[Any], gold: Sequence[Any]) -> tuple[float, float, float]:
    """B-cubed (precision, recall, F1), averaged over items (Bagga & Baldwin 1998)."""
    n = len(pred)
    if n == 0:
        return 0.0, 0.0, 0.0
    table = _contingency(pred, gold)
    sq = table**2
    precision = float((sq.sum(axis=1) / table.sum(axis=1)).sum() / n)
    recall = float((sq.sum(axis=0) / table.sum(axis=0)).sum() / n)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def nmi(pred: Sequence[Any], gold: Sequence[Any]) -> float:
    """Normalised mutual information, arithmetic-mean normalisation (scikit-learn's default)."""
    table = _contingency(pred, gold)
    n = table.sum()
    if n == 0:
        return 0.0
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    hp, hg = _entropy(rows), _entropy(cols)
    if hp == 0.0 and hg == 0.0:
        return 1.0
    nz = table > 0
    outer = np.outer(rows, cols)
    mi = float((table[nz] / n * np.log(table[nz] * n / outer[nz])).sum())
    denom = (hp + hg) / 2
    return mi / denom if denom > 0 else 0.0


def ari(pred: Sequence[Any], gold: Sequence[Any]) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985)."""
    table = _contingency(pred, gold)
    n = table.sum()
    if n < 2:
        return 1.0

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    index = pairs(table)
    a, b = pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    total = n * (n - 1) / 2
    expected = a * b / total
    maximum = (a + b) / 2
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))


# ---------------------------------------------------------------- the run


STREAM_REQUIRED: dict[str, Kind] = {"id": (str, int), "published_at": datetime, "story": (str, int)}
STREAM_OPTIONAL: dict[str, Kind] = {"title": str, "text": str, "lang": str, "source": str}


def read_stream(path: Path) -> tuple[list[ArticleIn], list[str]]:
    """Articles (without their labels) and, separately, the gold labels for scoring.

    Raises ``JsonlError`` naming the line of a row without ``id``, ``published_at`` or ``story``.
    """
    articles: list[ArticleIn] = []
    gold: list[str] = []
    for row in read_jsonl(path, required=STREAM_REQUIRED, optional=STREAM_OPTIONAL):
        articles.append(
            ArticleIn(
                article_id=str(row["id"]),
                title=row.get("title") or "",
                text=row.get("text") or "",
                lead="",
                language=row.get("lang") or "und",
                published_at=row["published_at"],
                source=row.get("source") or "",
            )
        )
        gold.append(str(row["story"]))
    return articles, gold


async def run(
    articles: Sequence[ArticleIn], encoder: TextEncoder, params: Params, *, batch: int = 64, root: Path
) -> tuple[list[str], float, int]:
    """Cluster the stream; returns (final story per article, seconds, merges)."""
    index = EdgeIndex(root)
    clusterer = Clusterer(index, encoder, params)
    await clusterer.start()
    label: dict[str, str] = {}
    parent: dict[str, str] = {}
    merges = 0
    started = time.perf_counter()
    try:
        for i in range(0, len(articles), batch):
            chunk = articles[i : i + batch]
            for a in await clusterer.assign(chunk):
                label[a.article_id] = a.story_id
            for m in clusterer.take_merges():
                parent[m.absorbed] = m.survivor
                merges += 1
            clusterer.evict(max(a.published_at for a in chunk))
        elapsed = time.perf_counter() - started
    finally:
        await index.close()

    def find(s: str) -> str:
        while s in parent:
            s = parent[s]
        return s

    return [find(label[a.article_id]) for a in articles], elapsed, merges


def evaluate(pred: Sequence[str], gold: Sequence[str]) -> dict[str, Any]:
    p, r, f = bcubed(pred, gold)
    return {
        "bcubed_precision": round(p, 4),
        "bcubed_recall": round(r, 4),
        "bcubed_f1": round(f, 4),
        "nmi": round(nmi(pred, gold), 4),
        "ari": round(ari(pred, gold), 4),
        "stories": len(set(pred)),
        "gold_stories": len(set(gold)),
    }


def parse_overrides(items: Sequence[str]) -> Params:
    """``key=value`` pairs over the default ``Params`` (for tuning runs)."""
    base = Params()
    fields = {f.name: f for f in dataclasses.fields(Params)}
    changes: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in fields:
            raise typer.BadParameter(f"unknown parameter {key!r}; known: {', '.join(sorted(fields))}")
        current = getattr(base, key)
        if isinstance(current, bool):
            changes[key] = value.lower() in {"1", "true", "yes"}
        else:
            changes[key] = type(current)(value)
    return dataclasses.replace(base, **changes)


def bench_cluster(
    input: Stream,
    json_only: JsonOnly = False,
    batch: Annotated[int, typer.Option(help="Articles per assign() call, as the service batches.")] = 64,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Override a Params field: key=value.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Also write the JSON result to this file.")] = None,
    max_tokens: Annotated[
        int, typer.Option(min=8, max=256, help="Word pieces the encoder reads per article (as the service).")
    ] = EMBED_MAX_TOKENS,
) -> None:
    """Cluster a labelled stream with the real encoder and Qdrant Edge; print B-cubed F1, NMI, ARI, speed."""
    params = parse_overrides(param or [])
    articles, gold = read_stream(input)
    encoder = Encoder(max_seq_length=max_tokens)
    t0 = time.perf_counter()
    encoder.load()
    load_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="tellwell-bench-cluster-") as tmp:
        pred, elapsed, merges = asyncio.run(run(articles, encoder, params, batch=batch, root=Path(tmp)))
    result: dict[str, Any] = {
        "bench": "cluster",
        "input": input.name,
        **evaluate(pred, gold),
        "articles": len(articles),
        "merges": merges,
        "articles_per_s": round(len(articles) / elapsed, 1) if elapsed > 0 else None,
        "seconds": round(elapsed, 2),
        "throughput_includes": "embedding + index + decisions; model load excluded (model_load_s)",
        "model_load_s": round(load_s, 2),
        "batch": batch,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "params": dataclasses.asdict(params),
    }
    line = json.dumps(result)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(line + "\n")
    if not json_only:
        typer.echo(
            f"{input.name}: B3 F1 {result['bcubed_f1']} (P {result['bcubed_precision']}, "
            f"R {result['bcubed_recall']}), NMI {result['nmi']}, ARI {result['ari']}, "
            f"{result['stories']} stories vs {result['gold_stories']} gold, "
            f"{result['articles_per_s']} articles/s",
            err=True,
        )
    typer.echo(line)
