"""``batch_subscriber`` on the real broker: a backlog spread over partitions arrives interleaved."""

import asyncio
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from tellwell.common.kafka import batch_subscriber, ensure_topics
from tellwell.common.topics import TopicSpec

PARTITIONS, PER_PARTITION = 6, 100


async def greatest_lead(infra, broker_factory, partition_fetch_bytes: int | None) -> int:
    """Fill every partition with a backlog (150 KB each, records of 1.5 KB like articles with a
    lead), then consume it: how many records the partition furthest ahead was ever ahead of the one
    furthest behind, after any batch."""
    topic = f"test-order-{uuid.uuid4().hex[:10]}"
    await ensure_topics(infra.kafka_bootstrap, [TopicSpec(topic, PARTITIONS)])
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for seq in range(PER_PARTITION):
            for p in range(PARTITIONS):
                body = json.dumps({"p": p, "seq": seq, "pad": "x" * 1500}).encode()
                await producer.send(topic, body, partition=p)
        await producer.flush()
    finally:
        await producer.stop()

    router = KafkaRouter()
    progress = dict.fromkeys(range(PARTITIONS), -1)
    leads: list[int] = []
    done = asyncio.Event()

    @batch_subscriber(
        router,
        topic,
        group=f"g-{uuid.uuid4().hex[:8]}",
        batch_max=256,
        batch_wait_ms=20,
        partition_fetch_bytes=partition_fetch_bytes,
    )
    async def handle(message: KafkaMessage) -> None:
        for d in map(json.loads, message.body):  # type: ignore[arg-type]
            progress[d["p"]] = max(progress[d["p"]], d["seq"])
        leads.append(max(progress.values()) - min(progress.values()))
        if min(progress.values()) == PER_PARTITION - 1:
            done.set()

    broker = broker_factory(service="order")
    broker.include_router(router)
    async with broker:
        await broker.start()
        await asyncio.wait_for(done.wait(), timeout=60)
    return max(leads)


@pytest.mark.kafka
class TestBacklogOrder:
    async def test_a_capped_fetch_gives_every_partition_its_next_records(self, infra, broker_factory):
        lead = await greatest_lead(infra, broker_factory, partition_fetch_bytes=16 * 1024)

        assert lead < 30  # a fetch of 16 KB holds about 10 of these records

    async def test_the_default_fetch_gives_a_backlog_partition_by_partition(self, infra, broker_factory):
        # What the cap is for: with aiokafka's 1 MiB per partition, one partition's whole backlog
        # comes first, hundreds of records ahead of the others.
        lead = await greatest_lead(infra, broker_factory, partition_fetch_bytes=None)

        assert lead == PER_PARTITION  # a whole partition before the next one starts
