"""RSS, Atom and JSON Feed outputs, parsed back by feedparser (what feed readers use)."""

from __future__ import annotations

import feedparser
import pytest

from tellwell.common.events import Category, GroundedSentence
from tests.gateway.conftest import put_views, story

pytestmark = pytest.mark.mongo

BASE = "https://news.example.org"
PATHS = {"rss": "/feed.xml", "atom": "/feed.atom", "json": "/feed.json"}


@pytest.fixture
async def feed_client(make_client):
    _, client = await make_client(public_url=BASE)
    return client


async def parsed(client, fmt: str, **params):
    response = await client.get(PATHS[fmt], params=params)
    assert response.status_code == 200, response.text
    return response, (response.json() if fmt == "json" else feedparser.parse(response.content))


def entries(fmt: str, doc) -> list[dict]:
    """(id, link, title, text, updated) of each item, in the terms of each format."""
    if fmt == "json":
        return [
            {"id": i["id"], "link": i["url"], "title": i["title"], "text": i["content_text"]}
            for i in doc["items"]
        ]
    return [
        {"id": e["id"], "link": e["link"], "title": e["title"], "text": e.get("summary", "")}
        for e in doc.entries
    ]


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
class TestFeeds:
    async def test_a_valid_feed_of_the_live_stories_with_permalinks_and_story_ids(
        self, mongo_db, feed_client, fmt
    ):
        await put_views(mongo_db, [story(0), story(1), story(2, merged_into="story-000")])

        response, doc = await parsed(feed_client, fmt)

        if fmt != "json":
            assert not doc.bozo, doc.get("bozo_exception")  # well-formed, as a reader parses it
            assert doc.version == ("rss20" if fmt == "rss" else "atom10")
        else:
            assert doc["version"] == "https://jsonfeed.org/version/1.1"
            assert doc["feed_url"] == f"{BASE}/feed.json"
        items = entries(fmt, doc)
        story_id = {"atom": "urn:tellwell:story:{}"}.get(fmt, "{}")
        assert [i["id"] for i in items] == [story_id.format("story-000"), story_id.format("story-001")]
        assert [i["link"] for i in items] == [f"{BASE}/stories/story-000", f"{BASE}/stories/story-001"]
        assert "Confidence" in items[0]["text"]
        assert "sources" in items[0]["text"]
        assert response.headers["content-type"].startswith(
            {"rss": "application/rss+xml", "atom": "application/atom+xml", "json": "application/feed+json"}[
                fmt
            ]
        )

    async def test_an_updated_story_keeps_its_id_and_moves_its_updated_time(self, mongo_db, feed_client, fmt):
        await put_views(mongo_db, [story(0)])
        _, before = await parsed(feed_client, fmt)
        await put_views(mongo_db, [story(0, version=2, title="Quake toll rises to 30")])
        _, after = await parsed(feed_client, fmt)

        assert [i["id"] for i in entries(fmt, before)] == [i["id"] for i in entries(fmt, after)]
        assert entries(fmt, after)[0]["title"] == "Quake toll rises to 30"
        if fmt == "json":
            assert after["items"][0]["date_modified"] >= before["items"][0]["date_modified"]
        elif fmt == "atom":
            assert after.entries[0].updated_parsed >= before.entries[0].updated_parsed

    async def test_filters_apply_and_links_repeat_them(self, mongo_db, feed_client, fmt):
        await put_views(
            mongo_db,
            [story(0, category=Category.science, title="Comet seen over Chile"), story(1)],
        )

        _, doc = await parsed(feed_client, fmt, category="science", q="comet")

        assert [i["title"] for i in entries(fmt, doc)] == ["Comet seen over Chile"]
        self_link = (
            doc["feed_url"]
            if fmt == "json"
            else next(link.href for link in doc.feed.links if link.rel == "self")
        )
        assert self_link == f"{BASE}{PATHS[fmt]}?category=science&q=comet"
        page_link = doc["home_page_url"] if fmt == "json" else doc.feed.link
        assert page_link == f"{BASE}/?category=science&q=comet"  # the web page, not the feed itself

    async def test_markup_in_a_summary_stays_text(self, mongo_db, feed_client, fmt):
        hostile = "Officials said <b>12</b> died <script>alert(1)</script> in the quake."
        view = story(0)
        view = view.model_copy(
            update={"summary": [GroundedSentence(text=hostile, article_ids=[view.articles[0].article_id])]}
        )
        await put_views(mongo_db, [view])

        response, doc = await parsed(feed_client, fmt)

        text = entries(fmt, doc)[0]["text"]
        if fmt == "rss":  # readers render description as HTML: the text arrives escaped, shown as is
            assert "&lt;script&gt;" in text
            assert "<script>" not in text
        else:  # Atom type="text" and JSON Feed content_text are plain text by definition
            assert hostile in text
            if fmt == "atom":
                assert b'type="text"' in response.content

    async def test_etag_and_304(self, mongo_db, feed_client, fmt):
        await put_views(mongo_db, [story(0)])
        first = await feed_client.get(PATHS[fmt])
        again = await feed_client.get(PATHS[fmt], headers={"If-None-Match": first.headers["etag"]})
        await put_views(mongo_db, [story(0, version=2, title="Changed")])
        changed = await feed_client.get(PATHS[fmt], headers={"If-None-Match": first.headers["etag"]})

        assert again.status_code == 304
        assert changed.status_code == 200

    async def test_a_bad_filter_is_a_422_naming_it(self, feed_client, fmt):
        response = await feed_client.get(PATHS[fmt], params={"min_confidence": "lots"})
        assert response.status_code == 422
        assert "min_confidence" in response.text


async def test_the_page_links_the_feeds_of_its_filters(mongo_db, feed_client):
    await put_views(mongo_db, [story(0)])
    page = (await feed_client.get("/", params={"category": "science"})).text
    rss = 'type="application/rss+xml" title="TellWell (RSS)" href="/feed.xml?category=science">'
    assert f'<link rel="alternate" {rss}' in page
    assert 'href="/feed.atom?category=science"' in page
    assert 'href="/feed.json?category=science"' in page


async def test_links_default_to_the_gateways_own_address(mongo_db, make_client):
    await put_views(mongo_db, [story(0)])
    _, client = await make_client(host="127.0.0.1", port=8123)
    doc = (await client.get("/feed.json", headers={"host": "evil.example"})).json()
    assert doc["items"][0]["url"] == "http://127.0.0.1:8123/stories/story-000"  # never the Host header
