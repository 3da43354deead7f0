"""``tellwell bench score``: stories scored per second, for 10- and 50-article stories.

Stories are built from a labelled JSONL stream (``shared/data/README.md`` format): the articles of
one gold story become the members of one story (the gold label is used only to group them, as the
cluster service would have). The streams carry headlines only, so each member's text is
*synthesised from real text*: its own headline followed by a seeded random sample of the other
headlines of the same story (at most half of them, up to ``--sentences``), padded to about
``--chars`` characters with headlines of other stories (real articles are mostly sentences that
state none of the claims). This gives every article overlap with its story without making members
near-identical copies. The
summary's claims are the story's first three distinct headlines. Source ratings are synthetic
(derived from a hash of the domain: they change which branch is taken, not the cost). Timed is the
pure scoring (``domain.score_story``: independence, corroboration, confidence, lean, hotness, the
view model); MongoDB and Kafka are not. Measured: one process on fresh stories (cold), one process
re-scoring stories that grew by one article (warm: the service's passage cache holds the others),
and ``--workers`` processes at once (the service scales by replicas sharing partitions). Prints one
JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, get_args
from urllib.parse import urlsplit

import typer

from tellwell.bench.options import JsonOnly, Stream
from tellwell.common.events import GroundedSentence, Lean, StorySummary
from tellwell.common.jsonl import read_jsonl
from tellwell.common.sources import Factuality, Source, credibility_weight
from tellwell.common.testing import make_story_summary
from tellwell.score.corroboration import PassageCache
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


def gold_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """A labelled stream's rows grouped by their gold story (the label only groups, as cluster would)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in read_jsonl(path, required={"story": (str, int)}):
        rows[str(row["story"])].append(row)
    return rows


def build_stories(
    path: Path, size: int, *, sentences: int = 24, chars: int = 3000, limit: int = 40
) -> list[tuple[StorySummary, list[Member], dict[str, Source]]]:
    """Up to ``limit`` stories of exactly ``size`` members from the stream's gold stories; each text
    is padded to about ``chars`` characters with headlines of *other* stories (a real article is
    mostly sentences that are not the claims)."""
    rows = gold_rows(path)
    filler = [str(r.get("title") or "").strip() for items in rows.values() for r in items]
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
            while len(text) < chars:
                text += " " + rng.choice(filler).rstrip(".") + "."
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


Story = tuple[StorySummary, list[Member], dict[str, Source]]


def _key(m: Member) -> tuple[str, str, int]:
    return (m.article_id, m.fingerprint, len(m.text))


def measure(stories: list[Story], min_s: float, *, warm: bool = False) -> dict[str, Any]:
    """Score the stories round after round for at least ``min_s`` seconds.

    ``warm``: as the service re-scores a story that just grew by one article. Every member but the
    newest was prepared before (the service's ``PassageCache``); the newest is evicted after each
    scoring so that it is prepared every time.
    """
    params = ScoreParams()
    if not stories:
        return {"stories": 0}
    now = max(m.published_at for _, ms, _ in stories for m in ms) + timedelta(hours=1)
    cache = PassageCache() if warm else None
    if cache is not None:
        for summary, members, sources in stories:
            score_story(summary, members, sources, now=now, params=params, cache=cache)
            cache.discard(_key(members[-1]))
    scored, confidences = 0, list[float]()
    started, cpu_started = time.perf_counter(), time.process_time()
    while True:
        for summary, members, sources in stories:
            view = score_story(summary, members, sources, now=now, params=params, cache=cache)
            if cache is not None:
                cache.discard(_key(members[-1]))
            if len(confidences) < len(stories):
                confidences.append(view.confidence.value)
            scored += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_s:
            break
    cpu = time.process_time() - cpu_started
    return {
        "stories": len(stories),
        "scored": scored,
        "seconds": round(elapsed, 3),
        "stories_per_s": round(scored / elapsed, 1),
        "ms_per_story": round(1000 * elapsed / scored, 3),
        # the machine is shared: stories per second of CPU time is what one free core would do
        "stories_per_cpu_s": round(scored / cpu, 1) if cpu > 0 else None,
        "mean_confidence": round(sum(confidences) / len(confidences), 1),
    }


def _worker(path: Path, size: int, sentences: int, chars: int, seconds: float) -> dict[str, Any]:
    return measure(build_stories(path, size, sentences=sentences, chars=chars), seconds)


def in_parallel(path: Path, size: int, sentences: int, chars: int, seconds: float, workers: int) -> float:
    """Stories per second of ``workers`` processes scoring at once (replicas sharing partitions)."""
    with ProcessPoolExecutor(workers) as pool:
        runs = list(
            pool.map(_worker, *zip(*[(path, size, sentences, chars, seconds)] * workers, strict=True))
        )
    return round(sum(float(r["scored"]) / float(r["seconds"]) for r in runs if r.get("scored")), 1)


def bench_score(
    input: Stream = Path("../shared/data/streams/uci-head.dev.jsonl"),
    json_only: JsonOnly = False,
    seconds: Annotated[float, typer.Option(help="Minimum timed seconds per measurement.")] = 3.0,
    sentences: Annotated[int, typer.Option(help="Same-story headlines per synthesised article text.")] = 24,
    chars: Annotated[
        int, typer.Option(help="Pad each text to this length with other stories' headlines.")
    ] = 3000,
    workers: Annotated[int, typer.Option(help="Processes scoring at once (one per core).")] = 2,
) -> None:
    """Stories scored per second for 10- and 50-article stories: one process cold and warm, and
    ``--workers`` processes cold; prints one JSON line."""
    result: dict[str, Any] = {
        "bench": "score",
        "input": input.name,
        "text": f"synthesised: own headline + a seeded sample of up to {sentences} (at most half) "
        f"of the other headlines of its gold story, padded to ~{chars} chars with other stories' headlines",
        "sources": "synthetic ratings (hash of domain)",
        "timed": "domain.score_story only (no MongoDB, no Kafka)",
        "cold": "every article tokenised anew (a story seen for the first time)",
        "warm": "all members but the newest prepared before (a story re-scored after it grew)",
        "workers": workers,
        "cpus": os.cpu_count(),
    }
    for size in (10, 50):
        stories = build_stories(input, size, sentences=sentences, chars=chars)
        lengths = [len(m.text) for _, ms, _ in stories for m in ms]
        result[f"articles_{size}"] = {
            "mean_text_chars": round(sum(lengths) / len(lengths)) if lengths else 0,
            "cold": measure(stories, seconds),
            "warm": measure(stories, seconds, warm=True),
            f"cold_{workers}_workers_stories_per_s": in_parallel(
                input, size, sentences, chars, seconds, workers
            ),
        }
    ten = result["articles_10"]
    result["target_met"] = ten[f"cold_{workers}_workers_stories_per_s"] >= 200
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    if not json_only:
        typer.echo(
            f"10 articles: {ten['cold']['stories_per_s']} stories/s cold, "
            f"{ten['warm']['stories_per_s']} warm, "
            f"{ten[f'cold_{workers}_workers_stories_per_s']} cold on {workers} workers",
            err=True,
        )
    typer.echo(json.dumps(result))
