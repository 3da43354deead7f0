"""The gateway's FastAPI dependencies, declared once as ``Annotated`` aliases.

The hot path is kept to two dependencies, both ``async def`` (FastAPI runs a plain ``def``
dependency in a worker thread, which costs more than a whole cached response): ``GatewayDep``, the
replica's services, and ``FeedDep``, the validated feed query, memoised by raw query string.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from jinja2 import Environment
from pydantic import ValidationError

from tellwell.common.events import StoryScored
from tellwell.common.http import HTTPProblem, field_errors, invalid_request
from tellwell.gateway.cache import Rendered, ResponseCache
from tellwell.gateway.domain import CursorKey, FeedQuery, InvalidQuery, decode_cursor, parse_since
from tellwell.gateway.live import ChangeFeed
from tellwell.gateway.repository import Sources, StoryViews
from tellwell.gateway.schemas import FeedParams
from tellwell.gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class Gateway:
    """What a request handler needs of this replica (built by the app's lifespan)."""

    settings: Settings
    views: StoryViews
    sources: Sources
    cache: ResponseCache[Rendered]
    parsed: ResponseCache[StoryScored]  # full views by (data version, id): pages re-render each minute
    changes: ChangeFeed
    templates: Environment


def invalid(exc: InvalidQuery) -> HTTPProblem:
    """A 422 problem naming the field, the same problem as FastAPI's own validation errors."""
    return invalid_request([{"field": exc.field, "message": exc.message}])


async def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


@dataclass(frozen=True, slots=True)
class Feed:
    """A validated feed request: the query, where the page starts, its size (hashable: a cache key)."""

    query: FeedQuery
    cursor: str | None
    after: CursorKey | None
    limit: int
    params: FeedParams


FeedMemo = dict[tuple[bytes, int], Feed]
_MEMO_MAX = 4096


async def feed_request(request: Request) -> Feed:
    """The feed query of this request's query string (see ``FeedParams``); 422 names a bad field."""
    now = datetime.now(UTC)
    # Parsing and validating costs more than serving a cached page, and most requests repeat a
    # query string: remember the result (per minute, as look-backs such as since=24h move with time).
    memo: FeedMemo = request.app.state.feed_memo
    key = (request.scope["query_string"], int(now.timestamp() // 60))
    feed = memo.get(key)
    if feed is None:
        feed = parse_feed(dict(request.query_params), request.app.state.settings, now)
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = feed
    return feed


def parse_feed(raw: dict[str, Any], settings: Settings, now: datetime) -> Feed:
    try:
        params = FeedParams.model_validate(raw)
    except ValidationError as exc:
        raise invalid_request(
            field_errors(exc.errors(include_url=False), body=raw, request_loc=False)
        ) from None
    try:
        query = FeedQuery(
            sort=params.sort,
            category=params.category,
            lean=params.lean,
            min_confidence=params.min_confidence,
            since=parse_since(params.since, now) if params.since else None,
            source=params.source,
            q=params.q,
            language=params.language,
        )
        after = decode_cursor(query, params.cursor) if params.cursor else None
    except InvalidQuery as exc:
        raise invalid(exc) from None
    limit = min(params.limit or settings.page_size, settings.max_page_size)
    return Feed(query, params.cursor, after, limit, params)


FeedDep = Annotated[Feed, Depends(feed_request)]


def feed_openapi() -> dict[str, Any]:
    """The feed's query parameters for the OpenAPI document (the dependency reads them by hand)."""
    schema = FeedParams.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:  # enums live in $defs, which a parameter cannot point into
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    schema = inline(schema)
    parameters = [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": prop.pop("description", ""),
            "schema": prop,
        }
        for name, prop in schema["properties"].items()
    ]
    return {"parameters": parameters}
