"""Cheap text features for corroboration: content terms, sentences, figures and named entities.

Pure and fast on purpose (the score service checks every claim against every independent report
of every story): regular expressions and a crude suffix stemmer, no models.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*|\d+(?:[.,]\d+)*", re.UNICODE)
# A sentence ends at . ! ? before a capital or digit, but not after an initial ('U.S.', 'J.') or a
# short title ('Dr.', 'St.').
_SENTENCE_END = re.compile(
    r"(?<!\b[A-Z]\.)(?<!\b[A-Z][a-z]\.)(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])"
)
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*(%|per\s?cent|percent))?", re.I)
_DIGIT = re.compile(r"\d")
_CAPITALISED = re.compile(r"\b(?:(?:[A-Z]\.(?:[A-Z]\.)+|[A-Z][\w\u2019'&-]*\b)[ \t]?)+")

# Multipliers written after a figure ("3.5 million", "$2bn").
_SCALE = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9}

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves said says say according new news also one two told report
    reported reports reuters ap afp mr mrs ms dr week day today yesterday monday tuesday wednesday
    thursday friday saturday sunday""".split()
)


@functools.lru_cache(maxsize=200_000)  # news vocabulary repeats: most calls are hits
def stem(word: str) -> str:
    """A crude English suffix stripper: enough to match 'strikes'/'struck' no, 'warnings'/'warning' yes."""
    for suffix in ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
    return word


def terms(text: str) -> list[str]:
    """Content terms: lower-cased, stemmed words without stopwords; figures are left to ``figures``."""
    return [
        stem(w)
        for w in _WORD.findall(text.lower())
        if len(w) > 1 and w not in STOPWORDS and not w[0].isdigit()
    ]


def sentences(text: str) -> list[str]:
    """Split on sentence ends followed by a capital or digit (abbreviations may split; harmless here)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


@dataclass(frozen=True, slots=True)
class Figure:
    """A number a text states, with the content words around it (its subject: 'killed', 'people')."""

    value: float
    context: frozenset[str]


def figures(text: str) -> list[Figure]:
    """The figures in a text: '1,200' -> 1200, '3.5 million' -> 3.5e6, '12%' -> 12 (context '%')."""
    out: list[Figure] = []
    if not _DIGIT.search(text):  # most sentences state no figure: skip the costly pattern
        return out
    for match in _NUMBER.finditer(text):
        raw = match.group(1).replace(",", "")
        try:
            value = float(raw)
        except ValueError:
            continue
        # The words around it, within its own sentence.
        before = text[max(0, match.start() - 40) : match.start()].rsplit(". ", 1)[-1]
        after = text[match.end() : match.end() + 40].split(". ", 1)[0]
        after_words = _WORD.findall(after.lower())
        if after_words and after_words[0] in _SCALE:
            value *= _SCALE[after_words[0]]
            after_words = after_words[1:]
        context = [w for w in _WORD.findall(before.lower())[-2:] + after_words[:2] if not w[0].isdigit()]
        ctx = {stem(w) for w in context if w not in STOPWORDS}
        if match.group(2):
            ctx.add("%")
        out.append(Figure(value=value, context=frozenset(ctx)))
    return out


def entities(text: str) -> list[str]:
    """Named entities, approximated by runs of capitalised words (lower-cased, stopwords dropped).

    A sentence's first word is capitalised anyway, so it only counts when it is an acronym ('NASA').
    """
    found: list[str] = []
    for match in _CAPITALISED.finditer(text):
        raw = match.group().split()
        at_start = match.start() == 0 or text[: match.start()].rstrip()[-1:] in {".", "!", "?", ":", "\n", ""}
        if at_start and not (len(raw[0]) > 1 and raw[0].isupper()):
            raw = raw[1:]
        words = [w.strip(".\u2019'-&").lower() for w in raw]
        words = [w for w in words if w and w not in STOPWORDS]
        if words:
            entity = " ".join(words)
            if entity not in found:
                found.append(entity)
    return found
