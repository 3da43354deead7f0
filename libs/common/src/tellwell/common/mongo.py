"""MongoDB access through PyMongo's async API (``AsyncMongoClient``; Motor is end-of-life).

Any MongoDB-wire server works: FerretDB locally, MongoDB in compose and production.

Example::

    client = make_mongo_client(settings.mongo)
    db = client[settings.mongo.database]
    await db.articles.update_one({"_id": aid}, {"$set": doc}, upsert=True)
    await client.close()
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from tellwell.common.observability import Check
from tellwell.common.settings import MongoSettings


def make_mongo_client(settings: MongoSettings, **kwargs: Any) -> AsyncMongoClient[dict[str, Any]]:
    """An ``AsyncMongoClient`` that fails fast when the server is unreachable and writes durably."""
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": settings.server_selection_timeout_ms,
        "connectTimeoutMS": settings.server_selection_timeout_ms,
        "tz_aware": True,
        "retryWrites": False,  # FerretDB has no retryable writes; handlers are idempotent instead
        "appname": "tellwell",
    }
    options.update(kwargs)
    return AsyncMongoClient(settings.url, **options)


def mongo_check(client: AsyncMongoClient[dict[str, Any]]) -> Check:
    """A readiness check that the document store answers a ping."""

    async def check() -> None:
        await client.admin.command("ping")

    return check
