"""The clusterer over a real Qdrant Edge index (HashEncoder; one class uses the real MiniLM)."""

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from tellwell.cluster.domain import Params
from tellwell.cluster.engine import ArticleIn, Clusterer
from tellwell.common.embed import Encoder, HashEncoder
from tellwell.common.vectors import EdgeIndex, Where
from tests.cluster.articles import OIL, PARAMS, PLANE, T0, article


@pytest.fixture
async def index(tmp_path):
    idx = EdgeIndex(tmp_path / "qdrant")
    yield idx
    await idx.close()


async def make(index, params: Params = PARAMS, collection: str = "stories") -> Clusterer:
    c = Clusterer(index, HashEncoder(256), params, collection=collection)
    await c.start()
    return c


class TestHashEncoder:
    def test_is_deterministic_and_normalised(self):
        enc = HashEncoder(64)
        a, b = enc.encode(["missing plane search", "missing plane search"])
        np.testing.assert_array_equal(a, b)
        assert np.linalg.norm(a) == pytest.approx(1.0)

    def test_shared_words_give_a_higher_cosine(self):
        a, b, c = HashEncoder(256).encode(["missing plane search", "plane search widens", "oil prices fall"])
        assert float(a @ b) > float(a @ c)


class TestAssign:
    async def test_same_event_joins_and_other_event_starts_a_story(self, index):
        c = await make(index)
        out = await c.assign(sorted(PLANE + OIL, key=lambda a: a.published_at))
        by = {a.article_id: a for a in out}
        assert by["p1"].created
        assert by["o1"].created
        assert {by[i].story_id for i in ("p1", "p2", "p3")} == {by["p1"].story_id}
        assert {by[i].story_id for i in ("o1", "o2")} == {by["o1"].story_id}
        assert by["p1"].story_id != by["o1"].story_id

    async def test_later_article_of_a_batch_joins_a_story_created_earlier_in_it(self, index):
        c = await make(index)
        first, second = await c.assign(PLANE[:2])
        assert first.created
        assert not second.created
        assert second.story_id == first.story_id
        assert second.score >= second.threshold

    async def test_assignment_explains_the_decision(self, index):
        c = await make(index)
        _, second = await c.assign(PLANE[:2])
        assert second.score == pytest.approx(sum(second.features.values()), abs=1e-5)
        assert second.threshold == PARAMS.join_threshold
        assert {"embedding", "lexical"} <= set(second.features)

    async def test_reassigning_an_article_returns_its_assignment_and_adds_nothing(self, index):
        c = await make(index)
        [first] = await c.assign(PLANE[:1])
        again = await c.assign([PLANE[0], PLANE[0]])
        assert again == [first, first]
        assert c.story(first.story_id).member_ids == ["p1"]
        assert c.story(first.story_id).version == 1

    async def test_copy_joins_its_origin_story_whatever_its_text(self, index):
        c = await make(index)
        [origin] = await c.assign(PLANE[:1])
        [copy] = await c.assign([article("c1", "Completely unrelated words here", minutes=1, copy_of="p1")])
        assert copy.story_id == origin.story_id
        assert not copy.created
        assert copy.features == {"copy": 1.0}

    async def test_copy_of_an_unknown_origin_is_clustered_normally(self, index):
        c = await make(index)
        [copy] = await c.assign([article("c1", "Oil prices fall", copy_of="never-seen")])
        assert copy.created

    async def test_other_language_never_joins(self, index):
        c = await make(index)
        first, other = await c.assign([PLANE[0], replace(PLANE[1], language="fr")])
        assert other.created
        assert other.story_id != first.story_id

    async def test_near_miss_is_kept_as_related(self, index):
        params = replace(PARAMS, join_threshold=0.95, related_band=0.9)
        c = await make(index, params)
        first, second = await c.assign(PLANE[:2])
        assert second.created
        assert [sid for sid, _ in second.related] == [first.story_id]
        assert first.story_id in c.story(second.story_id).related


class TestEvict:
    async def test_story_leaves_after_the_window(self, index):
        c = await make(index)
        [first] = await c.assign(PLANE[:1])
        assert c.evict(T0 + timedelta(hours=1)) == []
        assert c.evict(T0 + PARAMS.window + timedelta(minutes=1)) == [first.story_id]
        assert c.story_of("p1") is None
        assert await index.count("stories") == 1  # deleted at the next flush
        later = replace(PLANE[1], published_at=T0 + PARAMS.window + timedelta(minutes=2))
        [again] = await c.assign([later])
        assert again.created
        assert again.story_id != first.story_id
        assert await index.count("stories") == 1


class TestIndexOnDisk:
    async def test_reopened_index_keeps_filtering_by_language_and_time(self, tmp_path):
        """The index directory outlives a restart; its payload indexes are created again harmlessly."""
        first = EdgeIndex(tmp_path / "qdrant")
        c = await make(first)
        [plane, *_] = await c.assign([*PLANE[:2], OIL[0]])
        centroid = c.story(plane.story_id).centroid.tolist()
        await first.close()
        reopened = EdgeIndex(tmp_path / "qdrant")
        try:
            await make(reopened)  # ensure_collection on the existing shard
            since = (T0 - timedelta(hours=1)).timestamp()
            en = await reopened.search(
                "stories", centroid, where=Where({"lang": "en"}, {"last": (since, None)})
            )
            late = await reopened.search(
                "stories", centroid, where=Where({"lang": "en"}, {"last": (2e9, None)})
            )
            fr = await reopened.search(
                "stories", centroid, where=Where({"lang": "fr"}, {"last": (since, None)})
            )
            assert [h.id for h in en][:1] == [plane.story_id]
            assert len(en) == await reopened.count("stories") == 2
            assert late == fr == []
        finally:
            await reopened.close()


class TestSnapshot:
    async def test_restore_gives_the_same_decisions(self, tmp_path, index):
        a = await make(index)
        # Unrelated one-article stories first: document frequencies over 200 articles, as a running
        # service has, rather than over three (where every new article moves each IDF a lot).
        await a.assign([article(f"f{i}", f"w{i}a w{i}b w{i}c", minutes=-60 - i) for i in range(200)])
        await a.assign([PLANE[0], OIL[0], PLANE[1]])
        docs = [a.snapshot(sid) for sid in a.stories()] + [a.snapshot_stats()]
        other_index = EdgeIndex(tmp_path / "other")
        try:
            b = await make(other_index)
            b.restore(docs)
            assert b.story_of("p2") == a.story_of("p2")
            rest = [PLANE[2], OIL[1], article("n1", "Volcano erupts in Iceland", minutes=20)]
            after_restore, original = await b.assign(rest), await a.assign(rest)
            # Same decisions and contributions, the lexical one up to the IDF drift that a live story
            # vector caches between refreshes (0.017 here; 0.11 without the 200 articles before):
            # well below the join threshold, so the drift alone cannot turn a join into a new story.
            decisions = [(x.story_id, x.created) for x in original]
            assert [(x.story_id, x.created) for x in after_restore] == decisions
            for x, y in zip(after_restore, original, strict=True):
                assert {k: v for k, v in x.features.items() if k != "lexical"} == pytest.approx(
                    {k: v for k, v in y.features.items() if k != "lexical"}
                )
                lexical = x.features.get("lexical", 0.0)
                assert lexical == pytest.approx(y.features.get("lexical", 0.0), abs=PARAMS.join_threshold / 4)
        finally:
            await other_index.close()

    async def test_snapshot_is_plain_data(self, index):
        c = await make(index)
        [first] = await c.assign(PLANE[:1])
        doc = c.snapshot(first.story_id)
        assert isinstance(doc["centroid"], list)
        assert all(isinstance(x, float) for x in doc["centroid"])
        assert doc["member_ids"] == ["p1"]
        assert doc["first_published_at"] == T0.isoformat()


class TestMerge:
    async def test_grown_stories_that_agree_merge_into_the_older(self, index):
        # Only copies join (threshold 2); the merge rule then sees two 2-article stories on one event.
        params = replace(PARAMS, join_threshold=2.0, merge_threshold=0.5, merge_min_size=2)
        c = await make(index, params)
        out = await c.assign(
            [
                article("a1", "Malaysia Airlines plane missing over South China Sea", minutes=0),
                article("b1", "Malaysia Airlines plane missing over the South China Sea", minutes=1),
                article("a2", "x", minutes=2, copy_of="a1"),
                article("b2", "y", minutes=3, copy_of="b1"),
            ]
        )
        older, younger = out[0].story_id, out[1].story_id
        assert older != younger
        [merge] = c.take_merges()
        assert (merge.survivor, merge.absorbed) == (older, younger)
        assert merge.score >= params.merge_threshold
        assert c.take_merges() == []
        assert {c.story_of(a) for a in ("a1", "a2", "b1", "b2")} == {older}
        assert c.story(younger).story_id == older
        assert sorted(c.story(older).member_ids) == ["a1", "a2", "b1", "b2"]
        assert await index.count("stories") == 1

    async def test_unrelated_stories_do_not_merge(self, index):
        params = replace(PARAMS, join_threshold=2.0, merge_min_size=2)
        c = await make(index, params)
        await c.assign(
            [
                PLANE[0],
                OIL[0],
                article("a2", "x", minutes=4, copy_of="p1"),
                article("b2", "y", minutes=5, copy_of="o1"),
            ]
        )
        assert c.take_merges() == []


class TestAbsorbSmall:
    # Articles never join a one-article story here (singleton_delta), so the first plane article
    # stays alone while the second one's story grows by copies; the re-check then absorbs it.
    PARAMS = replace(PARAMS, singleton_delta=5.0, absorb_max_size=1)

    def batch(self) -> list[ArticleIn]:
        second = "Malaysia Airlines plane missing: search over South China Sea"
        return [
            article("p1", "Malaysia Airlines plane missing over South China Sea", minutes=0),
            OIL[0],
            article("p2", second, minutes=5),
            article("p3", second, minutes=6, copy_of="p2"),
            article("p4", second, minutes=7, copy_of="p2"),
        ]

    async def test_a_lone_article_joins_the_story_that_grew_after_it(self, index):
        c = await make(index, self.PARAMS)
        out = await c.assign(self.batch())
        lone, grown = out[0].story_id, out[2].story_id
        assert lone != grown
        [merge] = c.take_merges()
        # Into the older story, as every merge: the lone article came first.
        assert (merge.survivor, merge.absorbed) == (lone, grown)
        assert {c.story_of(a) for a in ("p1", "p2", "p3", "p4")} == {lone}
        assert c.story_of(OIL[0].article_id) != lone
        assert await index.count("stories") == 2

    async def test_switched_off_it_stays_alone(self, index):
        c = await make(index, replace(self.PARAMS, absorb_max_size=0))
        out = await c.assign(self.batch())
        assert c.take_merges() == []
        assert c.story_of("p1") == out[0].story_id != out[2].story_id


class TestRealEncoder:
    async def test_real_headlines_group_by_event(self, index):
        c = Clusterer(index, Encoder(), PARAMS)
        await c.start()
        heads = [
            "Public satellites search for missing plane",
            "Fed's Yellen says rates to stay low for some time",
            "US-based satellite imaging company crowdsources search for missing MH370 plane",
            "Yellen: Fed to keep rates low as economy recovers",
            "Help locate the missing Malaysia Airlines plane using the wisdom of crowds",
        ]
        out = await c.assign([article(f"u{i}", h, minutes=i) for i, h in enumerate(heads)])
        plane = {out[i].story_id for i in (0, 2, 4)}
        fed = {out[i].story_id for i in (1, 3)}
        assert len(plane) == 1
        assert len(fed) == 1
        assert plane != fed
