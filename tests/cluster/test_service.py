"""The cluster service around its engine: handlers on the in-memory broker with the real stores,
and the whole path on the real broker (a labeled stream, redelivery, one story per article)."""

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from faststream.kafka import TestKafkaBroker
from prometheus_client import CollectorRegistry
from pymongo.errors import AutoReconnect

from tellwell.bench.cluster import bcubed
from tellwell.cluster import pipeline as pipeline_module
from tellwell.cluster import repository as repo
from tellwell.cluster.book import story_doc
from tellwell.cluster.engine import Clusterer, new_story_id
from tellwell.cluster.handlers import CONSUMER
from tellwell.cluster.pipeline import ClusterPipeline
from tellwell.cluster.repository import stored_event
from tellwell.common.embed import Encoder
from tellwell.common.events import ChangeKind, RawArticle, StoryCluster
from tellwell.common.kafka import consumer_options, make_broker, story_publisher
from tellwell.common.mongo import make_mongo_client
from tellwell.common.settings import KafkaSettings
from tellwell.common.testing import make_raw_article, make_story_cluster
from tellwell.common.vectors import EdgeIndex
from tests.fixtures.kafka import consumer_broker, group_id, in_memory_consumer, source_and_target
from tests.fixtures.waiting import eventually

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# Three events, three headlines each (real-shaped; gold labels only for the assertions).
STREAM = [
    ("quake", "Magnitude 7.1 earthquake strikes central Chile, tsunami warning issued"),
    ("ecb", "ECB holds interest rates steady, signals June rate cut"),
    ("quake", "Chile earthquake: magnitude 7.1 quake shakes Santiago, tsunami warning"),
    ("nasa", "NASA Artemis II crew completes lunar flyby and heads home"),
    ("ecb", "ECB keeps interest rates steady, Lagarde signals June rate cut"),
    ("quake", "Tsunami warning lifted after magnitude 7.1 Chile earthquake"),
    ("nasa", "Artemis II astronauts fly around the Moon in NASA's first crewed lunar flyby"),
    ("ecb", "ECB leaves interest rates steady and points to a June rate cut"),
    ("nasa", "NASA's Artemis II lunar flyby: crew heads back to Earth"),
]


def stream_events():
    return [
        (
            gold,
            make_raw_article(
                url=f"https://news{i % 4}.example.com/{gold}/{i}",
                source=f"news{i % 4}.example.com",
                title=title,
                text="",
                lead="",
                published_at=T0 + timedelta(minutes=5 * i),
            ),
        )
        for i, (gold, title) in enumerate(STREAM)
    ]


class Collected:
    def __init__(self) -> None:
        self.events: list[StoryCluster] = []

    async def __call__(self, events) -> None:
        self.events += events

    def latest(self) -> dict[str, StoryCluster]:
        latest: dict[str, StoryCluster] = {}
        for e in self.events:
            if e.story_id not in latest or e.version > latest[e.story_id].version:
                latest[e.story_id] = e
        return latest


def stories_of(latest: dict[str, StoryCluster]) -> dict[str, set[str]]:
    return {sid: set(e.member_ids) for sid, e in latest.items() if e.merged_into is None}


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The real MiniLM encoder, loaded once for the session."""
    model = Encoder()
    model.load()
    return model


@pytest.fixture
async def pipeline_factory(mongo_db, tmp_path, encoder):
    made = []

    async def make(publish, index_dir="edge"):
        index = EdgeIndex(tmp_path / index_dir)
        clusterer = Clusterer(index, encoder)
        await clusterer.start()
        pipeline = ClusterPipeline(mongo_db, clusterer, publish)
        made.append(index)
        return pipeline

    yield make
    for index in made:
        await index.close()


@pytest.mark.mongo
class TestPipeline:
    async def test_each_article_ends_in_exactly_one_story_grouped_by_event(self, pipeline_factory, mongo_db):
        out = Collected()
        pipeline = await pipeline_factory(out)
        events = stream_events()

        for start in range(0, len(events), 4):
            await pipeline.process([e for _, e in events[start : start + 4]])

        stories = stories_of(out.latest())
        members = [aid for ids in stories.values() for aid in ids]
        assert sorted(members) == sorted(e.article_id for _, e in events)
        gold = defaultdict(set)
        for label, e in events:
            gold[label].add(e.article_id)
        assert sorted(map(sorted, stories.values())) == sorted(map(sorted, gold.values()))
        assert await mongo_db.memberships.count_documents({}) == len(events)

    async def test_redelivered_batch_changes_nothing_and_is_re_emitted(self, pipeline_factory, mongo_db):
        out = Collected()
        pipeline = await pipeline_factory(out)
        batch = [e for _, e in stream_events()]
        await pipeline.process(batch)
        before = out.latest()
        versions = await mongo_db.story_versions.count_documents({})

        out.events.clear()
        await pipeline.process(batch)

        assert out.latest() == before  # the stored events, read back whole
        assert await mongo_db.story_versions.count_documents({}) == versions
        assert await mongo_db.memberships.count_documents({}) == len(batch)

    async def test_a_burst_into_one_story_is_one_event_with_all_added_ids(self, pipeline_factory):
        out = Collected()
        pipeline = await pipeline_factory(out)
        quake = [e for label, e in stream_events() if label == "quake"]

        await pipeline.process(quake)

        [event] = out.events
        assert event.change is ChangeKind.created
        assert event.version == 1
        assert sorted(event.added_ids) == sorted(e.article_id for e in quake)

    async def test_a_restarted_service_keeps_its_stories(self, pipeline_factory, mongo_db):
        out = Collected()
        first = await pipeline_factory(out, "edge1")
        events = stream_events()
        await first.process([e for _, e in events[:6]])
        story_of_first = out.latest()

        restarted = await pipeline_factory(out, "edge2")  # a fresh engine and index: state from MongoDB
        await restarted.restore(timedelta(days=36500))
        await restarted.process([e for _, e in events])  # replays the first six, then three new

        latest = out.latest()
        for sid, event in story_of_first.items():
            assert set(event.member_ids) <= set(latest[sid].member_ids)
        assert sum(len(ids) for ids in stories_of(latest).values()) == len(events)

    async def test_replay_of_an_article_whose_story_was_evicted_keeps_its_story(
        self, pipeline_factory, mongo_db
    ):
        out = Collected()
        pipeline = await pipeline_factory(out)
        events = [e for _, e in stream_events()]
        await pipeline.process(events)
        stored = {d["_id"]: d["story_id"] async for d in mongo_db.memberships.find()}
        later = make_raw_article(
            url="https://later.example.com/x",
            title="Unrelated later news about a budget vote",
            published_at=T0 + timedelta(days=5),
        )
        await pipeline.process([later])  # the stream moves on: the first stories leave the window
        assert pipeline.clusterer.story_of(events[0].article_id) is None
        versions = await mongo_db.story_versions.count_documents({})

        out.events.clear()
        await pipeline.process(events[:3])

        assert {d["_id"]: d["story_id"] async for d in mongo_db.memberships.find()} == stored | {
            later.article_id: stored.get(later.article_id, pipeline.clusterer.story_of(later.article_id))
        }
        assert await mongo_db.story_versions.count_documents({}) == versions
        assert {e.story_id for e in out.events} == {stored[e.article_id] for e in events[:3]}

    async def test_a_batch_is_decided_in_published_order(self, pipeline_factory):
        out = Collected()
        pipeline = await pipeline_factory(out)
        quake = [e for label, e in stream_events() if label == "quake"]

        await pipeline.process(list(reversed(quake)))  # as a backlog may bring them

        [event] = out.events
        assert event.story_id == new_story_id(quake[0].article_id)  # the first published founds it

    async def test_a_batch_whose_store_failed_is_decided_again(self, pipeline_factory, mongo_db, monkeypatch):
        out = Collected()
        pipeline = await pipeline_factory(out)
        events = [e for _, e in stream_events()]
        await pipeline.process(events[:3])
        real_save = repo.save

        async def store_down(*args, **kwargs):
            raise AutoReconnect("connection closed")

        monkeypatch.setattr(repo, "save", store_down)
        with pytest.raises(AutoReconnect):
            await pipeline.process(events[3:])
        monkeypatch.setattr(repo, "save", real_save)
        out.events.clear()
        await pipeline.process(events[3:])  # the batch again, as the broker redelivers it

        # Decided and stored this time, not skipped as already assigned: every article has its
        # membership and is in a story that was announced.
        assert await mongo_db.memberships.count_documents({}) == len(events)
        announced = {aid for e in out.events for aid in e.added_ids}
        assert announced == {e.article_id for e in events[3:]}
        stories = stories_of(out.latest())
        assert sorted(a for ids in stories.values() for a in ids) == sorted(e.article_id for e in events)

    async def test_restart_restores_the_word_statistics(self, pipeline_factory, mongo_db):
        first = await pipeline_factory(Collected(), "edge1")
        await first.process([e for _, e in stream_events()])
        assert await mongo_db.engine_state.count_documents({"_id": "doc_freq"}) == 1

        restarted = await pipeline_factory(Collected(), "edge2")
        await restarted.restore(timedelta(hours=36))

        assert restarted.clusterer.df == first.clusterer.df

    async def test_statistics_between_whole_saves_are_restored_from_each_batch_s_additions(
        self, pipeline_factory, mongo_db, monkeypatch
    ):
        events = [e for _, e in stream_events()]
        first = await pipeline_factory(Collected(), "edge1")
        await first.process(events[:3])  # the first batch stores the whole table
        monkeypatch.setattr(pipeline_module, "STATS_EVERY", timedelta(days=1))
        for start in range(3, len(events), 2):  # the next ones only what they added
            await first.process(events[start : start + 2])
        assert await mongo_db.engine_stats_log.count_documents({}) == 3

        restarted = await pipeline_factory(Collected(), "edge2")
        await restarted.restore(timedelta(hours=36))
        assert restarted.clusterer.df == first.clusterer.df
        assert restarted.clusterer.df.n_docs == len(events)

        # The next whole table replaces the additions before it, and a restart after it still agrees.
        monkeypatch.setattr(pipeline_module, "STATS_EVERY", timedelta(0))
        later = make_raw_article(title="Central bank of Chile cuts rates after the earthquake")
        await restarted.process([later])
        assert await mongo_db.engine_stats_log.count_documents({}) == 0
        again = await pipeline_factory(Collected(), "edge3")
        await again.restore(timedelta(hours=36))
        assert again.clusterer.df == restarted.clusterer.df
        assert again.clusterer.df.n_docs == len(events) + 1


async def stored(db) -> dict[str, object]:
    """What the store holds of the stories, without timestamps and event ids."""
    versions = {}
    async for d in db.story_versions.find():
        event = stored_event(d)
        versions[d["_id"]] = (d["merged_into"], d["state"], event.change, event.member_ids, event.added_ids)
    stats = await db.engine_state.find_one({"_id": "doc_freq"})
    return {
        "memberships": {
            d["_id"]: (d["story_id"], d["score"], d["features"]) async for d in db.memberships.find()
        },
        "versions": versions,
        "stats": (stats or {}).get("json"),
        "stats_log": {d["_id"]: d["json"] async for d in db.engine_stats_log.find()},
    }


async def held(pipeline: ClusterPipeline) -> dict[str, object]:
    """What the clusterer holds: its book and the index's points."""
    book = pipeline.clusterer.book
    points = await pipeline.clusterer.index.get(pipeline.clusterer.collection, list(book.stories))
    return {
        "stories": {sid: json.dumps(story_doc(s)) for sid, s in book.stories.items()},
        "df": book.df.snapshot(),
        "maps": (dict(book.article_story), dict(book.assignments), dict(book.redirect)),
        "vectors": {sid: (v.size, v.epoch, dict(v.vec)) for sid, v in book.story_vectors.items()},
        "points": sorted((p.id, sorted(p.payload.items())) for p in points),
        "count": await pipeline.clusterer.index.count(pipeline.clusterer.collection),
    }


@pytest.fixture
async def reference_db(mongo_settings):
    """A second clean database, for an uninterrupted run to compare with."""
    client = make_mongo_client(mongo_settings)
    name = f"{mongo_settings.database}_ref"
    await client.drop_database(name)
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


@pytest.mark.mongo
class TestFailedStore:
    """Decide, store, commit: a store that fails changes nothing in memory or in the index."""

    @pytest.mark.parametrize("failing", ["save", "save_stats_change"])  # nothing stored / all but stats
    async def test_save_raises_then_book_and_index_are_unchanged_and_the_redelivery_stores_the_same(
        self, pipeline_factory, mongo_db, reference_db, monkeypatch, failing
    ):
        events = [e for _, e in stream_events()]
        reference = ClusterPipeline(
            reference_db, (await pipeline_factory(Collected(), "ref")).clusterer, Collected()
        )
        for batch in (events[:4], events[4:]):
            await reference.process(batch)

        out = Collected()
        pipeline = await pipeline_factory(out, "faulty")
        await pipeline.process(events[:4])
        before = await held(pipeline)
        real = getattr(repo, failing)

        async def store_down(*args, **kwargs):
            raise AutoReconnect("connection closed")

        monkeypatch.setattr(repo, failing, store_down)
        with pytest.raises(AutoReconnect):
            await pipeline.process(events[4:])
        assert await held(pipeline) == before
        monkeypatch.setattr(repo, failing, real)
        await pipeline.process(events[4:])  # redelivered

        assert await stored(mongo_db) == await stored(reference_db)
        assert await held(pipeline) == await held(reference)
        partition = {d["_id"]: d["story_id"] async for d in mongo_db.memberships.find()}
        expected = {d["_id"]: d["story_id"] async for d in reference_db.memberships.find()}
        ids = sorted(expected)
        assert sorted(partition) == ids
        assert bcubed([partition[i] for i in ids], [expected[i] for i in ids])[2] == 1.0  # agreement

    async def test_a_store_written_by_the_previous_code_loads(self, pipeline_factory, mongo_db):
        """Its statistics table carried ``_id``/``kind`` in the JSON, and each stored state counted
        its own version (one per article or merge), which the document's version now replaces."""
        events = [e for _, e in stream_events()]
        first = await pipeline_factory(Collected(), "edge1")
        await first.process(events[:4])
        await first.process(events[4:])
        table = await mongo_db.engine_state.find_one({"_id": "doc_freq"})
        legacy = {"_id": "doc_freq", "kind": "doc_freq", **json.loads(table["json"])}
        await mongo_db.engine_state.update_one({"_id": "doc_freq"}, {"$set": {"json": json.dumps(legacy)}})
        async for d in mongo_db.story_versions.find({"state": {"$ne": None}}):
            state = json.loads(d["state"])
            state["version"] = len(state["member_ids"]) + 7
            await mongo_db.story_versions.update_one(
                {"_id": d["_id"]}, {"$set": {"state": json.dumps(state)}}
            )

        restarted = await pipeline_factory(Collected(), "edge2")
        await restarted.restore(timedelta(days=36500))

        assert restarted.clusterer.df == first.clusterer.df
        versions = {sid: s.version for sid, s in first.clusterer.book.stories.items()}
        assert {sid: s.version for sid, s in restarted.clusterer.book.stories.items()} == versions
        out = Collected()
        restarted.publish = out
        await restarted.process(
            [make_raw_article(title="Chile earthquake: tsunami warning for Pacific coast")]
        )
        for event in out.events:
            assert event.version == versions.get(event.story_id, 0) + 1


@pytest.mark.mongo
class TestHandler:
    async def test_poison_record_goes_to_dlq_and_the_batch_is_clustered(self, pipeline_factory):
        broker, dead = in_memory_consumer(CONSUMER, "cluster-test")
        out = Collected()
        pipeline = await pipeline_factory(out)
        good = [e for _, e in stream_events()][:3]
        async with TestKafkaBroker(broker) as br:
            br.context.set_global("pipeline", pipeline)
            await br.publish_batch(good[0], b"{not json", good[1], good[2], topic="in-topic")

        assert [m.body for m in dead] == [b"{not json"]
        assert sorted(a for e in out.events for a in e.added_ids) == sorted(e.article_id for e in good)


@pytest.mark.kafka
@pytest.mark.mongo
class TestOnTheRealBroker:
    async def test_stream_through_kafka_then_every_message_redelivered(
        self, infra, pipeline_factory, mongo_db
    ):
        source, target = await source_and_target(infra, "raw", "cluster")
        settings = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap)
        service = consumer_broker(
            settings, CONSUMER, "cluster-it", source=source, group=group_id(), batch_wait_ms=50
        )
        publish = story_publisher(service, target)
        sent: list[StoryCluster] = []

        async def counted_publish(events) -> None:
            await publish(events)
            sent.extend(events)

        pipeline = await pipeline_factory(counted_publish)
        processed: list[RawArticle] = []
        process = pipeline.process

        async def counted_process(batch):
            out = await process(batch)
            processed.extend(batch)
            return out

        pipeline.process = counted_process
        reader = make_broker(settings, service="reader", registry=CollectorRegistry())
        got: list[StoryCluster] = []

        @reader.subscriber(target, **consumer_options(f"r-{uuid.uuid4().hex[:6]}"))
        async def collect(event: StoryCluster) -> None:
            got.append(event)

        events = [e for _, e in stream_events()]

        async def wait_for_all(wait_s: float = 60) -> dict[str, StoryCluster]:
            def every_article_in_a_story() -> dict[str, StoryCluster] | None:
                latest = Collected()
                latest.events = list(got)
                members = [a for ids in stories_of(latest.latest()).values() for a in ids]
                return latest.latest() if sorted(members) == sorted(e.article_id for e in events) else None

            return await eventually(
                every_article_in_a_story,
                timeout_s=wait_s,
                interval_s=0.2,
                what=lambda: f"every article in a story ({len(got)} events)",
            )

        async with service, reader:
            service.context.set_global("pipeline", pipeline)
            await service.start()
            await reader.start()
            for e in events:
                await service.publish(e, source, key=e.article_id.encode())
            first = await wait_for_all()
            for e in events:  # every message delivered a second time
                await service.publish(e, source, key=e.article_id.encode())
            await eventually(
                lambda: len(processed) >= 2 * len(events), timeout_s=60, what="the redelivery processed"
            )
            # whatever the redelivery published (nothing, if it changes nothing) has reached the reader
            await eventually(lambda: len(got) >= len(sent), what="the reader to catch up")
            second = await wait_for_all()

        assert {s: e.version for s, e in second.items()} == {s: e.version for s, e in first.items()}
        assert len(stories_of(second)) == 3
        assert await mongo_db.memberships.count_documents({}) == len(events)


class TestStoredEvent:
    def test_reads_json_text_and_older_nested_documents(self):
        event = make_story_cluster()
        assert stored_event({"event": event.model_dump_json()}) == event
        assert stored_event({"event": event.model_dump(mode="json")}) == event
