"""How much summary sentences repeat each other (``tellwell bench summarize``), and the choice of
the embedding threshold of the redundancy rule on human-rated headline pairs (``--pairs``).

Redundancy: every gold story of a stream is summarised once from all its members, words only
(``vectors=None``, the rule before embeddings) and with sentence vectors (as the service runs), from
the same ``domain.prepare`` draft; each summary's sentence pairs are measured by content-term
Jaccard and by MiniLM cosine.

Threshold: on pairs of news headlines rated 0-5 by people (STS Benchmark's headlines: 5 = the same
meaning), a pair rated >= 4 should be caught ("the same thing") and one rated < 3 should not; the
chosen threshold is the lowest round value (a 0.05 grid) at which the pairs caught are >= 90 %
"same" among same and different (pairs rated 3-4 count for neither).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tellwell.common.events import StorySummary
from tellwell.common.jsonl import Kind, read_jsonl
from tellwell.common.testing import make_story_cluster
from tellwell.summarize.category import CategoryModel
from tellwell.summarize.domain import (
    Article,
    Params,
    compatible,
    prepare,
    redundant_texts,
    stated_facts,
    summarize,
)
from tellwell.summarize.embedding import SentenceVectors
from tellwell.summarize.text import tokenize

SAME = 4.0  # a pair rated at least this says the same thing
DIFFERENT = 3.0  # a pair rated below this does not
TARGET_PRECISION = 0.9
GRID = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))  # 0.5, 0.55, ..., 0.95
REPORTED_COSINES = (0.75, 0.8, 0.85)


# ---------------------------------------------------------------- the threshold


@dataclass(frozen=True)
class Pair:
    """One rated pair: its embedding cosine, whether its facts are ``domain.compatible`` (no number,
    figure or day of one missing from the other), its human score (0-5) and the data's year."""

    cosine: float
    compatible: bool
    score: float
    year: str = ""


def precision_recall(
    pairs: Sequence[Pair], threshold: float, *, guard: bool = True
) -> tuple[float | None, float | None, int, int]:
    """Of the pairs the rule catches (cosine >= ``threshold``, and compatible facts with ``guard``):
    precision against the pairs rated < 3, recall of the pairs rated >= 4, and the counts caught
    (same, different)."""
    caught = [p for p in pairs if p.cosine >= threshold and (p.compatible or not guard)]
    same = sum(p.score >= SAME for p in caught)
    different = sum(p.score < DIFFERENT for p in caught)
    positives = sum(p.score >= SAME for p in pairs)
    precision = same / (same + different) if same + different else None
    recall = same / positives if positives else None
    return precision, recall, same, different


def choose_threshold(
    pairs: Sequence[Pair],
    *,
    target: float = TARGET_PRECISION,
    guard: bool = True,
    grid: Sequence[float] = GRID,
) -> float | None:
    """The lowest grid value whose precision is >= ``target`` (so the highest recall at that
    precision); None when no grid value reaches it."""
    for threshold in sorted(grid):
        precision, _, _, _ = precision_recall(pairs, threshold, guard=guard)
        if precision is not None and precision >= target:
            return threshold
    return None


PAIRS_REQUIRED: dict[str, Kind] = {"score": (int, float), "a": str, "b": str}
PAIRS_OPTIONAL: dict[str, Kind] = {"year": (str, int)}


def read_pairs(
    path: Path, vectors: SentenceVectors, params: Params | None = None
) -> tuple[list[Pair], list[bool]]:
    """The rated pairs of a JSONL file (``score``, ``a``, ``b``, optional ``year``) with their
    cosines, and whether the word rule alone (``domain.redundant_texts``) flags each."""
    rows = list(read_jsonl(path, required=PAIRS_REQUIRED, optional=PAIRS_OPTIONAL))
    found = vectors([t for r in rows for t in (r["a"], r["b"])])
    pairs = [
        Pair(
            float(found[r["a"]] @ found[r["b"]]),
            compatible(stated_facts(r["a"]), stated_facts(r["b"])),
            float(r["score"]),
            str(r.get("year") or ""),
        )
        for r in rows
    ]
    return pairs, [redundant_texts(r["a"], r["b"], params) for r in rows]


def _figures(pairs: Sequence[Pair], threshold: float | None, guard: bool = True) -> dict[str, Any]:
    if threshold is None:
        return {"threshold": None}
    precision, recall, same, different = precision_recall(pairs, threshold, guard=guard)
    return {
        "threshold": threshold,
        "precision": round(precision, 4) if precision is not None else None,
        "recall": round(recall, 4) if recall is not None else None,
        "caught_same": same,
        "caught_different": different,
    }


def threshold_report(path: Path, vectors: SentenceVectors, params: Params | None = None) -> dict[str, Any]:
    """The grid on the pairs, the chosen threshold (with and without the facts guard), the shipped
    one, and a check by halves: the threshold chosen on half of the data's years, measured on the
    other half."""
    params = params or Params()
    pairs, by_words = read_pairs(path, vectors, params)
    grid = []
    for t in GRID:
        alone = _figures(pairs, t, guard=False)
        guarded = _figures(pairs, t)
        del alone["threshold"], guarded["threshold"]
        grid.append({"threshold": t, "cosine_alone": alone, "with_facts_guard": guarded})
    years = sorted({p.year for p in pairs})
    held_out = []
    for tune in (years[: len(years) // 2], years[len(years) // 2 :]) if len(years) > 1 else ():
        rest = [p for p in pairs if p.year not in tune]
        chosen = choose_threshold([p for p in pairs if p.year in tune])
        held_out.append(
            {"chosen_on": tune, "measured_on": sorted({p.year for p in rest}), **_figures(rest, chosen)}
        )
    flagged = [p for p, hit in zip(pairs, by_words, strict=True) if hit]
    word_same = sum(p.score >= SAME for p in flagged)
    word_different = sum(p.score < DIFFERENT for p in flagged)
    positives = sum(p.score >= SAME for p in pairs)
    return {
        "input": path.name,
        "pairs": len(pairs),
        "same": positives,
        "different": sum(p.score < DIFFERENT for p in pairs),
        "target_precision": TARGET_PRECISION,
        "chosen": _figures(pairs, choose_threshold(pairs)),
        "chosen_cosine_alone": _figures(pairs, choose_threshold(pairs, guard=False), guard=False),
        "shipped": _figures(pairs, params.redundant_cosine),
        "held_out_by_year": held_out,
        "word_rule": {
            "precision": round(word_same / (word_same + word_different), 4)
            if word_same + word_different
            else None,
            "recall": round(word_same / positives, 4) if positives else None,
        },
        "grid": grid,
        "note": "same: rated >= 4 of 5, different: < 3 (3-4 count for neither); precision against "
        "the different pairs; with_facts_guard: also domain.compatible (no number, figure or day of "
        "one missing from the other), as the summariser applies it; chosen: the lowest 0.05 grid "
        f"value with precision >= {TARGET_PRECISION}; word_rule: domain.redundant_texts without "
        "embeddings; all-MiniLM-L6-v2, 64 word pieces",
    }


# ---------------------------------------------------------------- summaries


def jaccard(a: str, b: str) -> float:
    """Word-Jaccard of two sentences' content terms (lower-cased, stop-worded, stemmed; numbers kept)."""
    x, y = set(tokenize(a)), set(tokenize(b))
    return len(x & y) / len(x | y) if x | y else 0.0


@dataclass
class _Tally:
    """The redundancy measures of one way of summarising, over all stories."""

    summaries: int = 0
    lengths: Counter[int] = field(default_factory=Counter)
    jaccards: list[float] = field(default_factory=list)
    cosines: list[float] = field(default_factory=list)
    body_jaccards: list[float] = field(default_factory=list)
    redundant: int = 0
    words_redundant: int = 0
    body_redundant: int = 0
    above: Counter[float] = field(default_factory=Counter)

    def add(self, summary: StorySummary, found: Mapping[str, np.ndarray] | None, params: Params) -> None:
        """One summary; ``found``: the vectors of its sentences and its body's (None: words only)."""
        texts = [s.text for s in summary.summary]
        body = [s.text for p in summary.body for s in p]
        self.summaries += 1
        self.lengths[len(texts)] += 1

        def cosine(a: str, b: str) -> float | None:
            return float(found[a] @ found[b]) if found is not None else None

        pairs = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1 :]]
        self.jaccards += [jaccard(a, b) for a, b in pairs]
        self.words_redundant += any(redundant_texts(a, b, params) for a, b in pairs)
        self.redundant += any(redundant_texts(a, b, params, cosine(a, b)) for a, b in pairs)
        self.body_redundant += any(redundant_texts(a, b, params, cosine(a, b)) for a in texts for b in body)
        self.body_jaccards += [jaccard(a, b) for a in texts for b in body]
        if found is not None and pairs:
            cos = [float(found[a] @ found[b]) for a, b in pairs]
            self.cosines += cos
            for t in REPORTED_COSINES:
                self.above[t] += max(cos) >= t

    def result(self, embedded: bool) -> dict[str, Any]:
        n = self.summaries or 1

        def stat(values: list[float], f: Any) -> float | None:
            return round(float(f(values)), 4) if values else None

        out: dict[str, Any] = {
            "summaries": self.summaries,
            "summary_sentences": dict(sorted(self.lengths.items())),
            "pairs": len(self.jaccards),
            "jaccard_mean": stat(self.jaccards, np.mean),
            "jaccard_max": stat(self.jaccards, max),
        }
        if embedded:
            out |= {"cosine_mean": stat(self.cosines, np.mean), "cosine_max": stat(self.cosines, max)}
            out |= {f"share_with_pair_cosine_ge_{t}": round(self.above[t] / n, 4) for t in REPORTED_COSINES}
        out |= {
            "share_with_redundant_pair": round(self.redundant / n, 4),
            "share_with_words_redundant_pair": round(self.words_redundant / n, 4),
            "share_body_repeating_summary": round(self.body_redundant / n, 4),
            "summary_body_jaccard_max": stat(self.body_jaccards, max),
        }
        return out


def _sentences(summary: StorySummary) -> list[str]:
    return [s.text for s in summary.summary] + [s.text for p in summary.body for s in p]


def redundancy(
    stories: Sequence[Sequence[Article]], model: CategoryModel, vectors: SentenceVectors | None
) -> dict[str, Any]:
    """Summarise every story (all its members, as the service would), words only and with sentence
    vectors, and measure how much each summary's sentences repeat each other."""
    params = Params()
    before, after = _Tally(), _Tally()
    seconds = 0.0
    for k, members in enumerate(stories):
        if not members:
            continue
        articles = sorted(members, key=lambda a: a.published_at)
        cluster = make_story_cluster(
            story_id=f"r{k}",
            member_ids=[a.article_id for a in articles],
            first_published_at=articles[0].published_at,
            last_published_at=articles[-1].published_at,
        )
        draft = prepare(articles, params)
        words_only = summarize(cluster, articles, model=model, prepared=draft)
        if vectors is None:
            before.add(words_only, None, params)
            continue
        started = time.perf_counter()
        candidates = vectors(draft.to_embed())
        seconds += time.perf_counter() - started
        embedded = summarize(cluster, articles, model=model, prepared=draft, vectors=candidates)
        found = vectors(_sentences(words_only) + _sentences(embedded))
        before.add(words_only, found, params)
        after.add(embedded, found, params)
    result: dict[str, Any] = {
        "threshold": params.redundant_cosine,
        "words_only": before.result(vectors is not None),
    }
    if vectors is not None:
        result["with_embeddings"] = after.result(True)
        result["embed_s"] = round(seconds, 2)
    result["note"] = (
        "each gold story summarised once from all its members, words only (before) and with "
        "all-MiniLM-L6-v2 sentence vectors (after, as the service runs), from the same draft; "
        "jaccard: word-Jaccard of content terms (tokenize: lower-cased, stop-worded, stemmed, numbers "
        "kept) over every pair of summary sentences; cosine: all-MiniLM-L6-v2, 64 word pieces; "
        "redundant pair: summarize's whole rule (domain.redundant_texts with the pair's cosine: "
        f"words, or cosine >= {params.redundant_cosine} with compatible facts); words redundant: the "
        "word half alone; body repeating summary: a body sentence redundant with a summary sentence "
        "(whole rule); embed_s: time to encode the candidates (cold cache)"
    )
    return result
