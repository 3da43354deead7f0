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
   order, one to three paragraphs); the title is the most central clean, non-clickbait headline;
6. perspectives, gaps and category.

TF-IDF rather than MiniLM for sentences: the embedding model encodes ~350 short texts/s on this
machine class, which would cap the service at a few stories per second.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import uuid4

import numpy as np

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
from tellwell.summarize.category import CategoryModel, bundled_model
from tellwell.summarize.figures import figures, values_differ
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
class Article:
    """What the summariser reads of a member article (from the ``articles`` collection)."""

    article_id: str
    url: str
    source: str
    title: str
    published_at: datetime
    text: str = ""
    lead: str = ""
    source_name: str | None = None
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
            kept.text, kept.truncated = unit.text, False
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


def mmr(
    candidates: Sequence[int],
    scores: np.ndarray,
    sims: np.ndarray,
    k: int,
    params: Params,
    chosen: Sequence[int] = (),
    para: np.ndarray | None = None,
) -> list[int]:
    """Maximal marginal relevance: relevant, and unlike what is already chosen (neither too similar
    nor, with ``para``, a near-paraphrase of a chosen sentence)."""
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
        if para is not None:
            if any(para[best, p] for p in picked):
                continue  # says nothing new
            weaker = [j for j, p in enumerate(picked) if para[p, best]]
            if weaker:
                # The same fact with more in it (a figure, a name): it takes the weaker wording's
                # place, unless that was given (the summary, when picking the body).
                if weaker[0] >= len(chosen):
                    picked[weaker[0]] = best
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
        return [
            Perspective(
                source=a.source,
                source_name=a.source_name,
                lean=a.lean,
                article_id=a.article_id,
                url=a.url,
                text=units[i].variants.get(a.article_id, units[i].text),
            )
            for _, i, a in entries
        ]
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
                text=units[i].variants.get(a.article_id, units[i].text),
            )
        )
    # Unrated sources have no lean to group by: the most telling of them speak for themselves.
    slots = max(params.max_perspectives - len(out), 2)
    unrated = sorted(groups.get(Lean.unrated, []), key=lambda e: -e[0])[:slots]
    for _, i, a in sorted(unrated, key=lambda e: (e[2].published_at, e[2].source)):
        out.append(
            Perspective(
                source=a.source,
                source_name=a.source_name,
                lean=a.lean,
                article_id=a.article_id,
                url=a.url,
                text=units[i].variants.get(a.article_id, units[i].text),
            )
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
        out += _conflicting_figures(units, names)
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
    "usd": "the dollar amount",
    "eur": "the euro amount",
    "gbp": "the sterling amount",
}


def _conflicting_figures(units: Sequence[Unit], names: dict[str, str]) -> list[Gap]:
    # key -> value -> (sources, article ids, example figure text)
    seen: dict[str, dict[float, tuple[set[str], list[str], str]]] = defaultdict(dict)
    for u in units:
        for fig in figures(u.text):
            entry = seen[fig.key].setdefault(fig.value, (set(), [], fig.text))
            entry[0].update(u.sources)
            entry[1].extend(a for a in u.article_ids if a not in entry[1])
    out: list[Gap] = []
    for key, values in seen.items():
        if len(values) < 2:
            continue
        items = sorted(values.items())
        differing = [
            (v, e) for v, e in items if any(values_differ(v, w) and e[0] - f[0] for w, f in items if w != v)
        ]
        all_sources = set().union(*(e[0] for _, e in items))
        if len(differing) < 2 or len(all_sources) < 2:
            continue
        parts = [f"{e[2]} ({', '.join(sorted(names[s] for s in e[0]))})" for _, e in differing[:4]]
        ids = [a for _, e in differing for a in e[1]]
        out.append(
            Gap(
                kind=GapKind.conflicting_figures,
                text=f"Sources give different figures for {_KEY_LABELS.get(key, key)}: "
                + " vs ".join(parts)
                + ".",
                article_ids=list(dict.fromkeys(ids)),
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


def summarize(
    cluster: StoryCluster,
    articles: Sequence[Article],
    *,
    params: Params | None = None,
    model: CategoryModel | None = None,
    producer: str = "summarize",
) -> StorySummary:
    """The extractive summary of one cluster version from its (available) member articles."""
    if not articles:
        raise ValueError(f"story {cluster.story_id} v{cluster.version}: no member article available")
    params = params or Params()
    model = model or bundled_model()
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
    if len(sentences) >= params.summary_min:
        candidates = sentences
    else:
        candidates = list(range(len(units)))
        scores = scores - 0.3 * np.array([clickbait_score(u.text) + float(u.truncated) for u in units])
    title = choose_title(chosen, units, scores)
    pick = params
    if candidates is not sentences:
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
    para = paraphrases(units)
    summary_ids = _pick_summary(units, candidates, scores, sims, pick, para)
    # The body is the longer account after the summary: it never repeats a summary sentence (nor
    # the title, nor a paraphrase of either), so a story whose sources repeat one fact has none.
    said = summary_ids + [i for i, u in enumerate(units) if u.text == title and i not in summary_ids]
    body_ids = mmr(candidates, scores, sims, len(said) + pick.body_max, pick, chosen=said, para=para)
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
    para: np.ndarray | None = None,
) -> list[int]:
    picked: list[int] = []
    words = 0
    for i in mmr(candidates, scores, sims, params.summary_max, params, para=para):
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
