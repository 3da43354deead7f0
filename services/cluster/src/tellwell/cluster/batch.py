"""One batch's clustering decision, pure: ``decide_batch(book, articles, vectors, candidates, params)``.

The decision reads the ``Book`` (the live stories and the word statistics) and never writes it: every
story it changes is a copy, the statistics it observes are kept beside the book's, and the memberships,
merges and story-vector cache entries it makes are held in the decision. The caller stores the decision
(``repository.save``), and only then the book applies it (``Book.commit``) and the vector index its
changes (``BatchDecision.index``). A store that fails leaves book and index as they were, so the
redelivered batch is decided again from the same state, to the same result; a batch whose articles the
book already holds decides nothing new.

Per batch, in arrival order, each article joins the best-scoring live story (``domain.decide``) among
its nearest stories in the index and the stories created or grown earlier in the batch, or starts a new
one. Then each grown story is checked against its nearest neighbours for a merge, and is offered its
nearest one-article stories, which it absorbs when they would join it now. Each story that changed gets
one new version, so a burst of articles joining one story is one ``story.cluster`` event.

Example::

    decision = decide_batch(book, articles, vectors, candidates, params, now=now)
    await repository.save(db, decision)
    book.commit(decision)
    await index.apply(decision.index)
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

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
from tellwell.cluster.features import ArticleFeatures, DocFreq, term_weight, weighted
from tellwell.common.events import ChangeKind, RelatedStory, StoryCluster
from tellwell.common.vectors import VectorPoint

if TYPE_CHECKING:
    from tellwell.cluster.book import Book


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


def utc(t: datetime | str) -> datetime:
    if isinstance(t, str):
        t = datetime.fromisoformat(t.replace("Z", "+00:00"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@dataclass
class StoryVector:
    """A story's cached TF-IDF vector (``domain.story_terms``) and its squared norm.

    Valid for the story at ``size`` members and for IDF ``epoch``; an article that joins updates it in
    place (O(article terms)) instead of recomputing it (``_Draft.grew``).
    """

    size: int
    epoch: int
    n_terms: int
    vec: dict[str, float]
    norm2: float

    def copy(self) -> StoryVector:
        return replace(self, vec=dict(self.vec))


@dataclass
class IndexChanges:
    """Story centroids to upsert and points to delete; ``then`` folds a later change in."""

    upserts: dict[str, VectorPoint] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes)

    def then(self, later: IndexChanges) -> IndexChanges:
        upserts = {k: v for k, v in self.upserts.items() if k not in later.deletes}
        upserts.update(later.upserts)
        deletes = (self.deletes - later.upserts.keys()) | later.deletes
        return IndexChanges(upserts, deletes)


@dataclass(frozen=True)
class StoryChange:
    """One new version of a story: what changed, the story after it (None once absorbed), its event."""

    story_id: str
    version: int
    kind: ChangeKind
    added: list[str]
    merged_from: list[str]
    merged_into: str | None
    state: StoryState | None
    event: StoryCluster


@dataclass(frozen=True)
class BatchDecision:
    """Everything one batch decided; ``Book.commit`` applies it, ``repository.save`` stores it.

    ``assignments`` are the articles decided now (arrival order), ``known`` those the book already
    held (their stored story, following merges). ``changes`` are the versioned story changes (their
    ``events`` to publish), ``stats`` what the word statistics gained (``DocFreq.apply`` form) and
    ``index`` the centroids to upsert and points to delete. The rest is for ``Book.commit``: the
    stories after the batch (changed or with a related story renamed by a merge), the stories gone,
    the new memberships and redirects, and the story-vector cache entries (None: dropped).
    """

    at: datetime
    basis: tuple[int, int]  # the book and generation it was decided on (``Book.commit`` checks it)
    assignments: list[Assignment]
    known: list[Assignment]
    merges: list[Merge]
    changes: list[StoryChange]
    stats: dict[str, Any]
    index: IndexChanges
    stories: dict[str, StoryState]
    removed: list[str]
    article_story: dict[str, str]
    redirect: dict[str, str]
    story_vectors: dict[str, StoryVector | None]

    @property
    def events(self) -> list[StoryCluster]:
        return [c.event for c in self.changes]

    def by_article(self) -> dict[str, Assignment]:
        """The decision for each article of the batch, new or known."""
        return {a.article_id: a for a in [*self.known, *self.assignments]}


class DraftStats(DocFreq):
    """The book's word statistics plus what this batch observed; the book's table is not written.

    ``n_docs`` and ``df`` hold this batch's additions only (``DocFreq.apply`` form); ``idf`` reads
    both, with the smoothing of ``DocFreq.idf``.
    """

    def __init__(self, base: DocFreq) -> None:
        super().__init__()
        self.base = base

    @property
    def total_docs(self) -> int:
        return self.base.n_docs + self.n_docs

    def idf(self, term: str) -> float:
        n, d = self.total_docs, self.base.df.get(term, 0) + self.df.get(term, 0)
        return max(math.log((n - d + 0.5) / (d + 0.5) + 1.0), 0.05)

    def delta(self) -> dict[str, Any]:
        return {"n_docs": self.n_docs, "df": [[t, c] for t, c in self.df.items()]}


def decide_batch(
    book: Book,
    articles: Sequence[ArticleIn],
    vectors: Mapping[str, np.ndarray],
    candidates: Mapping[str, Sequence[str]],
    params: Params,
    *,
    now: datetime,
) -> BatchDecision:
    """Decide a batch without touching ``book`` (see the module docstring).

    ``vectors`` and ``candidates`` (the story ids the index found nearest, best first) are keyed by
    article id and needed for the articles the book does not hold yet (``Book.unassigned``); an
    article the book holds, or one repeated in the batch, is not decided again. ``now`` stamps the
    events.
    """
    draft = _Draft(book, params)
    known: list[Assignment] = []
    decided: list[Assignment] = []
    touched: dict[str, StoryState] = {}
    seen: set[str] = set()
    for a in articles:
        if a.article_id in seen:
            continue
        seen.add(a.article_id)
        if book.story_of(a.article_id) is not None:
            known.append(book.assignment(a.article_id))
            continue
        vector = np.asarray(vectors[a.article_id], dtype=np.float32)
        decided.append(draft.assign_one(a, vector, list(candidates.get(a.article_id, ())), touched))
    draft.merge_touched(touched)
    return draft.finish(now, decided, known)


class _Draft:
    """The book as the batch has changed it so far: copies of the stories it wrote, over the book."""

    def __init__(self, book: Book, params: Params) -> None:
        self.book = book
        self.p = params
        self.df = DraftStats(book.df)
        self.stories: dict[str, StoryState] = {}  # working copies, live
        self.created: list[str] = []
        self.removed: set[str] = set()
        self.article_story: dict[str, str] = {}
        self.redirect: dict[str, str] = {}
        self.vectors: dict[str, StoryVector | None] = {}
        self.changed: list[str] = []  # stories whose centroid changed, first change first
        self.merges: list[Merge] = []

    # ------------------------------------------------------------------ the book as changed so far

    def get(self, story_id: str) -> StoryState | None:
        if story_id in self.removed:
            return None
        if story_id in self.stories:
            return self.stories[story_id]
        return self.book.stories.get(story_id)

    def is_live(self, story_id: str) -> bool:
        return self.get(story_id) is not None

    def writable(self, story_id: str) -> StoryState:
        story = self.stories.get(story_id)
        if story is None:
            original = self.book.stories[story_id]
            story = replace(
                original,
                member_ids=list(original.member_ids),
                terms=Counter(original.terms),
                entities=Counter(original.entities),
                sources=Counter(original.sources),
                related=dict(original.related),
            )
            self.stories[story_id] = story
        return story

    def live(self) -> Iterator[tuple[str, StoryState]]:
        """Live stories in the book's order, then those created in the batch."""
        for sid, story in self.book.stories.items():
            if sid not in self.removed:
                yield sid, self.stories.get(sid, story)
        for sid in self.created:
            if sid not in self.removed:
                yield sid, self.stories[sid]

    def live_count(self) -> int:
        gone = sum(1 for sid in self.removed if sid in self.book.stories)
        return len(self.book.stories) - gone + len(self.created) - (len(self.removed) - gone)

    def resolve(self, story_id: str) -> str:
        seen = 0
        while seen < 64:
            if story_id in self.redirect:
                story_id = self.redirect[story_id]
            elif story_id in self.book.redirect:
                story_id = self.book.redirect[story_id]
            else:
                break
            seen += 1
        return story_id

    def story_of(self, article_id: str) -> str | None:
        sid = self.article_story.get(article_id) or self.book.article_story.get(article_id)
        return self.resolve(sid) if sid is not None else None

    def _touch(self, story_id: str) -> None:
        if story_id not in self.changed:
            self.changed.append(story_id)

    # ------------------------------------------------------------------ story vectors (cached)

    def epoch(self) -> int:
        # IDF drifts slowly: story vectors are reweighted when ~2% more articles have been seen.
        n = self.df.total_docs
        return n // max(50, n // 50)

    def _cached(self, story_id: str) -> StoryVector | None:
        if story_id in self.vectors:
            return self.vectors[story_id]
        return self.book.story_vectors.get(story_id)

    def story_vector(self, story: StoryState) -> tuple[dict[str, float], float]:
        epoch = self.epoch()
        cached = self._cached(story.story_id)
        if cached is None or cached.size != story.size or cached.epoch != epoch:
            vec = story_terms(story, self.df, self.p)
            cached = StoryVector(story.size, epoch, len(story.terms), vec, sum(v * v for v in vec.values()))
            self.vectors[story.story_id] = cached
        return cached.vec, math.sqrt(max(cached.norm2, 0.0))

    def grew(self, story: StoryState, sig: ArticleSignal) -> None:
        """Update a cached story vector for the terms one article added (O(article terms))."""
        cached = self._cached(story.story_id)
        if cached is None:
            return
        if cached.size != story.size - 1 or cached.epoch != self.epoch() or len(story.terms) < cached.n_terms:
            self.vectors[story.story_id] = None  # stale, or the story's terms were trimmed
            return
        if story.story_id not in self.vectors:  # the book's entry: write a copy
            cached = cached.copy()
            self.vectors[story.story_id] = cached
        sublinear = self.p.story_sublinear
        for t in sig.features.terms:
            new = term_weight(story.terms[t], self.df.idf(t), sublinear)
            old = cached.vec.get(t, 0.0)
            cached.norm2 += new * new - old * old
            cached.vec[t] = new
        cached.size = story.size
        cached.n_terms = len(story.terms)

    # ------------------------------------------------------------------ articles

    def signal(self, a: ArticleIn, vector: np.ndarray) -> ArticleSignal:
        body = a.lead if a.lead.strip() else a.text
        feats = ArticleFeatures.of(
            a.title, body, title_weight=self.p.title_weight, max_body_tokens=self.p.max_body_tokens
        )
        self.df.observe(list(feats.terms) + list(feats.entities))
        return ArticleSignal(
            article_id=a.article_id,
            vector=vector,
            features=feats,
            terms=weighted(feats.terms, self.df),
            published_at=utc(a.published_at),
            language=a.language,
            source=a.source,
        )

    def candidate_stories(
        self, sig: ArticleSignal, hit_ids: list[str], touched: dict[str, StoryState]
    ) -> list[StoryState]:
        pool: dict[str, StoryState] = {}
        for sid in hit_ids:
            story = self.get(self.resolve(sid))
            if story is not None:
                pool[story.story_id] = story
        horizon = self.p.window_hours
        for story in touched.values():
            if self.is_live(story.story_id) and story.language == sig.language:
                age = (sig.published_at - story.last_published_at).total_seconds() / 3600.0
                if age <= horizon:
                    pool[story.story_id] = story
        stories = list(pool.values())
        k = self.p.candidate_k
        if len(stories) > k:
            centroids = np.stack([s.centroid for s in stories])
            order = np.argsort(-(centroids @ sig.vector))[:k]
            stories = [stories[i] for i in order]
        return stories

    def assign_one(
        self, a: ArticleIn, vector: np.ndarray, hit_ids: list[str], touched: dict[str, StoryState]
    ) -> Assignment:
        p = self.p
        sig = self.signal(a, vector)
        origin = self.story_of(a.copy_of) if a.copy_of else None
        if origin is not None and self.is_live(origin):
            story = self.writable(origin)
            story.add(sig, p)
            self.grew(story, sig)
            assignment = Assignment(
                a.article_id, story.story_id, False, 1.0, p.join_threshold, {"copy": 1.0}, []
            )
        else:
            scored = []
            for candidate in self.candidate_stories(sig, hit_ids, touched):
                total, breakdown = score(sig, candidate, self.df, p, self.story_vector(candidate))
                threshold = threshold_for(candidate, p, sig.features.length)
                scored.append(Scored(candidate.story_id, total, threshold, breakdown))
            decision = decide(scored, p)
            if decision.story_id is not None:
                story = self.writable(decision.story_id)
                story.add(sig, p)
                self.grew(story, sig)
                created = False
            else:
                story = StoryState.start(new_story_id(a.article_id), sig, p)
                self.stories[story.story_id] = story
                self.created.append(story.story_id)
                created = True
            for rid, rscore in decision.related:
                story.note_related(rid, rscore, p)
            assignment = Assignment(
                a.article_id,
                story.story_id,
                created,
                round(decision.score, 6),
                round(decision.threshold, 6),
                {k: round(v, 6) for k, v in decision.breakdown.items()},
                decision.related,
            )
        self.article_story[a.article_id] = story.story_id
        touched[story.story_id] = story
        self._touch(story.story_id)
        return assignment

    # ------------------------------------------------------------------ merges

    def merge_touched(self, touched: dict[str, StoryState]) -> None:
        """Check each story that grew in this batch against its nearest live neighbours.

        Neighbours come from memory (every live story's centroid is held anyway), ranked by centroid
        cosine; only those whose embedding part alone could reach the merge threshold get the full
        (lexical) comparison.
        """
        p = self.p
        grown = [s for s in touched.values() if self.is_live(s.story_id) and s.size >= 2]
        if not grown or self.live_count() < 2:
            return
        total_w = p.w_embedding + p.w_lexical
        min_cos = (p.merge_threshold * total_w - p.w_lexical) / p.w_embedding if p.w_embedding else -1.0
        # The live stories' centroids, one matrix per language, built once and again only after a
        # merge changed the stories (a grown story's own row is skipped, as it is no neighbour).
        neighbours: dict[str, tuple[list[str], np.ndarray]] = {}
        for story in grown:
            a_id = self.resolve(story.story_id)
            a = self.get(a_id)
            if a is None:
                continue
            if a.language not in neighbours:
                same = [(sid, s) for sid, s in self.live() if s.language == a.language]
                neighbours[a.language] = ([sid for sid, _ in same], np.stack([s.centroid for _, s in same]))
            ids, centroids = neighbours[a.language]
            sims = centroids @ a.centroid
            k = min(p.candidate_k, 5)
            order = [j for j in np.argsort(-sims)[: k + 1] if ids[j] != a_id][:k]
            for j in order:
                if sims[j] < min_cos:
                    break
                other_id = ids[int(j)]
                a_id = self.resolve(a_id)
                x, y = self.get(a_id), self.get(other_id)
                if other_id == a_id or x is None or y is None:
                    continue
                ok, s = should_merge(x, y, self.df, p, self.story_vector)
                if ok:
                    self.merge(*older(x, y), s)
                    neighbours.pop(x.language, None)
        self.absorb_small(touched)

    def absorb_small(self, touched: dict[str, StoryState]) -> None:
        """Offer each grown story its nearest small stories (by centroid); it keeps those that join.

        A small story that joins is merged with the grown story into the older of the two, as every
        merge is. Bounded: ``candidate_k`` (at most 5) small stories per grown story, one vector
        product over the small stories per batch.
        """
        p = self.p
        if p.absorb_max_size <= 0:
            return
        grown: list[str] = []
        for story in touched.values():
            sid = self.resolve(story.story_id)
            current = self.get(sid)
            if current is not None and current.size >= p.merge_min_size and sid not in grown:
                grown.append(sid)
        small = [sid for sid, s in self.live() if s.size <= p.absorb_max_size]
        if not grown or not small:
            return
        sims = (
            np.stack([self._live(g).centroid for g in grown])
            @ np.stack([self._live(s).centroid for s in small]).T
        )
        for gi, gid in enumerate(grown):
            maybe_big = self.get(gid)
            if maybe_big is None:
                continue
            big = maybe_big
            offered = 0
            for j in np.argsort(-sims[gi]):  # nearest first; the rest is checked by should_absorb
                if offered >= min(p.candidate_k, 5):
                    break
                sid = small[int(j)]
                other = self.get(sid)
                if other is None or sid == big.story_id or other.language != big.language:
                    continue
                offered += 1
                ok, s = should_absorb(other, big, self.df, p, self.story_vector)
                if ok:  # into the older one, as every merge (the lone article may have come first)
                    survivor, absorbed = older(big, other)
                    big = self.merge(survivor, absorbed, s)

    def _live(self, story_id: str) -> StoryState:
        story = self.get(story_id)
        assert story is not None, story_id
        return story

    def merge(self, survivor: StoryState, absorbed: StoryState, merge_score: float) -> StoryState:
        """``absorbed`` into ``survivor``; returns the survivor as the batch now holds it."""
        kept = self.writable(survivor.story_id)
        kept.absorb(absorbed, self.p)
        for aid in absorbed.member_ids:
            self.article_story[aid] = kept.story_id
        self.redirect[absorbed.story_id] = kept.story_id
        self.removed.add(absorbed.story_id)
        self.stories.pop(absorbed.story_id, None)
        self.vectors[absorbed.story_id] = None
        renamed = [sid for sid, other in self.live() if absorbed.story_id in other.related]
        for sid in renamed:
            other = self.writable(sid)
            score_ = other.related.pop(absorbed.story_id)
            other.note_related(kept.story_id, score_, self.p)
        self._touch(kept.story_id)
        self.merges.append(Merge(kept.story_id, absorbed.story_id, round(merge_score, 6)))
        return kept

    # ------------------------------------------------------------------ the decision

    def finish(self, now: datetime, decided: list[Assignment], known: list[Assignment]) -> BatchDecision:
        changes: dict[str, _Change] = {}
        for a in decided:
            kind = ChangeKind.created if a.created else ChangeKind.grew
            changes.setdefault(a.story_id, _Change(kind)).added.append(a.article_id)
        for m in self.merges:
            changes.setdefault(m.survivor, _Change(ChangeKind.merged)).merged_from.append(m.absorbed)
            changes[m.survivor].kind = ChangeKind.merged
            changes[m.absorbed] = _Change(ChangeKind.merged, merged_into=m.survivor)
        out: list[StoryChange] = []
        for story_id, change in changes.items():
            before = self.book.stories.get(story_id)
            version = (before.version if before is not None else 0) + 1
            live = self.get(story_id) if change.merged_into is None else None
            if live is not None:
                live.version = version  # one counter: the story's stored version
            out.append(self._change(story_id, version, change, live, now))
        upserts = {
            sid: story_point(story) for sid in sorted(self.changed) if (story := self.get(sid)) is not None
        }
        return BatchDecision(
            at=now,
            basis=self.book.basis,
            assignments=decided,
            known=[self._following(a) for a in known],
            merges=self.merges,
            changes=out,
            stats=self.df.delta(),
            index=IndexChanges(upserts, set(self.removed)),
            stories=self.stories,
            removed=sorted(self.removed),
            article_story=self.article_story,
            redirect=self.redirect,
            story_vectors=self.vectors,
        )

    def _following(self, a: Assignment) -> Assignment:
        sid = self.story_of(a.article_id)
        return a if sid is None or sid == a.story_id else replace(a, story_id=sid)

    def _change(
        self, story_id: str, version: int, change: _Change, live: StoryState | None, now: datetime
    ) -> StoryChange:
        # The absorbed story's last word follows the survivor (as the batch ends: it may be absorbed too).
        state = self._live(self.resolve(change.merged_into or story_id))
        event = StoryCluster(
            producer="cluster",
            occurred_at=now,
            story_id=story_id,
            version=version,
            change=change.kind,
            member_ids=list(state.member_ids),
            added_ids=change.added,
            merged_from=change.merged_from,
            merged_into=change.merged_into,
            language=state.language,
            first_published_at=state.first_published_at,
            last_published_at=state.last_published_at,
            related=[RelatedStory(story_id=s, score=round(float(v), 4)) for s, v in state.related.items()],
        )
        return StoryChange(
            story_id, version, change.kind, change.added, change.merged_from, change.merged_into, live, event
        )


@dataclass
class _Change:
    kind: ChangeKind
    added: list[str] = field(default_factory=list)
    merged_from: list[str] = field(default_factory=list)
    merged_into: str | None = None


def story_point(story: StoryState) -> VectorPoint:
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
