"""A story's history: ``/v1/stories/{id}/versions`` (cursor pages) and the page
``/stories/{id}/history``, both from the history score stores with each version
(``tellwell.common.history``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tellwell.common.history import Entry, History
from tellwell.common.http import HTTPProblem
from tellwell.gateway.cache import Rendered, rendered, send
from tellwell.gateway.deps import GatewayDep
from tellwell.gateway.rendering import render
from tellwell.gateway.routes.stories import PROBLEMS, StoryId

router = APIRouter(tags=["stories"])

JSON = "application/json"
HTML = "text/html; charset=utf-8"
HISTORY_CACHE = "public, max-age=15"


async def story_history(gw: GatewayDep, story_id: str) -> History:
    history = await gw.views.history(story_id)
    if history is None:
        raise HTTPProblem(404, f"No history of a story with id '{story_id}'.")
    return history


def page_of(history: History, before: int | None, limit: int) -> tuple[list[Entry], str | None]:
    """Newest first, the versions older than ``before``; the cursor of the next page."""
    newest_first = [e for e in reversed(history.entries) if before is None or e.version < before]
    page = newest_first[:limit]
    more = len(newest_first) > limit
    return page, (str(page[-1].version) if more and page else None)


@router.get(
    "/v1/stories/{story_id}/versions",
    responses={404: PROBLEMS[404], 422: PROBLEMS[422], 429: PROBLEMS[429]},
    summary="A story's versions",
)
async def story_versions(
    request: Request,
    story_id: StoryId,
    gw: GatewayDep,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,12}$", description="`next_cursor` of a page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Every version of the story, newest first, each with its time and what changed in words
    (sources added, confidence moved and why, title or summary rewritten, figures revised, merged,
    category changed). A merged story keeps its own history (its last version says where it went).
    Schema: `VersionsPage`."""

    async def build() -> Rendered:
        history = await story_history(gw, story_id)
        page, next_cursor = page_of(history, int(cursor) if cursor else None, limit)
        body = {
            "story_id": story_id,
            "items": [e.model_dump(mode="json") for e in page],
            "next_cursor": next_cursor,
            "dropped": history.dropped,
        }
        return rendered(orjson.dumps(body), JSON)

    key = ("versions", gw.changes.version, story_id, cursor, limit)
    return send(request, await gw.cache.get(key, build), HISTORY_CACHE)


@router.get("/stories/{story_id}/history", include_in_schema=False)
async def history_page(request: Request, story_id: StoryId, gw: GatewayDep) -> Response:
    now = datetime.now(UTC)

    async def build() -> Rendered:
        history = await story_history(gw, story_id)
        entries = list(reversed(history.entries))
        title = entries[0].title if entries else story_id
        body = render(
            gw.templates,
            "history.html",
            now,
            story_id=story_id,
            title=title,
            entries=entries,
            history=history,
        )
        return rendered(body, HTML)

    key = ("history-page", gw.changes.version, story_id, int(now.timestamp() // 60))
    return send(request, await gw.cache.get(key, build), HISTORY_CACHE)
