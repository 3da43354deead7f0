"""Kafka side of the cluster service: ``raw.article`` batches in, ``story.cluster`` out."""

from __future__ import annotations

from tellwell.cluster.pipeline import ClusterPipeline
from tellwell.common.events import RawArticle
from tellwell.common.kafka import BatchConsumer, DeadLetters, Decoded
from tellwell.common.topics import Topic

GROUP = "cluster"
# A backlog (after a restart, a deploy, an outage) must come in time order across the raw.article
# partitions, or stories form differently than they would live (the pipeline sorts each batch by
# published time): each fetch brings at most FETCH_PARTITION_BYTES of a partition (about 40 headline
# records), and a batch takes what every partition brought (6 partitions x 40 < BATCH_MAX).
BATCH_MAX = 256
FETCH_PARTITION_BYTES = 32 * 1024


async def cluster_articles(pipeline: ClusterPipeline, decoded: Decoded[RawArticle]) -> DeadLetters:
    """Cluster the batch as one."""
    await pipeline.process([event for _, event in decoded])
    return ()


CONSUMER = BatchConsumer(
    RawArticle,
    cluster_articles,
    context="pipeline",
    source=Topic.raw_article,
    group=GROUP,
    batch_max=BATCH_MAX,
    partition_fetch_bytes=FETCH_PARTITION_BYTES,
)
