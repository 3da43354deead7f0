"""The gateway process: `tellwell serve gateway` or `uvicorn tellwell.gateway.app:app`.

Read-only and stateless, so it can be replicated freely behind a load balancer.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from tellwell.common.http import install_problem_handlers, ops_router
from tellwell.common.mongo import make_mongo_client, mongo_check
from tellwell.common.observability import configure_logging
from tellwell.gateway.settings import Settings, settings


def create_app(config: Settings = settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("gateway", config.log_level, config.log_json)
        app.state.mongo = make_mongo_client(config.mongo)
        app.state.db = app.state.mongo[config.mongo.database]
        yield
        await app.state.mongo.close()

    app = FastAPI(title="TellWell", version="0.1.0", lifespan=lifespan)
    app.include_router(ops_router(lambda: {"mongo": mongo_check(app.state.mongo)}))
    install_problem_handlers(app)
    return app


app = create_app()
