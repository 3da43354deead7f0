"""The web pages: the feed (``/``) and a story (``/stories/{id}``), server-rendered, cached as bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tellwell.common.events import Category
from tellwell.gateway import reads
from tellwell.gateway.cache import Rendered, rendered, send
from tellwell.gateway.deps import FeedDep, GatewayDep
from tellwell.gateway.domain import source_names
from tellwell.gateway.rendering import render
from tellwell.gateway.routes.stories import Merged, StoryId, parsed_view, redirect

router = APIRouter(tags=["pages"], include_in_schema=False)

HTML = "text/html; charset=utf-8"
PAGE_CACHE = "public, max-age=5"
LEANS = [
    ("", "Any"),
    ("left", "Covered by the left"),
    ("center", "Covered by the center"),
    ("right", "Covered by the right"),
    ("blindspot", "Blindspots"),
]
CONFIDENCES = [("", "Any"), ("50", "50%+"), ("70", "70%+"), ("90", "90%+")]
WINDOWS = [
    ("", "Any time"),
    ("1h", "Past hour"),
    ("24h", "Past day"),
    ("7d", "Past week"),
    ("30d", "Past month"),
]
LANGUAGES = [
    ("", "Any"),
    ("en", "English"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("it", "Italian"),
    ("pt", "Portuguese"),
    ("und", "Undetermined"),
]
FORM_FIELDS = ("q", "category", "lean", "min_confidence", "since", "language", "sort", "source")


def _minute(now: datetime) -> int:
    # Pages show ages ("39m ago"): a cached page lives at most until the minute turns.
    return int(now.timestamp() // 60)


@router.get("/")
async def feed_page(
    request: Request,
    feed: FeedDep,
    gw: GatewayDep,
) -> Response:
    now = datetime.now(UTC)
    p = feed.params
    form = {
        "q": p.q or "",
        "category": p.category.value if p.category else "",
        "lean": p.lean or "",
        "min_confidence": f"{p.min_confidence:g}" if p.min_confidence is not None else "",
        "since": p.since or "",
        "language": p.language or "",
        "sort": p.sort,
        "source": p.source or "",
    }
    filters = {k: v for k, v in form.items() if v and not (k == "sort" and v == "hot")}

    async def build() -> Rendered:
        page = await reads.feed_page(gw.views, gw.changes.model, feed.query, feed.after, feed.limit)
        next_url = None
        if page.next_cursor is not None:
            next_url = "/?" + urlencode({**filters, "cursor": page.next_cursor})
        body = render(
            gw.templates,
            "feed.html",
            now,
            cards=page.items(),
            form=form,
            categories=[c.value for c in Category],
            leans=LEANS,
            confidences=CONFIDENCES,
            windows=WINDOWS,
            languages=LANGUAGES,
            next_url=next_url,
            live=feed.cursor is None,
            query_string=urlencode(filters),
        )
        return rendered(body, HTML)

    key = (
        "feed-page",
        gw.changes.version,
        _minute(now),
        feed.query,
        feed.cursor,
        feed.limit,
        tuple(filters.items()),
    )
    return send(request, await gw.cache.get(key, build), PAGE_CACHE)


@router.get("/stories/{story_id}")
async def story_page(
    request: Request,
    story_id: StoryId,
    gw: GatewayDep,
) -> Response:
    now = datetime.now(UTC)

    async def build() -> Rendered:
        view = await parsed_view(gw, story_id)
        versions = await gw.views.version_count(view.story_id)
        context: dict[str, Any] = {
            "v": view,
            "updates": versions - 1 if versions is not None else None,
            "names": source_names(view),
            "articles": {a.article_id: a for a in view.articles},
        }
        return rendered(render(gw.templates, "story.html", now, **context), HTML)

    try:
        entry = await gw.cache.get(("story-page", reads.story_key(gw.changes, story_id), _minute(now)), build)
    except Merged as merged:
        return redirect(request, f"/stories/{quote(merged.survivor, safe='')}")
    return send(request, entry, PAGE_CACHE)


@router.get("/stories/{story_id}/card")
async def story_card_fragment(story_id: StoryId, feed: FeedDep, gw: GatewayDep) -> Response:
    """One feed card as HTML, for the live feed; 204 when the story does not match the feed's filters."""
    card = await reads.card_if_matches(gw.views, gw.changes.model, story_id, feed.query)
    if card is None:
        return Response(status_code=204)
    body = render(gw.templates, "card.html", datetime.now(UTC), c=card)
    return Response(body, media_type=HTML, headers={"cache-control": "no-store"})
