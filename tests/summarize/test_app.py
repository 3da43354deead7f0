"""The process as `uvicorn tellwell.summarize.app:app` builds it: lifespan, consumer, flusher and
publisher wired together (in-memory broker, real MongoDB)."""

import asyncio

import pytest
from faststream import TestApp
from faststream.kafka import TestKafkaBroker

from tellwell.common.events import StorySummary
from tellwell.common.topics import Topic
from tellwell.summarize.app import create_app
from tellwell.summarize.settings import Settings
from tests.summarize.test_service import cluster, store_quake


@pytest.mark.mongo
async def test_the_app_wires_consumer_flusher_and_publisher(mongo_db, mongo_settings):
    await store_quake(mongo_db)
    app = create_app(Settings(mongo=mongo_settings, replica_id="app-test", flush_interval_s=0.05, embed=True))
    got = []
    done = asyncio.Event()

    @app.broker.subscriber(Topic.story_summary)
    async def collect(event: StorySummary) -> None:
        got.append(event)
        done.set()

    async with TestKafkaBroker(app.broker) as br, TestApp(app):
        await br.publish(cluster(2), Topic.story_cluster, key=b"quake")
        await asyncio.wait_for(done.wait(), 10)
        # The encoder (SUMMARIZE_EMBED, on by default) was loaded at start and used.
        vectors = app.context.get("summarizer").vectors
        assert vectors is not None
        assert vectors.encoded > 1
    assert [(e.story_id, e.version) for e in got] == [("quake", 2)]
