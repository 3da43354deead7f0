"""Words for the word-based rules of cluster, summarize and score: one stop list, one suffix
stripper and one tokeniser, each service choosing its own parameters (the words it adds to the stop
list, its suffix rules). Figures are ``tellwell.common.figures``.

Example::

    stem = suffix_stemmer(PLURALS)
    word_tokens("Stocks fall as companies' profits slow", ENGLISH_STOPWORDS, stem)
    # ['stock', 'fall', 'company', 'profit', 'slow']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

#: English function words (the usual stop list); every service adds its own headline filler.
ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been before
    being below between both but by can cannot could did do does doing don down during each few for
    from further had has have having he her here hers herself him himself his how i if in into is isn
    it its itself just let me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves
    """.split()
)

#: What is left of contractions once a tokeniser splits at the apostrophe ("isn't" -> "isn", "t").
CONTRACTION_PARTS = frozenset("s t ll re ve d m".split())


@dataclass(frozen=True, slots=True)
class Suffix:
    """Strip ``end`` (and append ``replacement``) from a word longer than ``longer_than`` characters
    that does not end with one of ``unless``."""

    end: str
    longer_than: int
    replacement: str = ""
    unless: tuple[str, ...] = ()

    def applies(self, word: str) -> bool:
        return len(word) > self.longer_than and word.endswith(self.end) and not word.endswith(self.unless)


#: Plurals only: 'stocks' -> 'stock', 'companies' -> 'company' (cluster: a story's words).
PLURALS = (Suffix("ies", 4, "y"), Suffix("s", 3, unless=("ss", "us", "is", "'s")))

#: Plurals and the regular past and progressive: 'killed', 'kills', 'killing' -> 'kill' (summarize).
PLURALS_AND_VERBS = (
    Suffix("ies", 4, "y"),
    Suffix("ing", 5),
    Suffix("ed", 4),
    Suffix("s", 3, unless=("ss", "us", "is")),
)


def _keep_three(end: str, replacement: str = "") -> Suffix:
    return Suffix(end, len(end) + 2, replacement)


#: A crude suffix stripper that leaves at least three letters: 'warnings' -> 'warn' (score).
DERIVATIONS = tuple(
    _keep_three(end, "y" if end in ("ies", "ied") else "")
    for end in ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "ly", "s")
)


def suffix_stemmer(rules: Iterable[Suffix], cache_size: int = 200_000) -> Callable[[str], str]:
    """A stemmer applying the first rule that applies (news vocabulary repeats: it is cached)."""
    ordered = tuple(rules)

    @lru_cache(maxsize=cache_size)
    def stem(word: str) -> str:
        for rule in ordered:
            if rule.applies(word):
                return word[: -len(rule.end)] + rule.replacement
        return word

    return stem


# A word, with one apostrophe part ("company's", "don't"); curly apostrophes count as straight ones.
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?", re.UNICODE)


def word_tokens(text: str, stopwords: frozenset[str], stem: Callable[[str], str]) -> list[str]:
    """Lower-cased, stemmed words without stopwords, a possessive 's dropped; numbers are kept,
    other one-character words dropped."""
    out: list[str] = []
    for raw in _WORD.findall(text.lower().replace("\u2019", "'")):
        token = raw[:-2] if raw.endswith("'s") else raw
        if token in stopwords or (len(token) < 2 and not token.isdigit()):
            continue
        out.append(stem(token))
    return out


class TermMap(dict[str, str]):
    """word -> its content term ('' for stopwords, figures and single letters), filled on first
    sight: a plain dict lookup per token, for tokenisers that split at every non-word character
    (score's, the hottest loop of scoring). Bounded: hostile text cannot grow it forever."""

    def __init__(
        self, stopwords: frozenset[str], stem: Callable[[str], str], capacity: int = 500_000
    ) -> None:
        super().__init__()
        self.stopwords = stopwords
        self.stem = stem
        self.capacity = capacity

    def __missing__(self, word: str) -> str:
        # 'mh370' and 'g7' are names; '2026' and the parts of '7.1' are figures, left to the figures
        term = "" if len(word) < 2 or word in self.stopwords or word.isdigit() else self.stem(word)
        if len(self) < self.capacity:
            self[word] = term
        return term


__all__ = [
    "CONTRACTION_PARTS",
    "DERIVATIONS",
    "ENGLISH_STOPWORDS",
    "PLURALS",
    "PLURALS_AND_VERBS",
    "Suffix",
    "TermMap",
    "suffix_stemmer",
    "word_tokens",
]
