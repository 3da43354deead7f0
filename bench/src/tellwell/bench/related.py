"""``tellwell bench related``: how often the Related section is on the story's thread.

Stories are built from a labelled JSONL stream (``shared/data/README.md`` format): the articles of
one gold story become one story (the gold label only groups them, as cluster would). Its title is
its first headline, its summary its first three distinct headlines, its members all headlines.
Stories are taken in the order of their last article; each sees, through the same ``EntityIndex``
the service uses, the stories before it (within the window), as the live service does.

Reported: the share of related links that share at least one specific entity with their story,
checked *independently* of the online index (entity sets computed the same way, but specificity
judged by document frequency over the whole stream); the share whose gold category equals the
story's (where the stream has categories: a link across categories is surely off-thread, one
inside is not surely on it); the mean number of related shown per story; and the share of stories
with no Related section.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from tellwell.bench.score import gold_rows
from tellwell.score.related import (
    STOP_ENTITIES,
    EntityIndex,
    Entry,
    RelatedParams,
    story_entities,
)


@dataclass(frozen=True, slots=True)
class BenchStory:
    story_id: str
    title: str
    category: str | None
    headlines: tuple[str, ...]
    first: datetime
    last: datetime


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_stories(path: Path) -> list[BenchStory]:
    rows = gold_rows(path)
    stories = []
    for label, items in rows.items():
        items.sort(key=lambda r: r["published_at"])
        headlines = tuple(t for r in items if (t := str(r.get("title") or "").strip()))
        if not headlines:
            continue
        categories = Counter(r["category"] for r in items if r.get("category"))
        stories.append(
            BenchStory(
                story_id=label,
                title=headlines[0],
                category=categories.most_common(1)[0][0] if categories else None,
                headlines=headlines,
                first=_time(items[0]["published_at"]),
                last=_time(items[-1]["published_at"]),
            )
        )
    stories.sort(key=lambda s: (s.last, s.story_id))
    return stories


def related_metrics(path: Path, params: RelatedParams | None = None) -> dict[str, Any]:
    """Related-story quality on a labelled stream (see the module docstring)."""
    params = params or RelatedParams()
    stories = load_stories(path)
    started = time.perf_counter()
    ents = {
        s.story_id: story_entities(s.title, list(dict.fromkeys(s.headlines))[:3], s.headlines)
        for s in stories
    }
    index = EntityIndex(params)
    links: dict[str, list[str]] = {}
    for s in stories:
        found = index.neighbours(s.story_id, ents[s.story_id], s.first, s.last)
        links[s.story_id] = [n.story_id for n in found]
        index.add(Entry(s.story_id, 1, ents[s.story_id], s.first, s.last))
    elapsed = time.perf_counter() - started
    # the independent check: document frequency over the whole stream, not the online index's
    df = Counter(e for es in ents.values() for e in set(es))
    cap = max(params.min_df_cap, params.max_df_share * len(stories))
    specific = {sid: {e for e in es if e not in STOP_ENTITIES and df[e] <= cap} for sid, es in ents.items()}
    by_id = {s.story_id: s for s in stories}
    pairs = [(sid, rid) for sid, rids in links.items() for rid in rids]
    shared = sum(bool(specific[a] & specific[b]) for a, b in pairs)
    with_category = [(a, b) for a, b in pairs if by_id[a].category and by_id[b].category]
    same_category = sum(by_id[a].category == by_id[b].category for a, b in with_category)
    shown = [len(r) for r in links.values()]
    return {
        "stories": len(stories),
        "links": len(pairs),
        "shared_entity_share": round(shared / len(pairs), 4) if pairs else None,
        "same_category_share": round(same_category / len(with_category), 4) if with_category else None,
        "mean_related": round(sum(shown) / len(shown), 3) if shown else 0.0,
        "no_related_share": round(sum(n == 0 for n in shown) / len(shown), 4) if shown else None,
        "stories_with_entities": sum(bool(e) for e in ents.values()),
        "stories_per_s": round(len(stories) / elapsed, 1) if elapsed else None,
    }


def bench_related(
    input_path: Annotated[
        Path, typer.Option("--input", exists=True, dir_okay=False, help="Labelled JSONL stream.")
    ],
) -> None:
    """Related-story quality on a labelled stream: one JSON line."""
    typer.echo(json.dumps({"input": input_path.name, **related_metrics(input_path)}))
