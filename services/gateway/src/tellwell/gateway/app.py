"""The gateway process: `tellwell serve gateway` or `uvicorn tellwell.gateway.app:app`.

Read-only and stateless, so it can be replicated freely behind a load balancer.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tellwell.common.mongo import make_mongo_client
from tellwell.common.observability import configure_logging, run_checks
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

    async def check_mongo() -> None:
        await app.state.mongo.admin.command("ping")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Any:
        ok, report = await run_checks({"mongo": check_mongo})
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "checks": report},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


app = create_app()
