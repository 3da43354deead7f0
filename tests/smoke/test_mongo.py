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
