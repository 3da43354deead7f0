"""Every MongoDB query of the gateway (read-only): ``story_views`` and its write marks
``story_view_writes`` (written by score) and ``sources`` (written by ingest)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from tellwell.common.history import STORY_HISTORY, History
from tellwell.common.mongo import find_by_ids
from tellwell.common.sources import Source
from tellwell.common.views import STORY_VIEWS, VIEW_WRITES
from tellwell.gateway.domain import SORT_FIELD, CursorKey, FeedQuery
from tellwell.gateway.search import store_pattern

log = logging.getLogger(__name__)

Doc = dict[str, Any]
DB = AsyncDatabase[Doc]

#: A feed item needs the flat fields only; the full view (``view``) is the heavy part.
CARD_PROJECTION: dict[str, int] = {"view": 0}
#: What text search reads of a story (``search.story_text``).
SEARCH_PROJECTION: dict[str, int] = {
    "title": 1,
    "summary_text": 1,
    "entities": 1,
    "search_terms": 1,
    "search_length": 1,
}
MAX_MERGE_HOPS = 16


class MergeLoop(Exception):
    """``merged_into`` links that go round in a circle (a bug upstream): no survivor to show."""


def feed_filter(query: FeedQuery, after: CursorKey | None = None) -> Doc:
    """The MongoDB filter of a feed page: live stories (not absorbed) matching every filter."""
    clauses: list[Doc] = [{"merged_into": None}]
    if query.category is not None:
        clauses.append({"category": query.category.value})
    if query.lean == "blindspot":
        clauses.append({"blindspot": {"$ne": None}})
    elif query.lean is not None:
        clauses.append({f"lean_{query.lean}": {"$gt": 0}})
    if query.min_confidence is not None:
        clauses.append({"confidence": {"$gte": query.min_confidence}})
    if query.since is not None:
        clauses.append({"last_published_at": {"$gte": query.since}})
    if query.source is not None:
        clauses.append({"sources": query.source})
    if query.language is not None:
        clauses.append({"language": query.language})
    for word in query.words:  # every word starts one of the story's words (``search``)
        clauses.append({"search_terms": store_pattern(word)})
    if after is not None and query.sort != "relevance":  # a rank is no field: the caller pages it
        field = SORT_FIELD[query.sort]
        clauses.append(
            {"$or": [{field: {"$lt": after.value}}, {field: after.value, "_id": {"$lt": after.story_id}}]}
        )
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class StoryViews:
    """Reads of the ``story_views`` read model."""

    def __init__(self, db: DB) -> None:
        self.collection = db[STORY_VIEWS]
        self.marks = db[VIEW_WRITES]
        self.histories = db[STORY_HISTORY]

    async def version_count(self, story_id: str) -> int | None:
        """How many versions the story's history counts (None without a history), read alone."""
        doc = await self.histories.find_one({"_id": story_id}, {"versions": 1})
        versions = doc.get("versions") if doc is not None else None
        return versions if isinstance(versions, int) else None

    async def history(self, story_id: str) -> History | None:
        """The story's versions as score stored them (``common.history``); None without any (a
        story scored before history existed) or when the document cannot be read."""
        doc = await self.histories.find_one({"_id": story_id})
        if doc is None:
            return None
        try:
            return History.from_document(doc)
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable story history %r", story_id)
            return None

    async def feed(self, query: FeedQuery, after: CursorKey | None, limit: int) -> list[Doc]:
        """One page of cards, newest/hottest first, ties broken by id (so pages never overlap)."""
        field = SORT_FIELD[query.sort]
        cursor = (
            self.collection.find(feed_filter(query, after), CARD_PROJECTION)
            .sort([(field, -1), ("_id", -1)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def search_matches(self, query: FeedQuery) -> list[Doc]:
        """Every live story matching ``query`` (all its filters, no cursor), with its search fields."""
        cursor = self.collection.find(feed_filter(query), SEARCH_PROJECTION)
        return [doc async for doc in cursor]

    async def search_corpus(self) -> list[Doc]:
        """The search fields of every live story (what ranking's statistics are computed over)."""
        cursor = self.collection.find({"merged_into": None}, SEARCH_PROJECTION)
        return [doc async for doc in cursor]

    async def live_cards(self, limit: int) -> list[Doc]:
        """The cards of the ``limit`` live stories with the newest articles, newest first."""
        return [doc async for doc in self.iter_live_cards(limit)]

    async def iter_live_cards(self, limit: int) -> AsyncIterator[Doc]:
        """``live_cards`` as they come from the store (a replica's load holds no list of them)."""
        cursor = (
            self.collection.find({"merged_into": None}, CARD_PROJECTION, batch_size=500)
            .sort([("last_published_at", -1), ("_id", -1)])
            .limit(limit)
        )
        async for doc in cursor:
            yield doc

    async def hottest_until(self, when: datetime) -> float | None:
        """The greatest hotness of a live story whose newest article is at or before ``when``."""
        query: Doc = {"$and": [{"merged_into": None}, {"last_published_at": {"$lte": when}}]}
        cursor = self.collection.find(query, {"hotness": 1}).sort("hotness", -1).limit(1)
        docs = [doc async for doc in cursor]
        return float(docs[0]["hotness"]) if docs and "hotness" in docs[0] else None

    async def get(self, story_id: str) -> Doc | None:
        return await self.collection.find_one({"_id": story_id})

    async def card_if_matches(self, story_id: str, query: FeedQuery) -> Doc | None:
        """The story's card fields when it belongs in the feed ``query`` selects, else ``None``."""
        return await self.collection.find_one(
            {"$and": [{"_id": story_id}, feed_filter(query)]}, CARD_PROJECTION
        )

    async def resolve(self, story_id: str) -> Doc | None:
        """The story's document, or its survivor's when it was merged (following chains of merges).

        Raises ``MergeLoop`` when ``merged_into`` links go round in a circle.
        """
        seen: set[str] = set()
        doc = await self.get(story_id)
        while doc is not None and doc.get("merged_into"):
            seen.add(doc["_id"])
            target = doc["merged_into"]
            if target in seen or len(seen) > MAX_MERGE_HOPS:
                raise MergeLoop(story_id)
            doc = await self.get(target)
        return doc

    async def updated_since(self, since: datetime | None, limit: int) -> list[Doc]:
        """Cards of views written at or after ``since`` (all when ``None``), oldest write first."""
        query: Doc = {} if since is None else {"updated_at": {"$gte": since}}
        cursor = self.collection.find(query, CARD_PROJECTION).sort([("updated_at", 1), ("_id", 1)])
        return [doc async for doc in cursor.limit(limit)]

    async def writes_since(self, since: datetime | None, limit: int) -> list[Doc]:
        """The write marks (``_id``, ``version``, ``updated_at``) of views written at or after
        ``since``: the poll's cheap first look, at small documents (``common.views.VIEW_WRITES``)."""
        query: Doc = {} if since is None else {"updated_at": {"$gte": since}}
        cursor = self.marks.find(query).sort([("updated_at", 1), ("_id", 1)])
        return [doc async for doc in cursor.limit(limit)]

    async def cards(self, story_ids: Iterable[str]) -> list[Doc]:
        """The cards of these stories (those that exist), one ``_id`` lookup each, concurrently: an
        ``$in`` is a full scan on FerretDB 1.x."""
        docs = await find_by_ids(self.collection, story_ids, CARD_PROJECTION)
        return [doc for doc in docs if doc is not None]

    async def latest_update(self) -> datetime | None:
        docs = [d async for d in self.marks.find({}).sort("updated_at", -1).limit(1)]
        return docs[0]["updated_at"] if docs else None

    async def category_counts(self) -> dict[str, int]:
        pipeline: list[Doc] = [
            {"$match": {"merged_into": None}},
            {"$group": {"_id": "$category", "n": {"$sum": 1}}},
        ]
        return {row["_id"]: row["n"] async for row in await self.collection.aggregate(pipeline)}


class Sources:
    """Reads of the source registry (``sources``, ``_id`` = domain)."""

    def __init__(self, db: DB) -> None:
        self.collection = db["sources"]

    async def get(self, domain: str) -> Source | None:
        doc = await self.collection.find_one({"_id": domain})
        return source_from_doc(doc) if doc else None

    async def list(self, *, lean: str | None, after: str | None, limit: int) -> list[Source]:
        clauses: list[Doc] = []
        if lean is not None:
            clauses.append({"lean": lean})
        if after is not None:
            clauses.append({"_id": {"$gt": after}})
        query: Doc = {"$and": clauses} if len(clauses) > 1 else (clauses[0] if clauses else {})
        cursor = self.collection.find(query).sort("_id", 1).limit(limit)
        return [source_from_doc(doc) async for doc in cursor]


def source_from_doc(doc: Doc) -> Source:
    data = {k: v for k, v in doc.items() if k not in ("_id", "domain")}
    return Source(domain=doc["_id"], **data)
