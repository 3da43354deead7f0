"""Does a report's text support a core claim of the story, contradict it, or say nothing about it?

Two kinds of evidence, read together. *Lexical*: one passage of the article (a sentence and the
next; the headline alone) contains most of the claim's content words, weighted by how rare they
are within the story, so the words every member repeats count less than the specific ones.
*Semantic*: the sentence-embedding similarity (all-MiniLM-L6-v2) of the claim and the article's
best sentences, which recognises a paraphrase that shares few words ("Zorblax agreed to acquire
Quuxly" states "Zorblax will buy Quuxly"). Either way the article must also name most of the
claim's named entities and state its figures, or at least state no other figure for them: two
earthquakes of the same kind are not one event.

A report *contradicts* a claim when the passage that is about it (close in words or in meaning)
gives a clearly different figure for the same thing ('30 people' against '300 people', not a
rounding: see ``tellwell.common.figures``) and the claim's own figure appears nowhere in it; negates
it ('will not buy'); or puts another actor in the claim's main actor's place, one no other report
of the story names. Anything else is silence: covering the story is not corroborating its facts.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

import numpy as np

from tellwell.common.embed import TextEncoder
from tellwell.common.figures import Quantity, agree, differ
from tellwell.common.vector_cache import VectorCache
from tellwell.score.text import Figure, analyse, context_of, entities, figures, proper_words, term_set, terms


class Stance(Enum):
    supports = "supports"
    contradicts = "contradicts"
    silent = "silent"


@dataclass(frozen=True, slots=True)
class CorroborationParams:
    """Thresholds of the per-claim decision (chosen on the dev streams and pairs with
    ``tellwell bench confidence``; see docs/score.md)."""

    support_overlap: float = 0.5  # idf-weighted share of the claim's words found in one passage
    contradict_overlap: float = 0.35  # a passage this close is 'about' the claim
    entity_share: float = 0.5  # share of the claim's entities the article names
    figure_share: float = 0.5  # share of the claim's figures the article states
    paraphrase_overlap: float = 0.3  # enough when the article names every entity (and states the figures)
    # chosen leave-one-stream-out (bench/README.md): each held-out dev stream's pick on the others
    embed_support: float = 0.75  # cosine of claim and sentence that states the claim in other words
    embed_about: float = 0.55  # a sentence this close in meaning is about the claim
    embed_overlap: float = 0.25  # ... and supports it with this much lexical overlap too
    embed_sentences: int = 3  # sentences per article embedded for a claim: the headline + the best by words
    swap_overlap: float = 0.5  # share of the claim's other words around a foreign actor (actor swapped)
    max_chars: int = 4000  # the text read per article: claims live in the first paragraphs


@dataclass(frozen=True, slots=True)
class Claim:
    """A core fact: one sentence with its content words, figures and entities."""

    text: str
    words: frozenset[str]
    figures: tuple[Figure, ...]
    entity_words: tuple[frozenset[str], ...]
    negated: frozenset[str]


def make_claim(text: str, proper: frozenset[str] | None = None) -> Claim:
    """``proper``: the words the story writes capitalised mid-sentence (``text.proper_words``), to
    tell a name at the start of a claim or in a Title Case headline from a capitalised word."""
    # an entity's words as terms, so that they compare with an article's terms ('u.s' has none)
    ents = tuple(words for e in entities(text, proper) if (words := term_set(e)))
    return Claim(
        text=text,
        words=term_set(text),
        figures=tuple(figures(text)),
        entity_words=ents,
        negated=negated_terms(text),
    )


@dataclass(frozen=True, slots=True)
class Passages:
    """An article prepared for checking: its sentences, passages (a sentence and the next) and
    what it states."""

    text: str
    sentences: tuple[str, ...]
    windows: tuple[frozenset[str], ...]
    window_mentions: tuple[tuple[Quantity, ...], ...]
    words: frozenset[str]
    quantities: tuple[Quantity, ...]
    entities: frozenset[str]  # the entities it names, as space-joined terms


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
    ends, sent_words, sent_mentions = analyse(full)
    starts = [0, *ends[:-1]]
    texts = tuple(full[a:b].strip() for a, b in zip(starts, ends, strict=True))
    # Passage i = sentence i and the next; the headline stands alone, and so does the last sentence.
    nothing: frozenset[str] = frozenset()
    following = [*sent_words[1:], nothing]
    following_mentions = [*sent_mentions[1:], ()]
    if head:
        following[0], following_mentions[0] = nothing, ()
    windows = list(map(frozenset.union, sent_words, following))
    window_mentions = [a + b if b else a for a, b in zip(sent_mentions, following_mentions, strict=True)]
    words = frozenset().union(*sent_words) if sent_words else frozenset()
    named = frozenset(" ".join(sorted(w)) for e in entities(full[:2000]) if (w := term_set(e)))
    return Passages(
        full,
        texts,
        tuple(windows),
        tuple(window_mentions),
        words,
        tuple(m for ms in sent_mentions for m in ms),
        named,
    )


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


# ---------------------------------------------------------------- negation

_NEGATION = re.compile(
    r"\b(?:not|never|no|cannot|deny|denies|denied|denying)\b|n[\u2019']t\b",
    re.IGNORECASE,
)
_NEGATED_SPAN = 3  # a negation governs the next few content words: 'will not be buying Quuxly'


def negated_terms(sentence: str) -> frozenset[str]:
    """The content terms a negation governs in ``sentence`` ('Zorblax will not buy Quuxly' -> buy,
    quuxly)."""
    out: set[str] = set()
    for m in _NEGATION.finditer(sentence):
        out.update(terms(sentence[m.end() : m.end() + 60])[:_NEGATED_SPAN])
    return frozenset(out)


# ---------------------------------------------------------------- one claim against one article


@dataclass(frozen=True, slots=True)
class Assessment:
    """How one article stands on one claim, and how strongly it states it (0-1; for ranking)."""

    stance: Stance
    strength: float


@dataclass(frozen=True, slots=True)
class _Match:
    lexical: float  # the best passage's weighted word share
    window: int  # that passage
    semantic: float  # the best embedded sentence's cosine (0 without embeddings)
    sentence: int  # that sentence


def _best_window(claim: Claim, doc: Passages, weights: Mapping[str, float]) -> tuple[float, int, list[int]]:
    """The best passage's weighted share of the claim's words, its index, and the passages ranked."""
    total = sum(weights.get(w, 1.0) for w in claim.words) or 1.0
    scored = []
    for i, window in enumerate(doc.windows):
        hit = claim.words & window
        if hit:
            scored.append((sum(weights.get(w, 1.0) for w in hit) / total, i))
    if not scored:
        return 0.0, 0, []
    scored.sort(key=lambda s: (-s[0], s[1]))
    return scored[0][0], scored[0][1], [i for _, i in scored]


def _figure_conflict(claim: Claim, doc: Passages, where: Sequence[Quantity]) -> bool:
    """A claim figure the article never states, and in ``where`` another figure for the same thing."""
    for f in claim.figures:
        if any(agree(f.quantity, q) for q in doc.quantities):
            continue
        unit = f.quantity.unit if f.quantity.unit not in ("", "year") else None
        for g in where:
            # the same subject: words around both figures in common, or the same explicit unit ('$')
            if differ(f.quantity, g) and (g.unit == unit or f.context & context_of(doc.text, g)):
                return True
    return False


def _negation_conflict(claim: Claim, sentence: str) -> bool:
    """The sentence negates a word of the claim that the claim asserts ('will not buy' against
    'buys'). A negation elsewhere in a sentence about the claim ('the arrest will not affect his
    playing status') is not a denial of it."""
    if claim.negated:
        return False  # a negative claim ('no militants were inside') is paraphrased by 'denied', 'disputed'
    said = term_set(sentence)
    negated = negated_terms(sentence)
    entity_terms = frozenset().union(*claim.entity_words) if claim.entity_words else frozenset()
    shared = (claim.words & said) - entity_terms
    return any((w in negated) != (w in claim.negated) for w in shared)


def _stated(claim: Claim, doc: Passages) -> list[Figure]:
    return [f for f in claim.figures if any(agree(f.quantity, q) for q in doc.quantities)]


def decide(
    claim: Claim,
    doc: Passages,
    match: _Match,
    params: CorroborationParams,
    foreign: frozenset[str] = frozenset(),
    actors: Sequence[frozenset[str]] = (),
) -> Assessment:
    """The stance of ``doc`` on ``claim`` given the best lexical and semantic matches.

    ``foreign``: entities this article names whose words no other report of the story uses;
    ``actors``: the claim's entities most of the story's reports name (for the swapped-actor test)."""
    lex, sem = match.lexical, match.semantic
    strength = max(0.0, min(1.0, 0.5 * lex + 0.5 * sem if sem else lex))
    about = lex >= params.contradict_overlap or sem >= params.embed_about
    if not claim.words or not about:
        return Assessment(Stance.silent, strength)
    passage = doc.sentences[match.window] if match.window < len(doc.sentences) else ""
    best_sentence = doc.sentences[match.sentence] if match.sentence < len(doc.sentences) else passage
    if _figure_conflict(claim, doc, doc.window_mentions[match.window]) or (
        match.sentence != match.window and _figure_conflict(claim, doc, doc.window_mentions[match.sentence])
    ):
        return Assessment(Stance.contradicts, strength)
    if _negation_conflict(claim, passage) or (sem and _negation_conflict(claim, best_sentence)):
        return Assessment(Stance.contradicts, strength)
    missing = [a for a in actors if not (a & doc.words)]
    around = term_set(best_sentence) | term_set(passage)
    stranger = bool(missing) and any(set(e.split()) <= around for e in foreign)
    if stranger and (not sem or sem >= params.embed_about):
        rest = claim.words.difference(*missing)
        if rest and len(rest & around) >= params.swap_overlap * len(rest):
            return Assessment(Stance.contradicts, strength)
    stated = _stated(claim, doc)
    unstated = [f for f in claim.figures if f not in stated]
    disagrees = any(
        differ(f.quantity, q) and (f.quantity.unit or f.context & context_of(doc.text, q))
        for f in unstated
        for q in doc.quantities
    )
    if disagrees and not stated:
        # another figure for the same thing and the claim's own nowhere: not the same fact
        return Assessment(Stance.silent, strength * 0.5)
    named = sum(1 for e in claim.entity_words if 2 * len(e & doc.words) >= len(e))  # most of its words
    names_all = bool(claim.entity_words) and named == len(claim.entity_words)
    share = named / len(claim.entity_words) if claim.entity_words else 1.0
    names_enough = share >= params.entity_share
    figures_agree = bool(claim.figures) and len(stated) / len(claim.figures) >= params.figure_share
    figures_ok = not claim.figures or figures_agree or names_all
    strength *= 0.5 + 0.5 * share
    if not names_enough or not figures_ok or stranger:
        # or the story's actor is missing and a name no other report uses stands where it would
        return Assessment(Stance.silent, strength)
    if lex >= params.support_overlap or sem >= params.embed_support:
        return Assessment(Stance.supports, strength)
    if sem >= params.embed_about and lex >= params.embed_overlap:
        return Assessment(Stance.supports, strength)
    if lex >= params.paraphrase_overlap and names_all and (figures_agree or len(claim.entity_words) >= 2):
        # a paraphrase: other words, but the same actors and objects (and the same numbers, if any)
        return Assessment(Stance.supports, strength)
    return Assessment(Stance.silent, strength)


# ---------------------------------------------------------------- claims against a story's articles


class Checker:
    """Checks claims against articles with lexical and semantic evidence.

    Sentence vectors are computed in one batch per call and kept (least recently used evicted), so
    a story re-scored at its next version embeds only its new sentences. ``encoder=None`` loads the
    bundled all-MiniLM-L6-v2 on first use; ``encoder=False`` checks on words alone."""

    def __init__(
        self,
        params: CorroborationParams | None = None,
        encoder: TextEncoder | Literal[False] | None = None,
        capacity: int = 200_000,
    ) -> None:
        self.params = params or CorroborationParams()
        if encoder is None:
            from tellwell.common.embed import Encoder

            encoder = Encoder(max_seq_length=64)
        self.encoder: TextEncoder | None = encoder or None
        self.capacity = capacity
        self._embed = VectorCache(self._encode, capacity)

    def _encode(self, texts: list[str]) -> np.ndarray:
        assert self.encoder is not None
        return self.encoder.encode(texts)

    def assess(
        self,
        claims: Sequence[str | Claim],
        docs: Sequence[Passages],
        idf: Mapping[str, float] | None = None,
        params: CorroborationParams | None = None,
    ) -> list[list[Assessment]]:
        """``out[d][k]``: how article ``d`` stands on claim ``k``. The articles are taken as the
        reports of one story (for word weights and for who names which actor)."""
        p = params or self.params
        proper = proper_words([s for d in docs for s in d.sentences[:3]])
        parsed = [c if isinstance(c, Claim) else make_claim(c, proper) for c in claims]
        if idf is None:
            idf = idf_weights(docs, (w for c in parsed for w in c.words))
        ranked = [[_best_window(c, d, idf) for c in parsed] for d in docs]
        vectors: dict[str, np.ndarray] = {}
        if self.encoder is not None:
            wanted = [c.text for c in parsed]
            for d, row in zip(docs, ranked, strict=True):
                for _, _, order in row:
                    wanted += [d.sentences[i] for i in _candidates(order, d, p.embed_sentences)]
            vectors = self._embed(wanted)
        # which words the other reports use, and which actors most of them name: the swapped-actor test
        df: dict[str, int] = {}
        for d in docs:
            for w in d.words:
                df[w] = df.get(w, 0) + 1
        actors = [_actors(c, docs) for c in parsed]
        out: list[list[Assessment]] = []
        for d, row in zip(docs, ranked, strict=True):
            foreign = (
                frozenset(e for e in d.entities if all(df.get(w, 0) <= 1 for w in e.split()))
                if len(docs) > 2
                else frozenset()
            )
            line = []
            for c, claim_actors, (lex, window, order) in zip(parsed, actors, row, strict=True):
                sem, sentence = 0.0, window
                if vectors:
                    cv = vectors[c.text]
                    for i in _candidates(order, d, p.embed_sentences):
                        cos = float(vectors[d.sentences[i]] @ cv)
                        if cos > sem:
                            sem, sentence = cos, i
                line.append(decide(c, d, _Match(lex, window, sem, sentence), p, foreign, claim_actors))
            out.append(line)
        return out


def _candidates(order: Sequence[int], doc: Passages, k: int) -> list[int]:
    """The sentences to embed for one claim: the headline, then the best passages' sentences."""
    picked: list[int] = [0] if doc.sentences else []
    for i in order:
        for j in (i, i + 1):
            if j < len(doc.sentences) and j not in picked:
                picked.append(j)
        if len(picked) >= k:
            break
    return picked[:k]


def _actors(claim: Claim, docs: Sequence[Passages]) -> list[frozenset[str]]:
    """The claim's actors: its entities that most of the story's reports name."""
    return [e for e in claim.entity_words if 2 * sum(1 for d in docs if e & d.words) > len(docs)]


def stance(claim: Claim, doc: Passages, idf: Mapping[str, float], params: CorroborationParams) -> Stance:
    """Whether one article supports, contradicts or is silent on one claim, on words alone."""
    lex, window, _ = _best_window(claim, doc, idf)
    return decide(claim, doc, _Match(lex, window, 0.0, window), params).stance
