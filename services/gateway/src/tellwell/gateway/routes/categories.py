"""``/v1/categories``: the story taxonomy with live story counts."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from tellwell.common.events import Category
from tellwell.gateway.cache import Rendered, rendered, send
from tellwell.gateway.deps import GatewayDep
from tellwell.gateway.domain import category_label
from tellwell.gateway.reads import category_counts
from tellwell.gateway.schemas import CategoryCount

router = APIRouter(prefix="/v1/categories", tags=["categories"])


@router.get("", response_model=list[CategoryCount])
async def list_categories(request: Request, gw: GatewayDep) -> Response:
    """Every category, with the number of live (not merged) stories in it."""

    async def render() -> Rendered:
        counts = await category_counts(gw.views, gw.changes.model)
        body = [
            {"id": c.value, "label": category_label(c.value), "count": counts.get(c.value, 0)}
            for c in Category
        ]
        return rendered(orjson.dumps(body), "application/json")

    return send(request, await gw.cache.get(("categories", gw.changes.version), render), "public, max-age=30")
