"""A story's history through the API and the web page, from the history score stores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tellwell.common.events import ArticleRef, Lean
from tellwell.common.history import STORY_HISTORY, changes_for, snapshot_of, with_version
from tests.gateway.conftest import now, put_views, story

pytestmark = pytest.mark.mongo


async def store_versions(db, *views) -> None:
    """What score does for each version: its changes onto the view, the view, then the history."""
    history = None
    for i, view in enumerate(views):
        view = view.model_copy(update={"changes": changes_for(history, snapshot_of(view))})
        await put_views(db, [view])
        history = with_version(history, view, now() - timedelta(minutes=10 * (len(views) - i)))
        await db[STORY_HISTORY].replace_one({"_id": view.story_id}, history.to_document(), upsert=True)


def with_cnn(view, version: int):
    cnn = ArticleRef(
        article_id="x-cnn",
        url="https://cnn.com/a",
        title=view.title,
        source="cnn.com",
        source_name="CNN",
        lean=Lean.left,
        published_at=view.last_published_at,
    )
    return view.model_copy(update={"version": version, "articles": [*view.articles, cnn]})


async def test_versions_newest_first_in_cursor_pages(mongo_db, client):
    v1 = story(0)
    await store_versions(
        mongo_db, v1, with_cnn(v1, 2), with_cnn(v1, 3).model_copy(update={"title": "Toll rises"})
    )

    first = (await client.get("/v1/stories/story-000/versions", params={"limit": 2})).json()
    rest = (
        await client.get("/v1/stories/story-000/versions", params={"cursor": first["next_cursor"]})
    ).json()

    assert [e["version"] for e in first["items"]] == [3, 2]
    assert [e["version"] for e in rest["items"]] == [1]
    assert rest["next_cursor"] is None
    assert [c["kind"] for c in first["items"][0]["changes"]] == ["title"]
    assert first["items"][1]["changes"][0]["text"] == "+1 source: CNN"
    assert rest["items"][0]["changes"][0]["kind"] == "created"


async def test_the_page_lists_the_changes_and_the_story_links_it(mongo_db, client):
    v1 = story(0)
    await store_versions(mongo_db, v1, with_cnn(v1, 2))

    page = (await client.get("/stories/story-000/history")).text
    story_page = (await client.get("/stories/story-000")).text

    assert "+1 source: CNN" in page
    assert "First published, from 5 sources" in page
    assert 'href="/stories/story-000/history">updated 1 time · history</a>' in story_page


async def test_no_history_is_a_404_and_a_bad_cursor_a_422(mongo_db, client):
    await put_views(mongo_db, [story(0)])  # scored before history existed
    assert (await client.get("/v1/stories/story-000/versions")).status_code == 404
    assert "history</a>" not in (await client.get("/stories/story-000")).text
    bad = await client.get("/v1/stories/story-000/versions", params={"cursor": "x'; drop"})
    assert bad.status_code == 422
    assert "cursor" in bad.text
