"""Ingestor on the real document store: dedupe, copies, sources, and the outbox."""

from datetime import UTC, datetime, timedelta

import pytest

from tellwell.common.events import Lean
from tellwell.ingest import repository as repo
from tellwell.ingest.domain import ArticleIn, prepare
from tellwell.ingest.pipeline import CopyIndex, Ingestor
from tests.ingest.test_identity import OTHER, REPRINT, WIRE

pytestmark = pytest.mark.mongo

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def article(url: str, text: str = "", minutes: int = 0, **extra) -> object:
    item = ArticleIn(
        url=url, title=f"Title of {url}", text=text, published_at=NOW + timedelta(minutes=minutes), **extra
    )
    return prepare(item, now=NOW, content_source="push")


class Recorder:
    def __init__(self) -> None:
        self.events = []
        self.fail = False

    async def __call__(self, events) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.events += events


@pytest.fixture
def published() -> Recorder:
    return Recorder()


@pytest.fixture
def ingestor(mongo_db, published) -> Ingestor:
    return Ingestor(mongo_db, published)


class TestDedupe:
    async def test_same_article_seen_twice_is_stored_and_emitted_once(self, ingestor, published, mongo_db):
        first = await ingestor.ingest([article("https://news.example.com/a?utm_source=x")])
        again = await ingestor.ingest(
            [article("https://news.example.com/a"), article("https://news.example.com/a")]
        )

        assert len(first.created) == 1
        assert again.created == []
        assert again.duplicates == [first.created[0], first.created[0]]
        assert await mongo_db.articles.count_documents({}) == 1
        assert [e.article_id for e in published.events] == first.created

    async def test_event_carries_the_stored_article(self, ingestor, published, mongo_db):
        await ingestor.ingest(
            [article("https://www.bbc.co.uk/news/x", text=WIRE, source="BBC News", lang="en-GB")]
        )

        [event] = published.events
        stored = await mongo_db.articles.find_one({"_id": event.article_id})
        assert event.source == "bbc.co.uk"
        assert event.source_name == "BBC News"
        assert event.language == "en"
        assert event.text == stored["text"] == WIRE
        assert str(event.event_id) == stored["event_id"]


class TestCopies:
    async def test_wire_copy_from_another_source_is_stored_and_marked(self, ingestor, published):
        origin = await ingestor.ingest([article("https://reuters.com/japan-gdp", text=WIRE)])
        copy = await ingestor.ingest([article("https://japantimes.co.jp/reprint", text=REPRINT, minutes=30)])
        other = await ingestor.ingest([article("https://ft.com/ecb", text=OTHER, minutes=40)])

        assert copy.copies == {copy.created[0]: origin.created[0]}
        assert other.copies == {}
        assert [e.copy_of for e in published.events] == [None, origin.created[0], None]

    async def test_copy_within_one_batch_points_to_the_earlier_article(self, ingestor):
        result = await ingestor.ingest(
            [
                article("https://reuters.com/japan-gdp", text=WIRE),
                article("https://a.example/r", text=REPRINT, minutes=5),
            ]
        )
        assert result.copies == {result.created[1]: result.created[0]}

    async def test_a_fresh_replica_finds_copies_of_stored_articles(self, mongo_db, published):
        origin = await Ingestor(mongo_db, published).ingest(
            [article("https://reuters.com/japan-gdp", text=WIRE)]
        )

        other_replica = Ingestor(mongo_db, published, CopyIndex(window=timedelta(days=36500)))
        await other_replica.copies.refresh(mongo_db)
        copy = await other_replica.ingest([article("https://x.example/copy", text=REPRINT, minutes=5)])

        assert copy.copies == {copy.created[0]: origin.created[0]}


class TestSources:
    async def test_unknown_domain_gets_an_unrated_source_known_ones_are_kept(self, ingestor, mongo_db):
        await mongo_db.sources.insert_one(
            {"_id": "reuters.com", "name": "Reuters", "lean": "center", "origins": ["mbfc"]}
        )

        await ingestor.ingest(
            [article("https://reuters.com/a"), article("https://blog.unknown-outlet.net/p")]
        )

        assert (await repo.get_source(mongo_db, "unknown-outlet.net")).lean is Lean.unrated
        assert (await repo.get_source(mongo_db, "reuters.com")).lean is Lean.center


class TestOutbox:
    async def test_publish_failure_keeps_the_article_and_the_sweep_emits_it_once(
        self, ingestor, published, mongo_db
    ):
        published.fail = True
        with pytest.raises(ConnectionError):
            await ingestor.ingest([article("https://example.com/lost?")])
        stored = await mongo_db.articles.find_one({})
        assert stored is not None
        assert published.events == []

        published.fail = False
        assert await ingestor.republish_pending(older_than=timedelta(0)) == 1
        assert await ingestor.republish_pending(older_than=timedelta(0)) == 0

        [event] = published.events
        assert event.article_id == stored["_id"]
        assert str(event.event_id) == stored["event_id"]  # same event id: consumers can drop a duplicate

    async def test_a_closed_batch_leaves_nothing_to_sweep(self, ingestor, published):
        await ingestor.ingest([article("https://example.com/ok")])

        assert await ingestor.republish_pending(older_than=timedelta(0)) == 0
        assert len(published.events) == 1
