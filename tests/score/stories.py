"""Hand-built stories for the score tests: real outlet domains, ratings from the bundled registry.

The registry is the one ingest ships (services/ingest/.../data: MBFC ratings and kite ownership),
loaded through ingest's own parser, so a rating change there shows up here.
"""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime, timedelta

from tellwell.common.events import GroundedSentence, StorySummary
from tellwell.common.sources import Source
from tellwell.common.testing import make_story_summary
from tellwell.ingest.registry import load_registry
from tellwell.score.domain import Member

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@functools.cache
def registry() -> dict[str, Source]:
    return load_registry()


def sources_for(members: list[Member]) -> dict[str, Source]:
    """The registry entries of the members' outlets; an outlet it does not know is left out (unrated)."""
    reg = registry()
    return {m.source: reg[m.source] for m in members if m.source in reg}


CLAIMS = [
    "A magnitude 7.1 earthquake struck central Chile on Monday, killing 300 people.",
    "Authorities issued a tsunami warning for the coasts of Chile and Peru.",
]

# Independent write-ups that state both claims, each in its own words.
SUPPORTING = [
    "A powerful magnitude 7.1 earthquake hit central Chile on Monday and killed at least 300 people, "
    "officials said. Authorities issued a tsunami warning for the coasts of Chile and Peru.",
    "Chile was struck by a magnitude 7.1 earthquake on Monday that killed 300 people in the central "
    "region. A tsunami warning was issued for the coasts of Chile and Peru by authorities.",
    "At least 300 people were killed when a magnitude 7.1 earthquake struck central Chile on Monday. "
    "Authorities in Chile and Peru issued a tsunami warning for their coasts.",
    "The magnitude 7.1 earthquake that struck central Chile on Monday killed 300 people, rescuers said. "
    "A tsunami warning was issued by authorities for the Chile and Peru coasts.",
    "Central Chile was hit on Monday by an earthquake of magnitude 7.1, killing 300 people. Authorities "
    "later issued a tsunami warning for the coasts of Chile and neighbouring Peru.",
]
# On the story, but states other figures: the death toll is 30, not 300.
CONTRADICTING = [
    "A magnitude 7.1 earthquake struck central Chile on Monday, killing 30 people, the interior ministry "
    "said. Authorities issued a tsunami warning for the coasts of Chile and Peru.",
    "The earthquake of magnitude 7.1 that struck central Chile on Monday killed 30 people, according to "
    "official figures. A tsunami warning was issued for the coasts of Chile and Peru.",
]
# On the same event but about something else: covering the story is not corroborating its claims.
OFF_CLAIM = (
    "Copper prices rose in London trading as investors weighed possible disruption to mines in Chile. "
    "Analysts said shipments from the port of San Antonio could be delayed for several weeks."
)


def member(
    source: str, text: str, *, n: int = 0, minutes: int = 0, copy_of: str | None = None, title: str = ""
) -> Member:
    article_id = hashlib.sha256(f"{source}/{n}/{text[:40]}".encode()).hexdigest()[:16]
    return Member(
        article_id=article_id,
        url=f"https://{source}/news/{article_id}",
        source=source,
        title=title or text.split(".")[0][:90],
        text=text,
        published_at=T0 + timedelta(minutes=minutes),
        copy_of=copy_of,
        fingerprint=hashlib.sha256(f"{source}{text}".encode()).hexdigest()[:16],
    )


def summary_for(members: list[Member], claims: list[str] = CLAIMS, **overrides: object) -> StorySummary:
    fields: dict[str, object] = {
        "story_id": "story-chile",
        "title": "Magnitude 7.1 earthquake kills 300 in central Chile",
        "summary": [GroundedSentence(text=c, article_ids=[members[0].article_id]) for c in claims],
        "member_ids": [m.article_id for m in members],
        "language": "en",
    }
    fields.update(overrides)
    return make_story_summary(**fields)
