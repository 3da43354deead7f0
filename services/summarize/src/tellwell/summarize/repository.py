"""Every MongoDB query of the summarize service.

Owned here: ``summary_pending`` (the unsummarised ``story.cluster`` versions of each story, one
immutable document per version, so that debounced work survives a crash; read back as one
``PendingStory`` per story) and ``story_summaries`` (the latest summary of each story, with the
exact event that was emitted, so a crash between store and publish re-emits it unchanged; a write
never puts back an older version).
Read here, owned by ingest: ``articles`` (``_id`` = article id) and ``sources`` (``_id`` = domain).

FerretDB notes: nested arrays cannot be stored, so events are kept as JSON strings; ``_id``
lookups are fast and ``$in`` is a scan, so members are fetched with concurrent ``find_one``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pymongo.asynchronous.database import AsyncDatabase

from tellwell.common.events import Lean, StoryCluster, StorySummary, is_rewrite, summary_rank
from tellwell.common.mongo import find_by_ids, insert_new
from tellwell.common.sources import Source
from tellwell.summarize.domain import Article

DB = AsyncDatabase[dict[str, Any]]
Doc = dict[str, Any]

PENDING = "summary_pending"
SUMMARIES = "story_summaries"
ARTICLE_FIELDS = {
    "url": 1,
    "source": 1,
    "source_name": 1,
    "title": 1,
    "text": 1,
    "lead": 1,
    "published_at": 1,
    "category_hint": 1,
    "copy_of": 1,
}


# ---------------------------------------------------------------- pending (debounced) work


def pending_id(story_id: str, version: int) -> str:
    return f"{story_id}@{version}"


def pending_doc(event: StoryCluster, *, owner: str, due_at: datetime, now: datetime) -> Doc:
    """One accepted version of a story. Documents are immutable (one per story and version), so a
    delete by ``_id`` removes exactly the version that was done: FerretDB's conditional delete is
    a read then a delete by ``_id``, which removed a newer version written in between when one
    document per story was replaced in place."""
    return {
        "_id": pending_id(event.story_id, event.version),
        "story_id": event.story_id,
        "version": event.version,
        "cluster": event.model_dump_json(),
        "owner": owner,
        "merged": event.merged_into is not None,
        "due_at": due_at,
        "updated_at": now,
    }


async def put_pending(db: DB, docs: Sequence[Doc]) -> None:
    """All accepted versions of a batch in one write; a version already stored (a redelivery)
    stays as it is."""
    await insert_new(db[PENDING], docs)


@dataclass(frozen=True, slots=True)
class PendingStory:
    """A story's pending work as stored: its newest pending version (owner, due time, merge
    redirect) and every pending version (all deleted once the newest is summarised)."""

    story_id: str
    version: int
    owner: str | None
    due_at: datetime
    merged: bool
    versions: frozenset[int]


async def pending_stories(db: DB, limit: int = 5000) -> list[PendingStory]:
    """The pending work of each story (a small collection: versions drop out once summarised)."""
    newest: dict[str, Doc] = {}
    versions: dict[str, set[int]] = {}
    async for doc in db[PENDING].find({}, {"cluster": 0}).limit(limit):
        story = doc.get("story_id")
        if not isinstance(story, str):
            continue  # not a per-version document
        versions.setdefault(story, set()).add(int(doc["version"]))
        if story not in newest or doc["version"] > newest[story]["version"]:
            newest[story] = doc
    return [
        PendingStory(
            story_id=story,
            version=int(doc["version"]),
            owner=doc.get("owner"),
            due_at=doc["due_at"],
            merged=bool(doc.get("merged")),
            versions=frozenset(versions[story]),
        )
        for story, doc in newest.items()
    ]


async def load_pending(db: DB, story_id: str, version: int) -> StoryCluster | None:
    doc = await db[PENDING].find_one({"_id": pending_id(story_id, version)})
    return None if doc is None else StoryCluster.model_validate_json(doc["cluster"])


async def clear_pending(db: DB, ids: Sequence[str]) -> None:
    """Done with these versions (exact ids: a newer version stays pending)."""
    await asyncio.gather(*(db[PENDING].delete_one({"_id": i}) for i in ids))


# ---------------------------------------------------------------- summaries


async def get_summary(db: DB, story_id: str) -> tuple[StorySummary, datetime] | None:
    """The stored summary event (exactly as emitted) and when it was stored."""
    doc = await db[SUMMARIES].find_one({"_id": story_id})
    if doc is None:
        return None
    return StorySummary.model_validate_json(doc["event"]), doc["updated_at"]


def outranks(summary: StorySummary, current: tuple[int, str] | None) -> bool:
    """Whether ``summary`` may replace the stored (version, method): it must rank above it
    (``summary_rank``), and a language-model rewrite only replaces the extractive summary of its own
    version (it is never stored where that summary is not)."""
    if current is None:
        return not is_rewrite(summary.method)
    if is_rewrite(summary.method) and current[0] != summary.version:
        return False
    return summary_rank(summary.version, summary.method) > summary_rank(*current)


async def store_summary(
    db: DB,
    summary: StorySummary,
    *,
    now: datetime,
    current: tuple[int, str] | Literal["read"] | None = "read",
) -> bool:
    """Store ``summary`` if it ``outranks`` the stored one; returns whether it did.

    ``current`` is the stored (version, method) when the caller has just read it, saving a read.
    The check and the write are two round trips: FerretDB pushes down an ``_id``-only filter alone
    (a conditional ``replace_one({_id, version})`` scans the collection) and its conditional writes
    are a read then a write by ``_id`` anyway. So no other write of the story may land between the
    check and the write: the pipeline makes one story's writes one at a time."""
    if current == "read":
        found = await db[SUMMARIES].find_one({"_id": summary.story_id}, {"version": 1, "method": 1})
        current = (int(found["version"]), str(found.get("method", ""))) if found else None
    if not outranks(summary, current):
        return False
    doc = {
        "_id": summary.story_id,
        "version": summary.version,
        "method": summary.method,
        "title": summary.title,
        "category": summary.category.value,
        "merged_into": summary.merged_into,
        "event": summary.model_dump_json(),
        "updated_at": now,
    }
    await db[SUMMARIES].replace_one({"_id": summary.story_id}, doc, upsert=True)
    return True


# ---------------------------------------------------------------- articles and sources (read-only)


async def get_articles(db: DB, ids: Sequence[str]) -> list[Doc]:
    """Member articles by ``_id``, concurrently; missing ones are skipped."""
    docs = await find_by_ids(db.articles, ids, ARTICLE_FIELDS)
    return [d for d in docs if d is not None]


async def get_sources(db: DB, domains: Sequence[str]) -> dict[str, Source]:
    docs = await find_by_ids(db.sources, domains)
    out: dict[str, Source] = {}
    for doc in docs:
        if doc is None:
            continue
        data = {k: v for k, v in doc.items() if k != "_id"}
        try:
            out[doc["_id"]] = Source(domain=doc["_id"], **data)
        except ValueError:
            continue  # a malformed registry entry reads as unrated rather than failing the story
    return out


def article_of(doc: Doc, source: Source | None) -> Article:
    """A stored article as the summariser reads it, with its source's name and lean."""
    if not isinstance(doc.get("published_at"), datetime):
        raise ValueError("published_at is missing or not a date")
    return Article(
        article_id=str(doc["_id"]),
        url=str(doc.get("url") or ""),
        source=str(doc.get("source") or "unknown"),
        source_name=doc.get("source_name") or (source.name if source else None),
        title=str(doc.get("title") or ""),
        text=str(doc.get("text") or ""),
        lead=str(doc.get("lead") or ""),
        published_at=doc["published_at"],
        category_hint=doc.get("category_hint"),
        copy_of=doc.get("copy_of"),
        lean=source.lean if source else Lean.unrated,
    )
