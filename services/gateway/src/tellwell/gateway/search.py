"""Text search, defined once for both ways of answering the feed (the store's filter and the
replica's in-memory index): which stories a ``q`` matches, and how ``sort=relevance`` ranks them.

* **Words** are ``tellwell.common.views.search_words``: runs of letters and digits, case-folded,
  accents removed. A story's words are those of its title, its summary and its entities; the set
  of distinct ones is stored with the view as ``search_terms``.
* **Match**: every word of ``q`` is a prefix of at least one of the story's words (``q=elect``
  finds "elections"). In the store that is one ``{"search_terms": {"$regex": "^word"}}`` per word.
* **Rank** (``sort=relevance`` only; it never changes *which* stories match): BM25 (k1 = 1.2,
  b = 0.75, Lucene's idf), each query word scored as one term whose occurrences in a story are all
  its words that start with it, its document frequency the live stories it matches. Title words
  count twice (``story_words``). Ties go to the greater story id, as in every feed order.

Pure: no I/O. The in-memory index (``memory.ReadModel``) computes the same quantities
incrementally; the store path computes them from documents; both call ``bm25``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tellwell.common.views import story_words

K1 = 1.2
B = 0.75
MAX_TF = 65535  # term frequencies are held as uint16

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StoryText:
    """What search knows of one story: how often each of its distinct words occurs, and its length."""

    tf: dict[str, int]
    length: int


def story_text(doc: Mapping[str, Any]) -> StoryText:
    """The searchable words of a ``story_views`` document (card fields suffice).

    The stored ``search_terms`` decide what matches (the store filters on them); a document written
    before they existed gets them from its title, summary and entities, as score would write them.
    """
    words = story_words(doc.get("title") or "", doc.get("summary_text") or "", doc.get("entities") or ())
    counts = Counter(words)
    stored = doc.get("search_terms")
    terms = counts.keys() if stored is None else [t for t in stored if isinstance(t, str) and t]
    length = doc.get("search_length")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0:
        length = len(words)
    return StoryText({t: min(MAX_TF, max(1, counts.get(t, 0))) for t in terms}, length)


def prefix_end(word: str) -> str:
    """The smallest string after every string that starts with ``word`` (for a sorted-range scan)."""
    return word[:-1] + chr(ord(word[-1]) + 1)


def prefix_tf(text: StoryText, word: str) -> int:
    """How often a query word occurs in a story: the occurrences of its words that start with it."""
    return sum(n for term, n in text.tf.items() if term.startswith(word))


def store_pattern(word: str) -> dict[str, str]:
    """The store's filter value for one query word (``search_terms`` holds the story's words)."""
    return {"$regex": "^" + re.escape(word)}


def idf(df: int, n: int) -> float:
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def bm25(
    tfs: Sequence[FloatArray], lengths: FloatArray, dfs: Sequence[int], n: int, total_length: int
) -> FloatArray:
    """Scores of some stories: ``tfs[i]`` holds query word i's frequency in each, ``lengths`` their
    lengths; ``dfs[i]`` is the number of the ``n`` live stories word i matches, ``total_length`` the
    sum of their lengths. One function for both paths, so that equal inputs give equal floats."""
    avg = total_length / n if n and total_length else 1.0
    norm = K1 * (1.0 - B + B * lengths / avg)
    scores = np.zeros(len(lengths), dtype=np.float64)
    for tf, df in zip(tfs, dfs, strict=True):
        scores += idf(df, n) * (tf * (K1 + 1.0)) / (tf + norm)
    return scores
