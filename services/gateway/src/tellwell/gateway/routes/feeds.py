"""``/feed.xml`` (RSS 2.0), ``/feed.atom`` (Atom 1.0), ``/feed.json`` (JSON Feed 1.1): the feed's
first page for any filter the API takes, with ETags and ``304`` like the API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tellwell.gateway import reads
from tellwell.gateway.cache import Rendered, rendered, send
from tellwell.gateway.deps import Feed, FeedDep, GatewayDep
from tellwell.gateway.syndication import MEDIA_TYPES, Format, render_feed

router = APIRouter(tags=["feeds"])

FEEDS_CACHE = "public, max-age=60"
FILTERS = ("category", "lean", "min_confidence", "since", "source", "language", "q", "sort")


def filters_of(feed: Feed) -> dict[str, str]:
    """The query a feed answers, as its links repeat it (defaults left out)."""
    p = feed.params
    values = {
        "category": p.category.value if p.category else None,
        "lean": p.lean,
        "min_confidence": f"{p.min_confidence:g}" if p.min_confidence is not None else None,
        "since": p.since,
        "source": p.source,
        "language": p.language,
        "q": p.q,
        "sort": p.sort if p.sort != "hot" else None,
    }
    return {k: v for k in FILTERS if (v := values[k])}


async def _feed(request: Request, fmt: Format, feed: Feed, gw: GatewayDep) -> Response:
    base = request.app.state.settings.base_url()

    async def build() -> Rendered:
        page = await reads.feed_page(gw.views, gw.changes.model, feed.query, None, feed.limit)
        body = render_feed(fmt, page.items(), base=base, filters=filters_of(feed))
        return rendered(body, MEDIA_TYPES[fmt])

    entry = await gw.cache.get(("syndication", fmt, gw.changes.version, feed.query, feed.limit), build)
    return send(request, entry, FEEDS_CACHE)


@router.get("/feed.xml", response_class=Response, responses={200: {"content": {MEDIA_TYPES["rss"]: {}}}})
async def rss(request: Request, feed: FeedDep, gw: GatewayDep) -> Response:
    """The feed as RSS 2.0; takes the feed's filters (`category`, `lean`, `min_confidence`, `since`,
    `source`, `q`, `sort`, `limit`). Items keep their story's id as `guid` while it is updated."""
    return await _feed(request, "rss", feed, gw)


@router.get("/feed.atom", response_class=Response, responses={200: {"content": {MEDIA_TYPES["atom"]: {}}}})
async def atom(request: Request, feed: FeedDep, gw: GatewayDep) -> Response:
    """The feed as Atom 1.0 (same filters as `/feed.xml`); entry ids `urn:tellwell:story:<id>`."""
    return await _feed(request, "atom", feed, gw)


@router.get("/feed.json", response_class=Response, responses={200: {"content": {MEDIA_TYPES["json"]: {}}}})
async def json_feed(request: Request, feed: FeedDep, gw: GatewayDep) -> Response:
    """The feed as JSON Feed 1.1 (same filters as `/feed.xml`); item ids are story ids."""
    return await _feed(request, "json", feed, gw)
