"""Every MongoDB query of the cluster service. Cluster owns ``memberships`` and ``story_versions``.

Both are append-only (bulk inserts: fast on every MongoDB-wire server, FerretDB included):

* ``memberships``: one document per article, ``_id`` = article id, with its story and the why
  (score, threshold, feature contributions). The unique id makes "assigned once" hold in the store.
* ``story_versions``: one document per story version, ``_id`` = ``<story_id>:<version>``, holding
  the story's state (for restarts) and the change that produced it. The newest version of a story
  is its current state; a merged story's last version names ``merged_into``.

The running word statistics live in ``engine_state`` (the whole table, now and then) and
``engine_stats_log`` (each batch's additions since, ``_id`` = a sequence number).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from tellwell.common.mongo import insert_new

Doc = dict[str, Any]
DB = AsyncDatabase[Doc]


async def ensure_indexes(db: DB) -> None:
    await db.story_versions.create_index(
        [("story_id", ASCENDING), ("version", ASCENDING)], name="story_version"
    )
    await db.memberships.create_index([("story_id", ASCENDING)], name="story")


async def save(db: DB, memberships: Sequence[Doc], versions: Sequence[Doc]) -> None:
    """Story versions first: a restart rebuilds from them, and an article they hold counts as
    assigned, so its membership is written again on the replay if this stops in between."""
    await insert_new(db.story_versions, versions)
    await insert_new(db.memberships, memberships)


async def latest_versions(db: DB, since: datetime) -> list[Doc]:
    """The newest version of every story active since ``since`` (to rebuild after a restart)."""
    newest: dict[str, Doc] = {}
    async for doc in db.story_versions.find({"last_published_at": {"$gte": since}}):
        current = newest.get(doc["story_id"])
        if current is None or doc["version"] > current["version"]:
            newest[doc["story_id"]] = doc
    return list(newest.values())


async def memberships_of(db: DB, article_ids: Sequence[str]) -> dict[str, str]:
    """Story of each of these articles that was ever assigned (article id -> story id)."""
    cursor = db.memberships.find({"_id": {"$in": list(article_ids)}}, {"story_id": 1})
    return {d["_id"]: d["story_id"] async for d in cursor}


async def newest_story_time(db: DB) -> datetime | None:
    cursor = db.story_versions.find({}, {"last_published_at": 1}).sort("last_published_at", -1).limit(1)
    return next(iter([d["last_published_at"] async for d in cursor]), None)


async def save_stats(db: DB, stats_json: str, seq: int) -> None:
    """The whole word statistics, as of change ``seq``; the changes up to it are dropped."""
    await db.engine_state.replace_one(
        {"_id": "doc_freq"}, {"_id": "doc_freq", "json": stats_json, "seq": seq}, upsert=True
    )
    await db.engine_stats_log.delete_many({"_id": {"$lte": seq}})


async def save_stats_change(db: DB, seq: int, changes_json: str) -> None:
    """One batch's additions to the word statistics (a small document: the batch's terms)."""
    await insert_new(db.engine_stats_log, [{"_id": seq, "json": changes_json}])


async def load_stats(db: DB) -> tuple[str | None, int, list[tuple[int, str]]]:
    """The last whole statistics (or None) with its sequence number, and the changes made after
    it, in order."""
    doc = await db.engine_state.find_one({"_id": "doc_freq"})
    seq = int(doc.get("seq", 0)) if doc else 0
    cursor = db.engine_stats_log.find({"_id": {"$gt": seq}}).sort("_id", ASCENDING)
    return (doc["json"] if doc else None), seq, [(int(d["_id"]), d["json"]) async for d in cursor]


async def membership(db: DB, article_id: str) -> Doc | None:
    return await db.memberships.find_one({"_id": article_id})


async def story_version(db: DB, story_id: str) -> Doc | None:
    cursor = db.story_versions.find({"story_id": story_id}).sort("version", -1).limit(1)
    return next(iter([d async for d in cursor]), None)
