"""Every MongoDB query of the cluster service, and the shapes of its documents. Cluster owns
``memberships``, ``story_versions`` and the word statistics (``engine_state``, ``engine_stats_log``).

``save`` stores one ``BatchDecision``; the story versions and memberships are append-only (bulk
inserts: fast on every MongoDB-wire server, FerretDB included):

* ``memberships``: one document per article, ``_id`` = article id, with its story and the why
  (score, threshold, feature contributions). The unique id makes "assigned once" hold in the store.
* ``story_versions``: one document per story version, ``_id`` = ``<story_id>:<version>``, holding
  the story's state (for restarts) and the change that produced it. The newest version of a story
  is its current state; a merged story's last version names ``merged_into``.

The running word statistics are a record of their own: the whole table, now and then, in
``engine_state`` (``_id`` = ``doc_freq``), and each batch's additions since in ``engine_stats_log``
(``_id`` = a sequence number). A table stored by the previous code carries ``_id``/``kind`` keys in
its JSON too; they are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from tellwell.cluster.batch import Assignment, BatchDecision, StoryChange
from tellwell.cluster.book import story_doc
from tellwell.common.events import StoryCluster
from tellwell.common.mongo import insert_new

Doc = dict[str, Any]
DB = AsyncDatabase[Doc]


async def ensure_indexes(db: DB) -> None:
    await db.story_versions.create_index(
        [("story_id", ASCENDING), ("version", ASCENDING)], name="story_version"
    )
    await db.memberships.create_index([("story_id", ASCENDING)], name="story")


@dataclass(frozen=True)
class StatsRecord:
    """What a batch stores of the word statistics: its additions (``DocFreq.apply`` form) as change
    ``seq``, or, now and then, the whole table as of ``seq`` (the changes up to it are dropped)."""

    seq: int
    change: dict[str, Any] | None = None
    table: dict[str, Any] | None = None


@dataclass(frozen=True)
class StoredStats:
    """The stored word statistics: the last whole table (or None), the changes made after it in
    order, and the sequence number of the last of them."""

    table: dict[str, Any] | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    seq: int = 0


async def save(db: DB, decision: BatchDecision, stats: StatsRecord | None = None) -> None:
    """Store a decision: its story versions, the memberships (of the known articles too: one the
    store lost comes back on a replay; one it has is kept) and the statistics record.

    Story versions first: a restart rebuilds from them, and an article they hold counts as
    assigned, so its membership is written again on the replay if this stops in between. Every
    write is idempotent (unique ids, insert only), so the redelivered batch stores the same again.
    """
    await insert_new(db.story_versions, [_version_doc(c) for c in decision.changes])
    memberships = [_membership(a, decision.at) for a in [*decision.assignments, *decision.known]]
    await insert_new(db.memberships, memberships)
    if stats is not None:
        if stats.table is not None:
            await save_stats(db, json.dumps(stats.table), stats.seq)
        elif stats.change is not None:
            await save_stats_change(db, stats.seq, json.dumps(stats.change))


def _version_doc(change: StoryChange) -> Doc:
    event = change.event
    # The story's state as JSON text: it holds nested arrays, which not every MongoDB-wire server
    # stores (FerretDB 1.x does not), and nothing queries inside it.
    state = json.dumps(story_doc(change.state)) if change.state is not None else None
    return {
        "_id": f"{change.story_id}:{change.version}",
        "story_id": change.story_id,
        "version": change.version,
        "merged_into": change.merged_into,
        "last_published_at": event.last_published_at,
        "state": state,
        # JSON text too: nothing queries inside it, and a nested document of every member costs a
        # MongoDB-wire server on SQLite (FerretDB) a conversion per field on every insert.
        "event": event.model_dump_json(),
    }


def _membership(a: Assignment, at: datetime) -> Doc:
    return {
        "_id": a.article_id,
        "story_id": a.story_id,
        "created_story": a.created,
        "score": a.score,
        "threshold": a.threshold,
        "features": a.features,
        "related": [{"story_id": s, "score": v} for s, v in a.related],
        "assigned_at": at,
    }


def stored_event(doc: Doc) -> StoryCluster:
    """The ``story.cluster`` event a ``story_versions`` document keeps: JSON text (older documents
    hold it as a nested document)."""
    event = doc["event"]
    return (
        StoryCluster.model_validate_json(event)
        if isinstance(event, str)
        else StoryCluster.model_validate(event)
    )


def live_states(docs: Sequence[Doc]) -> list[Doc]:
    """The story states (``book.story_doc``) of the newest versions that are not merged away; the
    version is the document's (a state stored by the previous code counted its own)."""
    return [
        {**json.loads(d["state"]), "version": int(d["version"])} for d in docs if not d.get("merged_into")
    ]


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


async def load_stats(db: DB) -> StoredStats:
    """The last whole statistics (or None) and the changes made after it, in order."""
    doc = await db.engine_state.find_one({"_id": "doc_freq"})
    seq = int(doc.get("seq", 0)) if doc else 0
    cursor = db.engine_stats_log.find({"_id": {"$gt": seq}}).sort("_id", ASCENDING)
    changes = [(int(d["_id"]), json.loads(d["json"])) async for d in cursor]
    return StoredStats(
        table=json.loads(doc["json"]) if doc else None,
        changes=[c for _, c in changes],
        seq=max([seq, *(s for s, _ in changes)]),
    )


async def story_version(db: DB, story_id: str) -> Doc | None:
    cursor = db.story_versions.find({"story_id": story_id}).sort("version", -1).limit(1)
    return next(iter([d async for d in cursor]), None)


async def latest_event(db: DB, story_id: str) -> StoryCluster | None:
    """The event of a story's newest stored version (to re-emit it on a replay)."""
    doc = await story_version(db, story_id)
    return stored_event(doc) if doc is not None else None
