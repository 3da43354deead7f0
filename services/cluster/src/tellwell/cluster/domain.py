"""The clustering decision, pure: parameters, story state, scoring, join/new, merge.

No I/O and no awaits: ``engine.Clusterer`` feeds this module candidates it retrieved from the
vector index and applies what it decides.

A story is scored against an article as a weighted sum of per-feature contributions::

    total = w_embedding * cos(article vector, story centroid)
          + w_lexical   * cos(article TF-IDF, story TF-IDF)      (running IDF)
          + w_entities  * share of the article's names/numbers the story already has
          - w_time      * (hours since the story's last article / window hours)

The article joins the best story whose total reaches its threshold, else it starts a new story.
Stories just below the threshold are kept as *related*.

Two after-the-fact checks undo what arrival order got wrong: two grown stories whose centroids
agree merge (``should_merge``), and a one-article story is offered again, as the article it is, to a
neighbouring story that has grown since (``should_absorb``): it joins if it would join it now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from tellwell.cluster.features import ArticleFeatures, DocFreq, cosine, coverage, norm, weighted


@dataclass(frozen=True)
class Params:
    """Clustering parameters. Defaults are the learned values.

    The feature weights come from a logistic regression on the three development streams
    (uci-head, googlenews-t, googlenews-ts; cached MiniLM embeddings, the real Qdrant Edge index,
    batches of 64): lexical 0.7, embedding 0.3, time 1.1, the same ratios whichever stream is left
    out. The thresholds were then tuned for all three at once (no per-stream values), preferring
    values on a plateau over the single best point. Log, numbers and sensitivity:
    ``bench/cluster-tuning.md`` (round 1, the hand-tuned rule 0.6 / 0.4 / 0.5 with join 0.25 and
    merge 0.45 that was the default before; rounds 2-3, this set; round 5, why it became the default
    again).
    """

    w_embedding: float = 0.3
    w_lexical: float = 0.7
    w_entities: float = 0.05
    w_time: float = 1.1
    join_threshold: float = 0.145
    # Extra threshold against a story of one article: a single headline is a noisy centroid.
    singleton_delta: float = 0.0
    # Extra threshold for long inputs (title + lead/text): longer texts share more words and their
    # similarities run higher. Ramps linearly from 0 at ``short_tokens`` to the full delta at
    # ``long_tokens`` content tokens: a property of the input, not of a data set.
    long_text_delta: float = 0.05
    long_text_merge_delta: float = 0.15  # the same ramp on the merge threshold (mean story text length)
    short_tokens: int = 10
    long_tokens: int = 30
    merge_threshold: float = 0.34
    merge_min_size: int = 3  # both stories need this many articles before their centroids are trusted
    # Stories of at most this many articles are offered again, as an article, to a neighbouring story
    # of at least ``merge_min_size`` articles when it grows (0: never). An article that arrived before
    # its story took shape then joins it as it would now; 2 measured worse (a pair is a story).
    absorb_max_size: int = 1
    related_band: float = 0.1  # stories within this distance below the threshold are related
    max_related: int = 5
    window_hours: float = 36.0  # a story stays active this long after its last article
    candidate_k: int = 10
    title_weight: int = 2  # title tokens count this many times in the term vector
    max_body_tokens: int = 120
    max_story_terms: int = 300  # a story keeps its most frequent terms only
    story_sublinear: bool = False  # story term weights: raw counts (centroid-like) or 1 + log

    @property
    def window(self) -> timedelta:
        return timedelta(hours=self.window_hours)


@dataclass(frozen=True)
class ArticleSignal:
    """An article as the scorer sees it."""

    article_id: str
    vector: np.ndarray
    features: ArticleFeatures
    terms: dict[str, float]  # TF-IDF weights at the time of scoring
    published_at: datetime
    language: str
    source: str


@dataclass
class StoryState:
    """What the clusterer remembers about one live story."""

    story_id: str
    language: str
    vector_sum: np.ndarray
    first_published_at: datetime
    last_published_at: datetime
    member_ids: list[str] = field(default_factory=list)
    terms: Counter[str] = field(default_factory=Counter)
    entities: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    version: int = 0
    related: dict[str, float] = field(default_factory=dict)
    tokens: int = 0  # content tokens over all members (mean text length = tokens / size)
    _centroid: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.member_ids)

    @property
    def centroid(self) -> np.ndarray:
        """The normalised mean of the member vectors (cached until the members change)."""
        if self._centroid is None:
            n = float(np.linalg.norm(self.vector_sum))
            self._centroid = self.vector_sum / n if n > 0 else self.vector_sum
        return self._centroid

    def add(self, article: ArticleSignal, params: Params) -> None:
        self.member_ids.append(article.article_id)
        self.tokens += article.features.length
        self.vector_sum = self.vector_sum + article.vector
        self._centroid = None
        self.terms.update(article.features.terms)
        self.entities.update(article.features.entities)
        if article.source:
            self.sources[article.source] += 1
        self.first_published_at = min(self.first_published_at, article.published_at)
        self.last_published_at = max(self.last_published_at, article.published_at)
        self.version += 1
        self._trim(params)

    def absorb(self, other: StoryState, params: Params) -> None:
        """Take over ``other``'s members (a merge into this story)."""
        self.member_ids.extend(other.member_ids)
        self.tokens += other.tokens
        self.vector_sum = self.vector_sum + other.vector_sum
        self._centroid = None
        self.terms.update(other.terms)
        self.entities.update(other.entities)
        self.sources.update(other.sources)
        self.first_published_at = min(self.first_published_at, other.first_published_at)
        self.last_published_at = max(self.last_published_at, other.last_published_at)
        for sid, s in other.related.items():
            if sid != self.story_id:
                self.related[sid] = max(s, self.related.get(sid, -1.0))
        self.related.pop(other.story_id, None)
        self.version += 1
        self._trim(params)

    def note_related(self, story_id: str, score: float, params: Params) -> None:
        if story_id == self.story_id:
            return
        self.related[story_id] = max(score, self.related.get(story_id, -1.0))
        if len(self.related) > params.max_related:
            keep = sorted(self.related.items(), key=lambda kv: -kv[1])[: params.max_related]
            self.related = dict(keep)

    def _trim(self, params: Params) -> None:
        # Bounded cost per comparison: keep the most frequent terms (ties by insertion order).
        if len(self.terms) > 2 * params.max_story_terms:
            self.terms = Counter(dict(self.terms.most_common(params.max_story_terms)))
        if len(self.entities) > 2 * params.max_story_terms:
            self.entities = Counter(dict(self.entities.most_common(params.max_story_terms)))

    @classmethod
    def start(cls, story_id: str, article: ArticleSignal, params: Params) -> StoryState:
        story = cls(
            story_id=story_id,
            language=article.language,
            vector_sum=np.zeros_like(article.vector),
            first_published_at=article.published_at,
            last_published_at=article.published_at,
        )
        story.add(article, params)
        return story


def story_terms(story: StoryState, df: DocFreq, params: Params) -> dict[str, float]:
    return weighted(story.terms, df, sublinear=params.story_sublinear)


#: A story's TF-IDF vector and its norm; the engine passes its cached ones, asked only when needed.
VectorOf = Callable[[StoryState], tuple[dict[str, float], float]]


def vector_of(df: DocFreq, params: Params) -> VectorOf:
    """Story vectors computed afresh (no cache)."""

    def compute(story: StoryState) -> tuple[dict[str, float], float]:
        vec = story_terms(story, df, params)
        return vec, norm(vec)

    return compute


def hours_apart(article_time: datetime, story: StoryState) -> float:
    if article_time > story.last_published_at:
        gap = article_time - story.last_published_at
    elif article_time < story.first_published_at:
        gap = story.first_published_at - article_time
    else:
        return 0.0
    return gap.total_seconds() / 3600.0


def length_ramp(tokens: float, params: Params) -> float:
    """0 for texts up to ``short_tokens`` content tokens, 1 from ``long_tokens``, linear between."""
    span = max(params.long_tokens - params.short_tokens, 1)
    return min(max((tokens - params.short_tokens) / span, 0.0), 1.0)


def threshold_for(story: StoryState, params: Params, article_tokens: int = 0) -> float:
    """The join threshold against ``story`` for an article of ``article_tokens`` content tokens."""
    singleton = params.singleton_delta if story.size <= 1 else 0.0
    return params.join_threshold + singleton + params.long_text_delta * length_ramp(article_tokens, params)


def score(
    article: ArticleSignal,
    story: StoryState,
    df: DocFreq,
    params: Params,
    story_vector: tuple[dict[str, float], float] | None = None,
) -> tuple[float, dict[str, float]]:
    """The article-story score and its per-feature contributions (which sum to the score).

    ``story_vector`` is the story's TF-IDF vector and its norm when the caller cached them.
    """
    if story_vector is None:
        sv = story_terms(story, df, params)
        story_vector = sv, norm(sv)
    breakdown = {
        "embedding": params.w_embedding * float(np.dot(article.vector, story.centroid)),
        "lexical": params.w_lexical * cosine(article.terms, story_vector[0], story_vector[1]),
    }
    if article.features.entities and params.w_entities:
        breakdown["entities"] = params.w_entities * coverage(article.features.entities, story.entities, df)
    if params.w_time:
        gap = min(hours_apart(article.published_at, story) / params.window_hours, 1.0)
        breakdown["time"] = -params.w_time * gap
    return sum(breakdown.values()), breakdown


@dataclass(frozen=True)
class Scored:
    story_id: str
    total: float
    threshold: float
    breakdown: dict[str, float]


@dataclass(frozen=True)
class Decision:
    """Join ``story_id`` (or start a new story when it is None), with the evidence."""

    story_id: str | None
    score: float
    threshold: float
    breakdown: dict[str, float]
    related: list[tuple[str, float]]


def decide(candidates: list[Scored], params: Params) -> Decision:
    """Join the candidate with the largest margin over its threshold, if any margin is >= 0.

    Candidates below but within ``related_band`` of their threshold become related stories.
    """
    best: Scored | None = None
    for c in candidates:
        if best is None or c.total - c.threshold > best.total - best.threshold:
            best = c
    joined = best if best is not None and best.total >= best.threshold else None
    related = sorted(
        (
            (c.story_id, round(max(min(c.total, 1.0), -1.0), 4))
            for c in candidates
            if c is not joined and c.threshold - params.related_band <= c.total < c.threshold
        ),
        key=lambda kv: -kv[1],
    )[: params.max_related]
    if joined is not None:
        return Decision(joined.story_id, joined.total, joined.threshold, joined.breakdown, related)
    if best is not None:
        return Decision(None, best.total, best.threshold, best.breakdown, related)
    return Decision(None, 0.0, params.join_threshold, {}, related)


def merge_score(
    a: StoryState,
    b: StoryState,
    df: DocFreq,
    params: Params,
    vectors: VectorOf | None = None,
) -> float:
    """Centroid-to-centroid similarity on the same scale as the join score (time not counted)."""
    emb = float(np.dot(a.centroid, b.centroid))
    of = vectors or vector_of(df, params)
    (va, na), (vb, nb) = of(a), of(b)
    lex = cosine(va, vb, nb) if na > 0 else 0.0
    return (params.w_embedding * emb + params.w_lexical * lex) / (params.w_embedding + params.w_lexical)


def should_merge(
    a: StoryState,
    b: StoryState,
    df: DocFreq,
    params: Params,
    vectors: VectorOf | None = None,
) -> tuple[bool, float]:
    """Two stories are one when their centroids agree beyond ``merge_threshold``.

    They must share a language and overlap in time (within the window of each other).
    """
    if a.story_id == b.story_id or a.language != b.language or min(a.size, b.size) < params.merge_min_size:
        return False, 0.0
    window = params.window
    if (
        a.first_published_at > b.last_published_at + window
        or b.first_published_at > a.last_published_at + window
    ):
        return False, 0.0
    s = merge_score(a, b, df, params, vectors)
    mean_tokens = (a.tokens + b.tokens) / max(a.size + b.size, 1)
    return s >= params.merge_threshold + params.long_text_merge_delta * length_ramp(mean_tokens, params), s


def as_article(story: StoryState, df: DocFreq) -> ArticleSignal:
    """A small story seen as one article: its centroid, its terms and names, its newest time.

    For a one-article story this is that article again (weighted with today's IDF).
    """
    feats = ArticleFeatures(story.terms, story.entities, round(story.tokens / max(story.size, 1)))
    return ArticleSignal(
        article_id=story.story_id,
        vector=story.centroid,
        features=feats,
        terms=weighted(story.terms, df),
        published_at=story.last_published_at,
        language=story.language,
        source="",
    )


def should_absorb(
    small: StoryState,
    big: StoryState,
    df: DocFreq,
    params: Params,
    vectors: VectorOf | None = None,
) -> tuple[bool, float]:
    """Would the small story, as an article, join ``big`` now? (The join score and threshold.)

    Only a story of at most ``absorb_max_size`` articles is offered, only to a story of at least
    ``merge_min_size`` (and more) articles, in the same language, within the window of it.
    ``vectors`` gives a story's TF-IDF vector and norm (the caller's cache), asked only when needed.
    """
    if (
        small.story_id == big.story_id
        or small.language != big.language
        or small.size > params.absorb_max_size
        or big.size < max(params.merge_min_size, small.size + 1)
    ):
        return False, 0.0
    article = as_article(small, df)
    if hours_apart(article.published_at, big) > params.window_hours:
        return False, 0.0
    total, _ = score(article, big, df, params, vectors(big) if vectors else None)
    return total >= threshold_for(big, params, article.features.length), total


def older(a: StoryState, b: StoryState) -> tuple[StoryState, StoryState]:
    """(survivor, absorbed): the story that started first survives; ties by id."""
    if (a.first_published_at, a.story_id) <= (b.first_published_at, b.story_id):
        return a, b
    return b, a
