"""The Kafka topics TellWell publishes: names and the settings each is created with.

Other teams subscribe to these names, so they never change: a breaking payload change goes to a
new topic such as ``raw.article.v2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DLQ_SUFFIX = ".dlq"


class Topic(StrEnum):
    """Every topic name in the system; services never spell a topic as a literal."""

    raw_article = "raw.article"
    story_cluster = "story.cluster"
    story_summary = "story.summary"
    story_scored = "story.scored"
    raw_article_dlq = "raw.article.dlq"
    story_cluster_dlq = "story.cluster.dlq"
    story_summary_dlq = "story.summary.dlq"
    story_scored_dlq = "story.scored.dlq"

    @property
    def is_dlq(self) -> bool:
        return self.value.endswith(DLQ_SUFFIX)

    @property
    def dlq(self) -> Topic:
        """The dead-letter companion of a main topic."""
        if self.is_dlq:
            raise ValueError(f"{self.value} is already a dead-letter topic")
        return Topic(self.value + DLQ_SUFFIX)


MAIN_TOPICS: tuple[Topic, ...] = tuple(t for t in Topic if not t.is_dlq)

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """How a topic is created: partition count and topic-level configs."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def dlq_name(topic: str) -> str:
    """The dead-letter topic of any topic name (tests use uuid topics too)."""
    return topic + DLQ_SUFFIX


def topic_specs(partitions: int = 6, raw_retention_days: int = 7) -> list[TopicSpec]:
    """The topics of DESIGN §3: ``story.*`` compacted, ``raw.article`` and DLQs time-retained."""
    delete = {"cleanup.policy": "delete", "retention.ms": str(raw_retention_days * DAY_MS)}
    compact = {
        "cleanup.policy": "compact",
        # Compaction runs on closed segments; keep them small enough that state converges.
        "segment.ms": str(DAY_MS),
        "min.cleanable.dirty.ratio": "0.1",
    }
    dlq = {"cleanup.policy": "delete", "retention.ms": str(30 * DAY_MS)}
    specs = [TopicSpec(Topic.raw_article.value, partitions, delete)]
    specs += [TopicSpec(t.value, partitions, compact) for t in MAIN_TOPICS if t.value.startswith("story.")]
    specs += [TopicSpec(t.dlq.value, 1, dlq) for t in MAIN_TOPICS]
    return specs
