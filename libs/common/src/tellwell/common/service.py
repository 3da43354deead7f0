"""The runtime shape shared by the four stream services: a FastStream app on ASGI.

``build_service`` wires a broker (with the dead-letter path), a MongoDB client, optionally the
vector index, JSON logs, and the ``/healthz``, ``/readyz`` and ``/metrics`` endpoints. Clients are
created inside the lifespan (on the serving event loop) and closed after it, and are put into
FastStream's context as ``db`` and ``index`` for handlers to use.

Example (``services/cluster/src/tellwell/cluster/app.py``)::

    def create_app() -> AsgiFastStream:
        return build_service("cluster", settings, routers=[router], qdrant=settings.qdrant)

    app = create_app()     # uvicorn tellwell.cluster.app:app
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from faststream import ContextRepo
from faststream.asgi import AsgiFastStream
from faststream.kafka import KafkaBroker, KafkaRouter

from tellwell.common.kafka import broker_check, make_broker
from tellwell.common.mongo import make_mongo_client, mongo_check
from tellwell.common.observability import Check, configure_logging, http_routes
from tellwell.common.settings import QdrantSettings, ServiceSettings
from tellwell.common.vectors import make_vector_index

log = logging.getLogger(__name__)


class Resources:
    """The clients a running service holds; filled by the lifespan."""

    def __init__(self) -> None:
        self.mongo: Any = None
        self.index: Any = None

    async def check_mongo(self) -> None:
        if self.mongo is None:
            raise ConnectionError("not started")
        await mongo_check(self.mongo)()

    async def check_index(self) -> None:
        if self.index is None:
            raise ConnectionError("not started")
        await self.index.check()


def build_service(
    name: str,
    settings: ServiceSettings,
    *,
    routers: Sequence[KafkaRouter] = (),
    qdrant: QdrantSettings | None = None,
    broker: KafkaBroker | None = None,
) -> AsgiFastStream:
    """A runnable service app; ``qdrant`` adds the vector index to its resources and checks."""
    broker = broker or make_broker(settings.kafka, service=name)
    for router in routers:
        broker.include_router(router)
    res = Resources()

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        configure_logging(name, settings.log_level, settings.log_json)
        res.mongo = make_mongo_client(settings.mongo)
        context.set_global("db", res.mongo[settings.mongo.database])
        if qdrant is not None:
            res.index = make_vector_index(qdrant)
            context.set_global("index", res.index)
        log.info("%s starting", name, extra={"kafka": settings.kafka.bootstrap_servers})
        try:
            yield
        finally:
            if res.index is not None:
                await res.index.close()
            await res.mongo.close()
            log.info("%s stopped", name)

    checks: dict[str, Check] = {"kafka": broker_check(broker), "mongo": res.check_mongo}
    if qdrant is not None:
        checks["vectors"] = res.check_index
    app = AsgiFastStream(broker, asgi_routes=http_routes(checks), lifespan=lifespan)
    app.state = res  # type: ignore[attr-defined]
    return app
