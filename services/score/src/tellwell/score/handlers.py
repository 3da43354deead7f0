"""Kafka side of the score service: ``story.summary`` batches in, ``story.scored`` out."""

from __future__ import annotations

from tellwell.common.events import StorySummary
from tellwell.common.kafka import BatchConsumer, DeadLetters, Decoded
from tellwell.common.topics import Topic
from tellwell.score.pipeline import ScorePipeline

GROUP = "score"


async def score_summaries(pipeline: ScorePipeline, decoded: Decoded[StorySummary]) -> DeadLetters:
    """Score the batch's stories; a record whose story cannot be scored goes to the DLQ alone."""
    batch = await pipeline.process_batch([event for _, event in decoded])
    return [
        (record, batch.failed[event.story_id]) for record, event in decoded if event.story_id in batch.failed
    ]


CONSUMER = BatchConsumer(
    StorySummary, score_summaries, context="pipeline", source=Topic.story_summary, group=GROUP, batch_max=32
)
