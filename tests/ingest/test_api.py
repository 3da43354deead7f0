"""The write API over HTTP, on the real broker and document store."""

from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tellwell.common.settings import KafkaSettings
from tellwell.ingest import repository as repo
from tellwell.ingest.app import create_app
from tellwell.ingest.settings import Settings
from tests.ingest.test_text import HOSTILE, assert_plain

pytestmark = [pytest.mark.kafka, pytest.mark.mongo]

ARTICLE = {
    "url": "https://www.reuters.com/world/asia/japan-gdp-2026-03-02/?utm_source=rss",
    "title": "Japan's economy shrinks 2.1% in first quarter",
    "text": "Japan's economy shrank at an annualised rate of 2.1% in the first quarter, data showed.",
    "source": "Reuters",
    "lang": "en",
    "published_at": "2026-03-02T01:00:00Z",
}


@pytest.fixture
async def make_api(infra, mongo_settings, mongo_db):
    """Start the ingest app with settings overrides; an authorised httpx client on it."""
    async with AsyncExitStack() as stack:

        async def make(**overrides: Any) -> httpx.AsyncClient:
            settings = Settings(
                kafka=KafkaSettings(bootstrap_servers=infra.kafka_bootstrap),
                mongo=mongo_settings,
                poll_enabled=False,
                max_batch=10,
                log_json=False,
                **overrides,
            )
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            key = await repo.create_api_key(mongo_db, "tests", datetime.now(UTC))
            return await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://ingest",
                    headers={"Authorization": f"Bearer {key}"},
                )
            )

        yield make


@pytest.fixture
async def api(make_api):
    return await make_api()


class TestAuth:
    async def test_missing_key_is_401_with_a_problem(self, api):
        response = await api.post("/v1/articles", json=ARTICLE, headers={"Authorization": ""})

        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "API key" in response.json()["detail"]

    async def test_wrong_or_revoked_key_is_401(self, api, mongo_db):
        assert (
            await api.get("/v1/feeds", headers={"Authorization": "Bearer tw_00000000_nope"})
        ).status_code == 401
        [key] = await repo.list_api_keys(mongo_db)
        await repo.revoke_api_key(mongo_db, key["_id"])
        assert (await api.get("/v1/feeds")).status_code == 401

    async def test_keys_are_stored_hashed(self, api, mongo_db):
        stored = await mongo_db.apikeys.find_one({})
        assert stored["hash"] != api.headers["Authorization"].split()[1]
        assert len(stored["hash"]) == 64


class TestPushArticles:
    async def test_new_article_is_stored_then_published_keyed_by_id(self, api, raw_article_tail, mongo_db):
        response = await api.post("/v1/articles", json=ARTICLE)

        assert response.status_code == 202
        [outcome] = response.json()["articles"]
        assert outcome["status"] == "created"
        got = await raw_article_tail(outcome["article_id"])
        assert got["key"] == outcome["article_id"].encode()
        assert got["event"]["url"] == "https://www.reuters.com/world/asia/japan-gdp-2026-03-02"
        assert got["event"]["source"] == "reuters.com"
        assert got["event"]["content_source"] == "push"
        assert await mongo_db.articles.count_documents({"_id": outcome["article_id"]}) == 1

    async def test_pushing_it_again_is_a_duplicate(self, api):
        first = (await api.post("/v1/articles", json=ARTICLE)).json()
        second = (await api.post("/v1/articles", json=[ARTICLE])).json()

        assert second["created"] == 0
        assert second["articles"][0] == {**first["articles"][0], "status": "duplicate"}

    async def test_batch_over_the_limit_is_413(self, api):
        response = await api.post("/v1/articles", json=[ARTICLE] * 11)
        assert response.status_code == 413
        assert "At most 10" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"title": ""}, "title"),
            ({"url": "ftp://example.com/x"}, "url"),
            ({"published_at": "yesterday"}, "published_at"),
            ({"published_at": "2026-03-02T01:00:00"}, "published_at"),
            ({"authors": "not a list"}, "authors"),
        ],
    )
    async def test_invalid_input_is_422_naming_the_field(self, api, change, field, mongo_db):
        response = await api.post("/v1/articles", json=ARTICLE | change)

        assert response.status_code == 422
        assert field in response.json()["detail"]
        assert await mongo_db.articles.count_documents({}) == 0

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({k: v for k, v in ARTICLE.items() if k != "title"}, "title: field required"),
            (
                [ARTICLE, ARTICLE | {"url": "ftp://example.com/x"}],
                "[1].url: not an absolute http(s) URL: 'ftp://example.com/x'",
            ),
            (ARTICLE | {"url": None}, "body: an article needs a url or an id"),
            ([ARTICLE, ARTICLE | {"authors": "Ann"}], "[1].authors: should be a list"),
            ("an article", "body: should be an object or a list"),
        ],
    )
    async def test_422_names_the_field_as_the_client_sent_it(self, api, body, detail, mongo_db):
        # Issue 15: details used to read "function-after[_identified(), ArticleIn].title: Field required;
        # list[function-after[_identified(), ArticleIn]]: Input should be a valid list".
        response = await api.post("/v1/articles", json=body)

        assert response.status_code == 422
        problem = response.json()
        assert problem["detail"] == detail
        assert [f"{e['field']}: {e['message']}" for e in problem["errors"]] == [detail]
        assert await mongo_db.articles.count_documents({}) == 0

    @pytest.mark.parametrize(
        ("url", "canonical"),
        [
            ("http://[2001:db8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
            ("https://[2001:DB8:0:0::7]:443/news/", "https://[2001:db8::7]/news"),
        ],
    )
    async def test_ipv6_literal_urls_are_stored_canonical(self, api, mongo_db, url, canonical):
        response = await api.post("/v1/articles", json=ARTICLE | {"url": url})

        assert response.status_code == 202, response.text
        [outcome] = response.json()["articles"]
        stored = await api.get(f"/v1/articles/{outcome['article_id']}")
        assert stored.json()["url"] == canonical
        again = await api.post("/v1/articles", json=ARTICLE | {"url": canonical})
        assert again.json()["articles"][0] == {**outcome, "status": "duplicate"}

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://[::1/", "IPv6"),
            ("http://[zz::1]/", "IPv6"),
            ("http://[2001:db8::1]:99999/a", "port"),
            ("http://[2001:db8::1]:0/a", "port"),
            ("http://[fe80::1%25eth0]/a", "zone"),
            ("http://2001:db8::1/a", "port"),
            ("http://example.com:+80/a", "port"),
            ("http://999.1.1.1/a", "IPv4"),
        ],
    )
    async def test_invalid_hosts_and_ports_are_422_and_nothing_is_stored(self, api, mongo_db, url, reason):
        response = await api.post("/v1/articles", json=[ARTICLE, ARTICLE | {"url": url}])

        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["field"] == "[1].url"
        assert reason in error["message"]
        assert await mongo_db.articles.count_documents({}) == 0

    async def test_malformed_json_is_422_not_500(self, api):
        response = await api.post(
            "/v1/articles", content=b'{"title": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422


class TestPlainText:
    async def test_hostile_html_is_neither_stored_nor_published(self, api, raw_article_tail, mongo_db):
        pushed = HOSTILE | {"id": None, "url": "https://www.bbc.co.uk/news/zorblax-quuxly"}
        response = await api.post("/v1/articles", json=pushed)
        assert response.status_code == 202, response.text
        [outcome] = response.json()["articles"]

        stored = await mongo_db.articles.find_one({"_id": outcome["article_id"]})
        published = (await raw_article_tail(outcome["article_id"]))["event"]
        for doc in (stored, published):
            assert (doc["title"], doc["source_name"], doc["authors"]) == (
                "Zorblax buys Quuxly",
                "Daily & Gazette",
                ["Ann Lee"],
            )
            assert doc["text"] == "Zorblax & Quuxly agreed.\n\nBoards met."
            assert_plain({k: v for k, v in doc.items() if k not in ("signature", "fingerprint")})
        assert (await api.get(f"/v1/articles/{outcome['article_id']}")).json()[
            "title"
        ] == "Zorblax buys Quuxly"

    @pytest.mark.parametrize("title", ["<script>alert(1)</script>", "<img src=x onerror=alert(3)>", "&nbsp;"])
    async def test_a_title_that_is_only_markup_is_422_and_nothing_is_stored(self, api, title, mongo_db):
        response = await api.post(
            "/v1/articles", json=[ARTICLE, ARTICLE | {"url": None, "id": "b", "title": title}]
        )

        assert response.status_code == 422
        assert "title" in response.json()["detail"]
        assert "no text once HTML markup is removed" in response.json()["detail"]
        assert await mongo_db.articles.count_documents({}) == 0


class TestFeeds:
    async def test_add_list_pause_resume_remove(self, api):
        created = await api.post(
            "/v1/feeds", json={"url": "https://www.theguardian.com/world/rss", "category": "World"}
        )
        assert created.status_code == 201
        feed = created.json()
        assert feed["kind"] == "publisher"
        assert feed["status"] == "active"

        assert (
            await api.post("/v1/feeds", json={"url": "https://www.theguardian.com/world/rss"})
        ).status_code == 409
        assert [f["id"] for f in (await api.get("/v1/feeds")).json()["feeds"]] == [feed["id"]]
        assert (await api.post(f"/v1/feeds/{feed['id']}/pause")).json()["status"] == "paused"
        assert (await api.get("/v1/feeds", params={"status": "active"})).json()["feeds"] == []
        assert (await api.post(f"/v1/feeds/{feed['id']}/resume")).json()["status"] == "active"
        assert (await api.delete(f"/v1/feeds/{feed['id']}")).status_code == 204
        assert (await api.get(f"/v1/feeds/{feed['id']}")).status_code == 404

    async def test_aggregator_feeds_are_recognised(self, api):
        response = await api.post("/v1/feeds", json={"url": "https://news.google.com/rss/search?q=chile"})
        assert response.json()["kind"] == "aggregator"

    @pytest.mark.parametrize(
        ("url", "stored"),
        [
            ("http://[2001:4860:4860::8888]/feed", "http://[2001:4860:4860::8888]/feed"),
            ("https://[2606:4700:4700:0:0:0:0:1111]:443/rss/", "https://[2606:4700:4700::1111]/rss"),
            ("http://8.8.8.8:8080/rss", "http://8.8.8.8:8080/rss"),
        ],
    )
    async def test_public_ip_literal_feeds_are_registered_canonical(self, api, url, stored):
        response = await api.post("/v1/feeds", json={"url": url})

        assert response.status_code == 201, response.text
        assert response.json()["url"] == stored

    @pytest.mark.parametrize(
        ("url", "kind"),
        [
            ("http://127.0.0.1:27017/", "loopback"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://0x7f000001/", "loopback"),
            ("http://017700000001/", "loopback"),
            ("http://2130706433/", "loopback"),
            ("http://127.1/", "loopback"),
            ("http://10.0.0.1/feed", "private"),
            ("http://192.168.1.1/rss", "private"),
            ("http://0/", "unspecified"),
            ("http://100.64.0.1/", "special-purpose"),
            ("http://[::1]:8000/", "loopback"),
            ("http://[::ffff:127.0.0.1]/", "loopback"),
            ("http://[fe80::1]/", "link-local"),
            ("http://[fd00::1]/", "private"),
            ("http://localhost:8000/feed", "loopback"),  # a name that resolves only to loopback
        ],
    )
    async def test_feeds_at_non_public_addresses_are_refused(self, api, mongo_db, url, kind):
        response = await api.post("/v1/feeds", json={"url": url})

        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["field"] == "url"
        assert kind in error["message"]
        assert response.json()["detail"] == f"url: {error['message']}"
        assert await mongo_db.feeds.count_documents({}) == 0

    @pytest.mark.parametrize(
        ("url", "reason"),
        [
            ("http://[::1/", "IPv6"),
            ("http://[zz::1]/", "IPv6"),
            ("http://[::1]:65536/", "port"),
            ("http://example.com:0/", "port"),
            ("http://[::1]x/", "IPv6"),
        ],
    )
    async def test_invalid_feed_urls_are_422(self, api, mongo_db, url, reason):
        response = await api.post("/v1/feeds", json={"url": url})

        assert response.status_code == 422
        assert reason in response.json()["errors"][0]["message"]
        assert await mongo_db.feeds.count_documents({}) == 0

    async def test_a_name_that_does_not_resolve_is_registered(self, api):
        # DNS fails for a while too (new domains, outages): the poller reports it per feed instead.
        response = await api.post("/v1/feeds", json={"url": "https://feeds.tellwell.invalid/rss"})

        assert response.status_code == 201
        assert response.json()["status"] == "active"

    async def test_allow_listed_private_hosts_are_registered(self, make_api):
        # INGEST_FETCH_ALLOW_HOSTS: intranet feeds and the tests' loopback servers (fetch allows them too)
        api = await make_api(fetch_allow_hosts=["127.0.0.2", "::1"])

        assert (await api.post("/v1/feeds", json={"url": "http://127.0.0.2:8080/rss"})).status_code == 201
        assert (await api.post("/v1/feeds", json={"url": "http://[::1]:8000/"})).status_code == 201
        assert (await api.post("/v1/feeds", json={"url": "http://127.0.0.1:8080/rss"})).status_code == 422

    async def test_bad_query_strings_are_422(self, api):
        assert (await api.get("/v1/feeds", params={"limit": "lots"})).status_code == 422
        assert (await api.get("/v1/feeds", params={"status": "deleted"})).status_code == 422


class TestSources:
    async def test_patch_edits_and_marks_the_source(self, api):
        response = await api.patch(
            "/v1/sources/www.Example-News.com", json={"lean": "lean_left", "factuality": "high"}
        )

        assert response.status_code == 200
        source = response.json()
        assert source["domain"] == "example-news.com"
        assert source["lean"] == "lean_left"
        assert source["credibility"] > 0.5
        assert "api" in source["origins"]
        assert (await api.get("/v1/sources/example-news.com")).json() == source

    async def test_unknown_fields_and_bad_values_are_rejected(self, api):
        assert (await api.patch("/v1/sources/example.com", json={"lean": "far_out"})).status_code == 422
        assert (await api.patch("/v1/sources/example.com", json={"owner_grp": "x"})).status_code == 422
        assert (await api.get("/v1/sources/not a domain")).status_code == 422

    async def test_null_for_a_required_field_is_422_and_changes_nothing(self, api):
        # Found by schemathesis: an explicit null used to reach the model and answer 500.
        before = (await api.patch("/v1/sources/example.com", json={"lean": "center"})).json()
        response = await api.patch("/v1/sources/example.com", json={"lean": None, "credibility": 0.0})
        assert response.status_code == 422
        assert "lean" in response.json()["detail"]
        assert (await api.patch("/v1/sources/example.com", json={"factuality": None})).status_code == 422
        assert (await api.get("/v1/sources/example.com")).json() == before
