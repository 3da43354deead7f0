"""The clusterer: decides, article by article, to join a live story or start a new one.

Both the cluster service and ``tellwell bench cluster`` drive this object. Per batch it makes one
encoder call, one filtered nearest-centroid query per article against the vector index (same
language, story active within the window), scores the candidates with ``domain.score`` and decides
in arrival order. Stories created or grown earlier in the batch are candidates too (from memory),
so the index is written once per batch: the changed centroids are upserted after the decisions.
After the decisions, each grown story is checked against its nearest neighbours for a merge, and
then offered its nearest one-article stories, which it absorbs when they would join it now.

Example::

    clusterer = Clusterer(EdgeIndex(path), Encoder())
    await clusterer.start()
    for a in await clusterer.assign([ArticleIn(...), ...]):
        print(a.article_id, a.story_id, a.created, a.score, a.threshold, a.features)
    merges = clusterer.take_merges()
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tellwell.cluster.domain import (
    ArticleSignal,
    Params,
    Scored,
    StoryState,
    decide,
    older,
    score,
    should_absorb,
    should_merge,
    story_terms,
    threshold_for,
)
from tellwell.cluster.features import ArticleFeatures, DocFreq, clean, term_weight, weighted
from tellwell.common.embed import TextEncoder
from tellwell.common.vectors import VectorIndex, VectorPoint, Where

DEFAULT_PARAMS = Params()
DF_DOC_KIND = "doc_freq"
MAX_DF_TERMS = 200_000


@dataclass(frozen=True)
class ArticleIn:
    """An article to cluster (the fields of ``raw.article`` the decision uses)."""

    article_id: str
    title: str
    text: str
    lead: str
    language: str
    published_at: datetime
    source: str
    copy_of: str | None = None


@dataclass(frozen=True)
class Assignment:
    """The decision for one article, with its explanation.

    ``features`` holds the per-feature contributions to ``score`` (they sum to it); the article
    joined ``story_id`` because ``score >= threshold`` (``created`` is False), or started it.
    ``related`` lists stories that scored just below their threshold.
    """

    article_id: str
    story_id: str
    created: bool
    score: float
    threshold: float
    features: dict[str, float]
    related: list[tuple[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Merge:
    """Story ``absorbed`` was merged into ``survivor``.

    The older survives: two grown stories that converge, or a one-article story that joins a grown
    story on the re-check after a batch.
    """

    survivor: str
    absorbed: str
    score: float


def new_story_id(article_id: str) -> str:
    """Deterministic: the story an article founds gets the same id on a replay."""
    return "st_" + hashlib.sha1(article_id.encode()).hexdigest()[:20]


def _utc(t: datetime | str) -> datetime:
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


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
        self.reset()

    def reset(self) -> None:
        """Forget every story and statistic (before ``restore`` rebuilds them from a store).

        Index points of forgotten stories stay until overwritten or deleted; a search hit on a
        story the engine does not hold is skipped."""
        self.df = DocFreq()
        self._stories: dict[str, StoryState] = {}
        self._article_story: dict[str, str] = {}
        self._assignments: dict[str, Assignment] = {}
        self._redirect: dict[str, str] = {}  # absorbed story -> survivor
        self._merges: list[Merge] = []
        self._dirty: set[str] = set()  # centroids to upsert
        self._gone: set[str] = set()  # points to delete (absorbed, evicted)
        self._sv_cache: dict[str, _StoryVector] = {}

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # The fields every candidate query filters on (``_search_all``), indexed.
        await self.index.ensure_collection(
            self.collection, self.encoder.dim, {"lang": "keyword", "last": "float"}
        )
        await self.flush()

    async def flush(self) -> None:
        """Write pending centroid changes and deletions to the index."""
        if self._gone:
            gone, self._gone = sorted(self._gone), set()
            await self.index.delete(self.collection, gone)
        if self._dirty:
            dirty, self._dirty = sorted(self._dirty), set()
            points = [self._point(self._stories[s]) for s in dirty if s in self._stories]
            if points:
                await self.index.upsert(self.collection, points)

    def _point(self, story: StoryState) -> VectorPoint:
        return VectorPoint(
            id=story.story_id,
            vector=story.centroid.tolist(),
            payload={
                "lang": story.language,
                "first": story.first_published_at.timestamp(),
                "last": story.last_published_at.timestamp(),
                "size": story.size,
            },
        )

    # ------------------------------------------------------------------ queries

    def story(self, story_id: str) -> StoryState:
        return self._stories[self._resolve(story_id)]

    def story_of(self, article_id: str) -> str | None:
        sid = self._article_story.get(article_id)
        return self._resolve(sid) if sid is not None else None

    def stories(self) -> list[str]:
        return list(self._stories)

    def _resolve(self, story_id: str) -> str:
        seen = 0
        while story_id in self._redirect and seen < 64:
            story_id = self._redirect[story_id]
            seen += 1
        return story_id

    def take_merges(self) -> list[Merge]:
        merges, self._merges = self._merges, []
        return merges

    # ------------------------------------------------------------------ the decision

    async def assign(self, articles: Sequence[ArticleIn]) -> list[Assignment]:
        await self.flush()
        fresh: list[ArticleIn] = []
        seen: set[str] = set()
        for a in articles:
            if a.article_id not in self._article_story and a.article_id not in seen:
                seen.add(a.article_id)
                fresh.append(a)
        vectors = await self._vectors(fresh) if fresh else None
        hits = await self._search_all(fresh, vectors)
        touched: dict[str, StoryState] = {}
        decided: dict[str, Assignment] = {}
        for i, a in enumerate(fresh):
            assert vectors is not None
            decided[a.article_id] = self._assign_one(
                a, np.asarray(vectors[i], dtype=np.float32), hits[i], touched
            )
        await self._merge_touched(touched)
        await self.flush()
        out: list[Assignment] = []
        for a in articles:
            if a.article_id in decided:
                out.append(decided[a.article_id])
            else:
                out.append(self._existing(a.article_id))
        self._maybe_prune_df()
        return out

    async def _vectors(self, articles: Sequence[ArticleIn]) -> np.ndarray:
        # In a worker thread: the event loop (health checks, Kafka heartbeats) stays responsive.
        encoded = await asyncio.to_thread(self.encoder.encode, [embed_text(a) for a in articles])
        return np.asarray(encoded, dtype=np.float32)

    def _existing(self, article_id: str) -> Assignment:
        sid = self.story_of(article_id)
        if sid is None:
            raise KeyError(article_id)
        known = self._assignments.get(article_id)
        if known is None:  # restored from a snapshot: the decision's evidence is not kept
            return Assignment(article_id, sid, False, 1.0, self.params.join_threshold, {"known": 1.0}, [])
        return known if known.story_id == sid else replace(known, story_id=sid)

    async def _search_all(self, fresh: Sequence[ArticleIn], vectors: np.ndarray | None) -> list[list[str]]:
        if not fresh or vectors is None:
            return []
        window = self.params.window_hours * 3600.0

        queries = [
            (
                vectors[i].tolist(),
                Where(
                    equals={"lang": a.language},
                    ranges={"last": (_utc(a.published_at).timestamp() - window, None)},
                ),
            )
            for i, a in enumerate(fresh)
        ]
        # One batch: one trip to the index instead of one per article.
        found = await self.index.search_many(self.collection, queries, limit=self.params.candidate_k)
        return [[h.id for h in hits] for hits in found]

    def _signal(self, a: ArticleIn, vector: np.ndarray) -> ArticleSignal:
        body = a.lead if a.lead.strip() else a.text
        feats = ArticleFeatures.of(
            a.title, body, title_weight=self.params.title_weight, max_body_tokens=self.params.max_body_tokens
        )
        self.df.observe(list(feats.terms) + list(feats.entities))
        return ArticleSignal(
            article_id=a.article_id,
            vector=vector,
            features=feats,
            terms=weighted(feats.terms, self.df),
            published_at=_utc(a.published_at),
            language=a.language,
            source=a.source,
        )

    def _epoch(self) -> int:
        # IDF drifts slowly: story vectors are reweighted when ~2% more articles have been seen.
        return self.df.n_docs // max(50, self.df.n_docs // 50)

    def _story_vector(self, story: StoryState) -> tuple[dict[str, float], float]:
        epoch = self._epoch()
        cached = self._sv_cache.get(story.story_id)
        if cached is None or cached.version != story.version or cached.epoch != epoch:
            vec = story_terms(story, self.df, self.params)
            cached = _StoryVector(
                story.version, epoch, len(story.terms), vec, sum(v * v for v in vec.values())
            )
            self._sv_cache[story.story_id] = cached
        return cached.vec, math.sqrt(max(cached.norm2, 0.0))

    def _grew(self, story: StoryState, sig: ArticleSignal) -> None:
        """Update a cached story vector for the terms one article added (O(article terms))."""
        cached = self._sv_cache.get(story.story_id)
        if cached is None:
            return
        if (
            cached.version != story.version - 1
            or cached.epoch != self._epoch()
            or len(story.terms) < cached.n_terms
        ):
            del self._sv_cache[story.story_id]  # stale, or the story's terms were trimmed
            return
        sublinear = self.params.story_sublinear
        for t in sig.features.terms:
            new = term_weight(story.terms[t], self.df.idf(t), sublinear)
            old = cached.vec.get(t, 0.0)
            cached.norm2 += new * new - old * old
            cached.vec[t] = new
        cached.version = story.version
        cached.n_terms = len(story.terms)

    def _candidates(
        self, sig: ArticleSignal, hit_ids: list[str], touched: dict[str, StoryState]
    ) -> list[StoryState]:
        pool: dict[str, StoryState] = {}
        for sid in hit_ids:
            story = self._stories.get(self._resolve(sid))
            if story is not None:
                pool[story.story_id] = story
        horizon = self.params.window_hours
        for story in touched.values():
            if story.story_id in self._stories and story.language == sig.language:
                age = (sig.published_at - story.last_published_at).total_seconds() / 3600.0
                if age <= horizon:
                    pool[story.story_id] = story
        stories = list(pool.values())
        k = self.params.candidate_k
        if len(stories) > k:
            centroids = np.stack([s.centroid for s in stories])
            order = np.argsort(-(centroids @ sig.vector))[:k]
            stories = [stories[i] for i in order]
        return stories

    def _assign_one(
        self, a: ArticleIn, vector: np.ndarray, hit_ids: list[str], touched: dict[str, StoryState]
    ) -> Assignment:
        sig = self._signal(a, vector)
        origin = self.story_of(a.copy_of) if a.copy_of else None
        if origin is not None and origin in self._stories:
            story = self._stories[origin]
            story.add(sig, self.params)
            self._grew(story, sig)
            assignment = Assignment(
                a.article_id, story.story_id, False, 1.0, self.params.join_threshold, {"copy": 1.0}, []
            )
        else:
            scored = []
            for story in self._candidates(sig, hit_ids, touched):
                total, breakdown = score(sig, story, self.df, self.params, self._story_vector(story))
                threshold = threshold_for(story, self.params, sig.features.length)
                scored.append(Scored(story.story_id, total, threshold, breakdown))
            decision = decide(scored, self.params)
            if decision.story_id is not None:
                story = self._stories[decision.story_id]
                story.add(sig, self.params)
                self._grew(story, sig)
                created = False
            else:
                story = StoryState.start(new_story_id(a.article_id), sig, self.params)
                self._stories[story.story_id] = story
                created = True
            for rid, rscore in decision.related:
                story.note_related(rid, rscore, self.params)
            assignment = Assignment(
                a.article_id,
                story.story_id,
                created,
                round(decision.score, 6),
                round(decision.threshold, 6),
                {k: round(v, 6) for k, v in decision.breakdown.items()},
                decision.related,
            )
        self._article_story[a.article_id] = story.story_id
        self._assignments[a.article_id] = assignment
        touched[story.story_id] = story
        self._dirty.add(story.story_id)
        return assignment

    # ------------------------------------------------------------------ merges

    async def _merge_touched(self, touched: dict[str, StoryState]) -> None:
        """Check each story that grew in this batch against its nearest live neighbours.

        Neighbours come from memory (every live story's centroid is held here anyway), ranked by
        centroid cosine; only those whose embedding part alone could reach the merge threshold
        get the full (lexical) comparison.
        """
        p = self.params
        grown = [s for s in touched.values() if s.story_id in self._stories and s.size >= 2]
        if not grown or len(self._stories) < 2:
            return
        total_w = p.w_embedding + p.w_lexical
        min_cos = (p.merge_threshold * total_w - p.w_lexical) / p.w_embedding if p.w_embedding else -1.0
        # The live stories' centroids, one matrix per language, built once and again only after a
        # merge changed the stories (a grown story's own row is skipped, as it is no neighbour).
        neighbours: dict[str, tuple[list[str], np.ndarray]] = {}
        for story in grown:
            a_id = self._resolve(story.story_id)
            if a_id not in self._stories:
                continue
            a = self._stories[a_id]
            if a.language not in neighbours:
                ids = [sid for sid, s in self._stories.items() if s.language == a.language]
                neighbours[a.language] = (ids, np.stack([self._stories[i].centroid for i in ids]))
            ids, centroids = neighbours[a.language]
            sims = centroids @ a.centroid
            k = min(p.candidate_k, 5)
            order = [j for j in np.argsort(-sims)[: k + 1] if ids[j] != a_id][:k]
            for j in order:
                if sims[j] < min_cos:
                    break
                other_id = ids[int(j)]
                a_id = self._resolve(a_id)
                if other_id == a_id or a_id not in self._stories or other_id not in self._stories:
                    continue
                a, b = self._stories[a_id], self._stories[other_id]
                ok, s = should_merge(a, b, self.df, p, self._story_vector)
                if ok:
                    self._merge(*older(a, b), s)
                    neighbours.pop(a.language, None)
        self._absorb_small(touched)

    def _absorb_small(self, touched: dict[str, StoryState]) -> None:
        """Offer each grown story its nearest small stories (by centroid); it keeps those that join.

        A small story that joins is merged with the grown story into the older of the two, as every
        merge is. Bounded: ``candidate_k`` (at most 5) small stories per grown story, one vector
        product over the small stories per batch.
        """
        p = self.params
        if p.absorb_max_size <= 0:
            return
        grown: list[str] = []
        for story in touched.values():
            sid = self._resolve(story.story_id)
            if sid in self._stories and self._stories[sid].size >= p.merge_min_size and sid not in grown:
                grown.append(sid)
        small = [sid for sid, s in self._stories.items() if s.size <= p.absorb_max_size]
        if not grown or not small:
            return
        sims = (
            np.stack([self._stories[g].centroid for g in grown])
            @ np.stack([self._stories[s].centroid for s in small]).T
        )
        for gi, gid in enumerate(grown):
            if gid not in self._stories:
                continue
            big = self._stories[gid]
            offered = 0
            for j in np.argsort(-sims[gi]):  # nearest first; the rest is checked by should_absorb
                if offered >= min(p.candidate_k, 5):
                    break
                sid = small[int(j)]
                other = self._stories.get(sid)
                if other is None or sid == big.story_id or other.language != big.language:
                    continue
                offered += 1
                ok, s = should_absorb(other, big, self.df, p, self._story_vector)
                if ok:  # into the older one, as every merge (the lone article may have come first)
                    survivor, absorbed = older(big, other)
                    self._merge(survivor, absorbed, s)
                    big = survivor

    def _merge(self, survivor: StoryState, absorbed: StoryState, merge_score: float) -> None:
        survivor.absorb(absorbed, self.params)
        for aid in absorbed.member_ids:
            self._article_story[aid] = survivor.story_id
        self._redirect[absorbed.story_id] = survivor.story_id
        del self._stories[absorbed.story_id]
        self._sv_cache.pop(absorbed.story_id, None)
        for other in self._stories.values():
            if absorbed.story_id in other.related:
                score_ = other.related.pop(absorbed.story_id)
                other.note_related(survivor.story_id, score_, self.params)
        self._dirty.discard(absorbed.story_id)
        self._dirty.add(survivor.story_id)
        self._gone.add(absorbed.story_id)
        self._merges.append(Merge(survivor.story_id, absorbed.story_id, round(merge_score, 6)))

    # ------------------------------------------------------------------ eviction and persistence

    def evict(self, now: datetime) -> list[str]:
        """Drop stories whose last article is older than the window (index points at the next flush)."""
        horizon = _utc(now) - self.params.window
        old = [sid for sid, s in self._stories.items() if s.last_published_at < horizon]
        for sid in old:
            story = self._stories.pop(sid)
            for aid in story.member_ids:
                self._article_story.pop(aid, None)
                self._assignments.pop(aid, None)
            self._sv_cache.pop(sid, None)
            self._dirty.discard(sid)
            self._gone.add(sid)
        if old:
            gone = set(old)
            self._redirect = {k: v for k, v in self._redirect.items() if self._resolve(v) not in gone}
            for s in self._stories.values():
                for sid in gone & set(s.related):
                    del s.related[sid]
        return old

    def snapshot(self, story_id: str) -> dict[str, Any]:
        """A JSON/BSON-friendly document of one story's state (``restore`` reads it back)."""
        s = self.story(story_id)
        total = float(np.linalg.norm(s.vector_sum))
        return {
            "_id": s.story_id,
            "story_id": s.story_id,
            "language": s.language,
            "centroid": [float(x) for x in s.centroid],
            "centroid_norm": total,  # |sum of member vectors|: centroid * norm restores the sum
            "member_ids": list(s.member_ids),
            "terms": [[t, c] for t, c in s.terms.items()],
            "entities": [[t, c] for t, c in s.entities.items()],
            "sources": [[t, c] for t, c in s.sources.items()],
            "first_published_at": s.first_published_at.isoformat(),
            "last_published_at": s.last_published_at.isoformat(),
            "version": s.version,
            "related": [[r, float(v)] for r, v in s.related.items()],
            "tokens": s.tokens,
        }

    def snapshot_stats(self) -> dict[str, Any]:
        """The running document frequencies, as one document (``restore`` accepts it among stories)."""
        return {"_id": DF_DOC_KIND, "kind": DF_DOC_KIND, **self.df.snapshot()}

    def take_stats_changes(self) -> dict[str, Any]:
        """What the document frequencies gained since the last call (``restore`` adds it back)."""
        return self.df.take_changes()

    def restore(self, docs: Iterable[dict[str, Any]], stats_changes: Iterable[dict[str, Any]] = ()) -> None:
        """Rebuild state from ``snapshot`` documents (and optionally ``snapshot_stats``), then add
        the ``take_stats_changes`` made after that snapshot, in order.

        Without the statistics document, document frequencies are rebuilt from the stories' terms.
        Restored centroids are upserted to the index at the next ``flush``/``assign``.
        """
        stats: dict[str, Any] | None = None
        for doc in docs:
            if doc.get("kind") == DF_DOC_KIND:
                stats = doc
                continue
            centroid = np.asarray(doc["centroid"], dtype=np.float32)
            story = StoryState(
                story_id=str(doc["story_id"]),
                language=str(doc["language"]),
                vector_sum=centroid * np.float32(doc.get("centroid_norm", 1.0)),
                first_published_at=_utc(doc["first_published_at"]),
                last_published_at=_utc(doc["last_published_at"]),
                member_ids=[str(m) for m in doc["member_ids"]],
                terms=_counter(doc.get("terms", [])),
                entities=_counter(doc.get("entities", [])),
                sources=_counter(doc.get("sources", [])),
                version=int(doc.get("version", 0)),
                related={str(r): float(v) for r, v in doc.get("related", [])},
                tokens=int(doc.get("tokens", 0)),
            )
            self._stories[story.story_id] = story
            for aid in story.member_ids:
                self._article_story[aid] = story.story_id
            self._dirty.add(story.story_id)
        if stats is not None:
            self.df = DocFreq.restore(stats)
        elif self.df.n_docs == 0:
            for story in self._stories.values():
                self.df.n_docs += story.size
                for t, c in list(story.terms.items()) + list(story.entities.items()):
                    self.df.df[t] += min(c, story.size)
        for changes in stats_changes:
            self.df.apply(changes)

    def _maybe_prune_df(self) -> None:
        if len(self.df.df) > MAX_DF_TERMS:
            self.df.prune(2)


@dataclass
class _StoryVector:
    version: int
    epoch: int
    n_terms: int
    vec: dict[str, float]
    norm2: float


def _counter(pairs: Iterable[Sequence[Any]]) -> Counter[str]:
    return Counter({str(k): int(v) for k, v in pairs})
