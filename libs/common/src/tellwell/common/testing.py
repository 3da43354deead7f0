"""Factories for tests and examples: valid events with overridable fields.

Example::

    article = make_raw_article(title="Quake hits Chile", source="reuters.com")
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from tellwell.common.events import (
    ArticleRef,
    Category,
    ChangeKind,
    CollapsedArticle,
    Confidence,
    Gap,
    GapKind,
    GroundedSentence,
    IndependentReport,
    Lean,
    LeanDistribution,
    Perspective,
    RawArticle,
    RelatedStory,
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
    """A real-shaped story view: five outlets across the spectrum (one a wire copy), perspectives,
    gaps, a confidence breakdown and a related story. Every field can be overridden."""
    story_id = overrides.get("story_id", "story-1")
    published = overrides.get("last_published_at", T0)
    outlets = [  # (article id, domain, name, lean, headline)
        ("a1", "reuters.com", "Reuters", Lean.center, "Magnitude 7.1 earthquake hits central Chile"),
        ("a2", "apnews.com", "AP News", Lean.center, "Strong quake shakes central Chile, officials say"),
        ("a3", "bbc.co.uk", "BBC News", Lean.center, "Chile earthquake: buildings damaged in Santiago"),
        ("a4", "theguardian.com", "The Guardian", Lean.lean_left, "Chile hit by 7.1 quake as aid is sent"),
        ("a5", "foxnews.com", "Fox News", Lean.right, "Powerful earthquake rocks Chile"),
    ]
    articles = [
        ArticleRef(
            article_id=aid,
            url=f"https://www.{domain}/world/chile-earthquake-{aid}",
            title=headline,
            source=domain,
            source_name=name,
            lean=lean,
            published_at=published - timedelta(minutes=10 * (len(outlets) - i)),
            copy_of="a1" if aid == "a2" else None,
        )
        for i, (aid, domain, name, lean, headline) in enumerate(outlets)
    ]
    summary = [
        GroundedSentence(
            text="A magnitude 7.1 earthquake struck central Chile on Monday.", article_ids=["a1"]
        ),
        GroundedSentence(
            text="Buildings were damaged in Santiago and two people were injured, officials said.",
            article_ids=["a3", "a4"],
        ),
    ]
    body = [
        summary,
        [
            GroundedSentence(
                text="The quake hit at a depth of 30 km, the US Geological Survey said.", article_ids=["a1"]
            ),
            GroundedSentence(
                text="Aid agencies said they were sending teams to the region.", article_ids=["a4"]
            ),
        ],
    ]
    claims = [s.text for s in summary]
    reports = [
        IndependentReport(
            report_id="a1",
            article_ids=["a1", "a2"],
            sources=["reuters.com", "apnews.com"],
            credibility=0.95,
            supports=[0, 1],
        ),
        IndependentReport(
            report_id="a3", article_ids=["a3"], sources=["bbc.co.uk"], credibility=0.85, supports=[0, 1]
        ),
        IndependentReport(
            report_id="a4", article_ids=["a4"], sources=["theguardian.com"], credibility=0.85, supports=[0, 1]
        ),
        IndependentReport(
            report_id="a5", article_ids=["a5"], sources=["foxnews.com"], credibility=0.4, supports=[0]
        ),
    ]
    fields: dict[str, Any] = {
        "producer": "score",
        "story_id": story_id,
        "version": 1,
        "cluster_version": 1,
        "title": "Earthquake of magnitude 7.1 hits central Chile",
        "summary": summary,
        "body": body,
        "category": Category.world,
        "language": "en",
        "perspectives": [
            Perspective(
                source=a.source,
                source_name=a.source_name,
                lean=a.lean,
                article_id=a.article_id,
                url=a.url,
                text=f"{a.source_name} led with: {a.title}.",
            )
            for a in articles
            if a.copy_of is None
        ],
        "missing": [
            Gap(kind=GapKind.no_primary_source, text="No source links to the US Geological Survey report."),
            Gap(
                kind=GapKind.single_source_claim,
                text="Only The Guardian reports that aid is being sent.",
                article_ids=["a4"],
            ),
        ],
        "confidence": Confidence(
            value=78.0,
            method="corroboration-v1",
            claims=claims,
            reports=reports,
            collapsed=[CollapsedArticle(article_id="a2", into_report="a1", reason="copy")],
            explanation="4 independent reports from 5 sources; 1 wire copy collapsed.",
        ),
        "lean": LeanDistribution(
            left=0.25,
            center=0.5,
            right=0.25,
            unrated=0,
            counts={Lean.center: 2, Lean.lean_left: 1, Lean.right: 1},
        ),
        "source_count": 5,
        "article_count": 5,
        "hotness": 1.0,
        "first_published_at": articles[0].published_at,
        "last_published_at": published,
        "articles": articles,
        "related": [
            RelatedStory(
                story_id="story-related",
                score=0.61,
                title="Aftershocks rattle Chile's capital",
                summary="Several aftershocks followed Monday's quake.",
                confidence=55.0,
                source_count=2,
                category=Category.world,
                last_published_at=published,
            ),
        ],
    }
    fields.update(overrides)
    return StoryScored(**fields)
