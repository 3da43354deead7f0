"""Kafka side of the score service: ``story.summary`` batches in, ``story.scored`` out."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from tellwell.common.events import StorySummary
from tellwell.common.kafka import (
    IDLE_POLL_MS,
    BrokerDep,
    batch_subscriber,
    dead_letter,
    decode_batch,
    story_publisher,
)
from tellwell.common.topics import Topic
from tellwell.score.pipeline import Publish, ScorePipeline

GROUP = "score"

PipelineDep = Annotated[ScorePipeline, Context("pipeline")]


def make_router(
    *,
    source: str = Topic.story_summary,
    group: str = GROUP,
    batch_max: int = 32,
    batch_wait_ms: int = IDLE_POLL_MS,
) -> KafkaRouter:
    """The subscriber, as a router (tests point it at their own topic and group)."""
    router = KafkaRouter()

    @batch_subscriber(router, source, group=group, batch_max=batch_max, batch_wait_ms=batch_wait_ms)
    async def score_summaries(message: KafkaMessage, pipeline: PipelineDep, broker: BrokerDep) -> None:
        """Decode each record and score the batch's stories; an undecodable record, or one whose story
        cannot be scored, goes to the DLQ alone."""
        decoded = await decode_batch(broker, message, StorySummary, group=group)
        if decoded:
            batch = await pipeline.process_batch([event for _, event in decoded])
            for record, event in decoded:  # a story that failed goes to the DLQ alone
                if event.story_id in batch.failed:
                    await dead_letter(broker, record, batch.failed[event.story_id], group=group)

    return router


def kafka_publisher(broker: KafkaBroker, topic: str = Topic.story_scored) -> Publish:
    """``story.scored`` keyed by story id."""
    return story_publisher(broker, topic)
