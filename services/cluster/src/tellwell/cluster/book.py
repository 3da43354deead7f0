"""The book: what the clusterer holds in memory between batches, changed only by ``commit``.

It holds the live stories, which story each article is in (with the why of the decision), where an
absorbed story went, the cached story vectors, and the running word statistics. ``decide_batch``
reads it; ``commit`` applies a stored decision in one step; ``evict`` drops the stories that left the
active window; ``load`` builds it from stored story states and statistics.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

from tellwell.cluster.batch import ArticleIn, Assignment, BatchDecision, StoryVector, utc
from tellwell.cluster.domain import Params, StoryState
from tellwell.cluster.features import DocFreq

_BOOKS = itertools.count(1)
#: The word statistics are pruned of rare terms beyond this many (bounded memory on long runs).
MAX_DF_TERMS = 200_000


class StaleDecision(RuntimeError):
    """A decision committed to a book that changed since it was decided."""


@dataclass
class Book:
    """The live stories and statistics; see the module docstring."""

    params: Params
    df: DocFreq = field(default_factory=DocFreq)
    stories: dict[str, StoryState] = field(default_factory=dict)
    article_story: dict[str, str] = field(default_factory=dict)
    assignments: dict[str, Assignment] = field(default_factory=dict)
    redirect: dict[str, str] = field(default_factory=dict)  # absorbed story -> survivor
    story_vectors: dict[str, StoryVector] = field(default_factory=dict)
    generation: int = 0  # one more with every change: a decision applies to the book it was made on
    token: int = field(default_factory=lambda: next(_BOOKS))  # which book (a loaded one is another)

    @property
    def basis(self) -> tuple[int, int]:
        return self.token, self.generation

    # ------------------------------------------------------------------ queries

    def resolve(self, story_id: str) -> str:
        seen = 0
        while story_id in self.redirect and seen < 64:
            story_id = self.redirect[story_id]
            seen += 1
        return story_id

    def story(self, story_id: str) -> StoryState:
        return self.stories[self.resolve(story_id)]

    def story_of(self, article_id: str) -> str | None:
        sid = self.article_story.get(article_id)
        return self.resolve(sid) if sid is not None else None

    def unassigned(self, articles: Iterable[ArticleIn]) -> list[ArticleIn]:
        """The articles not in a story yet, each once, in order."""
        seen: set[str] = set()
        out: list[ArticleIn] = []
        for a in articles:
            if a.article_id not in self.article_story and a.article_id not in seen:
                seen.add(a.article_id)
                out.append(a)
        return out

    def assignment(self, article_id: str) -> Assignment:
        """The decision that put an assigned article in its story (its story now, after merges)."""
        sid = self.story_of(article_id)
        if sid is None:
            raise KeyError(article_id)
        known = self.assignments.get(article_id)
        if known is None:  # loaded from a stored state: the decision's evidence is not kept
            return Assignment(article_id, sid, False, 1.0, self.params.join_threshold, {"known": 1.0}, [])
        return known if known.story_id == sid else replace(known, story_id=sid)

    def stats_after(self, decision: BatchDecision) -> DocFreq:
        """The word statistics as ``commit(decision)`` leaves them (the book's are not changed)."""
        after = DocFreq(self.df.n_docs, Counter(self.df.df))
        _apply_stats(after, decision.stats)
        return after

    # ------------------------------------------------------------------ changes

    def commit(self, decision: BatchDecision) -> None:
        """Apply a decision (once it is stored): every map of the book in one step.

        Raises ``StaleDecision`` for a decision made on another state of the book (one committed
        already, or decided before an eviction): the book is then left as it is."""
        if decision.basis != self.basis:
            raise StaleDecision(f"decided on book {decision.basis}, this one is {self.basis}")
        self.generation += 1
        for sid in decision.removed:
            self.stories.pop(sid, None)
        self.stories.update(decision.stories)  # a story kept its place; new ones come last, in order
        self.article_story.update(decision.article_story)
        self.assignments.update((a.article_id, a) for a in decision.assignments)
        self.redirect.update(decision.redirect)
        for sid, vector in decision.story_vectors.items():
            if vector is None:
                self.story_vectors.pop(sid, None)
            else:
                self.story_vectors[sid] = vector
        _apply_stats(self.df, decision.stats)

    def evict(self, now: datetime) -> list[str]:
        """Drop the stories whose last article is older than the window; returns their ids."""
        horizon = utc(now) - self.params.window
        old = [sid for sid, s in self.stories.items() if s.last_published_at < horizon]
        if old:
            self.generation += 1
        for sid in old:
            story = self.stories.pop(sid)
            for aid in story.member_ids:
                self.article_story.pop(aid, None)
                self.assignments.pop(aid, None)
            self.story_vectors.pop(sid, None)
        if old:
            gone = set(old)
            self.redirect = {k: v for k, v in self.redirect.items() if self.resolve(v) not in gone}
            for s in self.stories.values():
                for sid in gone & set(s.related):
                    del s.related[sid]
        return old

    @classmethod
    def load(
        cls,
        params: Params,
        states: Iterable[Mapping[str, Any]],
        stats: Mapping[str, Any] | None = None,
        stats_changes: Iterable[Mapping[str, Any]] = (),
    ) -> Book:
        """A book of stored story states (``story_doc``), the whole word statistics (``DocFreq``
        snapshot form) and the statistics' changes stored after it, in order.

        Without the whole statistics, document frequencies are rebuilt from the stories' terms.
        """
        book = cls(params)
        for doc in states:
            story = story_from_doc(doc)
            book.stories[story.story_id] = story
            for aid in story.member_ids:
                book.article_story[aid] = story.story_id
        if stats is not None:
            book.df = DocFreq.restore(stats)
        else:
            for story in book.stories.values():
                book.df.n_docs += story.size
                for t, c in list(story.terms.items()) + list(story.entities.items()):
                    book.df.df[t] += min(c, story.size)
        for changes in stats_changes:
            book.df.apply(changes)
        return book


def _apply_stats(df: DocFreq, changes: Mapping[str, Any]) -> None:
    df.apply(changes)
    if len(df.df) > MAX_DF_TERMS:
        df.prune(2)


def story_doc(s: StoryState) -> dict[str, Any]:
    """A JSON/BSON-friendly document of one story's state (``story_from_doc`` reads it back)."""
    total = float(np.linalg.norm(s.vector_sum))
    return {
        "_id": s.story_id,
        "story_id": s.story_id,
        "language": s.language,
        "centroid": [float(x) for x in s.centroid],
        "centroid_norm": total,  # |sum of member vectors|: centroid * norm restores the sum
        "member_ids": list(s.member_ids),
        "terms": [[t, c] for t, c in s.terms.items()],
        "entities": [[t, c] for t, c in s.entities.items()],
        "sources": [[t, c] for t, c in s.sources.items()],
        "first_published_at": s.first_published_at.isoformat(),
        "last_published_at": s.last_published_at.isoformat(),
        "version": s.version,
        "related": [[r, float(v)] for r, v in s.related.items()],
        "tokens": s.tokens,
    }


def story_from_doc(doc: Mapping[str, Any]) -> StoryState:
    centroid = np.asarray(doc["centroid"], dtype=np.float32)
    return StoryState(
        story_id=str(doc["story_id"]),
        language=str(doc["language"]),
        vector_sum=centroid * np.float32(doc.get("centroid_norm", 1.0)),
        first_published_at=utc(doc["first_published_at"]),
        last_published_at=utc(doc["last_published_at"]),
        member_ids=[str(m) for m in doc["member_ids"]],
        terms=_counter(doc.get("terms", [])),
        entities=_counter(doc.get("entities", [])),
        sources=_counter(doc.get("sources", [])),
        version=int(doc.get("version", 0)),
        related={str(r): float(v) for r, v in doc.get("related", [])},
        tokens=int(doc.get("tokens", 0)),
    )


def _counter(pairs: Iterable[Sequence[Any]]) -> Counter[str]:
    return Counter({str(k): int(v) for k, v in pairs})
