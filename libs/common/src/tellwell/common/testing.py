"""Factories for tests and examples: valid events with overridable fields.

Example::

    article = make_raw_article(title="Quake hits Chile", source="reuters.com")
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from tellwell.common.events import (
    Category,
    ChangeKind,
    Confidence,
    GroundedSentence,
    IndependentReport,
    LeanDistribution,
    RawArticle,
    StoryCluster,
    StoryScored,
    StorySummary,
)

T0 = datetime(2026, 3, 2, 2, 28, 29, tzinfo=UTC)


def make_raw_article(**overrides: Any) -> RawArticle:
    url = overrides.get("url", "https://example.com/news/quake-hits-chile")
    fields: dict[str, Any] = {
        "producer": "ingest",
        "article_id": hashlib.sha256(url.encode()).hexdigest()[:24],
        "url": url,
        "source": "example.com",
        "title": "Magnitude 7.1 earthquake hits central Chile",
        "text": "A magnitude 7.1 earthquake struck central Chile on Monday, officials said.",
        "lead": "A magnitude 7.1 earthquake struck central Chile on Monday.",
        "language": "en",
        "published_at": T0,
        "fetched_at": T0,
        "fingerprint": "0f0f0f0f0f0f0f0f",
    }
    fields.update(overrides)
    return RawArticle(**fields)


def make_story_cluster(**overrides: Any) -> StoryCluster:
    fields: dict[str, Any] = {
        "producer": "cluster",
        "story_id": "story-1",
        "version": 1,
        "change": ChangeKind.created,
        "member_ids": ["a1"],
        "added_ids": ["a1"],
        "language": "en",
        "first_published_at": T0,
        "last_published_at": T0,
    }
    fields.update(overrides)
    return StoryCluster(**fields)


def make_story_summary(**overrides: Any) -> StorySummary:
    sentence = GroundedSentence(text="A magnitude 7.1 earthquake struck central Chile.", article_ids=["a1"])
    fields: dict[str, Any] = {
        "producer": "summarize",
        "story_id": "story-1",
        "version": 1,
        "title": "Earthquake hits central Chile",
        "summary": [sentence],
        "body": [[sentence]],
        "category": Category.world,
        "method": "extractive-v1",
    }
    fields.update(overrides)
    return StorySummary(**fields)


def make_story_scored(**overrides: Any) -> StoryScored:
    summary = make_story_summary()
    fields: dict[str, Any] = {
        "producer": "score",
        "story_id": summary.story_id,
        "version": 1,
        "cluster_version": 1,
        "title": summary.title,
        "summary": summary.summary,
        "body": summary.body,
        "category": summary.category,
        "confidence": Confidence(
            value=60.0,
            method="corroboration-v1",
            claims=[summary.summary[0].text],
            reports=[
                IndependentReport(
                    report_id="a1",
                    article_ids=["a1"],
                    sources=["example.com"],
                    credibility=0.6,
                    supports=[0],
                )
            ],
            single_source=True,
        ),
        "lean": LeanDistribution(left=0.0, center=1.0, right=0.0, unrated=0),
        "source_count": 1,
        "article_count": 1,
        "hotness": 1.0,
        "first_published_at": T0,
        "last_published_at": T0,
    }
    fields.update(overrides)
    return StoryScored(**fields)
