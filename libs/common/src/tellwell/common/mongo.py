"""MongoDB access through PyMongo's async API (``AsyncMongoClient``; Motor is end-of-life).

Any MongoDB-wire server works: FerretDB locally, MongoDB in compose and production.

Example::

    client, db = open_database(settings.mongo)
    await db.articles.update_one({"_id": aid}, {"$set": doc}, upsert=True)
    await client.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

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


def open_database(
    settings: MongoSettings,
) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncDatabase[dict[str, Any]]]:
    """A client (``make_mongo_client``) and the database ``settings`` names; close the client after."""
    client = make_mongo_client(settings)
    return client, client[settings.database]


DUPLICATE_KEY = 11000


async def insert_new(
    collection: AsyncCollection[dict[str, Any]], docs: Sequence[dict[str, Any]]
) -> list[int]:
    """One unordered bulk insert where an ``_id`` already stored is not an error (redelivery, a racing
    replica); returns the positions in ``docs`` that were inserted. Any other write error raises.

    Bulk inserts are what every MongoDB-wire server does fast (FerretDB on SQLite included, where
    per-document updates and ``$in`` scans are slow), and the unique ``_id`` makes them idempotent.
    """
    if not docs:
        return []
    try:
        await collection.insert_many(list(docs), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        rejected = {e["index"] for e in errors}
        return [i for i in range(len(docs)) if i not in rejected]
    return list(range(len(docs)))


def mongo_check(client: AsyncMongoClient[dict[str, Any]]) -> Check:
    """A readiness check that the document store answers a ping."""

    async def check() -> None:
        await client.admin.command("ping")

    return check


def started_mongo_check(state: Mapping[str, Any], key: str = "mongo") -> Check:
    """``mongo_check`` of the client a service's lifespan puts in ``state[key]``; "not started" until
    it does (readiness is asked before and during start-up)."""

    async def check() -> None:
        client = state.get(key)
        if client is None:
            raise ConnectionError("not started")
        await mongo_check(client)()

    return check


async def find_by_ids(
    collection: AsyncCollection[dict[str, Any]], ids: Iterable[Any], projection: Any = None
) -> list[dict[str, Any] | None]:
    """One ``_id`` lookup per id, concurrently, in the order given (``None`` where none is stored).

    An ``$in`` would be one query, but FerretDB 1.x answers it with a full collection scan, while an
    ``_id`` equality uses the index."""
    return list(await asyncio.gather(*(collection.find_one({"_id": i}, projection) for i in ids)))
