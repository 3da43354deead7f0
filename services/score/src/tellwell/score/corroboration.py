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
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from tellwell.score.text import Figure, Mention, analyse, context_of, entities, figures, term_set


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
    paraphrase_overlap: float = 0.3  # enough when the article names every entity (and states the figures)
    max_chars: int = 4000  # the text read per article: claims live in the first paragraphs


@dataclass(frozen=True, slots=True)
class Claim:
    """A core fact: one summary sentence with its content words, figures and entities."""

    text: str
    words: frozenset[str]
    figures: tuple[Figure, ...]
    entity_words: tuple[frozenset[str], ...]


def make_claim(text: str) -> Claim:
    # an entity's words as terms, so that they compare with an article's terms ('u.s' has none)
    ents = tuple(words for e in entities(text) if (words := term_set(e)))
    return Claim(text=text, words=term_set(text), figures=tuple(figures(text)), entity_words=ents)


@dataclass(frozen=True, slots=True)
class Passages:
    """An article prepared for checking: passages (a sentence and the next) and what it states."""

    text: str
    windows: tuple[frozenset[str], ...]
    window_mentions: tuple[tuple[Mention, ...], ...]
    words: frozenset[str]
    values: frozenset[float]


_END = (".", "!", "?")


def prepare(title: str, lead: str, text: str, max_chars: int = 4000) -> Passages:
    """The headline (a passage of its own), the lead unless the text starts with it, and the first
    ``max_chars`` of the text, as overlapping two-sentence passages."""
    body = text[:max_chars]
    if lead and not body.startswith(lead[:80]):
        body = f"{lead}\n{body}" if body else lead
    head = title.strip()
    if head and not head.endswith(_END):
        head += "."
    full = f"{head} {body}" if head else body
    _, sent_words, sent_mentions = analyse(full)
    # Passage i = sentence i and the next; the headline stands alone, and so does the last sentence.
    nothing: frozenset[str] = frozenset()
    following = [*sent_words[1:], nothing]
    following_mentions = [*sent_mentions[1:], ()]
    if head:
        following[0], following_mentions[0] = nothing, ()
    windows = list(map(frozenset.union, sent_words, following))
    window_mentions = [a + b if b else a for a, b in zip(sent_mentions, following_mentions, strict=True)]
    words = frozenset().union(*sent_words) if sent_words else frozenset()
    values = frozenset(m.value for ms in sent_mentions for m in ms)
    return Passages(full, tuple(windows), tuple(window_mentions), words, values)


class PassageCache:
    """Prepared articles by (article id, fingerprint, text length), least recently used evicted.

    A story is re-scored at every new version, and all but its newest members were prepared before:
    preparing (tokenising) is most of the cost, so the service keeps one cache across stories."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str, int], Passages] = OrderedDict()

    def get(self, key: tuple[str, str, int]) -> Passages | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, str, int], passages: Passages) -> None:
        self._items[key] = passages
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def discard(self, key: tuple[str, str, int]) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


def idf_weights(docs: Sequence[Passages], words: Iterable[str]) -> dict[str, float]:
    """Smoothed inverse document frequency, over the story's own articles, of the claims' words only
    (the only ones ever weighed): a word every member uses weighs least, one no member uses most."""
    n = len(docs)
    return {w: math.log((n + 1) / (sum(1 for d in docs if w in d.words) + 1)) + 1.0 for w in set(words)}


def _comparable(a: float, b: float) -> bool:
    """Two large amounts of the same order of magnitude (thousands and up, within a factor of 10)."""
    return a != b and min(a, b) >= 1000 and max(a, b) < 10 * min(a, b)


def stance(claim: Claim, doc: Passages, idf: dict[str, float], params: CorroborationParams) -> Stance:
    """Whether one article supports, contradicts or is silent on one claim."""
    if not claim.words or not doc.windows:
        return Stance.silent
    weights = idf
    total = sum(weights[w] for w in claim.words)
    best, best_i = 0.0, 0
    for i, window in enumerate(doc.windows):
        hit = claim.words & window
        if hit:
            score = sum(map(weights.__getitem__, hit)) / total
            if score > best:
                best, best_i = score, i
    if best < params.contradict_overlap:
        return Stance.silent
    stated = [f for f in claim.figures if f.value in doc.values]
    conflict = any(
        g.value != f.value and f.context & context_of(doc.text, g)
        for f in claim.figures
        if f.value not in doc.values
        for g in doc.window_mentions[best_i]
    )
    if conflict:
        return Stance.contradicts
    # a different amount of the same order ('$2.1 billion' against '$1.8 billion') in the article, and
    # the claim's own nowhere: not a contradiction (the subjects may differ) but no support either
    disagrees = any(
        _comparable(f.value, g) for f in claim.figures if f.value not in doc.values for g in doc.values
    )
    if disagrees and not stated:
        return Stance.silent
    named = sum(1 for e in claim.entity_words if 2 * len(e & doc.words) >= len(e))  # most of its words
    names_all = bool(claim.entity_words) and named == len(claim.entity_words)
    names_enough = not claim.entity_words or named / len(claim.entity_words) >= params.entity_share
    figures_agree = bool(claim.figures) and len(stated) / len(claim.figures) >= params.figure_share
    if best >= params.support_overlap and names_enough and (not claim.figures or figures_agree or names_all):
        # the claim's words, most of its names, and its figures (or, naming every actor, no figure
        # at all: the fact without its number, which no figure of the report disputes)
        return Stance.supports
    if best >= params.paraphrase_overlap and names_all and (figures_agree or len(claim.entity_words) >= 2):
        # a paraphrase: other words, but the same actors and objects (and the same numbers, if any)
        return Stance.supports
    return Stance.silent
