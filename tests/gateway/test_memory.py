"""The in-memory read model against the store path, on the real FerretDB: seeded random filter sets,
text searches and cursors give the same bytes from both, before and after views change."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tellwell.common.events import (
    ArticleRef,
    Blindspot,
    Category,
    IndependentReport,
    Lean,
    LeanDistribution,
    StoryScored,
)
from tellwell.common.testing import make_story_scored
from tellwell.common.views import STORY_VIEWS, mark_written, view_document
from tellwell.gateway.domain import FeedQuery, decode_cursor
from tellwell.gateway.memory import ReadModel
from tellwell.gateway.reads import category_counts, feed_page, store_page
from tellwell.gateway.repository import StoryViews
from tests.gateway.conftest import DB, put_views

pytestmark = pytest.mark.mongo

# Words that share prefixes, carry accents and digits: what prefix matching and folding must get right.
VOCABULARY = (
    "election elections elector electric Électricité quake quaker Quakers chile chilean São Paulo "
    "storm stormy storms budget budgets 7 71 7.1 court courts courtier summit rally tariff tariffs "
    "vaccine vaccines Zürich zurich naïve strike strikes über over"
).split()
ENTITIES = ["são paulo", "united nations", "federal reserve", "jos. a. bank", "zürich"]
DOMAINS = [f"outlet{i}.example" for i in range(9)] + ["reuters.com", "apnews.com", "bbc.co.uk"]
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(n)).capitalize() + "."


def random_view(rng: random.Random, i: int, version: int = 1) -> StoryScored:
    base = make_story_scored()
    domains = rng.sample(DOMAINS, rng.randint(1, 8))
    articles = [
        ArticleRef(
            article_id=f"a{i}-{k}",
            url=f"https://{d}/{i}/{k}",
            title=sentence(rng, 5),
            source=d,
            lean=rng.choice(list(Lean)),
            published_at=NOW - timedelta(hours=k),
        )
        for k, d in enumerate(domains)
    ]
    reports = [
        IndependentReport(
            report_id=f"r{k}",
            article_ids=[a.article_id],
            sources=[a.source],
            credibility=rng.choice([0.2, 0.4, 0.85, 0.95]),
        )
        for k, a in enumerate(articles)
    ]
    left = rng.choice([0.0, 0.0, 0.25, 0.5, 1.0])
    right = rng.choice([0.0, 1.0 - left])
    summary = [s.model_copy(update={"text": sentence(rng, 8)}) for s in base.summary]
    return make_story_scored(
        story_id=f"s-{rng.randint(0, 3)}-{i:04d}",  # shared prefixes: id order is not slot order
        version=version,
        title=sentence(rng, rng.randint(2, 7)),
        summary=summary,
        category=rng.choice([Category.world, Category.science, Category.politics, Category.business]),
        language=("en", "en", "de", "und")[i % 4],  # not from rng: the other fields stay as seeded
        confidence=base.confidence.model_copy(
            update={"value": rng.choice([10.0, 35.5, 50.0, 70.0, 90.0, 99.9]), "reports": reports}
        ),
        lean=LeanDistribution(left=left, center=1.0 - left - right, right=right, unrated=0),
        blindspot=Blindspot(side="right", share=1.0) if right == 1.0 else None,
        hotness=rng.choice([1.0, 2.5, 2.5, 7.0, rng.uniform(0, 50)]),  # ties on purpose
        last_published_at=NOW - timedelta(hours=rng.choice([0, 1, 1, 5, 30, 200, 400])),
        articles=articles,
        source_count=len(domains),
        article_count=len(domains),
    )


async def write(db: DB, view: StoryScored, rng: random.Random) -> None:
    entities = rng.sample(ENTITIES, rng.randint(0, 2))
    doc = view_document(view, updated_at=datetime.now(UTC), entities=entities)
    await db[STORY_VIEWS].replace_one({"_id": doc["_id"]}, doc, upsert=True)
    await mark_written(db, doc)


def random_query(rng: random.Random) -> FeedQuery:
    q = None
    if rng.random() < 0.6:
        words = [rng.choice(VOCABULARY) for _ in range(rng.randint(1, 2))]
        q = " ".join(w[: rng.randint(1, len(w))] for w in words)  # whole words and prefixes
    return FeedQuery(
        sort=rng.choice(["hot", "new", "relevance"]),
        category=rng.choice([None, None, Category.world, Category.science]),
        lean=rng.choice([None, None, "left", "center", "right", "blindspot"]),
        min_confidence=rng.choice([None, None, 0.0, 35.5, 50.0, 90.0]),
        since=rng.choice([None, None, NOW - timedelta(hours=2), NOW - timedelta(hours=48)]),
        source=rng.choice([None, None, None, *DOMAINS[:4]]),
        q=q,
        language=rng.choice([None, None, None, "en", "de", "fr"]),  # fr: in no story
    )


async def walk(views: StoryViews, model: ReadModel | None, query: FeedQuery, limit: int) -> list[bytes]:
    """The bodies of up to four pages of ``query``, following cursors: from the model where it can
    answer (or asserting it must), else as the store answers."""
    bodies, after = [], None
    for _ in range(4):
        if model is None:
            page = await store_page(views, query, after, limit)
        else:
            page = await feed_page(views, model, query, after, limit)
        bodies.append(page.json())
        if page.next_cursor is None:
            break
        after = decode_cursor(query, page.next_cursor)
    return bodies


async def compare(views: StoryViews, model: ReadModel, rng: random.Random, queries: int) -> int:
    """Random queries through both paths; the number that matched anything."""
    nonempty = 0
    for _ in range(queries):
        query, limit = random_query(rng), rng.randint(1, 6)
        store = await walk(views, None, query, limit)
        memory = await walk(views, model, query, limit)
        assert memory == store, query
        nonempty += store[0] != b'{"items":[],"next_cursor":null}'
    return nonempty


class TestSameAnswersAsTheStore:
    async def test_random_filters_searches_and_cursors(self, mongo_db):
        rng = random.Random(20261207)
        views = StoryViews(mongo_db)
        for i in range(90):
            await write(mongo_db, random_view(rng, i), rng)
        model = ReadModel(cap=10_000)
        await model.load(await views.live_cards(10_001))
        assert model.complete

        assert await compare(views, model, rng, 120) > 40  # the filters select, not only reject
        assert await category_counts(views, model) == await views.category_counts()

    async def test_after_rewrites_merges_and_new_stories(self, mongo_db, make_client):
        rng = random.Random(7)
        for i in range(60):
            await write(mongo_db, random_view(rng, i), rng)
        app, _ = await make_client(poll_interval_s=3600)  # polled by hand
        changes = app.state.changes
        views, model = changes.views, changes.model
        docs = {d["_id"]: d async for d in mongo_db[STORY_VIEWS].find({}, {"_id": 1})}

        for story_id in rng.sample(sorted(docs), 25):  # rewrite: new text, filters and order
            i = int(story_id.rsplit("-", 1)[1])
            view = random_view(random.Random(i * 31), i, version=2)
            view = view.model_copy(update={"story_id": story_id})
            if rng.random() < 0.3:
                view = view.model_copy(update={"merged_into": "s-0-0000"})
            await write(mongo_db, view, rng)
        for i in range(60, 75):
            await write(mongo_db, random_view(rng, i), rng)
        await changes.poll_once()

        assert len(model) == await mongo_db[STORY_VIEWS].count_documents({"merged_into": None})
        assert await compare(views, model, rng, 100) > 30
        assert await category_counts(views, model) == await views.category_counts()


class TestBounded:
    async def test_the_oldest_leave_first_and_what_it_cannot_prove_comes_from_the_store(
        self, mongo_db, make_client
    ):
        rng = random.Random(99)
        for i in range(40):
            await write(mongo_db, random_view(rng, i), rng)
        app, _ = await make_client(poll_interval_s=3600, memory_stories=12)
        changes = app.state.changes
        views, model = changes.views, changes.model
        newest = await views.live_cards(12)

        assert len(model) == 12
        assert not model.complete
        assert all(model.version_of(d["_id"]) is not None for d in newest)  # the newest twelve
        first_new = model.feed(FeedQuery(sort="new"), None, 5)
        assert first_new is not None  # provably the first page: every unheld story is older
        assert first_new.json() == (await store_page(views, FeedQuery(sort="new"), None, 5)).json()
        assert model.feed(FeedQuery(sort="relevance", q="quake"), None, 5) is None
        assert model.category_counts() is None

        # A newer story arrives: it is held, the oldest held one leaves.
        await write(mongo_db, random_view(rng, 500).model_copy(update={"last_published_at": NOW}), rng)
        await changes.poll_once()
        assert len(model) == 12
        assert await compare(views, model, rng, 60) > 10  # with the store filling in what it lacks


class TestCards:
    async def test_a_card_names_five_sources_the_story_all(self, mongo_db, client):
        big = make_story_scored(
            story_id="big",
            articles=[
                ArticleRef(
                    article_id=f"a{i}",
                    url=f"https://outlet{i}.example/x",
                    title="Quake",
                    source=f"outlet{i:03d}.example",
                    published_at=NOW,
                )
                for i in range(193)
            ],
            source_count=193,
            article_count=193,
        )
        reports = [
            IndependentReport(
                report_id=f"r{i}",
                article_ids=[f"a{i}"],
                sources=[f"outlet{i:03d}.example"],
                credibility=0.95 if i in (150, 7) else 0.4,
            )
            for i in range(193)
        ]
        big = big.model_copy(update={"confidence": big.confidence.model_copy(update={"reports": reports})})
        await put_views(mongo_db, [big])

        feed = await client.get("/v1/stories")
        full = (await client.get("/v1/stories/big")).json()

        card = feed.json()["items"][0]
        assert card["source_count"] == 193
        assert card["sources"] == [
            "outlet007.example",
            "outlet150.example",
            "outlet000.example",
            "outlet001.example",
            "outlet002.example",
        ]
        assert len(feed.content) < 2500
        assert len({a["source"] for a in full["articles"]}) == 193
