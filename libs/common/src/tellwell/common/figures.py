"""Figures stated in text ("$2.1 million", "1.8B", "9bn", "40%", "1,200") and when two are one.

One rule for every service that compares figures (score's corroboration, summarize's What's
missing): a figure agrees with another within the precision it is stated in. "$2 million" is a
rounding of "$2.1 million" (it stands for anything from 1.5 to 2.5 million), so the two agree;
"$2 million" and "$3.5 million" do not. Rounding never stretches further than ``ROUNDING_CAP`` of
the larger value, so a change of 30 % or more is always a different figure, however coarsely
either is written. Units must match for a comparison: dollars with dollars, a percentage with a
percentage; a bare number ("9 billion") compares with an amount in any currency. Years are
figures of their own kind (``unit == "year"``), compared only with years, and exactly.

Example::

    >>> a, b = quantities("collected $2 million"), quantities("took in $2.1M")
    >>> agree(a[0], b[0])
    True
    >>> differ(quantities("$2 million")[0], quantities("$3.5 million")[0])
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUNDING_CAP = 0.2  # a rounding is never taken to hide more than 20 % of the larger value
EXACT = 0.02  # values within 2 % agree whatever their precision ('$179 billion' / '$179.2 bln')

_SCALE = {
    "thousand": 1e3, "k": 1e3, "million": 1e6, "mln": 1e6, "mn": 1e6, "m": 1e6,
    "billion": 1e9, "bln": 1e9, "bn": 1e9, "b": 1e9, "trillion": 1e12, "tn": 1e12, "tr": 1e12,
}  # fmt: skip
_CURRENCY_SIGN = {"$": "usd", "us$": "usd", "usd": "usd", "€": "eur", "eur": "eur", "£": "gbp", "gbp": "gbp",
                  "¥": "jpy"}  # fmt: skip
_CURRENCY_WORD = {"dollar": "usd", "dollars": "usd", "euro": "eur", "euros": "eur", "pound": "gbp",
                  "pounds": "gbp", "yen": "jpy"}  # fmt: skip
NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
}  # fmt: skip
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)

_QUANTITY = re.compile(
    r"(?P<cur>US\$|\$|€|£|¥|\b(?:USD|EUR|GBP)\s?)?"
    r"(?<![\w.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<scale>thousand|trillion|billion|million|bln|mln|bn|mn|tn|tr|k|m|b)\b)?"
    r"(?P<pct>\s?%|\s?percent\b|\s?per\s?cent\b)?"
    r"(?:\s(?P<curword>dollars?|euros?|pounds|yen)\b)?"
    r"(?![A-Za-z0-9])"  # '500L' and 'MH370' are names, not figures
    r"|\b(?P<word>" + "|".join(NUMBER_WORDS) + r")\b",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")
_NUMBER_WORD = re.compile(r"\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)
_NOT_A_FIGURE_AFTER = re.compile(r"(?:st|nd|rd|th)\b|:\d|\s?(?:a\.m|p\.m|am\b|pm\b)", re.IGNORECASE)
_DATE_BEFORE = re.compile(r"\b(?:" + _MONTHS + r")\.?\s*$", re.IGNORECASE)
_DATE_AFTER = re.compile(r"\s+(?:" + _MONTHS + r")\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Quantity:
    """One figure as a text states it: its value, its unit and how precisely it was written."""

    value: float
    unit: str  # 'usd', 'eur', 'gbp', 'jpy', 'percent', 'year', or '' for a plain count
    tolerance: float  # half a unit of the last significant digit written ('2 million': 500,000)
    start: int
    end: int
    text: str


def _tolerance(digits: str, scale: float) -> float:
    if "." in digits:
        return 0.5 * 10.0 ** -len(digits.split(".", 1)[1]) * scale
    stripped = digits.rstrip("0")
    zeros = len(digits) - len(stripped) if stripped else 0
    return 0.5 * 10.0**zeros * scale


def quantities(text: str, *, years: bool = True) -> list[Quantity]:
    """The figures of ``text`` in order; dates ('3 March'), times ('10 a.m.') and ordinals are not
    figures; a year (1900-2100 written alone) is one of unit 'year' unless ``years`` is false."""
    out: list[Quantity] = []
    if not _DIGIT.search(text) and not _NUMBER_WORD.search(text):
        return out  # most sentences state no figure: skip the costly pattern
    for m in _QUANTITY.finditer(text):
        if word := m.group("word"):
            value = float(NUMBER_WORDS[word.lower()])
            out.append(Quantity(value, "", 0.5, m.start(), m.end(), m.group(0)))
            continue
        digits = m.group("num").replace(",", "")
        scale_word = (m.group("scale") or "").lower()
        scale = _SCALE.get(scale_word, 1.0)
        value = float(digits) * scale
        after = text[m.end() : m.end() + 8]
        before = text[max(0, m.start() - 12) : m.start()]
        if (
            not scale_word
            and not m.group("pct")
            and (_NOT_A_FIGURE_AFTER.match(after) or _DATE_BEFORE.search(before))
        ):
            continue  # an ordinal, a time or a date
        if not scale_word and not m.group("pct") and not m.group("cur") and _DATE_AFTER.match(after):
            if float(digits) <= 31:
                continue  # '3 March'
        cur = (m.group("cur") or "").strip().lower()
        unit = _CURRENCY_SIGN.get(cur, "") or _CURRENCY_WORD.get((m.group("curword") or "").lower(), "")
        if m.group("pct"):
            unit = "percent"
        elif (
            not unit and not scale_word and "." not in digits and "," not in digits and 1900 <= value <= 2100
        ):
            if not years:
                continue
            unit = "year"
        tolerance = 0.0 if unit == "year" else _tolerance(digits, scale)
        out.append(Quantity(value, unit, tolerance, m.start(), m.end(), m.group(0).strip()))
    return out


def comparable(a: Quantity, b: Quantity) -> bool:
    """Whether the two can be the same figure at all: the same unit, or a bare count beside an
    amount of money (the currency is often named once and left out after)."""
    if a.unit == b.unit:
        return True
    money = {"usd", "eur", "gbp", "jpy"}
    return (a.unit == "" and b.unit in money) or (b.unit == "" and a.unit in money)


def close(a: float, b: float, tolerance: float = 0.0) -> bool:
    """Equal within the tolerance of the coarser writing, capped at ``ROUNDING_CAP``, or within 2 %."""
    top = max(abs(a), abs(b))
    gap = abs(a - b)
    return gap <= EXACT * top or gap <= min(tolerance, ROUNDING_CAP * top)


def agree(a: Quantity, b: Quantity) -> bool:
    """The same figure, written with the same or another precision: '$2 million' ~ '$2.1M'."""
    return comparable(a, b) and close(a.value, b.value, max(a.tolerance, b.tolerance))


def differ(a: Quantity, b: Quantity) -> bool:
    """Clearly different figures of one kind: '$2 million' against '$3.5 million' (not a rounding)."""
    return comparable(a, b) and not close(a.value, b.value, max(a.tolerance, b.tolerance))
