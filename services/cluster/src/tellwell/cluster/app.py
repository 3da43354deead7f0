"""The cluster service process: `tellwell serve cluster` or `uvicorn tellwell.cluster.app:app`.

One replica per vector index: the embedded Qdrant Edge serves one process; several replicas
need a Qdrant server (``QDRANT_URL``) and share the ``raw.article`` partitions.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import ContextRepo
from faststream.asgi import AsgiFastStream

from tellwell.cluster import repository as repo
from tellwell.cluster.engine import Clusterer
from tellwell.cluster.handlers import CONSUMER
from tellwell.cluster.pipeline import ClusterPipeline
from tellwell.cluster.settings import Settings, settings
from tellwell.common.embed import Encoder
from tellwell.common.kafka import broker_check, make_broker, story_publisher
from tellwell.common.mongo import open_database, started_mongo_check
from tellwell.common.observability import configure_logging, http_routes
from tellwell.common.topics import Topic
from tellwell.common.vectors import make_vector_index


def create_app(config: Settings = settings) -> AsgiFastStream:
    broker = make_broker(config.kafka, service="cluster")
    broker.include_router(
        CONSUMER.router(
            batch_max=config.batch_max,
            batch_wait_ms=config.batch_wait_ms,
            partition_fetch_bytes=config.fetch_partition_bytes,
        )
    )
    state: dict[str, object] = {}

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        configure_logging("cluster", config.log_level, config.log_json)
        mongo, db = open_database(config.mongo)
        index = make_vector_index(config.qdrant)
        encoder = Encoder(threads=config.encoder_threads, max_seq_length=config.encoder_max_tokens)
        encoder.load()  # before consuming: the first batch must not wait for the model
        clusterer = Clusterer(index, encoder, collection=config.collection)
        await clusterer.start()
        await repo.ensure_indexes(db)
        pipeline = ClusterPipeline(db, clusterer, story_publisher(broker, Topic.story_cluster))
        await pipeline.restore(clusterer.params.window)
        context.set_global("pipeline", pipeline)
        state.update(mongo=mongo, index=index)
        try:
            yield
        finally:
            await index.close()
            await mongo.close()

    async def check_vectors() -> None:
        if "index" not in state:
            raise ConnectionError("not started")
        await state["index"].check()  # type: ignore[attr-defined]

    checks = {"kafka": broker_check(broker), "mongo": started_mongo_check(state), "vectors": check_vectors}
    return AsgiFastStream(broker, asgi_routes=http_routes(checks), lifespan=lifespan)


app = create_app()
