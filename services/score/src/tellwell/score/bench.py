"""``tellwell bench score``: stories scored per second, for 10- and 50-article stories.

Stories are built from a labelled JSONL stream (``shared/data/README.md`` format): the articles of
one gold story become the members of one story (the gold label is used only to group them, as the
cluster service would have). The streams carry headlines only, so each member's text is
*synthesised from real text*: its own headline followed by a seeded random sample of the other
headlines of the same story (at most half of them, up to ``--sentences``), which gives every
article overlap with its story without making members near-identical copies. The
summary's claims are the story's first three distinct headlines. Source ratings are synthetic
(derived from a hash of the domain: they change which branch is taken, not the cost). Timed is the
pure scoring (``domain.score_story``: independence, corroboration, confidence, lean, hotness, the
view model); MongoDB and Kafka are not. Prints one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

import typer

from tellwell.common.events import GroundedSentence, Lean, StorySummary
from tellwell.common.sources import Factuality, Source, credibility_weight
from tellwell.common.testing import make_story_summary
from tellwell.score.domain import Member, ScoreParams, score_story


def _domain(url: str | None, fallback: str) -> str:
    host = (urlsplit(url).hostname or "") if url else ""
    host = host.removeprefix("www.")
    return host or fallback.lower().replace(" ", "-") + ".example"


def synthetic_source(domain: str) -> Source:
    h = int(hashlib.sha256(domain.encode()).hexdigest()[:8], 16)
    factualities: tuple[Factuality, ...] = get_args(Factuality)
    factuality = factualities[h % len(factualities)]
    return Source(
        domain=domain,
        lean=list(Lean)[h // 7 % len(Lean)],
        factuality=factuality,
        credibility=credibility_weight(factuality),
        owner_group=f"group-{h % 5}" if h % 4 == 0 else None,
    )


def build_stories(
    path: Path, size: int, *, sentences: int = 24, limit: int = 40
) -> list[tuple[StorySummary, list[Member], dict[str, Source]]]:
    """Up to ``limit`` stories of exactly ``size`` members from the stream's gold stories."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                rows[str(row["story"])].append(row)
    stories = []
    for label, items in rows.items():
        if len(items) < size:
            continue
        items = items[:size]
        titles = [str(r.get("title") or "").strip() for r in items]
        members = []
        for i, r in enumerate(items):
            # Own headline, then a seeded sample of the story's other headlines (at most half of them,
            # so that two members are not near-identical texts that copy detection would fold).
            others = [t for j, t in enumerate(titles) if j != i and t]
            rng = random.Random(f"{label}/{i}")
            picked = rng.sample(others, min(sentences, len(others) // 2))
            text = " ".join(t.rstrip(".") + "." for t in [titles[i], *picked] if t)
            members.append(
                Member(
                    article_id=str(r["id"]),
                    url=r.get("url") or "",
                    source=_domain(r.get("url"), str(r.get("source") or "unknown")),
                    title=titles[i],
                    text=text,
                    published_at=datetime.fromisoformat(r["published_at"].replace("Z", "+00:00")),
                    fingerprint=hashlib.sha256(titles[i].lower().encode()).hexdigest()[:16],
                )
            )
        claims = list(dict.fromkeys(t for t in titles if t))[:3]
        summary = make_story_summary(
            story_id=label[:24],
            title=claims[0],
            summary=[GroundedSentence(text=c, article_ids=[members[0].article_id]) for c in claims],
            member_ids=[m.article_id for m in members],
        )
        sources = {m.source: synthetic_source(m.source) for m in members}
        stories.append((summary, members, sources))
        if len(stories) >= limit:
            break
    return stories


def measure(
    stories: list[tuple[StorySummary, list[Member], dict[str, Source]]], min_s: float
) -> dict[str, Any]:
    params = ScoreParams()
    if not stories:
        return {"stories": 0}
    now = max(m.published_at for _, ms, _ in stories for m in ms) + timedelta(hours=1)
    scored, confidences = 0, list[float]()
    started = time.perf_counter()
    while True:
        for summary, members, sources in stories:
            view = score_story(summary, members, sources, now=now, params=params)
            if len(confidences) < len(stories):
                confidences.append(view.confidence.value)
            scored += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_s:
            break
    return {
        "stories": len(stories),
        "scored": scored,
        "seconds": round(elapsed, 3),
        "stories_per_s": round(scored / elapsed, 1),
        "ms_per_story": round(1000 * elapsed / scored, 3),
        "mean_confidence": round(sum(confidences) / len(confidences), 1),
    }


def bench_score(
    input: Annotated[
        Path, typer.Option("--input", exists=True, dir_okay=False, help="Labelled JSONL stream.")
    ] = Path("../shared/data/streams/uci-head.dev.jsonl"),
    json_only: Annotated[bool, typer.Option("--json", help="Print only the JSON line.")] = False,
    seconds: Annotated[float, typer.Option(help="Minimum timed seconds per story size.")] = 3.0,
    sentences: Annotated[int, typer.Option(help="Headlines per synthesised article text.")] = 24,
) -> None:
    """Score real-text stories of 10 and 50 articles on one core; print stories/s as one JSON line."""
    result: dict[str, Any] = {
        "bench": "score",
        "input": input.name,
        "text": f"synthesised: own headline + a seeded sample of up to {sentences} (at most half) "
        "of the other headlines of its gold story",
        "sources": "synthetic ratings (hash of domain)",
        "timed": "domain.score_story only (no MongoDB, no Kafka), one process",
    }
    for size in (10, 50):
        stories = build_stories(input, size, sentences=sentences)
        chars = [len(m.text) for _, ms, _ in stories for m in ms]
        figures = measure(stories, seconds)
        figures["mean_text_chars"] = round(sum(chars) / len(chars)) if chars else 0
        result[f"articles_{size}"] = figures
    result["target_met"] = result["articles_10"].get("stories_per_s", 0) >= 200
    if not json_only:
        typer.echo(
            f"10 articles: {result['articles_10'].get('stories_per_s')} stories/s, "
            f"50 articles: {result['articles_50'].get('stories_per_s')} stories/s",
            err=True,
        )
    typer.echo(json.dumps(result))
