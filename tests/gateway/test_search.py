"""Text search, the feed's fast path, readiness, per-story caching and the poller's backoff, over
HTTP against the real FerretDB."""

from __future__ import annotations

import random

import pytest
from prometheus_client import REGISTRY

from tellwell.common.views import STORY_VIEWS, mark_written, view_document
from tellwell.gateway.live import next_delay
from tests.fixtures.waiting import eventually
from tests.gateway.conftest import now, put_views, story

pytestmark = pytest.mark.mongo


async def ids(client, **params) -> list[str]:
    response = await client.get("/v1/stories", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def quake(i: int, title: str, **overrides):
    return story(i, title=title, **overrides)


class TestSearch:
    async def test_every_word_must_start_a_word_of_title_summary_or_entities(self, mongo_db, client):
        await put_views(
            mongo_db,
            [
                quake(0, "Elections in São Paulo"),
                quake(1, "Electricity prices soar"),
                quake(2, "Quake hits central Chile"),
            ],
        )
        doc = view_document(
            story(3, title="Markets close higher"), updated_at=now(), entities=["federal reserve"]
        )
        await mongo_db[STORY_VIEWS].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        await mark_written(mongo_db, doc)
        await put_views(mongo_db, [])  # the gateway polls

        assert await ids(client, q="elect") == ["story-000", "story-001"]
        assert await ids(client, q="ELECTIONS sao") == ["story-000"]  # case and accents folded
        assert await ids(client, q="paulo élect") == ["story-000"]
        assert await ids(client, q="chil quak") == ["story-002"]
        assert await ids(client, q="federal") == ["story-003"]  # an entity of the story
        assert await ids(client, q="lections") == []  # inside a word is no match
        # every story's summary (the fixture's) says "magnitude"
        assert len(await ids(client, q="magnitude")) == 4

    async def test_relevance_ranks_title_matches_first_and_pages_by_cursor(self, mongo_db, client):
        await put_views(
            mongo_db,
            [
                quake(0, "Markets close higher", hotness=90.0),  # "earthquake" in its summary only
                quake(1, "Earthquake earthquake rocks Chile", hotness=10.0),
                quake(2, "Earthquake hits Chile", hotness=50.0),
            ],
        )

        hot = await ids(client, q="earthquake")
        first = (
            await client.get("/v1/stories", params={"q": "earthquake", "sort": "relevance", "limit": 2})
        ).json()
        rest = (
            await client.get(
                "/v1/stories",
                params={"q": "earthquake", "sort": "relevance", "limit": 2, "cursor": first["next_cursor"]},
            )
        ).json()

        assert hot == ["story-000", "story-002", "story-001"]
        assert [c["id"] for c in first["items"] + rest["items"]] == ["story-001", "story-002", "story-000"]
        assert rest["next_cursor"] is None
        # without words to rank by, relevance is the default order
        assert await ids(client, sort="relevance") == ["story-000", "story-002", "story-001"]

    @pytest.mark.parametrize(
        ("params", "field", "says"),
        [
            ({"q": "!!! ..."}, "q", "no letters or digits"),
            ({"q": "a b c d e f g h i"}, "q", "at most 8"),
            ({"since": "999999d"}, "since", "further than dates go"),
            ({"sort": "relevance", "q": "x", "cursor": "eyJmIjoiYSIsInYiOiJOYU4iLCJpIjoieCJ9"}, "cursor", ""),
            ({"sort": "new", "cursor": "eyJmIjoiYSIsInYiOjFlMzAwLCJpIjoieCJ9"}, "cursor", ""),
        ],
    )
    async def test_hostile_queries_are_422s_naming_the_field(self, client, params, field, says):
        for path in ("/v1/stories", "/"):
            response = await client.get(path, params=params)

            assert response.status_code == 422, (path, response.text)
            if path == "/v1/stories":
                assert response.json()["errors"][0]["field"] == field
                assert says in response.json()["detail"]


class TestFastPath:
    async def test_same_bytes_and_headers_as_the_store_path(self, mongo_db, make_client):
        await put_views(mongo_db, [story(i, hotness=float(i % 3)) for i in range(8)])
        _, memory = await make_client()
        _, store = await make_client(memory_stories=0)
        queries = [
            {},
            {"limit": 3},
            {"q": "chile", "sort": "new", "limit": 2},
            {"q": "quake", "sort": "relevance"},
        ]

        for params in queries:
            a, b = (
                await memory.get("/v1/stories", params=params),
                await store.get("/v1/stories", params=params),
            )
            assert a.status_code == b.status_code == 200
            assert a.content == b.content
            for header in ("etag", "cache-control", "content-type", "content-length"):
                assert a.headers[header] == b.headers[header], header
            cursor = a.json()["next_cursor"]
            if cursor:
                again = await memory.get("/v1/stories", params={**params, "cursor": cursor})
                assert (
                    again.content
                    == (await store.get("/v1/stories", params={**params, "cursor": cursor})).content
                )

        etag = (await memory.get("/v1/stories", params={"q": "quake"})).headers["etag"]
        not_modified = await memory.get("/v1/stories", params={"q": "quake"}, headers={"If-None-Match": etag})
        assert not_modified.status_code == 304

    async def test_readiness_waits_for_the_read_model(self, make_client):
        app, client = await make_client()
        assert (await client.get("/readyz")).status_code == 200

        app.state.changes.model.loaded = False
        loading = await client.get("/readyz")

        assert loading.status_code == 503
        assert "still loading" in loading.json()["checks"]["read_model"]
        assert (await client.get("/v1/stories")).status_code == 200  # meanwhile from the store


class TestPerStoryCache:
    async def test_a_story_stays_cached_while_other_stories_change(self, mongo_db, client):
        await put_views(mongo_db, [story(0), story(1)])
        hits = 'tellwell_gateway_cache_total{layer="response",result="hit"}'

        first = await client.get("/v1/stories/story-000")
        await put_views(mongo_db, [story(1, version=2, title="Aftershock")])  # another story changes
        before = REGISTRY.get_sample_value(
            "tellwell_gateway_cache_total", {"layer": "response", "result": "hit"}
        )
        again = await client.get("/v1/stories/story-000")
        after = REGISTRY.get_sample_value(
            "tellwell_gateway_cache_total", {"layer": "response", "result": "hit"}
        )
        await put_views(mongo_db, [story(0, version=2, title="Rescue teams arrive")])  # this one changes
        changed = await client.get("/v1/stories/story-000")

        assert again.content == first.content
        assert after == before + 1, hits
        assert changed.json()["title"] == "Rescue teams arrive"


class TestPollBackoff:
    def test_the_wait_doubles_while_idle_and_resets_on_a_change(self):
        waits, wait = [], 0.25
        for changed in [False, False, False, False, True, False]:
            wait = next_delay(wait, changed, 0.25, 1.0)
            waits.append(wait)

        assert waits == [0.5, 1.0, 1.0, 1.0, 0.25, 0.5]

    async def test_an_idle_replica_backs_off_and_a_new_view_still_shows_within_a_second(
        self, mongo_db, make_client
    ):
        app, client = await make_client(poll_interval_s=0.05, poll_max_interval_s=0.4)
        changes = app.state.changes
        await eventually(lambda: changes.delay_s == 0.4, what="the idle poller to back off to 0.4 s")

        await put_views(mongo_db, [story(7, title="Volcano erupts")], seen=False)
        await eventually(  # the deadline is the promise under test
            lambda: ids(client, q="volcano"), timeout_s=1.0, what="the new view found within a second"
        )
        assert changes.delay_s < 0.4  # polling fast again after the change


class TestHostileQueryStrings:
    async def test_no_query_string_gets_a_5xx(self, mongo_db, client):
        await put_views(mongo_db, [story(i) for i in range(4)])
        rng = random.Random(1507)
        keys = ["q", "sort", "category", "lean", "min_confidence", "since", "source", "cursor", "limit", "x"]
        atoms = [
            "",
            " ",
            "%00",
            "%ff",
            "%F0%9F%92%A5",
            "%E2%80%AE",
            "\u00e9",
            "nan",
            "-inf",
            "1e400",
            "-1",
            "0",
            "100",
            "relevance",
            "new",
            "hot",
            "world",
            "blindspot",
            "999999d",
            "0001-01-01",
            "9999-12-31T23:59:59Z",
            "eyJmIjoiYSIsInYiOiJOYU4iLCJpIjoieCJ9",
            "a" * 300,
            "chile quake",
            "ß",
            "İ",
            "%5B%5D",
            "..",
            "*",
            "reuters.com",
            "<script>",
            "'",
            '"',
            "\\",
            "%2526",
        ]
        for _ in range(300):
            parts = [
                f"{rng.choice(keys)}={''.join(rng.choice(atoms) for _ in range(rng.randint(1, 3)))}"
                for _ in range(rng.randint(1, 5))
            ]
            query = "&".join(parts)
            for path in ("/v1/stories", "/"):
                response = await client.get(f"{path}?{query}")
                assert response.status_code < 500, (path, query, response.text[:300])
                assert response.status_code in (200, 422), (path, query)
