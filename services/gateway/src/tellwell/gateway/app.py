"""The gateway process: `tellwell serve gateway` or `uvicorn tellwell.gateway.app:app`.

Read-only and stateless, so it can be replicated freely behind a load balancer: each replica keeps
the live stories' cards in memory (``memory.ReadModel``, fed by its own change feed) and a cache of
serialised responses, keyed by the data version that change feed observes.
"""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from tellwell.common.events import StoryScored
from tellwell.common.http import ops_router
from tellwell.common.mongo import make_mongo_client, mongo_check
from tellwell.common.observability import Check, configure_logging
from tellwell.gateway.cache import FrontCache, FrontStore, Rendered, ResponseCache
from tellwell.gateway.deps import Gateway
from tellwell.gateway.errors import install_error_handlers
from tellwell.gateway.fastpath import FastFeed
from tellwell.gateway.live import ChangeFeed
from tellwell.gateway.memory import ReadModel
from tellwell.gateway.middleware import Metrics, RateLimit, SecurityHeaders, TokenBucketLimiter
from tellwell.gateway.rendering import make_templates
from tellwell.gateway.repository import Sources, StoryViews
from tellwell.gateway.routes import categories, feeds, history, pages, sources, stories, stream
from tellwell.gateway.settings import Settings, settings

STATIC = Path(__file__).parent / "static"

DESCRIPTION = """\
The public, read-only TellWell API: the story feed, every story's full view (confidence with its
breakdown, lean, perspectives, gaps, articles, related stories), sources and categories, and a live
stream of story updates (Server-Sent Events).

* Errors are `application/problem+json`; a `422` names the offending parameter.
* Reads carry an `ETag` and `Cache-Control`; send `If-None-Match` to get `304 Not Modified`.
* A story absorbed by a merge answers `308` with its survivor in `Location`.
* Each client may make a burst of requests, then a sustained rate per second (`429` with
  `Retry-After` beyond).
"""


def create_app(config: Settings = settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("gateway", config.log_level, config.log_json)
        app.state.mongo = make_mongo_client(config.mongo)
        db = app.state.mongo[config.mongo.database]
        views = StoryViews(db)
        model = ReadModel(config.memory_stories) if config.memory_stories else None
        changes = ChangeFeed(
            views,
            interval_s=config.poll_interval_s,
            max_interval_s=config.poll_max_interval_s,
            lookback_s=config.poll_lookback_s,
            model=model,
        )
        parsed: ResponseCache[StoryScored] = ResponseCache(config.cache_entries, layer="view")
        # The route caches' keys carry the data version or the story's own version, so a change
        # needs no purge there (a story's page outlives other stories' writes); stale entries age
        # out of the bound. The front cache is keyed by the data version alone: emptied on change.
        changes.on_change(front.clear)
        app.state.changes = changes
        app.state.gateway = Gateway(
            config, views, Sources(db), app.state.cache, parsed, changes, app.state.templates
        )
        await changes.start()
        # Startup objects (modules, templates, schemas) live as long as the process: keep them out
        # of the collector's full passes, which otherwise show up as tail latency.
        gc.freeze()
        try:
            yield
        finally:
            await changes.stop()
            await app.state.mongo.close()

    app = FastAPI(
        title="TellWell",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # No OpenTelemetry here (Prometheus /metrics instead): FastAPI would otherwise look up the
        # global providers on every request, cached responses included.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = config
    app.state.feed_memo = {}
    app.state.cache = ResponseCache[Rendered](config.cache_entries)
    front = FrontStore(config.cache_entries)
    app.state.templates = make_templates()
    app.include_router(ops_router(lambda: ready_checks(app)))
    for module in (history, stories, sources, categories, stream, pages, feeds):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_error_handlers(app)

    # Outermost last: metrics see every response, security headers go on 429s too, the front
    # cache answers repeated reads inside the rate limit but before routing, and the feed's new
    # queries are answered from the read model before routing too.
    app.add_middleware(FastFeed)
    app.add_middleware(FrontCache, store=front)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS"],
            allow_headers=["If-None-Match", "Last-Event-ID"],
            expose_headers=["ETag", "Retry-After", "Location"],
            max_age=600,
        )
    if config.rate_limit_per_s > 0:
        limiter = TokenBucketLimiter(config.rate_limit_per_s, config.rate_limit_burst)
        app.add_middleware(RateLimit, limiter=limiter, trust_forwarded_for=config.trust_forwarded_for)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(Metrics)
    return app


def ready_checks(app: FastAPI) -> dict[str, Check]:
    checks = {"mongo": mongo_check(app.state.mongo)}
    if app.state.settings.memory_stories:

        async def read_model() -> None:
            changes = getattr(app.state, "changes", None)
            if changes is None or changes.model is None or not changes.model.loaded:
                raise RuntimeError("the in-memory read model is still loading")

        checks["read_model"] = read_model
    return checks


app = create_app()
