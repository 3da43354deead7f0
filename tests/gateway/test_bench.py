"""The gateway benchmark's inputs: views of real articles, query mixes that never repeat and all
validate (the benchmark itself is `tellwell bench gateway`, not part of the test run)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tellwell.bench.gateway import bench_views, gold_stories, uncached_paths
from tellwell.gateway.deps import parse_feed
from tellwell.gateway.settings import Settings

STREAMS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "streams"


class TestBenchInputs:
    def test_views_are_made_of_real_member_articles(self):
        stories = gold_stories(STREAMS)
        headlines = {str(row["title"])[:300] for rows in stories for row in rows}

        views = bench_views(200, stories, seed=3)

        assert len({v.story_id for v in views}) == 200
        assert all(a.title in headlines for v in views for a in v.articles)
        assert all(v.source_count == len({a.source for a in v.articles}) for v in views)
        assert max(v.article_count for v in views) > 5  # long-tailed sizes, not all singletons

    def test_the_uncached_mix_never_repeats_and_every_query_validates(self):
        views = bench_views(300, gold_stories(STREAMS), seed=4)
        now = datetime.now(UTC)

        paths = uncached_paths(views, 2000, seed=1)
        feeds = [parse_feed(dict(parse_qsl(urlsplit(p).query)), Settings(), now) for p in paths]

        assert len(set(paths)) == len(paths) == 2000
        assert len({(f.query, f.limit) for f in feeds}) == 2000  # distinct queries, not spellings
        assert sum(1 for f in feeds if f.query.words and f.query.min_confidence is not None) > 900
        assert {f.query.sort for f in feeds} == {"hot", "new", "relevance"}
