"""``/v1/stream``: Server-Sent Events of story updates, resumable by event id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from tellwell.gateway.deps import GatewayDep, invalid
from tellwell.gateway.domain import InvalidQuery
from tellwell.gateway.live import StoryEvent, parse_event_id

router = APIRouter(prefix="/v1/stream", tags=["stream"])

RETRY = b"retry: 3000\n\n"
KEEPALIVE = b": keep-alive\n\n"


@router.get(
    "",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Events `story`: `id` = `<ms>.<story id>`, `data` = a story card (JSON), "
            "as in the feed; a card with `merged_into` set means the story was absorbed.",
        },
        422: {"description": "`Last-Event-ID` is not an id of this stream"},
    },
)
async def stream(
    gw: GatewayDep,
    last_event_id: Annotated[str | None, Header(max_length=300)] = None,
    resume: Annotated[
        str | None,
        Query(alias="last_event_id", max_length=300, description="Same as the Last-Event-ID header."),
    ] = None,
) -> StreamingResponse:
    """Every story view written from now on, as it becomes readable.

    Reconnecting with `Last-Event-ID` (browsers' EventSource does it by itself) first replays what was
    written after that event (up to a bound), from the store, so any replica can resume any stream.
    """
    after = last_event_id or resume
    if after:
        try:
            parse_event_id(after)
        except InvalidQuery as exc:
            raise invalid(exc) from None

    async def events() -> AsyncIterator[bytes]:
        async with gw.changes.subscribe() as queue:  # subscribe first: nothing falls between replay and live
            yield RETRY
            replayed: set[str] = set()
            if after:
                for old in await gw.changes.replay(after, gw.settings.stream_replay_max):
                    replayed.add(old.id)
                    yield old.encode()
            while True:
                try:
                    event: StoryEvent | None = await asyncio.wait_for(
                        queue.get(), gw.settings.stream_heartbeat_s
                    )
                except TimeoutError:
                    yield KEEPALIVE
                    continue
                if event is None:
                    return
                if event.id not in replayed:
                    yield event.encode()

    headers = {"cache-control": "no-store", "x-accel-buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
