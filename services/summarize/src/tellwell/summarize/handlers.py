"""Kafka side of the summarize service: ``story.cluster`` batches in, ``story.summary`` out."""

from __future__ import annotations

from tellwell.common.events import StoryCluster
from tellwell.common.kafka import BatchConsumer, DeadLetters, Decoded
from tellwell.common.topics import Topic
from tellwell.summarize.pipeline import Summarizer

GROUP = "summarize"


async def accept_clusters(summarizer: Summarizer, decoded: Decoded[StoryCluster]) -> DeadLetters:
    """Store the batch as pending work (returns once the pending documents are durable)."""
    await summarizer.accept([event for _, event in decoded])
    return ()


CONSUMER = BatchConsumer(
    StoryCluster, accept_clusters, context="summarizer", source=Topic.story_cluster, group=GROUP, batch_max=64
)
