"""A document round-trips through the real MongoDB-wire server with PyMongo's async client."""

from datetime import UTC, datetime

import pytest
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

pytestmark = pytest.mark.mongo


class TestMongoWire:
    async def test_document_round_trip(self, mongo_db):
        published = datetime(2026, 3, 2, 2, 28, 29, 286000, tzinfo=UTC)
        doc = {
            "_id": "a1",
            "title": "Café — “quotes”",
            "published_at": published,
            "authors": ["A", "B"],
            "n": 3,
        }
        await mongo_db.articles.insert_one(doc)

        found = await mongo_db.articles.find_one({"_id": "a1"})

        assert found == doc
        assert found["published_at"].tzinfo is not None

    async def test_upsert_is_idempotent(self, mongo_db):
        for _ in range(3):
            await mongo_db.articles.update_one({"_id": "a1"}, {"$set": {"title": "t"}}, upsert=True)

        assert await mongo_db.articles.count_documents({}) == 1

    async def test_unique_index_is_enforced(self, mongo_db):
        await mongo_db.articles.create_index([("fingerprint", ASCENDING)], unique=True, name="fp_unique")
        await mongo_db.articles.insert_one({"_id": "a1", "fingerprint": "ff00"})

        with pytest.raises(DuplicateKeyError):
            await mongo_db.articles.insert_one({"_id": "a2", "fingerprint": "ff00"})
        names = [ix["name"] async for ix in await mongo_db.articles.list_indexes()]
        assert "fp_unique" in names

    async def test_aggregation_groups_and_sorts(self, mongo_db):
        await mongo_db.articles.insert_many(
            [{"_id": f"a{i}", "story": "s1" if i < 3 else "s2", "source": f"x{i % 2}.com"} for i in range(5)]
        )

        pipeline = [
            {"$match": {"source": {"$ne": "nobody.com"}}},
            {"$group": {"_id": "$story", "articles": {"$sum": 1}}},
            {"$sort": {"articles": DESCENDING}},
        ]
        rows = [row async for row in await mongo_db.articles.aggregate(pipeline)]

        assert rows == [{"_id": "s1", "articles": 3}, {"_id": "s2", "articles": 2}]


class TestLocalFerretDB:
    """The local stack's FerretDB is built with two fixes (deploy/local/ferretdb.sh); without them
    every read, update and delete by `_id` scanned the whole table, which made the pipeline crawl."""

    @pytest.fixture(autouse=True)
    async def ferretdb(self, mongo_db):
        info = await mongo_db.command("buildInfo")
        if "ferretdbVersion" not in info:  # a real MongoDB uses its _id index without help
            pytest.skip("the store is not FerretDB: these fixes are specific to the local build")

    @pytest.mark.parametrize("extra", [{}, {"version": 2}], ids=["id-alone", "id-and-condition"])
    async def test_a_lookup_by_id_searches_the_index(self, mongo_db, extra):
        await mongo_db.views.insert_many([{"_id": f"s{i}", "version": i} for i in range(20)])

        plan = await mongo_db.command("explain", {"find": "views", "filter": {"_id": "s2", **extra}})

        assert plan["filterPushdown"] is True
        assert "USING INDEX" in " ".join(plan["queryPlanner"]["Plan"]), plan["queryPlanner"]
        assert await mongo_db.views.find_one({"_id": "s2", **extra}) == {"_id": "s2", "version": 2}

    async def test_a_conditional_replace_still_checks_its_condition(self, mongo_db):
        await mongo_db.views.insert_one({"_id": "s1", "version": 1})

        stale = await mongo_db.views.replace_one({"_id": "s1", "version": 0}, {"version": 9})
        fresh = await mongo_db.views.replace_one({"_id": "s1", "version": 1}, {"version": 2})

        assert (stale.matched_count, fresh.matched_count) == (0, 1)
        assert await mongo_db.views.find_one({"_id": "s1"}) == {"_id": "s1", "version": 2}
