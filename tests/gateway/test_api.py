"""The read API against the real MongoDB-wire server (FerretDB) with real-shaped story views."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tellwell.common.events import Blindspot, Category, LeanDistribution
from tellwell.common.settings import MongoSettings
from tests.gateway.conftest import now, put_views, story

pytestmark = pytest.mark.mongo


async def ids(client, url: str, **params) -> tuple[list[str], str | None]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [item["id"] for item in body["items"]], body["next_cursor"]


class TestFeed:
    async def test_pages_are_stable_when_stories_arrive_between_pages(self, mongo_db, make_client):
        await put_views(mongo_db, [story(i) for i in range(7)])
        app, client = await make_client()

        first, cursor = await ids(client, "/v1/stories", sort="new", limit=3)
        # A newer story and a hotter one arrive while the reader pages on.
        await put_views(mongo_db, [story(99, last_published_at=now() + timedelta(minutes=5), hotness=500.0)])
        await app.state.changes.poll_once()
        second, cursor = await ids(client, "/v1/stories", sort="new", limit=3, cursor=cursor)
        third, cursor = await ids(client, "/v1/stories", sort="new", limit=3, cursor=cursor)

        assert first == ["story-000", "story-001", "story-002"]
        assert second == ["story-003", "story-004", "story-005"]
        assert third == ["story-006"]
        assert cursor is None
        again, _ = await ids(client, "/v1/stories", sort="new", limit=3)
        assert again[0] == "story-099"

    async def test_hot_orders_by_ranking_and_pages_through_ties(self, mongo_db, client):
        await put_views(mongo_db, [story(i, hotness=5.0 if i % 2 else 9.0) for i in range(6)])

        seen, cursor = await ids(client, "/v1/stories", limit=4)
        rest, cursor = await ids(client, "/v1/stories", limit=4, cursor=cursor)

        assert seen + rest == ["story-004", "story-002", "story-000", "story-005", "story-003", "story-001"]
        assert cursor is None

    async def test_filters(self, mongo_db, client):
        await put_views(
            mongo_db,
            [
                story(0, category=Category.science, title="Comet seen over Chile", language="es"),
                story(
                    1,
                    confidence=story(1).confidence.model_copy(update={"value": 35.0}),
                    lean=LeanDistribution(left=0.0, center=0.0, right=1.0, unrated=0),
                    blindspot=Blindspot(side="right", share=1.0),
                ),
                story(2, last_published_at=now() - timedelta(days=10)),
                story(3, merged_into="story-000"),
            ],
        )

        assert (await ids(client, "/v1/stories", category="science"))[0] == ["story-000"]
        assert (await ids(client, "/v1/stories", min_confidence=50))[0] == ["story-000", "story-002"]
        assert (await ids(client, "/v1/stories", lean="blindspot"))[0] == ["story-001"]
        assert (await ids(client, "/v1/stories", lean="left"))[0] == ["story-000", "story-002"]
        assert (await ids(client, "/v1/stories", lean="right"))[0] == ["story-000", "story-001", "story-002"]
        assert (await ids(client, "/v1/stories", since="7d"))[0] == ["story-000", "story-001"]
        assert (await ids(client, "/v1/stories", q="COMET"))[0] == ["story-000"]
        assert (await ids(client, "/v1/stories", q="number 2"))[0] == ["story-002"]
        assert (await ids(client, "/v1/stories", source="foxnews.com"))[0] == [
            "story-000",
            "story-001",
            "story-002",
        ]
        assert (await ids(client, "/v1/stories", source="nytimes.com"))[0] == []
        assert (await ids(client, "/v1/stories", language="ES"))[0] == ["story-000"]
        assert (await ids(client, "/v1/stories", language="en"))[0] == ["story-001", "story-002"]

    async def test_a_card_has_the_compact_facts(self, mongo_db, client):
        view = story(0)
        await put_views(mongo_db, [view])

        card = (await client.get("/v1/stories")).json()["items"][0]

        assert card["title"] == view.title
        assert card["confidence"] == 78.0
        assert card["source_count"] == 5
        assert card["lean"] == {"left": 0.25, "center": 0.5, "right": 0.25, "unrated": 0}
        # Most credible first (the wire copy's AP News shares Reuters' report), five at most.
        assert card["sources"] == ["apnews.com", "reuters.com", "bbc.co.uk", "theguardian.com", "foxnews.com"]
        assert card["summary"].startswith("A magnitude 7.1 earthquake struck central Chile")
        assert card["page_url"] == "/stories/story-000"

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"sort": "best"}, "sort"),
            ({"category": "gossip"}, "category"),
            ({"lean": "up"}, "lean"),
            ({"min_confidence": "high"}, "min_confidence"),
            ({"min_confidence": "150"}, "min_confidence"),
            ({"since": "yesterday"}, "since"),
            ({"limit": "0"}, "limit"),
            ({"source": "<script>"}, "source"),
            ({"language": "english"}, "language"),
            ({"cursor": "not-a-cursor"}, "cursor"),
        ],
    )
    async def test_bad_query_strings_are_422_problems_naming_the_field(self, client, params, field):
        response = await client.get("/v1/stories", params=params)

        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["detail"].startswith(f"{field}:")
        assert problem["errors"][0]["field"] == field

    async def test_a_cursor_cannot_be_reused_with_other_filters(self, mongo_db, client):
        await put_views(mongo_db, [story(i) for i in range(3)])
        _, cursor = await ids(client, "/v1/stories", limit=1)

        response = await client.get("/v1/stories", params={"limit": 1, "cursor": cursor, "sort": "new"})

        assert response.status_code == 422
        assert "different query" in response.json()["detail"]


class TestStory:
    async def test_full_view(self, mongo_db, client):
        view = story(0)
        await put_views(mongo_db, [view])

        response = await client.get("/v1/stories/story-000")

        assert response.status_code == 200
        body = response.json()
        assert body["story_id"] == "story-000"
        assert body["confidence"]["collapsed"][0]["reason"] == "copy"
        assert len(body["perspectives"]) == 4
        assert body["related"][0]["title"] == "Aftershocks rattle Chile's capital"

    async def test_unknown_id_is_a_404_problem(self, client):
        response = await client.get("/v1/stories/nope")

        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "No story with id 'nope'."

    async def test_a_merged_id_redirects_to_the_end_of_the_chain(self, mongo_db, client):
        await put_views(
            mongo_db, [story(1, merged_into="story-002"), story(2, merged_into="story-003"), story(3)]
        )

        response = await client.get("/v1/stories/story-001")
        articles = await client.get("/v1/stories/story-001/articles")
        page = await client.get("/stories/story-001")

        assert response.status_code == 308
        assert response.headers["location"] == "/v1/stories/story-003"
        assert articles.headers["location"] == "/v1/stories/story-003/articles"
        assert page.status_code == 308
        assert page.headers["location"] == "/stories/story-003"
        followed = await client.get("/v1/stories/story-001", follow_redirects=True)
        assert followed.json()["story_id"] == "story-003"

    async def test_a_merge_into_a_missing_story_is_a_404(self, mongo_db, client):
        await put_views(mongo_db, [story(1, merged_into="gone")])

        response = await client.get("/v1/stories/story-001")

        assert response.status_code == 404
        assert "merged into 'gone'" in response.json()["detail"]

    async def test_articles_with_their_sources_oldest_first(self, mongo_db, client):
        await put_views(mongo_db, [story(0)])

        body = (await client.get("/v1/stories/story-000/articles")).json()

        assert [a["source"] for a in body["items"]] == [
            "reuters.com",
            "apnews.com",
            "bbc.co.uk",
            "theguardian.com",
            "foxnews.com",
        ]
        assert body["items"][1]["copy_of"] == "a1"


class TestCaching:
    async def test_etag_gives_304_until_the_data_changes(self, mongo_db, make_client):
        await put_views(mongo_db, [story(0)])
        app, client = await make_client()

        first = await client.get("/v1/stories")
        etag = first.headers["etag"]
        unchanged = await client.get("/v1/stories", headers={"If-None-Match": etag})
        await put_views(mongo_db, [story(0, version=2, title="Updated: quake toll rises")])
        await app.state.changes.poll_once()
        changed = await client.get("/v1/stories", headers={"If-None-Match": etag})

        assert first.headers["cache-control"].startswith("public")
        assert unchanged.status_code == 304
        assert unchanged.content == b""
        assert changed.status_code == 200
        assert changed.json()["items"][0]["title"] == "Updated: quake toll rises"
        assert changed.headers["etag"] != etag

    async def test_story_etag(self, mongo_db, client):
        await put_views(mongo_db, [story(0)])
        etag = (await client.get("/v1/stories/story-000")).headers["etag"]

        response = await client.get("/v1/stories/story-000", headers={"If-None-Match": f'W/{etag}, "x"'})

        assert response.status_code == 304


class TestRateLimit:
    async def test_a_client_over_its_budget_gets_429_with_retry_after(self, make_client):
        _, client = await make_client(rate_limit_per_s=0.5, rate_limit_burst=3)

        statuses = [(await client.get("/v1/categories")).status_code for _ in range(4)]
        limited = await client.get("/v1/categories")
        health = await client.get("/healthz")

        assert statuses == [200, 200, 200, 429]
        assert limited.headers["content-type"] == "application/problem+json"
        assert int(limited.headers["retry-after"]) >= 1
        assert "Rate limit" in limited.json()["detail"]
        assert health.status_code == 200


class TestSourcesAndCategories:
    async def test_sources_page_and_lookup(self, mongo_db, client):
        await mongo_db.sources.insert_many(
            [
                {
                    "_id": "reuters.com",
                    "name": "Reuters",
                    "lean": "center",
                    "factuality": "very_high",
                    "credibility": 0.95,
                },
                {
                    "_id": "foxnews.com",
                    "name": "Fox News",
                    "lean": "right",
                    "factuality": "mixed",
                    "credibility": 0.4,
                },
                {
                    "_id": "theguardian.com",
                    "name": "The Guardian",
                    "lean": "lean_left",
                    "factuality": "high",
                    "credibility": 0.85,
                },
            ]
        )

        first = (await client.get("/v1/sources", params={"limit": 2})).json()
        rest = (await client.get("/v1/sources", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        right = (await client.get("/v1/sources", params={"lean": "right"})).json()
        one = await client.get("/v1/sources/Reuters.com")
        missing = await client.get("/v1/sources/example.org")

        assert [s["domain"] for s in first["items"] + rest["items"]] == [
            "foxnews.com",
            "reuters.com",
            "theguardian.com",
        ]
        assert rest["next_cursor"] is None
        assert [s["domain"] for s in right["items"]] == ["foxnews.com"]
        assert one.json()["name"] == "Reuters"
        assert missing.status_code == 404
        assert missing.json()["detail"] == "No source 'example.org' in the registry."

    async def test_categories_count_live_stories(self, mongo_db, client):
        await put_views(
            mongo_db,
            [story(0), story(1, category=Category.science), story(2, merged_into="story-000")],
        )

        body = (await client.get("/v1/categories")).json()

        counts = {c["id"]: c["count"] for c in body}
        assert counts["world"] == 1
        assert counts["science"] == 1
        assert len(body) == len(Category)


class TestHeaders:
    async def test_security_headers_and_no_writes(self, client):
        response = await client.get("/healthz")
        post = await client.post("/v1/stories", json={})

        docs = await client.get("/docs")

        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self';" in csp
        assert "unsafe-inline" not in csp
        assert "unsafe-inline" in docs.headers["content-security-policy"]  # Swagger UI only
        assert response.headers["x-content-type-options"] == "nosniff"
        assert post.status_code == 405

    async def test_cors_when_configured(self, make_client):
        _, client = await make_client(cors_origins=["https://app.example"])

        response = await client.get("/healthz", headers={"Origin": "https://app.example"})

        assert response.headers["access-control-allow-origin"] == "https://app.example"


class TestOpsAndSchema:
    async def test_health_readiness_metrics(self, client):
        await client.get("/v1/categories")

        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text

        assert ready.status_code == 200
        assert ready.json()["checks"] == {"mongo": "ok", "read_model": "ok"}
        assert 'tellwell_gateway_requests_total{route="/v1/categories",status="200"}' in metrics

    async def test_openapi_documents_the_feed_parameters_and_only_reads(self, client):
        schema = (await client.get("/openapi.json")).json()

        feed = schema["paths"]["/v1/stories"]["get"]
        params = {p["name"]: p for p in feed["parameters"]}
        assert {
            "sort",
            "category",
            "lean",
            "min_confidence",
            "since",
            "source",
            "q",
            "cursor",
            "limit",
        } <= set(params)
        assert "blindspot" in str(params["lean"]["schema"])
        assert "308" in schema["paths"]["/v1/stories/{story_id}"]["get"]["responses"]
        methods = {m for path in schema["paths"].values() for m in path}
        assert methods == {"get"}

    async def test_an_unreachable_store_is_503_not_500(self, make_client):
        down = MongoSettings(url="mongodb://127.0.0.1:9", database="none", server_selection_timeout_ms=200)
        _, client = await make_client(mongo=down)

        ready = await client.get("/readyz")
        feed = await client.get("/v1/stories")
        page = await client.get("/")

        assert ready.status_code == 503
        assert feed.status_code == 503
        assert feed.headers["content-type"] == "application/problem+json"
        assert feed.headers["retry-after"] == "5"
        assert page.status_code == 503
        assert "store is unreachable" in page.text


class TestPagesOverHttp:
    async def test_the_page_filters_by_language_and_keeps_the_choice(self, mongo_db, client):
        await put_views(mongo_db, [story(0, title="Erdbeben in Chile", language="de"), story(1)])

        page = (await client.get("/", params={"language": "de"})).text

        assert "Erdbeben in Chile" in page
        assert "Story number 1" not in page
        assert '<option value="de" selected>German</option>' in page

    async def test_the_live_card_fragment_respects_the_feed_filters(self, mongo_db, client):
        await put_views(mongo_db, [story(0, title="<b>Quake</b> & aftershocks")])

        matching = await client.get("/stories/story-000/card", params={"category": "world"})
        filtered_out = await client.get("/stories/story-000/card", params={"category": "science"})
        bad = await client.get("/stories/story-000/card", params={"lean": "sideways"})

        assert matching.status_code == 200
        assert "&lt;b&gt;Quake&lt;/b&gt; &amp; aftershocks" in matching.text
        assert "<b>" not in matching.text
        assert filtered_out.status_code == 204
        assert bad.status_code == 422

    async def test_a_broken_stored_view_is_a_clear_500_not_garbage(self, mongo_db, client):
        await put_views(mongo_db, [story(0)])
        await mongo_db.story_views.update_one({"_id": "story-000"}, {"$set": {"view": '{"not": "a view"}'}})

        api = await client.get("/v1/stories/story-000")
        page = await client.get("/stories/story-000")
        feed = await client.get("/v1/stories")

        assert api.status_code == 500
        assert api.json()["detail"] == "The stored view of story 'story-000' cannot be read."
        assert page.status_code == 500
        assert feed.status_code == 200  # the feed reads the flat fields only
