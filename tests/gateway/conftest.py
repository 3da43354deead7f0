"""Gateway fixtures: real-shaped story views in a per-test FerretDB database, the app on top."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from tellwell.common.events import StoryScored
from tellwell.common.settings import MongoSettings
from tellwell.common.testing import make_story_scored
from tellwell.common.views import STORY_VIEWS, mark_written, view_document
from tellwell.gateway.app import create_app
from tellwell.gateway.settings import Settings

DB = AsyncDatabase[dict[str, Any]]


def now() -> datetime:
    """The time of the call (not of the import: a long test run must not age the fixtures)."""
    return datetime.now(UTC).replace(microsecond=0)


def story(i: int, **overrides: Any) -> StoryScored:
    """A real-shaped view, the i-th newest (one hour apart), with a distinct id, title and hotness."""
    fields: dict[str, Any] = {
        "story_id": f"story-{i:03d}",
        "title": f"Story number {i}: earthquake of magnitude 7.1 hits central Chile",
        "last_published_at": now() - timedelta(hours=i),
        "hotness": 100.0 - i,
    }
    fields.update(overrides)
    return make_story_scored(**fields)


#: The gateway apps the running test started (``make_client``): ``put_views`` lets them see its writes.
RUNNING: list[FastAPI] = []


async def put_views(
    db: DB, views: list[StoryScored], updated_at: datetime | None = None, *, seen: bool = True
) -> None:
    """Write views as score does: one ``story_views`` document per story (replace by id), then its mark.

    With ``seen`` the test's gateways then poll once, as their change feed would within a second:
    a test that writes then reads needs no sleep.
    """
    at = updated_at or datetime.now(UTC)
    for view in views:
        doc = view_document(view, updated_at=at)
        await db[STORY_VIEWS].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        await mark_written(db, doc)
    if seen:
        for app in RUNNING:
            await app.state.changes.poll_once()


@pytest.fixture
def gateway_settings(mongo_settings: MongoSettings) -> Settings:
    return Settings(
        mongo=mongo_settings,
        poll_interval_s=0.05,
        log_json=False,
        rate_limit_per_s=1000,
        rate_limit_burst=1000,
    )


AppFactory = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
async def make_client(gateway_settings: Settings) -> AsyncIterator[AppFactory]:
    """Start the gateway app (lifespan included) with settings overrides; an httpx client on it."""
    stack: list[tuple[Any, httpx.AsyncClient]] = []

    async def factory(**overrides: Any) -> tuple[FastAPI, httpx.AsyncClient]:
        config = gateway_settings.model_copy(update=overrides)
        app = create_app(config)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")
        stack.append((lifespan, client))
        RUNNING.append(app)
        return app, client

    yield factory
    RUNNING.clear()
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    _, http = await make_client()
    return http
