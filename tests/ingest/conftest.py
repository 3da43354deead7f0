"""Fixtures shared by the ingest tests: the real broker's raw.article tail, and (from ``httpserver``) the
loopback sites."""

import asyncio
import json

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from tellwell.common.topics import Topic
from tests.ingest.httpserver import sentinel_fixture, serve_fixture, site_fixture  # noqa: F401 -- registers them


@pytest.fixture
async def raw_article_tail(infra):
    """Reads what is published to raw.article from now on."""
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    [described] = await admin.describe_topics([Topic.raw_article.value])
    await admin.close()
    partitions = [TopicPartition(Topic.raw_article.value, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=infra.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:  # resolve the end offsets now, before anything is published
        await consumer.position(tp)

    async def read_until(article_id: str, wait_s: float = 20.0) -> dict:
        async def scan() -> dict:
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        event = json.loads(record.value)
                        if event["article_id"] == article_id:
                            return {"key": record.key, "event": event}

        return await asyncio.wait_for(scan(), wait_s)

    yield read_until
    await consumer.stop()
