"""Kafka side of the summarize service: ``story.cluster`` batches in, ``story.summary`` out."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from tellwell.common.events import StoryCluster
from tellwell.common.kafka import IDLE_POLL_MS, BrokerDep, batch_subscriber, decode_batch, story_publisher
from tellwell.common.topics import Topic
from tellwell.summarize.pipeline import Publish, Summarizer

GROUP = "summarize"

SummarizerDep = Annotated[Summarizer, Context("summarizer")]


def make_router(
    *,
    source: str = Topic.story_cluster,
    group: str = GROUP,
    batch_max: int = 64,
    batch_wait_ms: int = IDLE_POLL_MS,
) -> KafkaRouter:
    """The subscriber, as a router (tests point it at their own topic and group)."""
    router = KafkaRouter()

    @batch_subscriber(router, source, group=group, batch_max=batch_max, batch_wait_ms=batch_wait_ms)
    async def accept_clusters(message: KafkaMessage, summarizer: SummarizerDep, broker: BrokerDep) -> None:
        """Decode each record (a bad one goes to the DLQ alone); store the batch as pending work.

        Returns once the pending documents are durable, so the offsets commit after that."""
        events = [event for _, event in await decode_batch(broker, message, StoryCluster, group=group)]
        if events:
            await summarizer.accept(events)

    return router


def kafka_publisher(broker: KafkaBroker, topic: str = Topic.story_summary) -> Publish:
    """``story.summary`` keyed by story id, acknowledged by Kafka before returning."""
    return story_publisher(broker, topic)
