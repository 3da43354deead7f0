"""Cheap text features for corroboration: content terms, sentences, figures and named entities.

Pure and fast on purpose (the score service checks every claim against every independent report
of every story): regular expressions and a crude suffix stemmer, no models.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from tellwell.common.figures import Quantity, quantities
from tellwell.common.text import DERIVATIONS, ENGLISH_STOPWORDS, TermMap, suffix_stemmer

# Plain \w+ is twice as fast as a letters-only class; figures and '_' map to no term anyway.
_WORD = re.compile(r"\w+")
# A sentence ends at . ! ? before a capital or digit, but not after an initial ('U.S.', 'J.') or a
# short title ('Dr.', 'St.'). The lookbehinds come after the punctuation, so they are only tried
# where a sentence may end (at the pattern's start they would run at every character).
_SENTENCE_END = re.compile(
    r"[.!?](?<!\b[A-Z]\.)(?<!\b[A-Z][a-z]\.)[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])"
)
_CAPITALISED = re.compile(r"\b(?:(?:[A-Z]\.(?:[A-Z]\.)+|[A-Z][\w\u2019'&-]*\b)[ \t]?)+")

# Attribution, agency, title and date words on top of the English function words. Score's list never
# held five of those (aren cannot don isn let); they stay out, so its figures stay as measured.
STOPWORDS = (ENGLISH_STOPWORDS - {"aren", "cannot", "don", "isn", "let"}) | frozenset(
    """said says say according new news also one two told report reported reports reuters ap afp mr mrs ms dr
    week day today yesterday monday tuesday wednesday thursday friday saturday sunday""".split()
)

#: A crude English suffix stripper: enough to match 'strikes'/'struck' no, 'warnings'/'warning' yes.
stem = suffix_stemmer(DERIVATIONS)

# word -> its content term: tokenising is most of scoring's cost.
_TERMS = TermMap(STOPWORDS, stem)
_NOTHING = frozenset({""})


def terms(text: str) -> list[str]:
    """Content terms: lower-cased, stemmed words without stopwords; figures are left to ``figures``."""
    return [t for t in map(_TERMS.__getitem__, _WORD.findall(text.lower())) if t]


def term_set(text: str) -> frozenset[str]:
    """The set of ``terms(text)``, faster."""
    return frozenset(map(_TERMS.__getitem__, _WORD.findall(text.lower()))) - _NOTHING


def _abbreviation(text: str, end: int) -> bool:
    """Whether the '.' before ``end`` closes an initial ('U.S.', 'J.') or a short title ('Dr.')."""
    i = end - 2  # the character before the dot
    if i >= 0 and text[i].islower():
        i -= 1
    return i >= 0 and text[i].isupper() and (i == 0 or not text[i - 1].isalnum())


def sentence_ends(text: str) -> list[int]:
    """The end offset of every sentence of ``text`` (the last one is ``len(text)``)."""
    ends = [m.start() + 1 for m in _SENTENCE_END.finditer(text)]
    ends.append(len(text))
    return ends


def sentences(text: str) -> list[str]:
    """Split on sentence ends followed by a capital or digit (an abbreviation may split; harmless here)."""
    out, start = [], 0
    for end in sentence_ends(text):
        if piece := text[start:end].strip():
            out.append(piece)
        start = end
    return out


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure a text states, with the content words around it (its subject: 'killed', 'people')."""

    quantity: Quantity
    context: frozenset[str]

    @property
    def value(self) -> float:
        return self.quantity.value


def mentions(text: str) -> list[Quantity]:
    """The figures a text states ('1,200' -> 1200, '3.5 million' -> 3.5e6, '12%' -> 12), by
    ``tellwell.common.figures``: the one parser and agreement rule that summarize uses too."""
    return quantities(text)


def context_of(text: str, mention: Quantity) -> frozenset[str]:
    """The subject of a figure: the content words just around it ('killed 300 people' -> kill, people)."""
    # within its own sentence
    before = _WORD.findall(text[max(0, mention.start - 30) : mention.start].rsplit(". ", 1)[-1])[-2:]
    after = _WORD.findall(text[mention.end : mention.end + 30].split(". ", 1)[0])[:2]
    context = {_TERMS[w.lower()] for w in before + after} - _NOTHING
    if mention.unit == "percent":
        context.add("percent")  # a share compares with a share
    return frozenset(context)


def figures(text: str) -> list[Figure]:
    """The figures in a text with their contexts (for claims: short texts, checked many times)."""
    return [Figure(q, context_of(text, q)) for q in quantities(text)]


# Marks sentence ends inside one lower-cased string, so a whole text is tokenised by one regex call and
# its terms split back into sentences by str.join/str.split (C loops, no Python loop per token).
_MARK = "qqsentenceendqq"
_TERMS[_MARK] = "|"


def analyse(text: str) -> tuple[list[int], list[frozenset[str]], list[tuple[Quantity, ...]]]:
    """Sentence ends, and per sentence its content terms and number mentions (what ``term_set`` and
    ``mentions`` give sentence by sentence, at a fraction of the cost: the hot path of scoring)."""
    ends = sentence_ends(text)
    starts = [0, *ends[:-1]]
    marked = f" {_MARK} ".join([text[a:b] for a, b in zip(starts, ends, strict=True)]).lower()
    chunks = " ".join(map(_TERMS.__getitem__, _WORD.findall(marked))).split("|")
    words = [frozenset(chunk.split()) for chunk in chunks]
    found: list[list[Quantity]] = [[] for _ in ends]
    for m in mentions(text):
        found[bisect.bisect_right(ends, m.start)].append(m)
    return ends, words, [tuple(f) for f in found]


_TITLE_WORD = re.compile(r"\b[A-Za-z][a-z'\u2019]{3,}\b")


def title_case(text: str) -> bool:
    """A headline in Title Case ('Colorado Collects $2M In Pot Taxes'): its capitals say nothing."""
    words = _TITLE_WORD.findall(text)
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.6 * len(words)


def proper_words(texts: list[str]) -> frozenset[str]:
    """Words written capitalised inside a sentence-case sentence of ``texts`` (names, not starts)."""
    out: set[str] = set()
    for text in texts:
        for sentence in sentences(text):
            if title_case(sentence):
                continue
            for m in _CAPITALISED.finditer(sentence):
                if m.start() > 0:
                    out.update(w.strip(".\u2019'-&").lower() for w in m.group().split())
    return frozenset(out - STOPWORDS)


def entities(text: str, proper: frozenset[str] | None = None) -> list[str]:
    """Named entities, approximated by runs of capitalised words (lower-cased, stopwords dropped).

    A sentence's first word is capitalised anyway, so it only counts when it is an acronym ('NASA')
    or, given ``proper`` (words the story writes capitalised mid-sentence), a known name; in a Title
    Case text only such names and acronyms count.
    """
    found: list[str] = []
    titled = proper is not None and title_case(text)
    for match in _CAPITALISED.finditer(text):
        raw = match.group().split()
        before = text[: match.start()].rstrip()
        at_start = not before or (
            before[-1] in ".!?:\n" and not (before[-1] == "." and _abbreviation(before, len(before)))
        )
        if at_start and not (len(raw[0]) > 1 and raw[0].isupper()):
            if proper is None or raw[0].strip(".\u2019'-&").lower() not in proper:
                raw = raw[1:]
        words = [w.strip(".\u2019'-&").lower() for w in raw]
        if titled:
            assert proper is not None
            words = [
                w for w, r in zip(words, raw, strict=True) if w in proper or (len(r) > 1 and r.isupper())
            ]
        words = [w for w in words if w and w not in STOPWORDS]
        if words:
            entity = " ".join(words)
            if entity not in found:
                found.append(entity)
    return found
