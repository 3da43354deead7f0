"""Does a report's text support a core claim of the summary, contradict it, or say nothing about it?

Lexical, not neural, on purpose: every claim of every story is checked against every independent
report, and the service must score hundreds of stories a second on two cores. A claim is
*supported* by an article when one passage of it (a sentence and the next) contains most of the
claim's content words (weighted by how rare they are within the story, so the words every member
repeats count less than the specific ones), the article names the claim's named entities, and
states its figures. It *contradicts* the claim when the best-matching passage is about the claim but
gives a different figure for the same thing ('30 people' against '300 people') and the claim's own
figure appears nowhere in the article. Anything else is silence: covering the story is not
corroborating its facts.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from tellwell.score.text import Figure, entities, figures, sentences, stem, terms

_LETTERS = re.compile(r"[^\W\d_]{2,}")


class Stance(Enum):
    supports = "supports"
    contradicts = "contradicts"
    silent = "silent"


@dataclass(frozen=True, slots=True)
class CorroborationParams:
    """Thresholds of the per-claim decision (tuned on hand-written cases; see docs/score.md)."""

    support_overlap: float = 0.5  # idf-weighted share of the claim's words found in one passage
    contradict_overlap: float = 0.35  # a passage this close is 'about' the claim
    entity_share: float = 0.5  # share of the claim's entities the article names
    figure_share: float = 0.5  # share of the claim's figures the article states
    max_chars: int = 4000  # the text read per article: claims live in the first paragraphs


@dataclass(frozen=True, slots=True)
class Claim:
    """A core fact: one summary sentence with its content words, figures and entities."""

    text: str
    words: frozenset[str]
    figures: tuple[Figure, ...]
    entity_words: tuple[frozenset[str], ...]


def make_claim(text: str) -> Claim:
    ents = tuple(
        frozenset(stem(w) for w in _LETTERS.findall(e)) for e in entities(text) if _LETTERS.search(e)
    )
    return Claim(text=text, words=frozenset(terms(text)), figures=tuple(figures(text)), entity_words=ents)


@dataclass(frozen=True, slots=True)
class Passages:
    """An article prepared for checking: passages (a sentence and the next) and what it states."""

    windows: tuple[frozenset[str], ...]
    window_figures: tuple[tuple[Figure, ...], ...]
    words: frozenset[str]
    values: frozenset[float]


def prepare(title: str, lead: str, text: str, max_chars: int = 4000) -> Passages:
    body = text[:max_chars]
    parts = [title] if title else []
    if lead and not body.startswith(lead[:80]):
        parts += sentences(lead)
    parts += sentences(body)
    sent_words = [frozenset(terms(s)) for s in parts]
    sent_figs = [tuple(figures(s)) for s in parts]
    windows: list[frozenset[str]] = []
    window_figs: list[tuple[Figure, ...]] = []
    for i in range(len(parts)):
        j = i + 1 if i + 1 < len(parts) and i > 0 else i  # the title is a passage of its own
        windows.append(sent_words[i] | sent_words[j])
        window_figs.append(sent_figs[i] + (sent_figs[j] if j != i else ()))
    words = frozenset().union(*sent_words) if sent_words else frozenset()
    values = frozenset(f.value for figs in sent_figs for f in figs)
    return Passages(tuple(windows), tuple(window_figs), words, values)


def idf_weights(docs: Sequence[Passages]) -> dict[str, float]:
    """Smoothed inverse document frequency over the story's own articles."""
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(doc.words)
    n = len(docs)
    return {w: math.log((n + 1) / (c + 1)) + 1.0 for w, c in df.items()}


def stance(claim: Claim, doc: Passages, idf: dict[str, float], params: CorroborationParams) -> Stance:
    """Whether one article supports, contradicts or is silent on one claim."""
    if not claim.words or not doc.windows:
        return Stance.silent
    unseen = math.log(len(idf) + 2) + 1.0  # a word no member uses weighs most
    weights = {w: idf.get(w, unseen) for w in claim.words}
    total = sum(weights.values())
    best, best_i = 0.0, 0
    for i, window in enumerate(doc.windows):
        hit = claim.words & window
        if hit:
            score = sum(weights[w] for w in hit) / total
            if score > best:
                best, best_i = score, i
    if best < params.contradict_overlap:
        return Stance.silent
    stated = [f for f in claim.figures if f.value in doc.values]
    conflict = any(
        g.value != f.value and f.context & g.context
        for f in claim.figures
        if f.value not in doc.values
        for g in doc.window_figures[best_i]
    )
    if conflict:
        return Stance.contradicts
    if best < params.support_overlap:
        return Stance.silent
    if claim.entity_words:
        named = sum(1 for e in claim.entity_words if e <= doc.words)
        if named / len(claim.entity_words) < params.entity_share:
            return Stance.silent
    if claim.figures and len(stated) / len(claim.figures) < params.figure_share:
        return Stance.silent
    return Stance.supports
