"""The score service process: `tellwell serve score` or `uvicorn tellwell.score.app:app`.

Replicas share the ``story.summary`` partitions; the version-checked view store keeps a replica
that is late with an old version from overwriting a newer view (see ``repository.store_view``).
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from faststream import ContextRepo
from faststream.asgi import AsgiFastStream

from tellwell.common.embed import Encoder
from tellwell.common.kafka import broker_check, make_broker, story_publisher
from tellwell.common.mongo import open_database, started_mongo_check
from tellwell.common.observability import configure_logging, http_routes
from tellwell.common.topics import Topic
from tellwell.score import repository as repo
from tellwell.score.corroboration import Checker
from tellwell.score.handlers import CONSUMER, GROUP
from tellwell.score.pipeline import ScorePipeline
from tellwell.score.settings import Settings, settings


def create_app(
    config: Settings = settings,
    *,
    source: str = Topic.story_summary,
    target: str = Topic.story_scored,
    group: str = GROUP,
) -> AsgiFastStream:
    """The service; ``source``/``target``/``group`` exist for tests on their own topics."""
    broker = make_broker(config.kafka, service="score")
    broker.include_router(
        CONSUMER.router(
            source=source, group=group, batch_max=config.batch_max, batch_wait_ms=config.batch_wait_ms
        )
    )
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        configure_logging("score", config.log_level, config.log_json)
        mongo, db = open_database(config.mongo)
        state["mongo"] = mongo
        try:
            await repo.ensure_indexes(db)
            encoder = Encoder(max_seq_length=64, threads=config.encoder_threads) if config.embed else None
            if encoder is not None:
                # Loaded now, off the event loop (seconds: the weights, the ONNX session), before the
                # consumer starts: loaded on the first story, it held the whole service up that long.
                await asyncio.to_thread(encoder.load)
            pipeline = ScorePipeline(
                db,
                story_publisher(broker, target),
                config.params(),
                concurrency=config.concurrency,
                source_cache_s=config.source_cache_s,
                max_members=config.max_members,
                article_cache=config.article_cache,
                view_cache_s=config.view_cache_s,
                recheck_delay_s=config.recheck_delay_ms / 1000,
                checker=Checker(config.params().corroboration, encoder=encoder or False),
            )
            context.set_global("pipeline", pipeline)
            yield
        finally:
            await mongo.close()

    checks = {"kafka": broker_check(broker), "mongo": started_mongo_check(state)}
    return AsgiFastStream(broker, asgi_routes=http_routes(checks), lifespan=lifespan)


app = create_app()
