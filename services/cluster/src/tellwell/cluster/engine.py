"""The clusterer: the vector index and encoder around the book of live stories.

Both the cluster service and ``tellwell bench cluster`` drive this object. Per batch it makes one
encoder call and one filtered nearest-centroid query per new article against the vector index (same
language, story active within the window); ``batch.decide_batch`` then decides the batch from the
book without changing it. ``commit`` applies the decision to the book and its centroid changes to the
index, once the caller has stored it (``pipeline``); ``assign`` decides and commits at once (no store).

Example::

    clusterer = Clusterer(EdgeIndex(path), Encoder())
    await clusterer.start()
    decision = await clusterer.decide([ArticleIn(...), ...])
    await repository.save(db, decision)          # may raise: book and index are unchanged
    await clusterer.commit(decision)
    for a in decision.assignments:
        print(a.article_id, a.story_id, a.created, a.score, a.threshold, a.features)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tellwell.cluster.batch import (
    ArticleIn,
    Assignment,
    BatchDecision,
    IndexChanges,
    Merge,
    decide_batch,
    new_story_id,
    story_point,
    utc,
)
from tellwell.cluster.book import MAX_DF_TERMS, Book, story_doc
from tellwell.cluster.domain import Params, StoryState
from tellwell.cluster.features import DocFreq, clean
from tellwell.common.embed import TextEncoder
from tellwell.common.vectors import VectorIndex, Where

__all__ = [
    "DEFAULT_PARAMS",
    "EMBED_MAX_TOKENS",
    "MAX_DF_TERMS",
    "ArticleIn",
    "Assignment",
    "Clusterer",
    "Merge",
    "embed_text",
    "new_story_id",
]

DEFAULT_PARAMS = Params()
#: The marker of the word statistics in the form the previous code passed them to ``restore``: among
#: the story documents (``snapshot_stats`` still gives it, ``restore`` still reads it).
DF_DOC_KIND = "doc_freq"


#: Word pieces of ``embed_text`` the encoder reads: the headline and the first words of the lead.
#: The encoder's cost grows with every piece and what names the event comes first; the lexical
#: features still read the whole text. 20 pieces: googlenews-ts (title + snippet) 170 -> about 300
#: articles/s, F1 0.958 -> 0.952 with the long-text delta 0.05 (bench/cluster-tuning.md, round 3).
EMBED_MAX_TOKENS = 20


def embed_text(article: ArticleIn) -> str:
    title = clean(article.title)
    extra = article.lead.strip() or article.text.strip()[:400]
    return f"{title}. {extra}" if extra else title


class Clusterer:
    """Online story clustering over a ``VectorIndex`` of story centroids (see module docstring)."""

    def __init__(
        self,
        index: VectorIndex,
        encoder: TextEncoder,
        params: Params = DEFAULT_PARAMS,
        *,
        collection: str = "stories",
    ) -> None:
        self.index = index
        self.encoder = encoder
        self.params = params
        self.collection = collection
        self.book = Book(params)
        # Index changes the book has and the index not yet: evictions and loaded stories (applied
        # before the next search), or a commit whose index write failed (tried again then).
        self._pending = IndexChanges()
        self._merges: list[Merge] = []  # merges of ``assign`` calls, until ``take_merges``

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # The fields every candidate query filters on (``_search_all``), indexed.
        await self.index.ensure_collection(
            self.collection, self.encoder.dim, {"lang": "keyword", "last": "float"}
        )
        await self.flush()

    async def flush(self) -> None:
        """Write pending centroid changes and deletions to the index (kept pending if it fails)."""
        changes, self._pending = self._pending, IndexChanges()
        try:
            if changes.deletes:
                await self.index.delete(self.collection, sorted(changes.deletes))
                changes = IndexChanges(changes.upserts, set())
            if changes.upserts:
                await self.index.upsert(
                    self.collection, [changes.upserts[s] for s in sorted(changes.upserts)]
                )
        except BaseException:
            self._pending = changes.then(self._pending)
            raise

    def reset(self) -> None:
        """Forget every story and statistic (index points stay until overwritten or deleted)."""
        self.book = Book(self.params)
        self._merges = []

    # ------------------------------------------------------------------ queries

    @property
    def df(self) -> DocFreq:
        return self.book.df

    def story(self, story_id: str) -> StoryState:
        return self.book.story(story_id)

    def story_of(self, article_id: str) -> str | None:
        return self.book.story_of(article_id)

    def stories(self) -> list[str]:
        return list(self.book.stories)

    def take_merges(self) -> list[Merge]:
        merges, self._merges = self._merges, []
        return merges

    # ------------------------------------------------------------------ decide, then commit

    async def decide(self, articles: Sequence[ArticleIn], *, now: datetime | None = None) -> BatchDecision:
        """Decide a batch (``batch.decide_batch``); the book and the index are not changed."""
        await self.flush()
        fresh = self.book.unassigned(articles)
        vectors = await self._vectors(fresh) if fresh else np.zeros((0, self.encoder.dim), np.float32)
        hits = await self._search_all(fresh, vectors)
        return decide_batch(
            self.book,
            articles,
            {a.article_id: vectors[i] for i, a in enumerate(fresh)},
            {a.article_id: hits[i] for i, a in enumerate(fresh)},
            self.params,
            now=now or datetime.now(UTC),
        )

    async def commit(self, decision: BatchDecision) -> None:
        """Apply a decision the store has accepted: to the book, then its changes to the index."""
        self.book.commit(decision)
        self._pending = self._pending.then(decision.index)
        await self.flush()

    async def assign(self, articles: Sequence[ArticleIn]) -> list[Assignment]:
        """Decide and commit a batch with no store (the benchmark); one assignment per article, in
        order (an article assigned before keeps its assignment). ``take_merges`` gives the merges."""
        decision = await self.decide(articles)
        await self.commit(decision)
        self._merges += decision.merges
        by_article = decision.by_article()
        return [by_article[a.article_id] for a in articles]

    async def _vectors(self, articles: Sequence[ArticleIn]) -> np.ndarray:
        # In a worker thread: the event loop (health checks, Kafka heartbeats) stays responsive.
        encoded = await asyncio.to_thread(self.encoder.encode, [embed_text(a) for a in articles])
        return np.asarray(encoded, dtype=np.float32)

    async def _search_all(self, fresh: Sequence[ArticleIn], vectors: np.ndarray) -> list[list[str]]:
        if not fresh:
            return []
        window = self.params.window_hours * 3600.0

        queries = [
            (
                vectors[i].tolist(),
                Where(
                    equals={"lang": a.language},
                    ranges={"last": (utc(a.published_at).timestamp() - window, None)},
                ),
            )
            for i, a in enumerate(fresh)
        ]
        # One batch: one trip to the index instead of one per article.
        found = await self.index.search_many(self.collection, queries, limit=self.params.candidate_k)
        return [[h.id for h in hits] for hits in found]

    # ------------------------------------------------------------------ eviction and persistence

    def evict(self, now: datetime) -> list[str]:
        """Drop stories whose last article is older than the window (index points at the next flush)."""
        old = self.book.evict(now)
        if old:
            self._pending = self._pending.then(IndexChanges(deletes=set(old)))
        return old

    def snapshot(self, story_id: str) -> dict[str, Any]:
        """A JSON/BSON-friendly document of one story's state (``restore`` reads it back)."""
        return story_doc(self.book.story(story_id))

    def snapshot_stats(self) -> dict[str, Any]:
        """The running document frequencies, as one document (``restore`` takes it as ``stats``, or
        among the stories, as the previous code passed it)."""
        return {"kind": DF_DOC_KIND, **self.book.df.snapshot()}

    def restore(
        self,
        docs: Iterable[dict[str, Any]],
        stats_changes: Iterable[dict[str, Any]] = (),
        *,
        stats: dict[str, Any] | None = None,
    ) -> None:
        """Replace the book with one of ``snapshot`` documents, the statistics (``snapshot_stats``)
        and the statistics' changes made after them, in order (``book.Book.load``).

        Restored centroids are upserted to the index at the next ``flush``/``decide``; points of
        stories the book no longer holds stay until overwritten or deleted (a hit on one is skipped).
        """
        states: list[dict[str, Any]] = []
        for doc in docs:
            if doc.get("kind") == DF_DOC_KIND:
                stats = doc
            else:
                states.append(doc)
        self.book = Book.load(self.params, states, stats, stats_changes)
        self._pending = self._pending.then(
            IndexChanges(upserts={sid: story_point(s) for sid, s in self.book.stories.items()})
        )
