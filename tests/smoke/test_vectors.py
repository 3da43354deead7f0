"""A vector round-trips through both adapters of the vector-index port."""

import pytest
from qdrant_client import AsyncQdrantClient

from tellwell.common.vectors import EdgeIndex, QdrantServerIndex, VectorPoint, Where


@pytest.fixture(params=["edge", "qdrant-client"])
async def index(request, tmp_path):
    if request.param == "edge":
        idx = EdgeIndex(tmp_path / "edge")
    else:
        idx = QdrantServerIndex(AsyncQdrantClient(location=":memory:"))
    await idx.ensure_collection("stories", dim=3)
    yield idx
    await idx.close()


POINTS = [
    VectorPoint("story-en-new", [1.0, 0.0, 0.0], {"lang": "en", "t": 100.0}),
    VectorPoint("story-en-old", [0.9, 0.1, 0.0], {"lang": "en", "t": 10.0}),
    VectorPoint("story-fr-new", [1.0, 0.0, 0.1], {"lang": "fr", "t": 100.0}),
    VectorPoint("story-en-far", [0.0, 1.0, 0.0], {"lang": "en", "t": 100.0}),
]


class TestVectorIndex:
    async def test_nearest_first_with_payload_and_caller_ids(self, index):
        await index.upsert("stories", POINTS)

        hits = await index.search("stories", [1.0, 0.0, 0.0], limit=4)

        assert [h.id for h in hits][:1] == ["story-en-new"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert hits[0].payload == {"lang": "en", "t": 100.0}
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    async def test_filter_by_language_and_time_window(self, index):
        await index.upsert("stories", POINTS)

        hits = await index.search(
            "stories",
            [1.0, 0.0, 0.0],
            limit=10,
            where=Where(equals={"lang": "en"}, ranges={"t": (50.0, None)}),
        )

        assert [h.id for h in hits] == ["story-en-new", "story-en-far"]

    async def test_upsert_replaces_get_and_delete(self, index):
        await index.upsert("stories", POINTS)
        await index.upsert(
            "stories", [VectorPoint("story-en-new", [0.0, 0.0, 1.0], {"lang": "en", "t": 200.0})]
        )

        assert await index.count("stories") == 4
        [got] = await index.get("stories", ["story-en-new"])
        assert got.payload["t"] == 200.0

        await index.delete("stories", ["story-en-new", "story-fr-new"])
        assert await index.count("stories") == 2
        assert await index.get("stories", ["story-en-new"]) == []

    async def test_search_many_answers_each_query_as_search_does(self, index):
        await index.ensure_collection("stories", dim=3, indexed={"lang": "keyword", "t": "float"})
        await index.upsert("stories", POINTS)
        queries = [
            ([1.0, 0.0, 0.0], Where(equals={"lang": "en"}, ranges={"t": (50.0, None)})),
            ([0.0, 1.0, 0.0], None),
            ([1.0, 0.0, 0.1], Where(equals={"lang": "fr"})),
            ([1.0, 0.0, 0.0], Where(equals={"lang": "de"})),
        ]

        many = await index.search_many("stories", queries, limit=2)

        assert many == [await index.search("stories", v, limit=2, where=w) for v, w in queries]
        assert [h.id for h in many[0]] == ["story-en-new", "story-en-far"]
        assert many[3] == []
        assert await index.search_many("stories", [], limit=2) == []


class TestEdgePersistence:
    async def test_points_survive_close_and_reopen(self, tmp_path):
        first = EdgeIndex(tmp_path)
        await first.ensure_collection("articles", dim=3)
        await first.upsert("articles", POINTS)
        await first.close()

        second = EdgeIndex(tmp_path)
        await second.ensure_collection("articles", dim=3)
        try:
            assert await second.count("articles") == len(POINTS)
            hits = await second.search("articles", [0.0, 1.0, 0.0], limit=1)
            assert hits[0].id == "story-en-far"
        finally:
            await second.close()
