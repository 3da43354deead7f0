"""The batch decision, pure: ``decide_batch`` reads the book and never writes it; ``Book.commit``
applies a decision in one step. No index, no store (candidates are given as the index would)."""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from tellwell.cluster.batch import (
    ArticleIn,
    BatchDecision,
    DraftStats,
    IndexChanges,
    decide_batch,
    new_story_id,
)
from tellwell.cluster.book import Book, StaleDecision, story_doc
from tellwell.cluster.domain import Params
from tellwell.cluster.features import DocFreq
from tellwell.common.embed import HashEncoder
from tellwell.common.events import ChangeKind
from tellwell.common.vectors import VectorPoint
from tests.cluster.articles import OIL, PARAMS, PLANE, T0, article

ENCODER = HashEncoder(256)


def decide(
    book: Book, articles: list[ArticleIn], params: Params = PARAMS, hits: dict[str, list[str]] | None = None
) -> BatchDecision:
    """As the clusterer does, with every live story a candidate (the index's answer, unfiltered)."""
    vectors = {
        a.article_id: v for a, v in zip(articles, ENCODER.encode([a.title for a in articles]), strict=True)
    }
    candidates = hits if hits is not None else {a.article_id: list(book.stories) for a in articles}
    return decide_batch(book, articles, vectors, candidates, params, now=T0)


def image(book: Book) -> dict[str, Any]:
    """Everything the book holds, as plain data."""
    return {
        "stories": {sid: story_doc(s) for sid, s in book.stories.items()},
        "order": list(book.stories),
        "df": book.df.snapshot(),
        "article_story": dict(book.article_story),
        "assignments": dict(book.assignments),
        "redirect": dict(book.redirect),
        "vectors": {
            sid: (v.size, v.epoch, v.n_terms, dict(v.vec), v.norm2) for sid, v in book.story_vectors.items()
        },
    }


def committed(*batches: list[ArticleIn], params: Params = PARAMS) -> Book:
    book = Book(params)
    for batch in batches:
        book.commit(decide(book, batch, params))
    return book


def outcome(d: BatchDecision) -> Any:
    """A decision without its timestamps and event ids."""
    return (
        d.assignments,
        d.known,
        d.merges,
        [(c.story_id, c.version, c.kind, c.added, c.merged_from, c.merged_into) for c in d.changes],
        [(e.story_id, e.version, e.member_ids, e.related) for e in d.events],
        d.stats,
        sorted(d.index.upserts),
        sorted(d.index.deletes),
    )


class TestDecideBatch:
    def test_leaves_the_book_untouched(self):
        book = committed([PLANE[0], OIL[0]])
        before = image(book)
        decision = decide(book, [PLANE[1], OIL[1], PLANE[2]])
        assert decision.changes
        assert image(book) == before

    def test_the_same_book_and_batch_decide_the_same(self):
        book = committed([PLANE[0], OIL[0]])
        batch = [PLANE[1], OIL[1], PLANE[2]]
        assert outcome(decide(book, batch)) == outcome(decide(book, batch))

    def test_commit_applies_it_and_the_story_version_is_the_event_version(self):
        book = committed(PLANE[:1])
        decision = decide(book, PLANE[1:])
        book.commit(decision)
        sid = new_story_id("p1")
        assert book.story(sid).member_ids == ["p1", "p2", "p3"]
        assert {book.story_of(a.article_id) for a in PLANE} == {sid}
        [change] = decision.changes
        assert (change.kind, change.version, change.added) == (ChangeKind.grew, 2, ["p2", "p3"])
        assert book.story(sid).version == change.event.version == 2  # one counter

    def test_a_burst_into_one_story_is_one_versioned_change(self):
        decision = decide(Book(PARAMS), PLANE)
        [change] = decision.changes
        assert (change.story_id, change.kind, change.version) == (new_story_id("p1"), ChangeKind.created, 1)
        assert change.added == change.event.added_ids == ["p1", "p2", "p3"]
        assert list(decision.index.upserts) == [change.story_id]

    def test_a_redelivered_batch_decides_nothing_new(self):
        batch = [PLANE[0], OIL[0], PLANE[1]]
        book = committed(batch)
        first = {a.article_id: a for a in book.assignments.values()}
        again = decide(book, batch, hits={})  # known articles need neither vectors nor candidates
        assert (again.assignments, again.changes, again.merges) == ([], [], [])
        assert again.known == [first[a.article_id] for a in batch]
        assert again.stats["n_docs"] == 0
        assert not again.index

    def test_an_article_repeated_in_the_batch_is_decided_once(self):
        decision = decide(Book(PARAMS), [PLANE[0], PLANE[0]])
        assert [a.article_id for a in decision.assignments] == ["p1"]
        assert decision.changes[0].added == ["p1"]

    def test_statistics_delta_is_what_commit_adds(self):
        book = committed([PLANE[0], OIL[0]])
        decision = decide(book, PLANE[1:])
        assert decision.stats["n_docs"] == 2
        after = book.stats_after(decision)
        assert book.df.n_docs == 2  # stats_after does not change the book
        book.commit(decision)
        assert book.df == after
        assert book.df.n_docs == 4

    def test_the_draft_statistics_give_the_idf_of_the_committed_ones(self):
        book = committed([PLANE[0], OIL[0]])
        decision = decide(book, [PLANE[1]])
        after = book.stats_after(decision)
        draft = DraftStats(book.df)
        draft.apply(decision.stats)
        for term in ["plane", "oil", "search", "never-seen"]:
            assert draft.idf(term) == after.idf(term)

    def test_a_hit_on_a_story_the_book_does_not_hold_is_skipped(self):
        book = committed(PLANE[:1])
        decision = decide(book, [PLANE[1]], hits={"p2": ["st_gone", new_story_id("p1")]})
        assert decision.assignments[0].story_id == new_story_id("p1")

    def test_a_merge_is_decided_with_its_versions_and_index_changes(self):
        # Only copies join (threshold 2); the merge rule then sees two 2-article stories on one event.
        params = replace(PARAMS, join_threshold=2.0, merge_threshold=0.5, merge_min_size=2)
        book = committed(
            [
                article("a1", "Malaysia Airlines plane missing over South China Sea", minutes=0),
                article("b1", "Malaysia Airlines plane missing over the South China Sea", minutes=1),
            ],
            params=params,
        )
        older, younger = new_story_id("a1"), new_story_id("b1")
        before = image(book)
        decision = decide(
            book,
            [article("a2", "x", minutes=2, copy_of="a1"), article("b2", "y", minutes=3, copy_of="b1")],
            params,
        )
        assert image(book) == before
        [merge] = decision.merges
        assert (merge.survivor, merge.absorbed) == (older, younger)
        by_story = {c.story_id: c for c in decision.changes}
        assert (by_story[older].kind, by_story[older].version, by_story[older].merged_from) == (
            ChangeKind.merged,
            2,
            [younger],
        )
        assert (by_story[younger].merged_into, by_story[younger].version, by_story[younger].state) == (
            older,
            2,
            None,
        )
        assert sorted(by_story[younger].event.member_ids) == ["a1", "a2", "b1", "b2"]
        assert (list(decision.index.upserts), decision.index.deletes) == ([older], {younger})

        book.commit(decision)
        assert list(book.stories) == [older]
        assert {book.story_of(a) for a in ("a1", "a2", "b1", "b2")} == {older}
        assert book.story(younger).story_id == older
        assert book.assignment("b2").story_id == older


class TestBookLoad:
    def test_a_loaded_book_decides_as_the_one_it_was_stored_from(self):
        book = committed([PLANE[0], OIL[0], PLANE[1]])
        loaded = Book.load(PARAMS, [story_doc(s) for s in book.stories.values()], book.df.snapshot())
        assert [story_doc(s) for s in loaded.stories.values()] == [
            story_doc(s) for s in book.stories.values()
        ]
        assert loaded.df == book.df
        rest = [PLANE[2], OIL[1]]
        assert [(a.story_id, a.created) for a in decide(loaded, rest).assignments] == [
            (a.story_id, a.created) for a in decide(book, rest).assignments
        ]

    def test_statistics_of_the_previous_shape_load(self):
        book = committed([PLANE[0], OIL[0]])
        legacy = {"_id": "doc_freq", "kind": "doc_freq", **book.df.snapshot()}
        loaded = Book.load(PARAMS, [], legacy, [{"n_docs": 1, "df": [["plane", 1]]}])
        assert loaded.df.n_docs == book.df.n_docs + 1
        assert loaded.df.df["plane"] == book.df.df["plane"] + 1


class TestIndexChanges:
    def test_a_later_change_wins(self):
        point = VectorPoint("s1", [1.0, 0.0])
        assert IndexChanges({"s1": point}).then(IndexChanges(deletes={"s1"})) == IndexChanges({}, {"s1"})
        assert IndexChanges(deletes={"s1"}).then(IndexChanges({"s1": point})) == IndexChanges(
            {"s1": point}, set()
        )
        assert not IndexChanges()


class TestDocFreqIsNotWrittenByTheDraft:
    def test_observing_in_a_draft_leaves_the_base(self):
        base = DocFreq()
        base.observe(["plane", "search"])
        draft = DraftStats(base)
        draft.observe(["plane"])
        assert (base.n_docs, base.df["plane"]) == (1, 1)
        assert (draft.total_docs, draft.delta()) == (2, {"n_docs": 1, "df": [["plane", 1]]})
        assert draft.idf("plane") == pytest.approx(np.log((2 - 2 + 0.5) / 2.5 + 1.0))


class TestCommit:
    def test_a_decision_applies_once_and_only_to_the_book_it_was_made_on(self):
        book = committed(PLANE[:1])
        decision = decide(book, PLANE[1:2])
        book.commit(decision)
        before = image(book)
        with pytest.raises(StaleDecision):
            book.commit(decision)
        assert image(book) == before

    def test_an_eviction_between_decide_and_commit_is_refused(self):
        book = committed(PLANE[:1])
        decision = decide(book, OIL[:1])
        assert book.evict(T0 + PARAMS.window + timedelta(hours=1)) == [new_story_id("p1")]
        with pytest.raises(StaleDecision):
            book.commit(decision)

    def test_a_decision_does_not_apply_to_another_book(self):
        book = committed(PLANE[:1])
        decision = decide(book, PLANE[1:2])
        with pytest.raises(StaleDecision):
            Book(PARAMS).commit(decision)
