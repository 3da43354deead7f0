"""Figures in sentences ("12 people were killed", "$1.8 billion", "40%") and what they count.

The number itself (value, unit, the precision it is written in) and whether two agree is
``tellwell.common.figures``, the rule score uses too: "$2 million" and "$2.1 million" agree, "$2
million" and "$3.5 million" do not. What this module adds is what a figure counts, twice:

* the *key*, for grouping (stems, never shown): in "at least 12 people were killed" the key is
  ``dead`` (casualty words), else the next content word with the currency or percent unit
  ("usd tax"); generic nouns such as "people" are dropped so that "12 killed" and "12 people
  killed" meet;
* the *subject*, for readers: the sentence's own words around the figure, in their casing, with
  the figure cut out ("Colorado collects … in January pot sales tax").

Years, dates, times and ordinals are not figures. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tellwell.common.figures import Quantity, quantities
from tellwell.summarize.text import STOPWORDS, stem

_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_GENERIC = {"people", "person", "persons", "others", "more", "least", "about", "around", "nearly",
            "almost", "some", "over", "than", "up", "total", "estimated", "roughly", "approximately",
            "another", "additional", "further", "only", "just", "were", "was", "have", "been", "had",
            "are", "being", "who", "which", "that", "those", "of", "the", "a", "an"}  # fmt: skip

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
# Casualty words name the quantity wherever they stand near the number ("killing 12", "12 died").
_CASUALTY = {
    "killed": "dead", "kill": "dead", "killing": "dead", "dead": "dead", "died": "dead", "deaths": "dead",
    "death": "dead", "fatalities": "dead", "lives": "dead", "injured": "injured", "wounded": "injured",
    "hurt": "injured", "injuring": "injured", "injuries": "injured", "missing": "missing",
    "arrested": "arrested", "evacuated": "evacuated", "displaced": "displaced",
}  # fmt: skip
# A sentence about another year is background ("in 2010, 500 died"), not this story's figure.
_YEAR = re.compile(r"\b(?:in|since|of|from)\s+(?:19|20)\d\d\b")


@dataclass(frozen=True)
class Figure:
    """One quantity stated in a sentence."""

    key: str
    value: float
    text: str
    quantity: Quantity | None = None
    subject: str = ""


def _casualty(before: str, after: str) -> str:
    tail = [w.lower() for w in _WORD.findall(after)][:4]
    for w in tail:
        if w in _CASUALTY:
            return _CASUALTY[w]
    head = [w.lower() for w in _WORD.findall(before)][-4:]
    for w in reversed(head):
        if w in _CASUALTY:
            return _CASUALTY[w]
    return ""


def _key_after(tail: str) -> str:
    words: list[str] = []
    for raw in _WORD.findall(tail[:60]):
        w = raw.lower()
        if w in _GENERIC or w in STOPWORDS or w in _MONTHS:  # "3 March" is no figure (common.figures)
            if words:
                break
            continue
        words.append(stem(w))
        if len(words) == 1:
            break
    return " ".join(words)


_CLAUSE_END = re.compile(r"\s[-\u2013\u2014|]\s|[;:()\[\]!?]|,\s|\.(?:\s|$)")
_QUALIFIER = re.compile(
    r"(?:\b(?:at least|at most|more than|less than|fewer than|up to|about|around|nearly|almost|"
    r"roughly|approximately|some|over|under|only|just|an estimated|estimated|a total of)\s*)+$",
    re.IGNORECASE,
)
_CREDIT = re.compile(r"\s*\((?:video|photos?|watch|update[d]?|live)\)\s*$", re.IGNORECASE)
SUBJECT_WORDS = 7  # words kept on each side of the figure


def subject(sentence: str, start: int, end: int) -> str:
    """What a figure counts, in the sentence's own words: its clause around the figure, the figure
    and its qualifier ("at least") cut out and marked "…" ("Colorado collects … in January pot
    sales tax"); empty when the clause has no word beside the figure."""
    left = sentence[:start]
    right = sentence[end:]
    cut = [m.end() for m in _CLAUSE_END.finditer(left)]
    left = left[cut[-1] :] if cut else left
    stop = _CLAUSE_END.search(right)
    right = right[: stop.start()] if stop else right
    left = _QUALIFIER.sub("", left.rstrip()).rstrip()
    before = left.split()[-SUBJECT_WORDS:]
    after = _CREDIT.sub("", right).split()[:SUBJECT_WORDS]
    while after and after[-1].lower().strip("'\u2019") in STOPWORDS:
        after.pop()  # "… in taxes in" ends on a word, not a preposition
    if not any(w[:1].isalpha() for w in before + after):
        return ""
    text = " ".join([*before, "…", *after]) if before and after else " ".join(before or after)
    return text.strip(" ,.-\u2013\u2014'\"")


def _label(q: Quantity) -> str:
    if q.unit == "percent":
        return "percent"
    return q.unit if q.unit in {"usd", "eur", "gbp", "jpy"} else ""


def figures(sentence: str) -> list[Figure]:
    """The figures a sentence states, each with its key and subject; years, dates and times are
    skipped."""
    out: list[Figure] = []
    if _YEAR.search(sentence):
        return out
    for q in quantities(sentence, years=False):
        after = sentence[q.end : q.end + 60]
        prefix = _label(q)
        casualty = "" if prefix else _casualty(sentence[max(0, q.start - 40) : q.start], after)
        key = casualty or _key_after(after)
        if not key:
            continue  # "$1.8 billion" or "40%" alone: what it measures is unknown, so no comparison
        if prefix:
            key = f"{prefix} {key}"
        out.append(Figure(key, q.value, q.text, q, subject(sentence, q.start, q.end)))
    return out
