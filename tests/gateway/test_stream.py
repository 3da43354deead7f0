"""``/v1/stream`` (SSE) on a real uvicorn server in the test's event loop, over FerretDB."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn
from prometheus_client import REGISTRY

from tellwell.common.views import STORY_VIEWS, VIEW_WRITES, view_document, write_mark
from tellwell.gateway.app import create_app
from tellwell.gateway.live import event_id
from tellwell.gateway.settings import Settings
from tests.fixtures.waiting import eventually
from tests.gateway.conftest import put_views, story

pytestmark = pytest.mark.mongo


@pytest.fixture
async def base_url(gateway_settings: Settings) -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(gateway_settings), port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    # uvicorn offers no event to wait on; a server that failed to start has finished its task
    await eventually(lambda: server.started or task.done(), what="uvicorn to start")
    assert server.started, task.result()
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    server.force_exit = True  # open streams would hold a graceful shutdown
    await asyncio.wait_for(task, 10)


def stream_clients() -> float:
    """Open SSE connections (the gateway's gauge; the server runs in this process)."""
    return REGISTRY.get_sample_value("tellwell_gateway_stream_clients") or 0.0


async def read_events(response: httpx.Response, count: int, within_s: float = 10.0) -> list[dict[str, str]]:
    """The next ``count`` SSE events (id, event, data) of a streaming response."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}

    async def collect() -> None:
        async for line in response.aiter_lines():
            if not line:
                if "data" in current:
                    events.append(dict(current))
                    if len(events) == count:
                        return
                current.clear()
                continue
            field, _, value = line.partition(": ")
            current[field] = value

    await asyncio.wait_for(collect(), within_s)
    return events


class TestStream:
    async def test_a_written_view_is_announced(self, mongo_db, base_url):
        before = stream_clients()
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=10) as http,
            http.stream("GET", "/v1/stream") as r,
        ):
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            # the headers may come before the stream subscribes to the change feed
            await eventually(lambda: stream_clients() > before, what="the stream to subscribe")
            await put_views(mongo_db, [story(4, title="Rescue teams reach the epicentre")])

            [event] = await read_events(r, 1)

        card = json.loads(event["data"])
        assert event["event"] == "story"
        assert event["id"].endswith(".story-004")
        assert card["id"] == "story-004"
        assert card["title"] == "Rescue teams reach the epicentre"
        assert card["page_url"] == "/stories/story-004"

    async def test_resume_replays_what_came_after_the_last_event_id(self, mongo_db, base_url):
        t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        for i in range(3):
            await put_views(mongo_db, [story(i)], updated_at=t0 + timedelta(seconds=i))
        first = await mongo_db.story_views.find_one({"_id": "story-000"})

        async with (
            httpx.AsyncClient(base_url=base_url, timeout=10) as http,
            http.stream("GET", "/v1/stream", headers={"Last-Event-ID": event_id(first)}) as r,
        ):
            events = await read_events(r, 2)

        assert [json.loads(e["data"])["id"] for e in events] == ["story-001", "story-002"]

    async def test_a_broken_last_event_id_is_a_422_naming_it(self, base_url):
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.get("/v1/stream", headers={"Last-Event-ID": "yesterday"})

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "Last-Event-ID"


class TestChangeFeed:
    async def test_a_write_is_announced_by_its_mark_as_the_view_now_is(self, mongo_db, make_client):
        app, _ = await make_client(poll_interval_s=3600)  # polled by hand here
        changes = app.state.changes
        now = datetime.now(UTC)
        # A view written without its mark yet (score marks after the write): not announced.
        unmarked = view_document(story(0, title="Quake hits central Chile"), updated_at=now)
        await mongo_db[STORY_VIEWS].replace_one({"_id": "story-000"}, unmarked, upsert=True)
        assert await changes.poll_once() == []

        # Its mark arrives after a newer version was written: the view is announced as it is now.
        newer = view_document(story(0, version=5, title="Rescue teams reach the epicentre"), updated_at=now)
        await mongo_db[STORY_VIEWS].replace_one({"_id": "story-000"}, newer, upsert=True)
        await mongo_db[VIEW_WRITES].replace_one({"_id": "story-000"}, write_mark(unmarked), upsert=True)
        events = await changes.poll_once()
        await mongo_db[VIEW_WRITES].replace_one({"_id": "story-000"}, write_mark(newer), upsert=True)
        again = await changes.poll_once()

        assert [json.loads(e.data)["title"] for e in events] == ["Rescue teams reach the epicentre"]
        assert again == []  # the newer view's own mark names what was already announced

    async def test_a_mark_ahead_of_its_view_waits_for_it(self, mongo_db, make_client):
        app, _ = await make_client(poll_interval_s=3600)
        changes = app.state.changes
        now = datetime.now(UTC)
        old = view_document(story(1, version=1), updated_at=now)
        await mongo_db[STORY_VIEWS].replace_one({"_id": "story-001"}, old, upsert=True)
        ahead = view_document(story(1, version=2, title="Aftershock"), updated_at=now + timedelta(seconds=1))
        await mongo_db[VIEW_WRITES].replace_one({"_id": "story-001"}, write_mark(ahead), upsert=True)

        assert await changes.poll_once() == []  # the store still shows version 1 (a racing write)
        await mongo_db[STORY_VIEWS].replace_one({"_id": "story-001"}, ahead)
        events = await changes.poll_once()

        assert [json.loads(e.data)["title"] for e in events] == ["Aftershock"]

    async def test_a_write_stamped_slightly_in_the_past_is_still_seen(self, mongo_db, make_client):
        now = datetime.now(UTC)
        await put_views(mongo_db, [story(0)], updated_at=now)
        app, _ = await make_client(poll_interval_s=3600)  # polled by hand here
        changes = app.state.changes
        version = changes.version

        # Another score replica, its clock 2 s behind, writes after this replica's last poll.
        await put_views(mongo_db, [story(1)], updated_at=now - timedelta(seconds=2), seen=False)
        events = await changes.poll_once()
        again = await changes.poll_once()

        assert [json.loads(e.data)["id"] for e in events] == ["story-001"]
        assert changes.version == version + 1
        assert again == []
