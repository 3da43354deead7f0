"""``/v1/stories``: the feed, one story's full view, its articles."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError

from tellwell.common.events import ArticleRef, StoryScored
from tellwell.common.http import HTTPProblem
from tellwell.common.views import view_from_document
from tellwell.gateway.cache import Rendered, rendered, send
from tellwell.gateway.deps import FeedDep, Gateway, GatewayDep, feed_openapi
from tellwell.gateway.reads import feed_page, story_key
from tellwell.gateway.repository import Doc, MergeLoop, StoryViews
from tellwell.gateway.schemas import ArticlesPage, FeedPage

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/stories", tags=["stories"])

JSON = "application/json"
FEED_CACHE = "public, max-age=5"
STORY_CACHE = "public, max-age=15"
StoryId = Annotated[str, Path(min_length=1, max_length=200, description="A story id.")]
_ARTICLES = TypeAdapter(list[ArticleRef])
PROBLEMS = {
    404: {"description": "No such story"},
    308: {"description": "The story was merged: `Location` is its survivor (chains already followed)."},
    422: {"description": "A parameter is invalid; the problem names it"},
    429: {"description": "Rate limit exceeded; see `Retry-After`"},
}


class Merged(Exception):
    """The asked-for story was absorbed by ``survivor``: answer with a redirect."""

    def __init__(self, survivor: str) -> None:
        self.survivor = survivor


async def live_view(views: StoryViews, story_id: str) -> Doc:
    """The story's document; raises ``Merged`` (with the end of the merge chain) or a 404 problem."""
    doc = await views.get(story_id)
    if doc is None:
        raise HTTPProblem(404, f"No story with id '{story_id}'.")
    if doc.get("merged_into"):
        try:
            survivor = await views.resolve(story_id)
        except MergeLoop:
            raise HTTPProblem(
                404, f"Story '{story_id}' was merged, but its merges go round in a loop."
            ) from None
        if survivor is None:
            raise HTTPProblem(
                404, f"Story '{story_id}' was merged into '{doc['merged_into']}', which is not available."
            )
        raise Merged(survivor["_id"])
    return doc


def read_view(doc: Doc) -> StoryScored:
    """The view a document holds; a 500 problem that says so when it cannot be read (a bug upstream)."""
    try:
        return view_from_document(doc)
    except (ValidationError, KeyError, TypeError):
        log.exception("unreadable story view %r", doc.get("_id"))
        raise HTTPProblem(500, f"The stored view of story '{doc.get('_id')}' cannot be read.") from None


async def parsed_view(gw: Gateway, story_id: str) -> StoryScored:
    """A live story's parsed view, cached per data version (pages re-render each minute)."""

    async def load() -> StoryScored:
        return read_view(await live_view(gw.views, story_id))

    return await gw.parsed.get(story_key(gw.changes, story_id), load)


def redirect(request: Request, path: str) -> RedirectResponse:
    query = request.url.query
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=308)


STORY_RESPONSES: dict[int | str, dict[str, Any]] = {code: PROBLEMS[code] for code in (308, 404, 429)}


async def story_response(
    request: Request,
    gw: Gateway,
    story_id: str,
    render: Callable[[], Awaitable[Rendered]],
    *,
    kind: str,
    suffix: str = "",
) -> Response:
    """What ``render`` makes of a live story (cached per data version, as ``kind``), or a redirect
    to ``/v1/stories/<survivor><suffix>`` for a merged one."""
    try:
        entry = await gw.cache.get((kind, story_key(gw.changes, story_id)), render)
    except Merged as merged:
        return redirect(request, f"/v1/stories/{quote(merged.survivor, safe='')}{suffix}")
    return send(request, entry, STORY_CACHE)


@router.get(
    "",
    response_model=FeedPage,
    responses={422: PROBLEMS[422], 429: PROBLEMS[429]},
    openapi_extra=feed_openapi(),
)
async def list_stories(request: Request, feed: FeedDep, gw: GatewayDep) -> Response:
    """The feed: live stories, hottest or newest first (or best matches of `q` first with
    `sort=relevance`), filtered; pages by an opaque cursor.

    `q` finds stories where every word of it starts a word of the title, summary or entity names
    (case and accents ignored). A card names at most five sources, most credible first; the story
    itself lists all.

    Pages are keyset-paginated on (sort key, story id), so stories published while a client pages
    never shift later pages (a new story appears on the first page only). With `sort=hot` a story
    whose ranking changes between two requests can move across the page boundary.
    Responses carry an `ETag`; send it back as `If-None-Match` for a `304`.
    """

    async def render() -> Rendered:
        page = await feed_page(gw.views, gw.changes.model, feed.query, feed.after, feed.limit)
        return Rendered(page.json(), page.etag(), JSON)

    entry = await gw.cache.get(("feed", gw.changes.version, feed.query, feed.cursor, feed.limit), render)
    return send(request, entry, FEED_CACHE)


@router.get("/{story_id}", response_model=StoryScored, responses=STORY_RESPONSES)
async def get_story(request: Request, story_id: StoryId, gw: GatewayDep) -> Response:
    """The full story view (the `story.scored` payload): summary, body, confidence with its breakdown,
    lean, perspectives, gaps, member articles, related stories.

    A story absorbed by a merge answers `308 Permanent Redirect` to its survivor (following a chain
    of merges to its end), so old links keep working.
    """

    async def render() -> Rendered:
        doc = await live_view(gw.views, story_id)
        read_view(doc)  # never serve bytes that do not parse as a view
        return rendered(doc["view"].encode(), JSON)

    return await story_response(request, gw, story_id, render, kind="story")


@router.get("/{story_id}/articles", response_model=ArticlesPage, responses=STORY_RESPONSES)
async def story_articles(request: Request, story_id: StoryId, gw: GatewayDep) -> Response:
    """The story's member articles with their sources, oldest first (a merged id redirects)."""

    async def render() -> Rendered:
        view = await parsed_view(gw, story_id)
        articles = sorted(view.articles, key=lambda a: a.published_at)
        body = (
            b'{"story_id":'
            + orjson.dumps(view.story_id)
            + b',"items":'
            + _ARTICLES.dump_json(articles)
            + b"}"
        )
        return rendered(body, JSON)

    return await story_response(request, gw, story_id, render, kind="articles", suffix="/articles")
