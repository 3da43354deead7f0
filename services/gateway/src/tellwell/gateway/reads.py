"""Answers to the feed's reads: from the replica's in-memory read model when it can answer alone
(``memory.ReadModel``), else from the store (``repository.StoryViews``), with the same bytes.

The store path is what a replica uses while its model loads, when the model is off
(``GATEWAY_MEMORY_STORIES=0``) and for the queries a bounded model cannot prove complete.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import orjson

from tellwell.gateway.domain import CursorKey, FeedQuery, Page, encode_cursor, story_card
from tellwell.gateway.live import ChangeFeed
from tellwell.gateway.memory import ReadModel
from tellwell.gateway.repository import Doc, StoryViews
from tellwell.gateway.search import StoryText, bm25, prefix_tf, story_text


async def feed_page(
    views: StoryViews, model: ReadModel | None, query: FeedQuery, after: CursorKey | None, limit: int
) -> Page:
    if model is not None:
        page = model.feed(query, after, limit)
        if page is not None:
            return page
    return await store_page(views, query, after, limit)


async def store_page(views: StoryViews, query: FeedQuery, after: CursorKey | None, limit: int) -> Page:
    """The feed page as the store answers it (FerretDB 1.x scans ``story_views`` for it)."""
    if query.sort == "relevance":
        return await _ranked_store_page(views, query, after, limit)
    docs = await views.feed(query, after, limit + 1)
    page = docs[:limit]
    cursor = encode_cursor(query, page[-1]) if len(docs) > limit else None
    return Page([orjson.dumps(story_card(d)) for d in page], cursor)


async def _ranked_store_page(
    views: StoryViews, query: FeedQuery, after: CursorKey | None, limit: int
) -> Page:
    """The store matches, ranking needs statistics of every live story: read them all, rank here."""
    matches = await views.search_matches(query)
    if not matches:
        return Page([], None)
    corpus = [story_text(d) for d in await views.search_corpus()]
    words = query.words
    dfs = [sum(1 for t in corpus if prefix_tf(t, w) > 0) for w in words]
    texts: list[StoryText] = [story_text(d) for d in matches]
    tfs = [np.array([float(prefix_tf(t, w)) for t in texts]) for w in words]
    lengths = np.array([float(t.length) for t in texts])
    scores = bm25(tfs, lengths, dfs, len(corpus), sum(t.length for t in corpus))
    ranked = sorted(((float(s), d["_id"]) for s, d in zip(scores, matches, strict=True)), reverse=True)
    if after is not None:
        value = float(after.value)  # type: ignore[arg-type]
        ranked = [(s, i) for s, i in ranked if (s, i) < (value, after.story_id)]
    page = ranked[: limit + 1]
    cursor = None
    if len(page) > limit:
        page = page[:limit]
        cursor = encode_cursor(query, {"_id": page[-1][1], "_score": page[-1][0]})
    cards = await views.cards([i for _, i in page])
    by_id: dict[str, Doc] = {d["_id"]: d for d in cards}
    return Page([orjson.dumps(story_card(by_id[i])) for _, i in page if i in by_id], cursor)


async def card_if_matches(
    views: StoryViews, model: ReadModel | None, story_id: str, query: FeedQuery
) -> dict[str, Any] | None:
    """The story's card when it belongs in the feed ``query`` selects, else ``None``."""
    if model is not None:
        card = model.card_if_matches(story_id, query)
        if card is not False:
            return orjson.loads(card) if isinstance(card, bytes) else None
    doc = await views.card_if_matches(story_id, query)
    return story_card(doc) if doc is not None else None


async def category_counts(views: StoryViews, model: ReadModel | None) -> dict[str, int]:
    if model is not None:
        counts = model.category_counts()
        if counts is not None:
            return counts
    return await views.category_counts()


def story_key(changes: ChangeFeed, story_id: str) -> Hashable:
    """What a cached response about one story depends on: the story's own view version when the
    model holds it (other stories' writes leave it cached), else the data version."""
    model = changes.model
    version = model.version_of(story_id) if model is not None else None
    if version is not None:
        return ("story-version", story_id, version)
    return ("data-version", changes.version, story_id)
