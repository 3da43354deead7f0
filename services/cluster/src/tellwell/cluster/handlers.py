"""Kafka side of the cluster service: ``raw.article`` batches in, ``story.cluster`` out."""

from __future__ import annotations

from typing import Annotated

from faststream import Context
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from tellwell.cluster.pipeline import ClusterPipeline, Publish
from tellwell.common.events import RawArticle
from tellwell.common.kafka import IDLE_POLL_MS, BrokerDep, batch_subscriber, decode_batch, story_publisher
from tellwell.common.topics import Topic

GROUP = "cluster"
# A backlog (after a restart, a deploy, an outage) must come in time order across the raw.article
# partitions, or stories form differently than they would live (the pipeline sorts each batch by
# published time): each fetch brings at most FETCH_PARTITION_BYTES of a partition (about 40 headline
# records), and a batch takes what every partition brought (6 partitions x 40 < BATCH_MAX).
BATCH_MAX = 256
FETCH_PARTITION_BYTES = 32 * 1024

PipelineDep = Annotated[ClusterPipeline, Context("pipeline")]


def make_router(
    *,
    source: str = Topic.raw_article,
    group: str = GROUP,
    batch_max: int = BATCH_MAX,
    batch_wait_ms: int = IDLE_POLL_MS,
    fetch_partition_bytes: int | None = FETCH_PARTITION_BYTES,
) -> KafkaRouter:
    """The subscriber, as a router (tests point it at their own topic and group)."""
    router = KafkaRouter()

    @batch_subscriber(
        router,
        source,
        group=group,
        batch_max=batch_max,
        batch_wait_ms=batch_wait_ms,
        partition_fetch_bytes=fetch_partition_bytes,
    )
    async def cluster_articles(message: KafkaMessage, pipeline: PipelineDep, broker: BrokerDep) -> None:
        """Decode each record (a bad one goes to the DLQ alone), then cluster the batch as one."""
        events = [event for _, event in await decode_batch(broker, message, RawArticle, group=group)]
        if events:
            await pipeline.process(events)

    return router


def kafka_publisher(broker: KafkaBroker, topic: str = Topic.story_cluster) -> Publish:
    """``story.cluster`` keyed by story id."""
    return story_publisher(broker, topic)
