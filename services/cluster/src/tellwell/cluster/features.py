"""Pure lexical features of an article: tokens, running document frequencies, entities.

Nothing here does I/O. ``DocFreq`` is the only state: it counts, as the stream flows, how many
articles contain each term, so IDF weights adapt to the current news (a word that every article
of the day uses stops counting as evidence).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tellwell.common.text import ENGLISH_STOPWORDS, PLURALS, suffix_stemmer, word_tokens

# Headline filler that says nothing about the event, and the articles of the Romance languages the
# streams mix in, on top of the English function words.
STOPWORDS = ENGLISH_STOPWORDS | frozenset(
    "says said say new news via amid s t ll re ve d m vs de la le el y o un une des et en du".split()
)

_CASED_WORD = re.compile(r"[^\W_][\w'\u2019&.-]*", re.UNICODE)
_ELLIPSIS = re.compile(r"\s*(\.\.\.|…)\s*$")
_NOT_WORDISH = re.compile(r"[.'\u2019&-]+$")

#: A deliberately light English plural folding: 'stocks' -> 'stock', 'companies' -> 'company'.
stem = suffix_stemmer(PLURALS)


def clean(text: str) -> str:
    """Drop a trailing ellipsis (feeds truncate headlines) and surrounding whitespace."""
    return _ELLIPSIS.sub("", text.strip())


def tokenize(text: str) -> list[str]:
    """Lower-cased, stop-worded, lightly stemmed word tokens (numbers kept, 1-letter words dropped)."""
    return word_tokens(text, STOPWORDS, stem)


def _is_title_case(words: list[str]) -> bool:
    content = [w for w in words if w[:1].isalpha() and w.lower() not in STOPWORDS and len(w) > 3]
    if len(content) < 3:
        return False
    capitalised = sum(1 for w in content if w[:1].isupper())
    return capitalised >= 0.7 * len(content)


def _is_acronym_or_code(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    has_digit = any(c.isdigit() for c in word)
    return (len(letters) >= 2 and all(c.isupper() for c in letters)) or (has_digit and bool(letters))


def extract_entities(text: str) -> list[str]:
    """Names, acronyms, codes and numbers, lower-cased and stemmed like tokens.

    In running text a capitalised word that does not start a sentence is taken as (part of) a name.
    Headlines in Title Case capitalise everything, so there only acronyms (``NASA``), codes
    (``MH370``) and numbers count. Lower-cased input yields numbers only.
    """
    words = [_NOT_WORDISH.sub("", w) for w in _CASED_WORD.findall(text)]
    words = [w for w in words if w]
    title_case = _is_title_case(words)
    out: list[str] = []
    sentence_start = True
    for raw in _CASED_WORD.findall(text):
        word = _NOT_WORDISH.sub("", raw)
        ends_sentence = raw.endswith((".", "!", "?")) and not _is_acronym_or_code(word)
        if not word:
            sentence_start = ends_sentence
            continue
        key = word.lower().replace("\u2019", "'")
        if key.endswith("'s"):
            key = key[:-2]
        if word.isdigit():
            if len(word) >= 2:
                out.append(word)
        elif _is_acronym_or_code(word):
            out.append(stem(key.replace(".", "")))
        elif (
            not title_case
            and not sentence_start
            and word[:1].isupper()
            and key not in STOPWORDS
            and len(key) > 1
        ):
            out.append(stem(key))
        sentence_start = ends_sentence
    return out


@dataclass
class DocFreq:
    """Running document frequencies over the articles seen so far; smoothed IDF.

    What was observed since the last ``take_changes`` is kept apart too, so a store can keep the
    statistics as a full ``snapshot`` now and then plus small changes in between (``apply``)."""

    n_docs: int = 0
    df: Counter[str] = field(default_factory=Counter)
    _new_docs: int = field(default=0, repr=False, compare=False)
    _new_df: Counter[str] = field(default_factory=Counter, repr=False, compare=False)

    def observe(self, terms: Iterable[str]) -> None:
        distinct = set(terms)
        self.n_docs += 1
        self.df.update(distinct)
        self._new_docs += 1
        self._new_df.update(distinct)

    def take_changes(self) -> dict[str, Any]:
        """What was observed since the last call, in ``snapshot`` form (``apply`` adds it)."""
        changes = {"n_docs": self._new_docs, "df": [[t, c] for t, c in self._new_df.items()]}
        self._new_docs, self._new_df = 0, Counter()
        return changes

    def apply(self, changes: Mapping[str, Any]) -> None:
        self.n_docs += int(changes["n_docs"])
        self.df.update({str(t): int(c) for t, c in changes["df"]})

    def idf(self, term: str) -> float:
        # BM25-style smoothing, floored so that very common terms still weigh a little.
        n, d = self.n_docs, self.df.get(term, 0)
        return max(math.log((n - d + 0.5) / (d + 0.5) + 1.0), 0.05)

    def snapshot(self) -> dict[str, Any]:
        return {"n_docs": self.n_docs, "df": [[t, c] for t, c in self.df.items()]}

    @classmethod
    def restore(cls, doc: Mapping[str, Any]) -> DocFreq:
        return cls(int(doc["n_docs"]), Counter({str(t): int(c) for t, c in doc["df"]}))

    def prune(self, min_count: int = 2) -> int:
        """Forget terms seen fewer than ``min_count`` times (bounded memory on long runs)."""
        rare = [t for t, c in self.df.items() if c < min_count]
        for t in rare:
            del self.df[t]
        return len(rare)


@dataclass(frozen=True)
class ArticleFeatures:
    """Lexical features of one article: term counts and entity counts."""

    terms: Counter[str]
    entities: Counter[str]
    length: int  # number of tokens

    @classmethod
    def of(
        cls, title: str, body: str = "", *, title_weight: int = 2, max_body_tokens: int = 120
    ) -> ArticleFeatures:
        """Title tokens count ``title_weight`` times: a headline names the event; bodies wander."""
        title = clean(title)
        title_tokens = tokenize(title)
        body_tokens = tokenize(body)[:max_body_tokens] if body else []
        terms: Counter[str] = Counter()
        for t in title_tokens:
            terms[t] += title_weight
        terms.update(body_tokens)
        entities = Counter(extract_entities(title))
        if body:
            entities.update(extract_entities(body[:1000]))
        return cls(terms, entities, len(title_tokens) + len(body_tokens))


def term_weight(count: float, idf: float, sublinear: bool = True) -> float:
    """TF-IDF weight of one term: (1 + log tf) * idf when ``sublinear``, else tf * idf."""
    if count <= 0:
        return 0.0
    return (1.0 + math.log(count)) * idf if sublinear else count * idf


def weighted(counts: Mapping[str, float], df: DocFreq, *, sublinear: bool = True) -> dict[str, float]:
    """TF-IDF weights of a bag of terms (see ``term_weight``)."""
    return {t: term_weight(c, df.idf(t), sublinear) for t, c in counts.items() if c > 0}


def norm(vector: Mapping[str, float]) -> float:
    return math.sqrt(sum(v * v for v in vector.values()))


def cosine(a: Mapping[str, float], b: Mapping[str, float], b_norm: float | None = None) -> float:
    """Cosine of two sparse vectors (iterates over the smaller one)."""
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    dot = sum(v * large[t] for t, v in small.items() if t in large)
    if dot <= 0.0:
        return 0.0
    nb = b_norm if b_norm is not None else norm(b)
    na = norm(a)
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def coverage(article: Mapping[str, float], story: Mapping[str, float], df: DocFreq) -> float:
    """IDF-weighted share of the article's entities that the story already mentions (0..1)."""
    total = 0.0
    hit = 0.0
    for e in article:
        w = df.idf(e)
        total += w
        if story.get(e, 0.0) > 0:
            hit += w
    return hit / total if total > 0 else 0.0
