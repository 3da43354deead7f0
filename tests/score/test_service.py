"""The score service around its domain: the view store on the real FerretDB, the pipeline and the
handler on the in-memory broker, and the whole path on the real Kafka."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from faststream.kafka import TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry

from tellwell.common.events import RelatedStory, StoryScored
from tellwell.common.kafka import consumer_options, make_broker, story_publisher
from tellwell.common.settings import KafkaSettings
from tellwell.common.testing import make_story_scored
from tellwell.common.views import (
    STORY_VIEW_INDEXES,
    STORY_VIEWS,
    VIEW_WRITES,
    view_document,
    view_from_document,
    write_mark,
)
from tellwell.ingest.repository import source_doc
from tellwell.score import repository as repo
from tellwell.score.domain import Member
from tellwell.score.handlers import CONSUMER
from tellwell.score.pipeline import ScorePipeline
from tests.fixtures.kafka import consumer_broker, group_id, in_memory_consumer, source_and_target
from tests.fixtures.waiting import eventually
from tests.score.stories import CONTRADICTING, SUPPORTING, member, sources_for, summary_for

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def article_doc(m: Member) -> dict:
    """An ``articles`` document as ingest stores it (services/ingest/.../repository.py article_doc)."""
    return {
        "_id": m.article_id,
        "url": m.url,
        "source": m.source,
        "source_name": None,
        "title": m.title,
        "text": m.text,
        "lead": m.lead,
        "language": "en",
        "published_at": m.published_at,
        "fetched_at": m.published_at,
        "stored_at": m.published_at,
        "authors": [],
        "category_hint": None,
        "content_source": "page",
        "feed_id": None,
        "fingerprint": m.fingerprint,
        "signature": None,
        "copy_of": m.copy_of,
        "event_id": str(uuid.uuid4()),
        "trace_id": uuid.uuid4().hex,
    }


async def seed(db, members: list[Member]) -> None:
    """Members into ``articles``, their outlets' registry entries into ``sources`` (ingest's shapes)."""
    await db.articles.insert_many([article_doc(m) for m in members])
    entries = sources_for(members)
    if entries:
        await db.sources.insert_many([source_doc(s) for s in entries.values()])


class Collected:
    def __init__(self) -> None:
        self.events: list[StoryScored] = []

    async def __call__(self, events) -> None:
        self.events += events


def chile_story() -> list[Member]:
    reuters = member("reuters.com", SUPPORTING[0])
    return [
        reuters,
        member("apnews.com", SUPPORTING[1], minutes=4),
        member("yahoo.com", SUPPORTING[0], minutes=6, copy_of=reuters.article_id),
        member("chicagotribune.com", SUPPORTING[2], minutes=8),
        member("mercurynews.com", SUPPORTING[3], minutes=9),
        member("latimes.com", CONTRADICTING[0], minutes=11),
    ]


async def seeded_chile(db) -> list[Member]:
    """The Chile story's members, stored with their outlets."""
    members = chile_story()
    await seed(db, members)
    return members


async def copper_story(pipeline: ScorePipeline, members: list[Member]) -> StoryScored:
    """A story on the copper market, scored and stored, for the Chile story to relate to."""
    [copper] = await pipeline.process(
        [summary_for(members[:2], story_id="story-copper", title="Copper jumps on Chile mine fears")]
    )
    return copper


@pytest.fixture
def pipeline_factory(mongo_db):
    def make(publish=None, **kwargs) -> ScorePipeline:
        return ScorePipeline(mongo_db, publish or Collected(), clock=lambda: NOW, **kwargs)

    return make


@pytest.mark.mongo
class TestViewStore:
    async def test_an_older_version_never_replaces_a_newer_one(self, mongo_db):
        v3 = make_story_scored(version=300, cluster_version=3, title="third")
        v2 = make_story_scored(version=200, cluster_version=2, title="second")

        first = await repo.store_view(mongo_db, v3, updated_at=NOW, recheck_delay_s=0)
        stale = await repo.store_view(mongo_db, v2, updated_at=NOW, recheck_delay_s=0)
        again = await repo.store_view(mongo_db, v3, updated_at=NOW, recheck_delay_s=0)

        assert [first[0], stale[0], again[0]] == [repo.Outcome.stored, repo.Outcome.stale, repo.Outcome.same]
        assert again[1].event_id == v3.event_id  # a redelivery re-emits the stored event
        doc = await mongo_db[STORY_VIEWS].find_one({"_id": v3.story_id})
        assert doc["version"] == 300
        assert view_from_document(doc).title == "third"
        # the gateway's change feed learns of the write from its mark
        assert await mongo_db[VIEW_WRITES].find_one({"_id": v3.story_id}) == write_mark(doc)

    async def test_racing_writers_leave_the_newest_version(self, mongo_db):
        for round_ in range(5):
            sid = f"race-{round_}"
            views = [
                make_story_scored(story_id=sid, version=100 * v, cluster_version=v) for v in (1, 2, 3, 4, 5)
            ]
            await asyncio.gather(
                *(repo.store_view(mongo_db, v, updated_at=NOW, recheck_delay_s=0.02) for v in reversed(views))
            )
            doc = await mongo_db[STORY_VIEWS].find_one({"_id": sid})
            assert doc["version"] == 500

    async def test_an_older_write_landing_after_ours_is_undone_by_the_recheck(self, mongo_db, caplog):
        """What FerretDB allows (no atomic conditional replace): a replica that read before our write
        replaces the view with its older version just after we wrote ours."""
        v2 = make_story_scored(version=200, cluster_version=2, title="second")
        v3 = make_story_scored(version=300, cluster_version=3, title="third")
        await repo.store_view(mongo_db, v2, updated_at=NOW, recheck_delay_s=0)

        async def ours_landed() -> bool:
            return (await mongo_db[STORY_VIEWS].find_one({"_id": v3.story_id}))["version"] == 300

        async def late_older_write() -> None:
            # wait until our write landed (within its 0.3 s recheck), then overwrite it with the older one
            await eventually(ours_landed, interval_s=0.005, what="our write of v3 to land")
            await mongo_db[STORY_VIEWS].replace_one({"_id": v2.story_id}, view_document(v2, updated_at=NOW))

        outcome, _ = (
            await asyncio.gather(
                repo.store_view(mongo_db, v3, updated_at=NOW, recheck_delay_s=0.3), late_older_write()
            )
        )[0]

        assert outcome is repo.Outcome.stored
        assert "overwritten by an older version; writing again" in caplog.text
        doc = await mongo_db[STORY_VIEWS].find_one({"_id": v3.story_id})
        assert doc["version"] == 300
        assert view_from_document(doc).title == "third"

    async def test_indexes_for_the_feed_exist(self, mongo_db):
        await repo.ensure_indexes(mongo_db)
        names = {ix["name"] async for ix in await mongo_db[STORY_VIEWS].list_indexes()}
        assert {name for name, _ in STORY_VIEW_INDEXES} <= names


@pytest.mark.mongo
class TestPipeline:
    async def test_a_summary_becomes_a_stored_view_and_one_event(self, mongo_db, pipeline_factory):
        members = await seeded_chile(mongo_db)
        out = Collected()

        [view] = await pipeline_factory(out).process([summary_for(members, version=2)])

        assert out.events == [view]
        doc = await mongo_db[STORY_VIEWS].find_one({"_id": "story-chile"})
        assert view_from_document(doc) == view
        # the read model's fields with the story's entities (related stories and text search use them)
        assert doc == view_document(view, updated_at=doc["updated_at"], entities=["chile"])
        assert "chile" in doc["search_terms"]
        reports = view.confidence.reports
        # reuters+yahoo copy, apnews, one voice for the two alden-global-capital papers, latimes
        assert len(reports) == 4
        assert {c.reason for c in view.confidence.collapsed} == {"copy", "same_owner"}
        assert any(r.contradicts for r in reports)
        assert view.article_count == 6
        assert view.source_count == 6

    async def test_stale_versions_are_ignored_and_redelivery_changes_nothing(
        self, mongo_db, pipeline_factory
    ):
        members = await seeded_chile(mongo_db)
        out = Collected()
        pipeline = pipeline_factory(out)
        [v3] = await pipeline.process([summary_for(members, version=3)])
        stored = await mongo_db[STORY_VIEWS].find_one({"_id": "story-chile"})

        assert await pipeline.process([summary_for(members[:2], version=2)]) == []
        redelivered = await pipeline.process([summary_for(members, version=3)])

        assert redelivered == [v3]  # the stored event again, same event_id, for a lost publish
        assert await mongo_db[STORY_VIEWS].find_one({"_id": "story-chile"}) == stored

    async def test_a_language_model_rewrite_of_a_scored_version_reaches_the_view(
        self, mongo_db, pipeline_factory
    ):
        members = await seeded_chile(mongo_db)
        pipeline = pipeline_factory()
        [extractive] = await pipeline.process([summary_for(members, version=3)])
        rewrite = summary_for(members, version=3, method="llm:test-model", title="Chile quake kills 300")

        [llm] = await pipeline.process([rewrite])
        assert await pipeline.process([summary_for(members, version=3)]) == []  # never back
        assert await pipeline.process([rewrite]) == [llm]  # a redelivery re-emits the stored view

        assert llm.version > extractive.version
        assert llm.cluster_version == 3
        doc = await mongo_db[STORY_VIEWS].find_one({"_id": "story-chile"})
        assert doc["version"] == llm.version
        assert view_from_document(doc).title == "Chile quake kills 300"

    async def test_the_deferred_recheck_undoes_an_older_write_that_landed_after_ours(self, mongo_db):
        v2 = make_story_scored(version=200, cluster_version=2, title="second")
        v3 = make_story_scored(version=300, cluster_version=3, title="third")
        await repo.store_view(mongo_db, v2, updated_at=NOW, recheck_delay_s=0)
        outcome, _ = await repo.store_view(mongo_db, v3, updated_at=NOW, recheck_delay_s=0, recheck=False)
        assert outcome is repo.Outcome.unchecked
        await mongo_db[STORY_VIEWS].replace_one({"_id": v2.story_id}, view_document(v2, updated_at=NOW))

        outcome, _ = await repo.confirm_view(mongo_db, v3, updated_at=NOW, recheck_delay_s=0)

        assert outcome is repo.Outcome.stored
        assert view_from_document(await mongo_db[STORY_VIEWS].find_one({"_id": v3.story_id})).title == "third"

    async def test_a_stale_version_hint_falls_back_to_reading_the_stored_version(self, mongo_db):
        v2 = make_story_scored(version=200, cluster_version=2, title="second")
        v4 = make_story_scored(version=400, cluster_version=4, title="fourth")
        await repo.store_view(mongo_db, v2, updated_at=NOW, recheck_delay_s=0)
        await repo.store_view(mongo_db, v4, updated_at=NOW, recheck_delay_s=0)

        v3 = make_story_scored(version=300, cluster_version=3, title="third")
        outcome, _ = await repo.store_view(mongo_db, v3, updated_at=NOW, recheck_delay_s=0, known_version=200)

        assert outcome is repo.Outcome.stale
        assert (await mongo_db[STORY_VIEWS].find_one({"_id": v3.story_id}))["version"] == 400

    async def test_related_views_stored_by_this_replica_are_not_read_again(self, mongo_db, pipeline_factory):
        members = await seeded_chile(mongo_db)
        pipeline = pipeline_factory()
        copper = await copper_story(pipeline, members)
        await mongo_db[STORY_VIEWS].delete_many({"_id": "story-copper"})  # gone from the store, not cached

        related = [RelatedStory(story_id="story-copper", score=0.6)]
        [view] = await pipeline.process([summary_for(members, related=related)])

        assert view.related[0].title == "Copper jumps on Chile mine fears"
        assert view.related[0].confidence == copper.confidence.value

    async def test_a_grown_story_reads_only_its_new_members(self, mongo_db, pipeline_factory):
        members = await seeded_chile(mongo_db)
        pipeline = pipeline_factory()
        await pipeline.process([summary_for(members[:4], version=1)])
        await mongo_db.articles.delete_many({"_id": members[0].article_id})  # read before: not again

        [view] = await pipeline.process([summary_for(members, version=2)])

        assert [a.article_id for a in view.articles] == [m.article_id for m in members]

    async def test_a_merged_story_points_to_its_survivor(self, mongo_db, pipeline_factory):
        members = await seeded_chile(mongo_db)
        pipeline = pipeline_factory()
        await pipeline.process([summary_for(members[:2], story_id="story-b", version=1)])

        [final] = await pipeline.process(
            [summary_for(members[:2], story_id="story-b", version=2, merged_into="story-chile")]
        )
        late = await pipeline.process([summary_for(members[:2], story_id="story-b", version=1)])

        assert final.merged_into == "story-chile"
        assert late == []
        doc = await mongo_db[STORY_VIEWS].find_one({"_id": "story-b"})
        assert doc["merged_into"] == "story-chile"
        assert doc["version"] == final.version

    async def test_related_stories_are_filled_from_their_views(self, mongo_db, pipeline_factory):
        members = await seeded_chile(mongo_db)
        pipeline = pipeline_factory()
        copper = await copper_story(pipeline, members)

        [view] = await pipeline.process(
            [summary_for(members, related=[RelatedStory(story_id="story-copper", score=0.5)])]
        )

        [related] = view.related
        assert related.title == "Copper jumps on Chile mine fears"
        assert related.confidence == copper.confidence.value
        assert related.source_count == copper.source_count

    async def test_unknown_outlets_and_missing_articles_do_not_stop_scoring(self, mongo_db, pipeline_factory):
        blog = member("quakewatch.substack.com", SUPPORTING[0])
        await seed(mongo_db, [blog])

        [view] = await pipeline_factory().process([summary_for([blog], member_ids=[blog.article_id, "gone"])])

        assert view.article_count == 1
        assert view.confidence.single_source
        assert view.confidence.reports[0].credibility == 0.5

    async def test_a_broken_registry_entry_is_scored_as_unrated(self, mongo_db, pipeline_factory):
        blog = member("reuters.com", SUPPORTING[0])
        await mongo_db.articles.insert_one(article_doc(blog))
        await mongo_db.sources.insert_one({"_id": "reuters.com", "credibility": "very much"})

        [view] = await pipeline_factory().process([summary_for([blog])])

        assert view.confidence.reports[0].credibility == 0.5


@pytest.mark.mongo
class TestHandler:
    async def test_summaries_in_views_out_and_a_poison_record_to_the_dlq(self, mongo_db, pipeline_factory):
        members = await seeded_chile(mongo_db)
        broker, dead = in_memory_consumer(CONSUMER, "score-test", source="in-summary")
        out = Collected()  # story_publisher needs the real broker: see TestOnTheRealBroker
        pipeline = pipeline_factory(out)
        async with TestKafkaBroker(broker) as br:
            br.context.set_global("pipeline", pipeline)
            await br.publish_batch(
                summary_for(members, version=1),
                b'{"type": "story.summary", "story_id": 42}',
                summary_for(members, version=2),
                topic="in-summary",
            )

        assert [m.body for m in dead] == [b'{"type": "story.summary", "story_id": 42}']
        [event] = out.events  # the batch's newest version only
        assert event.cluster_version == 2
        doc = await mongo_db[STORY_VIEWS].find_one({"_id": "story-chile"})
        assert view_from_document(doc) == event

    async def test_a_story_that_cannot_be_scored_goes_to_the_dlq_alone(
        self, mongo_db, pipeline_factory, monkeypatch
    ):
        members = await seeded_chile(mongo_db)
        broker, dead = in_memory_consumer(CONSUMER, "score-test", source="in-summary")
        out = Collected()
        pipeline = pipeline_factory(out)
        real_score = pipeline.score

        async def score(summary):
            if summary.story_id == "story-bad":
                raise ValueError("cannot score this one")
            return await real_score(summary)

        monkeypatch.setattr(pipeline, "score", score)

        bad = summary_for(members, story_id="story-bad")
        async with TestKafkaBroker(broker) as br:
            br.context.set_global("pipeline", pipeline)
            await br.publish_batch(summary_for(members), bad, topic="in-summary")

        assert [m.headers.get("x-dlq-error") for m in dead] == ["cannot score this one"]
        assert [e.story_id for e in out.events] == ["story-chile"]


@pytest.mark.kafka
@pytest.mark.mongo
class TestOnTheRealBroker:
    async def test_summary_in_view_and_event_out_then_redelivery_changes_nothing(
        self, infra, mongo_db, pipeline_factory
    ):
        members = await seeded_chile(mongo_db)
        source, target = await source_and_target(infra, "summary", "scored")
        settings = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap)
        service = consumer_broker(
            settings, CONSUMER, "score-it", source=source, group=group_id(), batch_wait_ms=50
        )
        pipeline = pipeline_factory(story_publisher(service, target))
        reader = make_broker(settings, service="reader", registry=CollectorRegistry())
        got: list[StoryScored] = []
        keys: list[bytes] = []

        @reader.subscriber(target, **consumer_options(f"r-{uuid.uuid4().hex[:6]}"))
        async def collect(event: StoryScored, message: KafkaMessage) -> None:
            got.append(event)
            keys.append(message.raw_message.key)

        async def wait_for(n: int, wait_s: float = 30) -> None:
            await eventually(
                lambda: len(got) >= n,
                timeout_s=wait_s,
                interval_s=0.1,
                what=lambda: f"{n} story.scored events ({len(got)} came)",
            )

        summary = summary_for(members, version=5)
        async with service, reader:
            service.context.set_global("pipeline", pipeline)
            await service.start()
            await reader.start()
            await service.publish(summary, source, key=summary.story_id.encode())
            await wait_for(1)
            stored = await mongo_db[STORY_VIEWS].find_one({"_id": summary.story_id})
            await service.publish(summary, source, key=summary.story_id.encode())  # delivered again
            await wait_for(2)

        first, second = got
        assert keys == [b"story-chile", b"story-chile"]
        assert view_from_document(stored) == first
        assert second == first  # the same event (same event_id and version) re-emitted
        assert await mongo_db[STORY_VIEWS].find_one({"_id": summary.story_id}) == stored
        assert await mongo_db[STORY_VIEWS].count_documents({}) == 1


@pytest.mark.kafka
@pytest.mark.mongo
class TestTheApp:
    async def test_create_app_wires_consumer_store_and_publisher(self, infra, mongo_db, mongo_settings):
        from faststream import TestApp

        from tellwell.score.app import create_app
        from tellwell.score.settings import Settings

        members = await seeded_chile(mongo_db)
        source, target = await source_and_target(infra, "summary", "scored", partitions=1)
        kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap)
        config = Settings(kafka=kafka, mongo=mongo_settings, batch_wait_ms=50)
        app = create_app(config, source=source, target=target, group=group_id())
        reader = make_broker(kafka, service="reader", registry=CollectorRegistry())
        got: list[StoryScored] = []
        arrived = asyncio.Event()

        @reader.subscriber(target, **consumer_options(f"r-{uuid.uuid4().hex[:6]}"))
        async def collect(event: StoryScored) -> None:
            got.append(event)
            arrived.set()

        async with TestApp(app), reader:
            await reader.start()
            await app.broker.publish(summary_for(members, version=7), source, key=b"story-chile")
            await asyncio.wait_for(arrived.wait(), timeout=30)

        [event] = got
        assert event.cluster_version == 7
        doc = await mongo_db[STORY_VIEWS].find_one({"_id": "story-chile"})
        assert view_from_document(doc) == event
        names = {ix["name"] async for ix in await mongo_db[STORY_VIEWS].list_indexes()}
        assert {name for name, _ in STORY_VIEW_INDEXES} <= names


@pytest.mark.mongo
class TestHostileInput:
    async def test_a_runaway_member_list_is_capped_and_unreadable_articles_skipped(self, mongo_db):
        members = [member("reuters.com", SUPPORTING[0], n=i, minutes=i) for i in range(5)]
        await seed(mongo_db, members[:4])
        await mongo_db.articles.insert_one({**article_doc(members[4]), "published_at": "yesterday"})
        pipeline = ScorePipeline(mongo_db, Collected(), clock=lambda: NOW, max_members=3)
        ids = [m.article_id for m in members]

        [view] = await pipeline.process([summary_for(members, member_ids=[*ids, *ids])])

        # the newest three ids are read; the last of them is unreadable
        assert [a.article_id for a in view.articles] == ids[2:4]

    async def test_a_broken_related_view_is_skipped(self, mongo_db, pipeline_factory):
        members = await seeded_chile(mongo_db)
        await mongo_db[STORY_VIEWS].insert_one({"_id": "story-broken", "version": 1, "view": "{not json"})

        [view] = await pipeline_factory().process(
            [summary_for(members, related=[RelatedStory(story_id="story-broken", score=0.5)])]
        )

        # a candidate whose subject cannot be checked is not shown
        assert view.related == []
