"""The summarize service process: `tellwell serve summarize` or `uvicorn tellwell.summarize.app:app`.

Replicas share the ``story.cluster`` partitions; each flushes the pending stories it accepted
(see ``pipeline``), so the service scales out like the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from faststream import ContextRepo
from faststream.asgi import AsgiFastStream

from tellwell.common.kafka import broker_check, make_broker, story_publisher
from tellwell.common.mongo import open_database, started_mongo_check
from tellwell.common.observability import configure_logging, http_routes
from tellwell.common.topics import Topic
from tellwell.summarize.embedding import SentenceVectors, default_encoder
from tellwell.summarize.handlers import CONSUMER
from tellwell.summarize.llm import ChatImprover
from tellwell.summarize.pipeline import Summarizer
from tellwell.summarize.settings import Settings, settings


def create_app(config: Settings = settings) -> AsgiFastStream:
    broker = make_broker(config.kafka, service="summarize")
    broker.include_router(CONSUMER.router(batch_max=config.batch_max, batch_wait_ms=config.batch_wait_ms))
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        configure_logging("summarize", config.log_level, config.log_json)
        vectors = None
        if config.embed:
            vectors = SentenceVectors(default_encoder(config.encoder_threads), config.embed_cache)
            # Loaded now, off the event loop (about a second: the weights, the ONNX session),
            # so the first story does not wait for it (score does the same).
            await asyncio.to_thread(vectors.warm)
        mongo, db = open_database(config.mongo)
        improver = ChatImprover.from_settings(config)
        summarizer = Summarizer(
            db, story_publisher(broker, Topic.story_summary), config, improver=improver, vectors=vectors
        )
        context.set_global("summarizer", summarizer)
        flusher = asyncio.create_task(summarizer.run(), name="summarize-flusher")
        state.update(mongo=mongo)
        try:
            yield
        finally:
            # Drain: the flusher finishes the stories in hand (bounded); pending work is durable
            # anyway, so a flush cut short is redone by the next start.
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(summarizer.stop(), config.drain_s)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            if improver is not None:
                await improver.close()
            await mongo.close()

    checks = {"kafka": broker_check(broker), "mongo": started_mongo_check(state)}
    return AsgiFastStream(broker, asgi_routes=http_routes(checks), lifespan=lifespan)


app = create_app()
