"""``/v1/sources``: the source registry (read-only here; ingest owns it)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from tellwell.common.events import Lean
from tellwell.common.http import HTTPProblem
from tellwell.common.sources import Source
from tellwell.gateway.cache import rendered, send
from tellwell.gateway.deps import GatewayDep
from tellwell.gateway.schemas import SourcesPage

router = APIRouter(prefix="/v1/sources", tags=["sources"])

SOURCES_CACHE = "public, max-age=300"
DOMAIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9-]+$"


@router.get("", response_model=SourcesPage, responses={422: {"description": "A parameter is invalid"}})
async def list_sources(
    request: Request,
    gw: GatewayDep,
    lean: Annotated[Lean | None, Query(description="Only sources of this lean.")] = None,
    cursor: Annotated[
        str | None,
        Query(max_length=253, pattern=DOMAIN_PATTERN, description="`next_cursor` of the last page."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Sources in domain order, with lean, factuality, credibility and owner group."""
    items = await gw.sources.list(lean=lean.value if lean else None, after=cursor, limit=limit + 1)
    page = items[:limit]
    body = {
        "items": [s.model_dump(mode="json") for s in page],
        "next_cursor": page[-1].domain if len(items) > limit else None,
    }
    return send(request, rendered(orjson.dumps(body), "application/json"), SOURCES_CACHE)


@router.get("/{domain}", response_model=Source, responses={404: {"description": "No such source"}})
async def get_source(
    request: Request,
    gw: GatewayDep,
    domain: Annotated[str, Path(max_length=253, pattern=DOMAIN_PATTERN, description="e.g. `reuters.com`")],
) -> Response:
    """One source of the registry."""
    source = await gw.sources.get(domain.lower())
    if source is None:
        raise HTTPProblem(404, f"No source '{domain}' in the registry.")
    return send(request, rendered(source.model_dump_json().encode(), "application/json"), SOURCES_CACHE)
