"""The ingest process: `tellwell serve ingest` or `uvicorn tellwell.ingest.app:app`.

One process serves the write API, polls feeds (sharing them with other replicas through leases)
and sweeps the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from tellwell.common.http import install_problem_handlers, ops_router
from tellwell.common.kafka import broker_check, make_broker
from tellwell.common.mongo import mongo_check, open_database
from tellwell.common.observability import configure_logging
from tellwell.ingest import repository as repo
from tellwell.ingest.api import router
from tellwell.ingest.feeds import Poller
from tellwell.ingest.fetch import FetchPolicy, SafeFetcher
from tellwell.ingest.pipeline import Ingestor, kafka_publisher
from tellwell.ingest.settings import Settings, settings

log = logging.getLogger(__name__)


def fetch_policy(config: Settings) -> FetchPolicy:
    return FetchPolicy(
        max_bytes=config.fetch_max_bytes,
        timeout_s=config.fetch_timeout_s,
        allow_hosts=frozenset(config.fetch_allow_hosts),
        respect_robots=config.respect_robots,
        per_host_concurrency=config.per_host_concurrency,
        per_host_min_interval_s=config.per_host_min_interval_s,
    )


async def housekeeping(ingestor: Ingestor, every_s: float, stop: asyncio.Event) -> None:
    """Re-emit what a crash left in the outbox; pick up other replicas' articles for copy detection."""
    while not stop.is_set():
        try:
            await ingestor.republish_pending()
            await ingestor.copies.refresh(ingestor.db)
            await repo.prune_claims(ingestor.db, datetime.now(UTC) - timedelta(days=1))
        except Exception:  # the store may be down: try again next round
            log.exception("housekeeping failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def create_app(config: Settings = settings) -> FastAPI:
    broker = make_broker(config.kafka, service="ingest")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("ingest", config.log_level, config.log_json)
        mongo, db = open_database(config.mongo)
        app.state.mongo, app.state.db, app.state.settings = mongo, db, config
        await broker.start()
        await repo.ensure_indexes(db)
        ingestor = Ingestor(db, kafka_publisher(broker))
        app.state.ingestor = ingestor
        stop = asyncio.Event()
        tasks = [asyncio.create_task(housekeeping(ingestor, config.outbox_sweep_s, stop))]
        fetcher = SafeFetcher(fetch_policy(config))
        if config.poll_enabled:
            tasks.append(asyncio.create_task(Poller(db, ingestor, fetcher, config).run(stop)))
        log.info("ingest started", extra={"replica": config.replica_id, "polling": config.poll_enabled})
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait(tasks, timeout=20)
            for task in tasks:
                task.cancel()
            await fetcher.aclose()
            await broker.stop()
            await mongo.close()

    app = FastAPI(
        title="TellWell ingest",
        version="0.1.0",
        description="Write API: push articles, manage feeds, edit the source registry. Needs an API key.",
        lifespan=lifespan,
    )
    app.include_router(
        ops_router(lambda: {"kafka": broker_check(broker), "mongo": mongo_check(app.state.mongo)})
    )
    app.include_router(router)
    install_problem_handlers(app)
    return app


app = create_app()
