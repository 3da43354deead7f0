"""The extractive summariser: a story's members in, a grounded ``StorySummary`` out. Pure.

Every sentence of the output is a sentence (or headline) of a member article, unchanged except for
white space, a stripped dateline or outlet suffix, and carries the ids of every member article that
contains it (wire copies collapse into one sentence with all their ids). Steps:

1. bounded input: at most ``max_articles`` members, the most central ones, every source first;
2. units: cleaned headlines, leads and text sentences, boilerplate and bylines dropped;
3. near-duplicates collapsed (TF-IDF cosine >= ``dup_threshold``);
4. centrality: LexRank over the TF-IDF similarity graph, plus cross-source support (how well the
   other sources' sentences echo it), plus a small bonus for an article's opening;
5. MMR picks the summary (2-4 sentences) and the body (up to ``body_max`` sentences in reading
   order, one to three paragraphs), never two units that say the same thing (``redundancy_matrix``:
   words, and with sentence vectors their meaning); the title is the most central clean,
   non-clickbait headline;
6. perspectives, gaps and category.

Steps 1-4 and the title are ``prepare`` (a ``Draft``); ``summarize`` does the rest. The caller may
embed ``Draft.to_embed()`` in between and pass the vectors (the service does, with MiniLM):
similarity, centrality and support stay TF-IDF, as the embedding model encodes a few hundred short
texts/s on this machine class; only the redundancy rule reads the vectors, of the ``embed_max``
most central candidates.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import uuid4

import numpy as np

from tellwell.common.articles import StoredArticle
from tellwell.common.events import (
    Gap,
    GapKind,
    GroundedSentence,
    Lean,
    Perspective,
    StoryCluster,
    StorySummary,
    utcnow,
)
from tellwell.common.figures import Quantity, agree, differ, quantities
from tellwell.summarize.category import CategoryModel, bundled_model
from tellwell.summarize.figures import Figure, figures
from tellwell.summarize.text import (
    clean_headline,
    clickbait_score,
    is_boilerplate,
    is_truncated,
    normalize,
    split_sentences,
    strip_dateline,
    tokenize,
)

METHOD = "extractive-v1"


@dataclass(frozen=True)
class Article(StoredArticle):
    """What the summariser reads of a member article (from the ``articles`` collection)."""

    lean: Lean = Lean.unrated
    category_hint: str | None = None
    copy_of: str | None = None

    @property
    def display_source(self) -> str:
        return self.source_name or self.source


@dataclass(frozen=True)
class Params:
    """Knobs of the extractive method (defaults chosen on the development streams)."""

    max_articles: int = 12
    max_sources: int = 30
    max_sentences_per_article: int = 20
    max_chars_per_article: int = 8000
    min_words: int = 5
    max_words: int = 70
    dup_threshold: float = 0.7
    summary_min: int = 2
    summary_max: int = 4
    summary_max_words: int = 100
    body_max: int = 9
    mmr_lambda: float = 0.7
    redundancy_max: float = 0.55
    headline_redundancy_max: float = 0.4
    redundant_jaccard: float = 0.5
    redundant_containment: float = 0.6
    headline_redundant_weighted: float = 0.55
    headline_common_min_units: int = 5
    # MiniLM cosine at which two units with compatible facts say the same thing: on the STS news
    # headline pairs (docs/summarize.md) it catches 81 % of the pairs rated "same thing" (>= 4 of
    # 5) at precision 0.91 against pairs rated < 3.
    redundant_cosine: float = 0.8
    # Units embedded per story: the most central candidates (MMR compares little beyond them).
    embed_max: int = 40
    max_perspectives: int = 8
    min_rated_sources: int = 3
    max_claim_gaps: int = 2
    claim_support_max: float = 0.15


@dataclass
class Unit:
    """A collapsed sentence: its text (first occurrence) and everyone who carries it."""

    text: str
    article_ids: list[str]
    sources: list[str]
    position: int
    published_at: datetime
    headline: bool
    tokens: list[str] = field(default_factory=list)
    variants: dict[str, str] = field(default_factory=dict)  # each carrier's own wording
    truncated: bool = False  # a headline the feed cut short

    def text_of(self, article: Article) -> str:
        """The sentence in ``article``'s own wording."""
        return self.variants.get(article.article_id, self.text)


# ---------------------------------------------------------------- input selection


def _tfidf(token_lists: Sequence[Sequence[str]]) -> np.ndarray:
    """L2-normalised TF-IDF rows (sublinear tf, smoothed idf over these texts)."""
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    counts: list[int] = []
    for i, tokens in enumerate(token_lists):
        for t, n in Counter(tokens).items():
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
            counts.append(n)
    matrix = np.zeros((len(token_lists), max(len(vocab), 1)), dtype=np.float32)
    if rows:
        matrix[rows, cols] = 1.0 + np.log(np.asarray(counts, dtype=np.float32))
    df = (matrix > 0).sum(axis=0)
    matrix *= np.log((1.0 + len(token_lists)) / (1.0 + df)) + 1.0
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    normalised: np.ndarray = matrix / norms
    return normalised


def select_articles(articles: Sequence[Article], params: Params) -> list[Article]:
    """The most central members, one per source first, then the next most central, up to
    ``max_articles`` read in full; every further source (up to ``max_sources``) is represented by
    its most central article's headline and lead only, which bounds the work per story."""
    if len(articles) <= params.max_articles:
        return list(articles)
    vectors = _tfidf([tokenize(f"{a.title} {a.lead or a.text[:400]}") for a in articles])
    centroid = vectors.mean(axis=0)
    centrality = vectors @ centroid
    order = sorted(range(len(articles)), key=lambda i: -float(centrality[i]))
    chosen: list[int] = []
    seen: set[str] = set()
    for i in order:
        if articles[i].source not in seen and len(seen) < params.max_sources:
            seen.add(articles[i].source)
            chosen.append(i)
    full = set(chosen[: params.max_articles])
    for i in order:
        if len(full) >= params.max_articles:
            break
        if i not in full:
            full.add(i)
            if i not in chosen:
                chosen.append(i)
    return [
        articles[i] if i in full else dataclasses.replace(articles[i], text="")
        for i in sorted(chosen, key=lambda i: articles[i].published_at)
    ]


# ---------------------------------------------------------------- units


def article_sentences(article: Article, params: Params) -> list[str]:
    """An article's usable sentences in order: lead (when the text does not start with it), text."""
    sentences: list[str] = []
    for block in (article.lead, article.text):
        # Sentences past the first ~20 are never used: do not segment a whole book.
        for raw in split_sentences(block[: params.max_chars_per_article]):
            sentence = strip_dateline(raw).strip()
            words = len(sentence.split())
            if words < params.min_words or words > params.max_words or is_boilerplate(sentence):
                continue
            sentences.append(sentence)
            if len(sentences) >= params.max_sentences_per_article:
                return sentences
    return sentences


def build_units(articles: Sequence[Article], params: Params) -> tuple[list[Unit], np.ndarray]:
    """Collapse near-identical sentences across members; returns units and their TF-IDF rows."""
    raw: list[Unit] = []
    for a in sorted(articles, key=lambda a: a.published_at):
        headline = clean_headline(a.title, a.source_name, a.source)
        if headline:
            raw.append(
                Unit(
                    headline,
                    [a.article_id],
                    [a.source],
                    0,
                    a.published_at,
                    True,
                    tokenize(headline),
                    truncated=is_truncated(a.title),
                )
            )
        for pos, sentence in enumerate(article_sentences(a, params)):
            raw.append(
                Unit(sentence, [a.article_id], [a.source], pos, a.published_at, False, tokenize(sentence))
            )
    raw = [u for u in raw if u.tokens]
    if not raw:
        return [], np.zeros((0, 1), dtype=np.float32)
    vectors = _tfidf([u.tokens for u in raw])
    sims = vectors @ vectors.T
    kinds = np.array([u.headline for u in raw])
    units: list[Unit] = []
    rows: list[int] = []
    for i, unit in enumerate(raw):
        match = None
        if rows:
            seen = np.asarray(rows)
            hits = np.flatnonzero((sims[i, seen] >= params.dup_threshold) & (kinds[seen] == unit.headline))
            match = int(hits[0]) if len(hits) else None
        if match is None:
            unit.variants[unit.article_ids[0]] = unit.text
            units.append(unit)
            rows.append(i)
            continue
        kept = units[match]
        if unit.article_ids[0] not in kept.article_ids:
            kept.article_ids.append(unit.article_ids[0])
            kept.variants[unit.article_ids[0]] = unit.text
        if unit.sources[0] not in kept.sources:
            kept.sources.append(unit.sources[0])
        kept.position = min(kept.position, unit.position)
        if kept.truncated and not unit.truncated:  # prefer the complete wording of a headline
            kept.text, kept.tokens, kept.truncated = unit.text, unit.tokens, False
    return units, vectors[rows]


# ---------------------------------------------------------------- centrality and selection


def lexrank(sims: np.ndarray, damping: float = 0.85, iterations: int = 30) -> np.ndarray:
    """Continuous LexRank (Erkan & Radev 2004): stationary distribution of the similarity walk."""
    n = sims.shape[0]
    if n == 0:
        return np.zeros(0)
    graph = np.clip(sims, 0.0, None).astype(np.float64)
    np.fill_diagonal(graph, 0.0)
    rowsum = graph.sum(axis=1, keepdims=True)
    transition = np.where(rowsum > 0, graph / np.where(rowsum > 0, rowsum, 1.0), 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(iterations):
        rank = (1 - damping) / n + damping * (rank @ transition)
    out: np.ndarray = rank / rank.max()
    return out


def support(units: Sequence[Unit], sims: np.ndarray, sources: Sequence[str]) -> np.ndarray:
    """For each unit, the share of sources that say it: its own carriers count 1, every other
    source counts its best echo (cosine of its most similar sentence)."""
    n_sources = len(sources)
    if n_sources <= 1 or not len(units):
        return np.ones(len(units))
    column = {s: k for k, s in enumerate(sources)}
    carries = np.zeros((len(units), n_sources), dtype=bool)
    for i, u in enumerate(units):
        for s in u.sources:
            carries[i, column[s]] = True
    echo = np.zeros((len(units), n_sources))
    for k in range(n_sources):
        members = np.flatnonzero(carries[:, k])
        if len(members):
            echo[:, k] = np.clip(sims[:, members].max(axis=1), 0.0, 1.0)
    echo[carries] = 1.0
    shares: np.ndarray = echo.sum(axis=1) / n_sources
    return shares


def foreign_echo(units: Sequence[Unit], sims: np.ndarray) -> np.ndarray:
    """For each unit, its highest similarity to a unit that shares none of its sources."""
    if not len(units):
        return np.zeros(0)
    sources = sorted({s for u in units for s in u.sources})
    column = {s: k for k, s in enumerate(sources)}
    carries = np.zeros((len(units), len(sources)), dtype=np.float32)
    for i, u in enumerate(units):
        for s in u.sources:
            carries[i, column[s]] = 1.0
    foreign = (carries @ carries.T) == 0
    masked = np.where(foreign, sims, -np.inf)
    best = masked.max(axis=1)
    return np.where(np.isfinite(best), best, 0.0)


_NUMBER = re.compile(r"(\d+(?:[.,]\d+)*)\s*(billion|bn|b|million|mn|m|thousand|k|trillion|tn|%)?\b", re.I)
_SCALES = {"b": 1e9, "bn": 1e9, "billion": 1e9, "m": 1e6, "mn": 1e6, "million": 1e6, "k": 1e3,
           "thousand": 1e3, "tn": 1e12, "trillion": 1e12}  # fmt: skip


def numbers(text: str) -> frozenset[float]:
    """The numbers a sentence states, scaled ("$1.8B" and "$1.8 billion" are the same figure)."""
    out: set[float] = set()
    for m in _NUMBER.finditer(text):
        try:
            value = float(m.group(1).replace(",", ""))
        except ValueError:
            continue
        out.add(round(value * _SCALES.get((m.group(2) or "").lower(), 1.0), 6))
    return frozenset(out)


def paraphrases(units: Sequence[Unit], containment: float = 0.6) -> np.ndarray:
    """``out[i, j]``: unit i says nothing unit j does not (a near-paraphrase): most of the words of
    the shorter one are in the other, and i states no number j lacks. Headlines of one event
    ("X buying Y for $1.8B", "X acquiring rival Y for $1.8 billion") share the names and the figure
    but differ in verbs, which plain cosine does not catch."""
    words = [frozenset(t for t in u.tokens if t.isalpha()) for u in units]
    figures_of = [numbers(u.text) for u in units]
    n = len(units)
    out = np.zeros((n, n), dtype=bool)
    for i in range(n):
        for j in range(n):
            if i == j or not words[i] or not words[j] or not figures_of[i] <= figures_of[j]:
                continue
            shared = len(words[i] & words[j])
            out[i, j] = shared / min(len(words[i]), len(words[j])) >= containment
    return out


def content_terms(text: str) -> frozenset[str]:
    """The words a sentence says something with: stop-worded, stemmed, no numbers."""
    return frozenset(t for t in tokenize(text) if t.isalpha())


_RANK = re.compile(r"\b(?:top|no\.?|number|#)\s?\d+\b", re.IGNORECASE)


class Figures(tuple[Quantity, ...]):
    """The figures of a sentence; ``a <= b``: every figure of ``a`` agrees with one of ``b``
    (``common.figures.agree``: "$2.1 million" is within "$2 million"'s precision)."""

    def __le__(self, other: tuple[Quantity, ...]) -> bool:
        return all(any(agree(x, y) for y in other) for x in self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Figures) and self <= other and other <= self

    __hash__ = tuple.__hash__


def stated_figures(text: str) -> Figures:
    """The figures a sentence states, years and ranks aside ("2013's Money Makers" and "Top 40
    Money Makers 2014" name one list)."""
    return Figures(quantities(_RANK.sub(" ", text), years=False))


_WEEKDAY = re.compile(r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b", re.IGNORECASE)


@dataclass(frozen=True)
class Facts:
    """What tells two sentences that read alike apart: the numbers they write (dates and years
    included), their figures (``stated_figures``: number words, roundings) and the days they name."""

    numbers: frozenset[float]
    figures: Figures
    days: frozenset[str]

    def within(self, other: Facts) -> bool:
        return self.numbers <= other.numbers and self.figures <= other.figures and self.days <= other.days


def stated_facts(text: str) -> Facts:
    return Facts(numbers(text), stated_figures(text), frozenset(d.lower() for d in _WEEKDAY.findall(text)))


def compatible(a: Facts, b: Facts) -> bool:
    """Whether one of two sentences states no number, figure or day the other lacks. Close in meaning
    but not compatible ("Singapore shares open 0.28% lower on Thursday" / "... 0.19% higher ...",
    "Suicide bombs hit Egypt military in Sinai, kill 6" / "... kill 4") is two facts, or a conflict
    to show: never a repeat."""
    return a.within(b) or b.within(a)


def _says_the_same(ti: frozenset[str], tj: frozenset[str], fi: Figures, fj: Figures, params: Params) -> bool:
    if not ti or not tj:
        return False
    shared = len(ti & tj)
    if shared / len(ti | tj) >= params.redundant_jaccard:
        return True
    # The shorter one mostly inside the other, with no figure of its own: it says nothing new.
    short, fs, fl = (ti, fi, fj) if len(ti) <= len(tj) else (tj, fj, fi)
    return shared / len(short) >= params.redundant_containment and fs <= fl


def redundant_texts(a: str, b: str, params: Params | None = None, cosine: float | None = None) -> bool:
    """Whether two sentences say the same thing (the rule ``redundancy_matrix`` applies); ``cosine``:
    their embedding cosine, when known."""
    params = params or Params()
    if _says_the_same(content_terms(a), content_terms(b), stated_figures(a), stated_figures(b), params):
        return True
    return embedding_redundant(cosine, a, b, params)


def embedding_redundant(cosine: float | None, a: str, b: str, params: Params | None = None) -> bool:
    """The embedding half of the rule: cosine >= ``redundant_cosine`` and compatible facts."""
    threshold = (params or Params()).redundant_cosine
    return cosine is not None and cosine >= threshold and compatible(stated_facts(a), stated_facts(b))


def redundancy_matrix(
    units: Sequence[Unit], params: Params, *, headlines: bool = False, vectors: np.ndarray | None = None
) -> np.ndarray:
    """``out[i, j]``: units i and j say the same thing: content-term Jaccard >= ``redundant_jaccard``
    (0.5), or >= ``redundant_containment`` (60 %) of the shorter one's terms are in the other and
    the shorter one states no figure the other lacks, or (with ``vectors``, one L2-normalised row per
    unit, zeros where unknown) their cosine is >= ``redundant_cosine`` and their facts are
    ``compatible``. Symmetric; which of a pair to keep is ``fact_counts``' call."""
    n = len(units)
    out = np.zeros((n, n), dtype=bool)
    if n < 2:
        return out
    terms = [frozenset(t for t in u.tokens if t.isalpha()) for u in units]
    vocab: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for i, ts in enumerate(terms):
        for t in ts:
            rows.append(i)
            cols.append(vocab.setdefault(t, len(vocab)))
    if not vocab:
        return out
    incidence = np.zeros((n, len(vocab)), dtype=np.float32)
    incidence[rows, cols] = 1.0
    shared = incidence @ incidence.T
    sizes = incidence.sum(axis=1)
    union = sizes[:, None] + sizes[None, :] - shared
    smaller = np.minimum(sizes[:, None], sizes[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = np.where(union > 0, shared / np.maximum(union, 1), 0.0)
        contained = np.where(smaller > 0, shared / np.maximum(smaller, 1), 0.0)
    out = jaccard >= params.redundant_jaccard
    figs = [stated_figures(u.text) for u in units]
    if headlines and n >= params.headline_common_min_units:
        # Headlines of one story share its subject and vary the verb ("tops list", "named highest
        # earner"): words weigh by the share of the story's units using them, so two headlines
        # whose words are the story's common ones say its common fact (with five headlines or
        # more: in fewer, every word looks common). Two different figures for
        # one thing stay apart (that is a conflict to show, not a repeat).
        weights = incidence.mean(axis=0)
        weighted = incidence * weights
        shared_w = weighted @ incidence.T
        mass = weighted.sum(axis=1)
        union_w = mass[:, None] + mass[None, :] - shared_w
        with np.errstate(divide="ignore", invalid="ignore"):
            wj = np.where(union_w > 0, shared_w / np.maximum(union_w, 1e-9), 0.0)
        # The same figure for the same subject is the same fact said twice, at a lower bar.
        bar = params.headline_redundant_weighted
        for i, j in zip(*np.nonzero((wj >= bar - 0.15) & ~out), strict=True):
            if i >= j or not (figs[i] <= figs[j] or figs[j] <= figs[i]):
                continue
            if wj[i, j] >= bar or (figs[i] and figs[i] == figs[j]):
                out[i, j] = out[j, i] = True
    # Containment needs the figure check, pair by pair (few pairs pass the word test).
    for i, j in zip(*np.nonzero((contained >= params.redundant_containment) & ~out), strict=True):
        if i < j and sizes[i] and sizes[j]:
            short, long_ = (i, j) if (sizes[i], -i) <= (sizes[j], -j) else (j, i)
            if figs[short] <= figs[long_]:
                out[i, j] = out[j, i] = True
    if vectors is not None and len(vectors) == n:
        # Paraphrases with few shared words ("Zorblax to buy Quuxly" / "Quuxly accepts Zorblax
        # takeover offer"): close in meaning and stating no fact the other contradicts or lacks.
        cosines = vectors @ vectors.T
        facts: dict[int, Facts] = {}
        for i, j in zip(*np.nonzero((cosines >= params.redundant_cosine) & ~out), strict=True):
            if i < j:
                fi = facts.setdefault(i, stated_facts(units[i].text))
                fj = facts.setdefault(j, stated_facts(units[j].text))
                if compatible(fi, fj):
                    out[i, j] = out[j, i] = True
    out &= (sizes[:, None] > 0) & (sizes[None, :] > 0)
    np.fill_diagonal(out, False)
    return out


_CAPITALISED = re.compile(r"[A-Za-z][\w'\u2019-]*")


def name_terms(units: Sequence[Unit]) -> frozenset[str]:
    """The story's names, as terms: words its sentence-case units write capitalised inside a sentence
    more often than in lower case ("Billboard", "Money Makers" but not "list"). Title Case headlines
    are no evidence; a story told only in Title Case counts every capitalised word."""
    upper: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    title_upper: Counter[str] = Counter()
    for u in units:
        words = _CAPITALISED.findall(u.text)
        long_words = [w for w in words if len(w) > 3]
        title_case = bool(long_words) and sum(w[0].isupper() for w in long_words) >= 0.7 * len(long_words)
        for k, w in enumerate(words):
            tokens = tokenize(w)
            if len(tokens) != 1 or not tokens[0].isalpha():
                continue
            if not w[0].isupper():
                lower[tokens[0]] += 1
            elif k > 0:
                (title_upper if title_case else upper)[tokens[0]] += 1
    if not upper and not lower:
        return frozenset(title_upper)
    return frozenset(t for t, n in upper.items() if n > lower[t])


def fact_counts(units: Sequence[Unit], names: frozenset[str] | None = None) -> np.ndarray:
    """How much each unit states: 2 per figure (years aside), 1 per name, 0.25 per other content
    word, minus 1 for a headline the feed cut short. Of two units that say the same thing, the
    one stating more is kept."""
    names = name_terms(units) if names is None else names
    out = np.zeros(len(units))
    for i, u in enumerate(units):
        terms = {t for t in u.tokens if t.isalpha()}
        named = len(terms & names)
        out[i] = 2.0 * len(stated_figures(u.text)) + named + 0.25 * (len(terms) - named) - float(u.truncated)
    return out


def mmr(
    candidates: Sequence[int],
    scores: np.ndarray,
    sims: np.ndarray,
    k: int,
    params: Params,
    chosen: Sequence[int] = (),
    redundant: np.ndarray | None = None,
    facts: np.ndarray | None = None,
) -> list[int]:
    """Maximal marginal relevance: relevant, and unlike what is already chosen (neither too similar
    nor, with ``redundant``, saying the same thing as a chosen sentence). Of two sentences that say
    the same thing the one stating more ``facts`` stays: a newcomer with more takes the weaker
    wording's place, unless that was given (``chosen``: the summary, when picking the body)."""
    picked = list(chosen)
    pool = [c for c in candidates if c not in picked]
    while pool and len(picked) < k:

        def gain(c: int) -> float:
            redundancy = max((float(sims[c, p]) for p in picked), default=0.0)
            return params.mmr_lambda * float(scores[c]) - (1 - params.mmr_lambda) * redundancy

        best = max(pool, key=gain)
        pool.remove(best)
        if picked and max(float(sims[best, p]) for p in picked) > params.redundancy_max:
            continue
        if redundant is not None:
            same = [j for j, p in enumerate(picked) if redundant[best, p]]
            if same:
                j = same[0]
                if (
                    len(same) == 1
                    and j >= len(chosen)
                    and facts is not None
                    and facts[best] > facts[picked[j]]
                ):
                    picked[j] = best  # the same fact with more in it (a figure, a name)
                continue
        picked.append(best)
    return picked[len(chosen) :]


def grounded(unit: Unit) -> GroundedSentence:
    return GroundedSentence(text=unit.text, article_ids=list(unit.article_ids))


def paragraphs(units: Sequence[Unit], order: Sequence[int]) -> list[list[GroundedSentence]]:
    """Body sentences in reading order (article position, then time), in one to three paragraphs."""
    ordered = sorted(order, key=lambda i: (min(units[i].position, 3), units[i].published_at, i))
    n = len(ordered)
    if n == 0:
        return []
    count = 1 if n <= 3 else 2 if n <= 6 else 3
    size = -(-n // count)
    return [[grounded(units[i]) for i in ordered[j : j + size]] for j in range(0, n, size)]


# ---------------------------------------------------------------- title


def choose_title(articles: Sequence[Article], units: Sequence[Unit], scores: np.ndarray) -> str:
    """The most central member headline that is not bait; shorter than 20 words preferred."""
    best: tuple[float, str] | None = None
    for i, u in enumerate(units):
        if not u.headline:
            continue
        words = len(u.text.split())
        penalty = clickbait_score(u.text) + (0.5 if words > 20 or words < 4 else 0.0) + float(u.truncated)
        key = float(scores[i]) - penalty
        if best is None or key > best[0]:
            best = (key, u.text)
    if best is not None:
        return best[1]
    return clean_headline(articles[0].title) or articles[0].title or "Untitled story"


# ---------------------------------------------------------------- perspectives


def own_perspective(article: Article, unit: Unit) -> Perspective:
    """``article``'s line under its own source and lean."""
    return Perspective(
        source=article.source,
        source_name=article.source_name,
        lean=article.lean,
        article_id=article.article_id,
        url=article.url,
        text=unit.text_of(article),
    )


def perspectives(
    articles: Sequence[Article], units: Sequence[Unit], sims: np.ndarray, params: Params
) -> list[Perspective]:
    """One line per source: its most representative and most distinctive sentence, or its headline
    when it has no text. Over ``max_perspectives`` sources, rated ones are grouped by lean and the
    most telling unrated ones keep a line each."""
    by_id = {a.article_id: a for a in articles}
    centroid_sim = sims.mean(axis=1) if len(units) else np.zeros(0)
    echo = foreign_echo(units, sims)
    best_by_source: dict[str, tuple[float, int, Article]] = {}
    for i, u in enumerate(units):
        distinct = 1.0 - float(echo[i])
        # Representative first (an off-topic line is distinct but says nothing about the story),
        # text over headlines, no bait.
        bait = 0.3 * (clickbait_score(u.text) + float(u.truncated)) if u.headline else 0.0
        score = 0.6 * float(centroid_sim[i]) + 0.4 * distinct + (0.0 if u.headline else 1.0) - bait
        for aid in u.article_ids:
            a = by_id[aid]
            if a.source not in best_by_source or score > best_by_source[a.source][0]:
                best_by_source[a.source] = (score, i, a)
    entries = sorted(best_by_source.values(), key=lambda e: (e[2].published_at, e[2].source))
    if len(entries) <= params.max_perspectives:
        return [own_perspective(a, units[i]) for _, i, a in entries]
    groups: dict[Lean, list[tuple[float, int, Article]]] = defaultdict(list)
    for entry in entries:
        groups[entry[2].lean].append(entry)
    out: list[Perspective] = []
    for lean in Lean:
        if lean not in groups or lean is Lean.unrated:
            continue
        _, i, a = max(groups[lean], key=lambda e: e[0])
        names = sorted({e[2].display_source for e in groups[lean]})
        out.append(
            Perspective(
                source=lean.value,
                source_name=f"{len(names)} source{'' if len(names) == 1 else 's'}: "
                + ", ".join(names[:4])
                + (" …" if len(names) > 4 else ""),
                lean=lean,
                article_id=a.article_id,
                url=a.url,
                text=units[i].text_of(a),
            )
        )
    # Unrated sources have no lean to group by: the most telling of them speak for themselves.
    slots = max(params.max_perspectives - len(out), 2)
    unrated = sorted(groups.get(Lean.unrated, []), key=lambda e: -e[0])[:slots]
    out.extend(
        own_perspective(a, units[i])
        for _, i, a in sorted(unrated, key=lambda e: (e[2].published_at, e[2].source))
    )
    return out


# ---------------------------------------------------------------- gaps

_PRIMARY_REFERENCE = re.compile(
    r"\b(?:(?:a|the|new|latest|annual)\s+(?:study|report|survey|paper|filing|ruling|indictment|lawsuit)|"
    r"published (?:in|on)|peer[- ]reviewed|journal|court (?:documents|filings?|papers)|regulatory filing|"
    r"(?:said|says) in a statement|(?:official|joint|written) statement|press release|"
    r"according to (?:a|the) (?:study|report|survey|filing|statement|document|data))\b",
    re.IGNORECASE,
)
_LINK = re.compile(r"https?://|\bdoi(?:\.org)?[:/]", re.IGNORECASE)
_PRIMARY_DOMAIN = re.compile(
    r"(?:\.gov|\.gov\.[a-z]{2}|\.gouv\.fr|\.mil|\.edu|\.ac\.[a-z]{2}|\.int|europa\.eu|un\.org|"
    r"arxiv\.org|doi\.org|nature\.com|science\.org|thelancet\.com|nejm\.org|bmj\.com|plos\.org|"
    r"sciencedirect\.com|springer\.com|wiley\.com|cell\.com|jamanetwork\.com|pnas\.org|"
    r"ssrn\.com|nber\.org|biorxiv\.org|medrxiv\.org|prnewswire\.com|businesswire\.com|globenewswire\.com)$",
    re.IGNORECASE,
)
LEAN_GROUPS: dict[str, tuple[Lean, ...]] = {
    "left": (Lean.left, Lean.lean_left),
    "center": (Lean.center,),
    "right": (Lean.right, Lean.lean_right),
}


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def gaps(
    articles: Sequence[Article], units: Sequence[Unit], sims: np.ndarray, scores: np.ndarray, params: Params
) -> list[Gap]:
    """What's missing: uncovered lean groups, single-source claims, conflicting figures, no primary
    source, a single-source story."""
    out: list[Gap] = []
    sources = sorted({a.source for a in articles})
    names = {a.source: a.display_source for a in articles}
    all_ids = [a.article_id for a in articles]
    if len(sources) == 1:
        out.append(
            Gap(
                kind=GapKind.single_source_story,
                text=f"Only {names[sources[0]]} has reported this story so far.",
                article_ids=all_ids,
            )
        )
    leans = {a.source: a.lean for a in articles}
    rated = [s for s in sources if leans[s] is not Lean.unrated]
    if len(rated) >= params.min_rated_sources:
        for group, members in LEAN_GROUPS.items():
            if not any(leans[s] in members for s in rated):
                out.append(
                    Gap(
                        kind=GapKind.lean_not_covering,
                        text=f"No {group}-leaning source among the {len(rated)} rated sources covered it."
                        if group != "center"
                        else f"No center source among the {len(rated)} rated sources covered it.",
                    )
                )
    if len(sources) > 1:
        out += _single_source_claims(units, sims, scores, names, params)
        out += _conflicting_figures(units, names, {a.article_id: a.source for a in articles})
    out += _no_primary_source(articles, units)
    return out


def _single_source_claims(
    units: Sequence[Unit], sims: np.ndarray, scores: np.ndarray, names: dict[str, str], params: Params
) -> list[Gap]:
    found: list[tuple[float, Gap]] = []
    echoes = foreign_echo(units, sims)
    for i, u in enumerate(units):
        if u.headline or len(u.sources) > 1:
            continue
        echo = float(echoes[i])
        # A checkable claim: a figure, a quotation or an attribution, echoed by no other source.
        checkable = bool(figures(u.text)) or '"' in u.text or "\u201c" in u.text
        if echo <= params.claim_support_max and checkable:
            gap = Gap(
                kind=GapKind.single_source_claim,
                text=f"Only {names[u.sources[0]]} reports: {_short(u.text)}",
                article_ids=list(u.article_ids),
            )
            found.append((float(scores[i]), gap))
    found.sort(key=lambda e: -e[0])
    return [g for _, g in found[: params.max_claim_gaps]]


_KEY_LABELS = {
    "dead": "the death toll",
    "injured": "the number of injured",
    "missing": "the number of missing",
    "arrested": "the number of arrests",
    "evacuated": "the number of evacuated",
    "displaced": "the number of displaced",
}


@dataclass
class _Reading:
    """One value of a quantity as some sources state it (its roundings included)."""

    figure: Figure
    quantity: Quantity
    sources: set[str] = field(default_factory=set)
    article_ids: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


def _readings(units: Sequence[Unit], source_of: dict[str, str]) -> dict[str, list[_Reading]]:
    """Per key, the distinct values stated: a figure joins the first reading it agrees with
    (``common.figures.agree``: within the precision either is written in), else opens one. Each
    carrier's own wording is read (near-copies collapse into one unit, but "$2 million" and "$2.6
    million" in otherwise equal sentences are two readings)."""
    out: dict[str, list[_Reading]] = defaultdict(list)
    for u in units:
        wordings = u.variants or dict.fromkeys(u.article_ids, u.text)
        for aid, text in wordings.items():
            source = source_of.get(aid, u.sources[0])
            for fig in figures(text):
                if fig.quantity is None:
                    continue
                readings = out[fig.key]
                match = next((r for r in readings if agree(r.quantity, fig.quantity)), None)
                if match is None:
                    match = _Reading(fig, fig.quantity)
                    readings.append(match)
                match.sources.add(source)
                if aid not in match.article_ids:
                    match.article_ids.append(aid)
                if fig.subject:
                    match.subjects.append(fig.subject)
    return out


def _plain_subject(key: str, readings: Sequence[_Reading]) -> str:
    """What the figures count, for a reader: a casualty label, else the shortest subject of two
    words or more that a source wrote around its figure (never the stemmed key)."""
    if key in _KEY_LABELS:
        return _KEY_LABELS[key]
    said = [s for r in readings for s in r.subjects if len(s.replace("…", "").split()) >= 2]
    return min(said, key=lambda s: (len(s), s)) if said else ""


def _same_values(a: Sequence[_Reading], b: Sequence[_Reading]) -> bool:
    """Two conflicts over the same values (each value of one agrees with one of the other)."""

    def covered(x: Sequence[_Reading], y: Sequence[_Reading]) -> bool:
        return all(any(agree(r.quantity, o.quantity) for o in y) for r in x)

    return covered(a, b) and covered(b, a)


def _outlets(sources: set[str], names: dict[str, str], limit: int = 3) -> str:
    shown = sorted({names[s] for s in sources})
    more = len(shown) - limit
    return ", ".join(shown[:limit]) + (f" and {more} more" if more > 0 else "")


def _conflicting_figures(
    units: Sequence[Unit], names: dict[str, str], source_of: dict[str, str] | None = None
) -> list[Gap]:
    """Sources giving clearly different values (``common.figures.differ``) for one quantity. A
    rounding is no conflict ("$2 million" and "$2.1 million" agree), nor is one source alone. The
    text names the quantity in the sources' own words:
    'Sources differ on "Colorado collects … in January pot sales tax": $2 million (CBS Local) vs
    $3.5 million (Global Times).'"""
    conflicts: list[tuple[str, list[_Reading]]] = []
    for key, readings in _readings(units, source_of or {}).items():
        differing = [
            r
            for r in readings
            if any(o is not r and differ(r.quantity, o.quantity) and r.sources - o.sources for o in readings)
        ]
        if len(differing) < 2 or len(set().union(*(r.sources for r in differing))) < 2:
            continue
        conflicts.append((key, sorted(differing, key=lambda r: (r.quantity.value, r.figure.text))))
    # One conflict under several keys ("$2 million in taxes", "$2 million from pot sales") is one gap.
    merged: list[tuple[str, list[_Reading]]] = []
    for key, readings in sorted(conflicts, key=lambda c: -sum(len(r.sources) for r in c[1])):
        same = next((m for m in merged if _same_values(m[1], readings)), None)
        if same is None:
            merged.append((key, readings))
            continue
        for r in readings:
            into = next(m for m in same[1] if agree(m.quantity, r.quantity))
            into.sources |= r.sources
            into.article_ids.extend(a for a in r.article_ids if a not in into.article_ids)
            into.subjects += r.subjects
    out: list[Gap] = []
    for key, readings in merged:
        parts = [f"{r.figure.text} ({_outlets(r.sources, names)})" for r in readings[:4]]
        what = _plain_subject(key, readings)
        if key in _KEY_LABELS:
            head = f"Sources give different figures for {what}"
        elif what:
            head = f'Sources differ on "{what}"'
        else:
            head = "Sources give different figures"
        out.append(
            Gap(
                kind=GapKind.conflicting_figures,
                text=f"{head}: " + " vs ".join(parts) + ".",
                article_ids=list(dict.fromkeys(a for r in readings for a in r.article_ids)),
            )
        )
    return out


def _no_primary_source(articles: Sequence[Article], units: Sequence[Unit]) -> list[Gap]:
    refs = [u for u in units if _PRIMARY_REFERENCE.search(u.text)]
    if not refs:
        return []
    if any(_PRIMARY_DOMAIN.search(a.source) or _LINK.search(a.text) for a in articles):
        return []
    ref = refs[0]
    return [
        Gap(
            kind=GapKind.no_primary_source,
            text=f"The story cites a primary document but no member links to it: {_short(ref.text, 120)}",
            article_ids=list(ref.article_ids),
        )
    ]


# ---------------------------------------------------------------- the whole


@dataclass(frozen=True)
class Draft:
    """A story's units scored and its title chosen: everything before the redundancy rule, so the
    caller can embed the units that may meet (``to_embed``) before the summary is picked."""

    params: Params
    chosen: list[Article]
    units: list[Unit]
    sims: np.ndarray  # TF-IDF cosine of the units
    scores: np.ndarray
    candidates: list[int]  # the units the summary and body are picked from
    headline_only: bool
    title: str
    pick: Params  # ``params`` as the picking uses them (stricter for headline-only stories)

    @property
    def title_ids(self) -> list[int]:
        return [i for i, u in enumerate(self.units) if u.text == self.title]

    def to_embed(self) -> list[str]:
        """The texts whose vectors the redundancy rule reads: the ``embed_max`` most central
        candidates (MMR picks in about that order and rarely reaches further) and the title."""
        best = sorted(self.candidates, key=lambda i: (-float(self.scores[i]), i))[: self.params.embed_max]
        ids = [*best, *(i for i in self.title_ids if i not in best)]
        return list(dict.fromkeys(self.units[i].text for i in ids))


def prepare(articles: Sequence[Article], params: Params | None = None) -> Draft:
    """Steps 1-4 and the title (pure): bounded input, units, centrality, candidates."""
    if not articles:
        raise ValueError("no member article available")
    params = params or Params()
    chosen = select_articles(articles, params)
    units, vectors = build_units(chosen, params)
    sims = vectors @ vectors.T if len(units) else np.zeros((0, 0))
    sources = sorted({a.source for a in chosen})
    scores = np.zeros(len(units))
    if len(units):
        first_bonus = np.array([1.0 / (1 + u.position) for u in units])
        scores = 0.45 * lexrank(sims) + 0.45 * support(units, sims, sources) + 0.1 * first_bonus
    sentences = [i for i, u in enumerate(units) if not u.headline]
    # Headline-only stories (common in feeds) are told with their headlines, which are grounded too.
    headline_only = len(sentences) < params.summary_min
    candidates = sentences
    if headline_only:
        candidates = list(range(len(units)))
        scores = scores - 0.3 * np.array([clickbait_score(u.text) + float(u.truncated) for u in units])
    title = choose_title(chosen, units, scores)
    pick = params
    if headline_only:
        # The title already says it: the summary goes on with the other headlines when it can.
        rest = [i for i in candidates if units[i].text != title]
        if len(rest) >= params.summary_min:
            candidates = rest
        # Headlines are short and paraphrase each other: stricter redundancy, fewer of them.
        pick = dataclasses.replace(
            params,
            redundancy_max=params.headline_redundancy_max,
            summary_max=min(params.summary_max, 3),
            body_max=min(params.body_max, 6),
        )
    return Draft(params, chosen, units, sims, scores, candidates, headline_only, title, pick)


def unit_vectors(units: Sequence[Unit], vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """One row per unit: its text's vector, zeros where ``vectors`` has none (cosine 0: no match)."""
    dim = len(next(iter(vectors.values()))) if vectors else 0
    out = np.zeros((len(units), dim), dtype=np.float32)
    for i, u in enumerate(units):
        if (v := vectors.get(u.text)) is not None:
            out[i] = v
    return out


def summarize(
    cluster: StoryCluster,
    articles: Sequence[Article],
    *,
    params: Params | None = None,
    model: CategoryModel | None = None,
    producer: str = "summarize",
    vectors: Mapping[str, np.ndarray] | None = None,
    prepared: Draft | None = None,
) -> StorySummary:
    """The extractive summary of one cluster version from its (available) member articles.

    ``vectors``: L2-normalised sentence embeddings by text (those of ``Draft.to_embed``); with
    them, two units close in meaning are redundant even when they share few words; without, the
    rule reads words only. ``prepared``: ``prepare(articles, params)``, when the caller has it."""
    if not articles:
        raise ValueError(f"story {cluster.story_id} v{cluster.version}: no member article available")
    draft = prepared or prepare(articles, params)
    params = draft.params
    model = model or bundled_model()
    chosen, units, sims, scores, title = draft.chosen, draft.units, draft.sims, draft.scores, draft.title
    candidates, headline_only, pick = draft.candidates, draft.headline_only, draft.pick
    matrix = unit_vectors(units, vectors) if vectors is not None else None
    redundant = redundancy_matrix(units, pick, headlines=headline_only, vectors=matrix)
    facts = fact_counts(units)
    # Of sentences that say the same thing the summary keeps one, the one stating the most.
    title_ids = draft.title_ids
    lead: list[int] = []
    if headline_only and title_ids:
        # A headline-only story: the title told its fact, so the summary opens with it again only
        # in a wording that states more (a figure, a name), then goes on with other facts; when
        # every headline repeats the title's fact, the summary is that one sentence, or the best
        # other headline.
        t = title_ids[0]
        fuller = [
            i
            for i in candidates
            if redundant[i, t] and facts[i] > facts[t] and not clickbait_score(units[i].text)
        ]
        lead = [max(fuller, key=lambda i: (float(facts[i]), float(scores[i])))] if fuller else []
    given = title_ids if headline_only else []
    summary_ids = _pick_summary(units, candidates, scores, sims, pick, redundant, facts, given, lead)
    if not summary_ids and given:
        pool = [i for i in candidates if i not in given] or list(candidates)
        summary_ids = [max(pool, key=lambda i: (-clickbait_score(units[i].text), float(scores[i])))]
    # The body is the longer account after the summary: it never repeats a summary sentence (nor
    # the title, nor anything that says the same as either), so a story whose sources repeat one
    # fact has none.
    said = summary_ids + [i for i in title_ids if i not in summary_ids]
    body_ids = mmr(candidates, scores, sims, len(said) + pick.body_max, pick, said, redundant, facts)
    texts = [f"{a.title}. {a.lead}" if a.lead else a.title for a in articles[:60]]
    category = model.predict(texts, [a.category_hint for a in articles])
    summary = [grounded(units[i]) for i in summary_ids]
    if not summary:  # every sentence was boilerplate: the headline alone stays grounded
        summary = [GroundedSentence(text=title, article_ids=[chosen[0].article_id])]
    return StorySummary(
        producer=producer,
        story_id=cluster.story_id,
        version=cluster.version,
        title=title,
        summary=summary,
        body=paragraphs(units, body_ids),
        category=category,
        perspectives=perspectives(chosen, units, sims, params) if units else [],
        missing=gaps(chosen, units, sims, scores, params),
        method=METHOD,
        member_ids=list(cluster.member_ids),
        merged_into=cluster.merged_into,
        language=cluster.language,
        first_published_at=cluster.first_published_at,
        last_published_at=cluster.last_published_at,
        related=list(cluster.related),
    )


def _pick_summary(
    units: Sequence[Unit],
    candidates: Sequence[int],
    scores: np.ndarray,
    sims: np.ndarray,
    params: Params,
    redundant: np.ndarray | None = None,
    facts: np.ndarray | None = None,
    title_ids: Sequence[int] = (),
    lead: Sequence[int] = (),
) -> list[int]:
    """``lead`` then MMR picks unlike the title (``title_ids``, when given) and the lead: up to
    ``summary_max`` sentences, within ``summary_max_words`` once ``summary_min`` are in."""
    picked = list(lead)
    words = sum(len(units[i].text.split()) for i in lead)
    chosen = [*title_ids, *lead]
    k = len(chosen) + params.summary_max - len(lead)
    for i in mmr(candidates, scores, sims, k, params, chosen, redundant, facts):
        n = len(units[i].text.split())
        if len(picked) >= params.summary_min and words + n > params.summary_max_words:
            break
        picked.append(i)
        words += n
    return picked


def merged_summary(
    cluster: StoryCluster, previous: StorySummary | None, articles: Sequence[Article], **kwargs: object
) -> StorySummary:
    """The final summary of a story absorbed by another: its last content, pointing to the survivor."""
    if previous is None:
        return summarize(cluster, articles, **kwargs)  # type: ignore[arg-type]
    return previous.model_copy(
        update={
            "event_id": uuid4(),
            "occurred_at": utcnow(),
            "version": cluster.version,
            "merged_into": cluster.merged_into,
            "member_ids": list(cluster.member_ids),
            "language": cluster.language,
            "first_published_at": cluster.first_published_at,
            "last_published_at": cluster.last_published_at,
            "related": list(cluster.related),
        }
    )


def normalized_text(article: Article) -> str:
    """Everything of an article a sentence may be quoted from (for grounding checks)."""
    return normalize(f"{article.title}\n{article.lead}\n{article.text}")
