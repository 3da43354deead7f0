"""The story read model: one ``story_views`` document per story, written by **score** only.

The gateway serves these documents; other services never write them. A document holds the flat
fields the feed filters and sorts on, and the whole view as the JSON of a ``StoryScored`` event in
``view`` (a string: the MongoDB-wire server we run locally cannot store nested arrays, and the
gateway serves pre-serialised bytes anyway).

An absorbed story keeps a document with ``merged_into`` set, so an old link finds its survivor.

Example::

    doc = view_document(scored, updated_at=utcnow())
    await db[STORY_VIEWS].replace_one({"_id": doc["_id"]}, doc, upsert=True)   # version-checked
    await mark_written(db, doc)                                                  # then announced
    scored_again = view_from_document(doc)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from tellwell.common.events import GroundedSentence, StoryScored

STORY_VIEWS = "story_views"

#: One small document per story, ``{_id: story id, version, updated_at}``, rewritten after every
#: write of its view (same ``version`` and ``updated_at``): what the gateway's change feed polls.
#: Polling ``story_views`` itself would read every whole view each time on a server that cannot
#: narrow a range query by an index (FerretDB 1.x scans, and decodes each document in full).
VIEW_WRITES = "story_view_writes"

#: The indexes the feed queries use, as (name, keys) pairs for ``create_index``.
STORY_VIEW_INDEXES: list[tuple[str, list[tuple[str, int]]]] = [
    ("feed_new", [("last_published_at", -1)]),
    ("feed_hot", [("hotness", -1)]),
    ("by_category", [("category", 1), ("last_published_at", -1)]),
    ("by_update", [("updated_at", -1)]),
]


_SENTENCE_END = (".", "!", "?", "\u2026", '"', "\u201d", "'", "\u2019", ")", ":")  # ellipsis, closing quotes


def prose(sentences: Iterable[GroundedSentence]) -> str:
    """Sentences as one paragraph of text. A sentence taken from a headline has no full stop of its
    own; it gets one, so that consecutive headlines do not run into each other."""
    parts = []
    for sentence in sentences:
        text = sentence.text.strip()
        if text:
            parts.append(text if text.endswith(_SENTENCE_END) else text + ".")
    return " ".join(parts)


def view_document(view: StoryScored, *, updated_at: datetime) -> dict[str, Any]:
    """The ``story_views`` document of a story view."""
    lean = view.lean
    return {
        "_id": view.story_id,
        "version": view.version,
        "cluster_version": view.cluster_version,
        "merged_into": view.merged_into,
        "category": view.category.value,
        "language": view.language,
        "title": view.title,
        "summary_text": prose(view.summary),
        "confidence": view.confidence.value,
        "hotness": view.hotness,
        "lean_left": lean.left,
        "lean_center": lean.center,
        "lean_right": lean.right,
        "lean_unrated": lean.unrated,
        "blindspot": view.blindspot.side if view.blindspot else None,
        "sources": sorted({article.source for article in view.articles}),
        "source_count": view.source_count,
        "article_count": view.article_count,
        "first_published_at": view.first_published_at,
        "last_published_at": view.last_published_at,
        "updated_at": updated_at,
        "view": view.model_dump_json(),
    }


def write_mark(doc: dict[str, Any]) -> dict[str, Any]:
    """The ``story_view_writes`` document announcing this write of a ``story_views`` document."""
    return {"_id": doc["_id"], "version": doc["version"], "updated_at": doc["updated_at"]}


async def mark_written(db: Any, doc: dict[str, Any]) -> None:
    """Announce a written ``story_views`` document to the change feed (after the write itself, so
    that a mark always names a view that can be read)."""
    mark = write_mark(doc)
    try:
        await db[VIEW_WRITES].replace_one({"_id": mark["_id"]}, mark, upsert=True)
    except DuplicateKeyError:  # a racing upsert inserted it first: now there is one to replace
        await db[VIEW_WRITES].replace_one({"_id": mark["_id"]}, mark, upsert=True)


def view_from_document(doc: dict[str, Any]) -> StoryScored:
    """The ``StoryScored`` a ``story_views`` document holds."""
    return StoryScored.model_validate_json(doc["view"])


__all__ = [
    "STORY_VIEWS",
    "STORY_VIEW_INDEXES",
    "VIEW_WRITES",
    "mark_written",
    "prose",
    "view_document",
    "view_from_document",
    "write_mark",
]
