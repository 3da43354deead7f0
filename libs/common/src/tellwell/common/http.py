"""HTTP pieces shared by the FastAPI services (gateway, ingest): ops endpoints and problem+json errors.

Example::

    app = FastAPI(lifespan=lifespan)
    app.include_router(ops_router(lambda: {"mongo": check_mongo}))
    install_problem_handlers(app)

    raise HTTPProblem(404, "No source 'example.org' in the registry.")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from tellwell.common.observability import Check, run_checks

PROBLEM_JSON = "application/problem+json"


class HTTPProblem(Exception):
    """An expected error: carries its status, so a 500 always means a bug."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _title(status)
        self.extra = extra


def problem(status: int, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


# ----------------------------------------------------------------------------- validation errors

FieldError = dict[str, str]
"""``{"field": "[1].url", "message": "not an absolute http(s) URL: 'ftp://x'"}``"""

MAX_DETAILED = 5  # errors spelled out in ``detail``; ``errors`` lists them all
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
# pydantic names a union member in ``loc`` by its schema: "function-after[_identified(), ArticleIn]",
# "list[ArticleIn]", "literal['a','b']" (never a field name), or by a model's class name or a bare
# type ("Item", "int", "url": names a field may have too, so only where a sibling member is named).
_SCHEMA_TAG = re.compile(r"^[a-z][a-z0-9-]*\[.*\]$", re.DOTALL)
_CLASS_TAG = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
_TYPE_TAGS = frozenset(
    {"str", "int", "float", "bool", "bytes", "none", "dict", "list", "tuple", "set", "frozenset",
     "datetime", "date", "time", "timedelta", "decimal", "uuid", "url", "any"}
)  # fmt: skip
_EXPECTED = {
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "none_required": "null",
}
_PREFIXES = ("Value error, ", "Assertion failed, ")
_NO_INPUT: Any = object()


def field_errors(
    errors: Iterable[Mapping[str, Any]],
    *,
    body: Any = _NO_INPUT,
    root: str = "body",
    request_loc: bool = True,
) -> list[FieldError]:
    """pydantic's (or FastAPI's) validation errors, each naming the field as the client sent it.

    ``loc`` loses what only pydantic knows: the request part (``body.``, ``query.``; FastAPI's
    errors start with one, pass ``request_loc=False`` for a model's own ``ValidationError``), union
    members (``function-after[...]``, ``list[...]``, class names); list indices become ``[i]``. For a
    union (``ArticleIn | list[ArticleIn]``) only the member that matched the input furthest
    reports (a dict is not blamed for not being a list); when every member rejected the input's
    type the errors merge into one (``should be an object or a list``). ``body`` (the parsed
    request body, when there is one) tells field names from union tags. Messages are lower-case
    and plain: ``field required``, ``unknown field``, ``should be an integer``, and a custom
    validator's own text without pydantic's ``Value error, ``.

    Example::

        >>> loc = ("body", "list[ArticleIn]", 1, "title")
        >>> field_errors([{"type": "missing", "loc": loc, "msg": "Field required"}])
        [{'field': '[1].title', 'message': 'field required'}]
    """
    raw: list[tuple[list[Any], Mapping[str, Any], Any]] = []
    for error in errors:
        loc, value = list(error.get("loc") or ()), body
        if request_loc and loc and loc[0] in _SOURCES:
            loc, value = loc[1:], body if loc[0] == "body" else _NO_INPUT
        raw.append((loc, error, value))
    tags = _union_tags([loc for loc, _, _ in raw])
    located = [_locate(loc, error, value, tags) for loc, error, value in raw]
    out: list[FieldError] = []
    for item in _pick_union_members(located):
        if item not in out:
            out.append(item if item["field"] else {**item, "field": root})
    return out


def invalid_request(errors: list[FieldError]) -> HTTPProblem:
    """The 422 problem for field errors: ``detail`` lists the first few, ``errors`` all of them."""
    shown = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:MAX_DETAILED])
    more = len(errors) - MAX_DETAILED
    detail = f"{shown}; and {more} more" if more > 0 else shown
    return HTTPProblem(422, detail or "The request is not valid.", title="Invalid request", errors=errors)


@dataclass(frozen=True)
class _Located:
    path: tuple[str | int, ...]  # as the client sent it
    tag_at: int | None  # len(path) where the first union tag was met
    tag: str | None
    type: str
    message: str


def _union_tags(locs: list[list[Any]]) -> set[tuple[Any, ...]]:
    """The ``loc`` prefixes that end in a union member's tag rather than a field name."""
    tags: set[tuple[Any, ...]] = set()
    at: dict[tuple[Any, ...], set[Any]] = {}  # prefix -> what follows it in some loc
    for loc in locs:
        for i, part in enumerate(loc):
            at.setdefault(tuple(loc[:i]), set()).add(part)
            if isinstance(part, str) and _SCHEMA_TAG.match(part):
                tags.add(tuple(loc[: i + 1]))
    for prefix, parts in at.items():
        named = [p for p in parts if isinstance(p, str) and _is_tag_like(p)]
        if len(named) > 1 and len(named) == len(parts):  # every error here is in one of the members
            tags.update((*prefix, name) for name in named)
    return tags


def _is_tag_like(part: str) -> bool:
    return part in _TYPE_TAGS or bool(_CLASS_TAG.match(part) or _SCHEMA_TAG.match(part))


def _locate(loc: list[Any], error: Mapping[str, Any], value: Any, tags: set[tuple[Any, ...]]) -> _Located:
    kind = str(error.get("type", ""))
    if kind == "json_invalid":  # FastAPI's loc is ("body", <character offset>)
        reason = str((error.get("ctx") or {}).get("error", "")).lower()
        where = f" at character {loc[0]}" if loc and isinstance(loc[0], int) else ""
        return _Located((), None, None, kind, f"invalid JSON{where}" + (f": {reason}" if reason else ""))
    path: list[str | int] = []
    tag_at: int | None = None
    tag: str | None = None
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path.append(part)
            value = value[part] if isinstance(value, list) and -len(value) <= part < len(value) else _NO_INPUT
            continue
        text = str(part)
        if isinstance(value, dict) and text in value:
            path.append(text)
            value = value[text]
        elif tuple(loc[: i + 1]) not in tags or (i == len(loc) - 1 and kind == "missing"):
            path.append(text)
            value = _NO_INPUT
        elif tag is None:
            tag_at, tag = len(path), text
    return _Located(tuple(path), tag_at, tag, kind, _message(kind, str(error.get("msg", ""))))


def _pick_union_members(located: list[_Located]) -> list[FieldError]:
    """Keep, for each union, the members that got furthest with the input (see ``field_errors``)."""
    members: dict[tuple[str | int, ...], dict[str, list[_Located]]] = {}
    for item in located:
        if item.tag is not None and item.tag_at is not None:
            members.setdefault(item.path[: item.tag_at], {}).setdefault(item.tag, []).append(item)
    dropped: set[int] = set()
    merged: dict[int, FieldError] = {}
    for prefix, by_tag in members.items():
        if len(by_tag) < 2:
            continue
        score = {tag: max(_progress(e) for e in items) for tag, items in by_tag.items()}
        best = max(score.values())
        if best > 0:
            dropped.update(id(e) for tag, items in by_tag.items() if score[tag] < best for e in items)
            continue
        # every member refused the input's type: one error saying what would have been accepted
        wanted = list(dict.fromkeys(_EXPECTED.get(items[0].type, "valid") for items in by_tag.values()))
        roots = [e for items in by_tag.values() for e in items]
        dropped.update(id(e) for e in roots[1:])
        merged[id(roots[0])] = {"field": _render(prefix), "message": "should be " + " or ".join(wanted)}
    return [
        merged.get(id(e)) or {"field": _render(e.path), "message": e.message}
        for e in located
        if id(e) not in dropped
    ]


def _progress(error: _Located) -> int:
    """How far into a union member the input got: 0 when its type was refused outright."""
    depth = len(error.path) - (error.tag_at or 0)
    return 2 * depth + (0 if depth == 0 and error.type in _EXPECTED else 1)


def _render(path: tuple[str | int, ...]) -> str:
    field = ""
    for part in path:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else part)
    return field


def _message(kind: str, message: str) -> str:
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in _EXPECTED:
        return f"should be {_EXPECTED[kind]}"
    for prefix in _PREFIXES:
        message = message.removeprefix(prefix)
    for lead in ("Input should", "String should", "List should", "Value should", "Dictionary should"):
        if message.startswith(lead):
            return "should" + message[len(lead) :]
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        return message[0].lower() + message[1:]
    return message


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error as ``application/problem+json``; validation errors name the field."""

    @app.exception_handler(HTTPProblem)
    async def on_problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        invalid = invalid_request(field_errors(exc.errors(), body=exc.body))
        return problem(invalid.status, invalid.title, invalid.detail, **invalid.extra)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail))

    document_problems(app)


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error (RFC 9457); validation errors list each invalid field.",
    "type": "object",
    "required": ["title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the handlers do: every 4xx is ``application/problem+json``."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if responses is None:
                    continue
                for code, response in responses.items():
                    if code.startswith("4"):
                        response["content"] = content
                responses.setdefault("4XX", {"description": "A problem with the request", "content": content})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def ops_router(checks: Callable[[], Mapping[str, Check]]) -> APIRouter:
    """``/healthz``, ``/readyz`` and ``/metrics``; ``checks`` is called per request (clients start late)."""
    router = APIRouter(tags=["ops"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: {"description": "A dependency is unreachable"}})
    async def readyz() -> JSONResponse:
        ok, report = await run_checks(checks())
        body = {"status": "ready" if ok else "unavailable", "checks": report}
        return JSONResponse(body, status_code=200 if ok else 503)

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
