"""The gateway's FastAPI dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from jinja2 import Environment

from tellwell.common.http import HTTPProblem
from tellwell.gateway.cache import ResponseCache
from tellwell.gateway.domain import CursorKey, FeedQuery, InvalidQuery, decode_cursor, parse_since
from tellwell.gateway.live import ChangeFeed
from tellwell.gateway.repository import Sources, StoryViews
from tellwell.gateway.schemas import FeedParams
from tellwell.gateway.settings import Settings


def invalid(exc: InvalidQuery) -> HTTPProblem:
    """A 422 problem naming the field, shaped like FastAPI's own validation errors."""
    return HTTPProblem(
        422, f"{exc.field}: {exc.message}", errors=[{"field": exc.field, "message": exc.message}]
    )


def get_views(request: Request) -> StoryViews:
    return request.app.state.views  # type: ignore[no-any-return]


def get_sources(request: Request) -> Sources:
    return request.app.state.sources  # type: ignore[no-any-return]


def get_cache(request: Request) -> ResponseCache:
    return request.app.state.cache  # type: ignore[no-any-return]


def get_changes(request: Request) -> ChangeFeed:
    return request.app.state.changes  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_templates(request: Request) -> Environment:
    return request.app.state.templates  # type: ignore[no-any-return]


ViewsDep = Annotated[StoryViews, Depends(get_views)]
SourcesDep = Annotated[Sources, Depends(get_sources)]
CacheDep = Annotated[ResponseCache, Depends(get_cache)]
ChangesDep = Annotated[ChangeFeed, Depends(get_changes)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
TemplatesDep = Annotated[Environment, Depends(get_templates)]


@dataclass(frozen=True, slots=True)
class Feed:
    """A validated feed request: the query, where the page starts, its size (hashable: a cache key)."""

    query: FeedQuery
    cursor: str | None
    after: CursorKey | None
    limit: int
    params: FeedParams


def feed_request(params: Annotated[FeedParams, Query()], settings: SettingsDep) -> Feed:
    now = datetime.now(UTC)
    try:
        query = FeedQuery(
            sort=params.sort,
            category=params.category,
            lean=params.lean,
            min_confidence=params.min_confidence,
            since=parse_since(params.since, now) if params.since else None,
            source=params.source,
            q=params.q,
        )
        after = decode_cursor(query, params.cursor) if params.cursor else None
    except InvalidQuery as exc:
        raise invalid(exc) from None
    limit = min(params.limit or settings.page_size, settings.max_page_size)
    return Feed(query, params.cursor, after, limit, params)


FeedDep = Annotated[Feed, Depends(feed_request)]
