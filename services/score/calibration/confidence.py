"""Confidence calibration on real headlines (docs/score.md §3, "Calibration").

    uv run python services/score/calibration/confidence.py ../shared/data/streams/uci-head.dev.jsonl

Stories are the stream's gold stories (the label only groups articles, as clustering would), their
members headline-only (as in ``tellwell demo``), outlets the registrable domains of the real URLs
rated by the bundled registry (ingest's), the claims what the extractive summariser (summarize's
domain) picks. Each story is scored on its first 1, 2, 3, 5, 10 members and on all of them; prints
the quartiles of the confidence per coverage size. A development script: it imports ingest and
summarize, which the service itself does not.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
from collections import defaultdict
from datetime import datetime

from tellwell.common.testing import make_story_cluster
from tellwell.ingest.registry import (
    BUNDLED_KITE,
    BUNDLED_MBFC,
    load_kite,
    load_mbfc,
    merge_sources,
    registrable_domain,
)
from tellwell.score.bench import _domain
from tellwell.score.domain import Member, score_story
from tellwell.summarize.domain import Article, summarize

REGISTRY = merge_sources(load_mbfc(BUNDLED_MBFC), load_kite(BUNDLED_KITE))


def score_headlines(items: list[dict]) -> float:
    members, articles = [], []
    for r in items:
        title = (r.get("title") or "").strip()
        url = r.get("url") or ""
        domain = registrable_domain(url) or _domain(url, r.get("source") or "unknown")
        published = datetime.fromisoformat(r["published_at"].replace("Z", "+00:00"))
        fingerprint = hashlib.sha256(title.lower().encode()).hexdigest()[:16]
        members.append(Member(r["id"], url, domain, title, published, fingerprint=fingerprint))
        articles.append(Article(r["id"], url, domain, title, published))
    cluster = make_story_cluster(story_id="s", version=1, member_ids=[m.article_id for m in members])
    sources = {m.source: REGISTRY[m.source] for m in members if m.source in REGISTRY}
    view = score_story(summarize(cluster, articles), members, sources, now=members[-1].published_at)
    return view.confidence.value


def main(path: str) -> None:
    stories: dict[str, list[dict]] = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                stories[row["story"]].append(row)
    for k in (1, 2, 3, 5, 10, None):
        values = [score_headlines(items[:k]) for items in stories.values() if k is None or len(items) >= k]
        q = statistics.quantiles(values, n=4) if len(values) > 1 else values * 3
        sys.stdout.write(
            f"first {k or 'all'} members: {len(values)} stories, confidence p25/p50/p75 "
            f"{q[0]:.1f}/{q[1]:.1f}/{q[2]:.1f}, min {min(values):.1f}, max {max(values):.1f}\n"
        )


if __name__ == "__main__":
    main(sys.argv[1])
