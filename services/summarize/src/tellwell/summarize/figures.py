"""Figures in sentences ("12 people were killed", "$1.8 billion", "40%") and their disagreements.

A figure is a value with the words that say what it counts (the *key*): in "at least 12 people
were killed" the value is 12 and the key is ``kill`` (generic nouns such as "people" are dropped
so that "12 killed" and "12 people killed" meet). Two sources disagree when they give different
values for the same key. Years, dates, times and ordinals are not figures. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tellwell.summarize.text import STOPWORDS, stem

_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
}  # fmt: skip
_SCALE = {"thousand": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "b": 1e9,
          "trillion": 1e12, "tn": 1e12}  # fmt: skip
_CURRENCY = {"$": "usd", "us$": "usd", "€": "eur", "£": "gbp", "¥": "jpy"}
_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_GENERIC = {"people", "person", "persons", "others", "more", "least", "about", "around", "nearly",
            "almost", "some", "over", "than", "up", "total", "estimated", "roughly", "approximately",
            "another", "additional", "further", "only", "just", "were", "was", "have", "been", "had",
            "are", "being", "who", "which", "that", "those", "of", "the", "a", "an"}  # fmt: skip

_FIGURE = re.compile(
    r"(?P<cur>US\$|\$|€|£|¥)?\s?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|bn|mn|tn|m|b)\b)?"
    r"(?P<pct>\s?%|\s?percent\b|\s?per cent\b)?"
    r"|\b(?P<word>" + "|".join(_NUMBER_WORDS) + r")\b",
    re.IGNORECASE,
)
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
        if w in _MONTHS and not words:
            return ""  # "3 March": a date
        if w in _GENERIC or w in STOPWORDS:
            if words:
                break
            continue
        words.append(stem(w))
        if len(words) == 1:
            break
    return " ".join(words)


def figures(sentence: str) -> list[Figure]:
    """The figures a sentence states, each with its key; years, dates and times are skipped."""
    out: list[Figure] = []
    if _YEAR.search(sentence):
        return out
    for m in _FIGURE.finditer(sentence):
        before = sentence[max(0, m.start() - 12) : m.start()].lower()
        after = sentence[m.end() : m.end() + 60]
        if m.group("word"):
            value = float(_NUMBER_WORDS[m.group("word").lower()])
            prefix = ""
        else:
            raw = m.group("num").replace(",", "")
            value = float(raw)
            if m.group("scale"):
                value *= _SCALE[m.group("scale").lower()]
            if (
                not m.group("cur")
                and not m.group("pct")
                and not m.group("scale")
                and "." not in raw
                and 1900 <= value <= 2100
            ):
                continue  # a year
            if re.match(r"\s*(?:a\.m|p\.m|am\b|pm\b|:\d)", after, re.IGNORECASE) or re.search(
                r"(?:" + "|".join(_MONTHS) + r")\.?\s*$", before
            ):
                continue  # a time or a date
            if re.match(r"(?:st|nd|rd|th)\b", after):
                continue  # an ordinal
            prefix = _CURRENCY.get((m.group("cur") or "").lower(), "")
            if m.group("pct"):
                prefix = "percent"
        casualty = "" if prefix else _casualty(sentence[max(0, m.start() - 40) : m.start()], after)
        key = casualty or _key_after(after)
        if not key:
            continue  # "$1.8 billion" or "40%" alone: what it measures is unknown, so no comparison
        if prefix:
            key = f"{prefix} {key}"
        out.append(Figure(key=key, value=value, text=m.group(0).strip()))
    return out


def values_differ(a: float, b: float) -> bool:
    """Different figures, not roundings of one another: '$179 billion' and '$179.2 bln' agree,
    12 and 15 do not (more than 2% apart)."""
    return abs(a - b) > 0.02 * max(abs(a), abs(b), 1e-9)
