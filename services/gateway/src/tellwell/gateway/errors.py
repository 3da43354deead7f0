"""Errors: ``application/problem+json`` for the API (tellwell.common.http), an HTML page for the web pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from tellwell.common.http import HTTPProblem, install_problem_handlers, problem
from tellwell.gateway.rendering import render

Handler = Callable[[Request, Any], Awaitable[Response] | Response]
API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/static/")


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIXES)


def install_error_handlers(app: FastAPI) -> None:
    """Problem+json everywhere, except that a web page's error is a web page (same status, same text)."""
    install_problem_handlers(app)
    app.add_exception_handler(ConnectionFailure, _store_unavailable)
    for exc_type in (HTTPProblem, RequestValidationError, StarletteHTTPException, ConnectionFailure):
        app.add_exception_handler(exc_type, _html_or(app.exception_handlers[exc_type]))


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    # The store is down or unreachable: not a bug (no 500), and worth retrying shortly.
    response = problem(503, "Service Unavailable", "The story store is unreachable; retry shortly.")
    response.headers["retry-after"] = "5"
    return response


def _html_or(problem_handler: Handler) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handle(request: Request, exc: Any) -> Response:
        response = problem_handler(request, exc)
        if not isinstance(response, Response):
            response = await response
        if not wants_html(request):
            return response
        detail = orjson.loads(bytes(response.body)).get("detail", "")
        status = response.status_code
        body = render(
            request.app.state.templates,
            "error.html",
            datetime.now(UTC),
            title=f"{status} {HTTPStatus(status).phrase}",
            detail=detail,
        )
        return Response(body, status_code=status, media_type="text/html; charset=utf-8")

    return handle
