"""``tellwell.common.http``: validation errors named as the client sent them. Pure, no stores."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi import Body, FastAPI, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tellwell.common.http import MAX_DETAILED, field_errors, install_problem_handlers, invalid_request


class Item(BaseModel):
    """Shaped like ingest's ArticleIn: a model validator, a custom field validator, a nested list."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = None
    id: str | None = None
    title: str = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    size: int | None = None

    @field_validator("url")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"not an absolute http(s) URL: {value!r}")
        return value

    @model_validator(mode="after")
    def _identified(self) -> Item:
        if not self.url and not self.id:
            raise ValueError("an item needs a url or an id")
        return self


class Plain(BaseModel):
    """No validators: pydantic tags its union member with the bare class name."""

    name: str
    date: str | None = None


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/items")
    async def push(body: Annotated[Item | list[Item], Body()]) -> dict[str, int]:
        return {"items": len(body) if isinstance(body, list) else 1}

    @app.post("/plain")
    async def plain(body: Annotated[Plain | list[Plain] | int, Body()]) -> dict[str, int]:
        return {"ok": 1}

    @app.get("/things")
    async def things(
        limit: Annotated[int, Query(ge=1, le=10)] = 5,
        sort: Annotated[Literal["hot", "new"], Query()] = "hot",
        ratio: Annotated[float | None, Query()] = None,
    ) -> dict[str, Any]:
        return {"limit": limit, "sort": sort}

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app()), base_url="http://t") as c:
        yield c


async def problem_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Invalid request"
    for internal in ("function-after", "list[", "body.", "Value error", "Input should"):
        assert internal not in problem["detail"], problem["detail"]
    return problem


OK = {"url": "https://example.com/a", "title": "A"}


class TestBodyErrors:
    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({"url": "https://example.com/a"}, "title: field required"),
            ([OK, {"url": "ftp://x", "title": "B"}], "[1].url: not an absolute http(s) URL: 'ftp://x'"),
            ({"title": "A"}, "body: an item needs a url or an id"),
            ([OK, {"title": "B"}], "[1]: an item needs a url or an id"),
            ({**OK, "bogus": 1}, "bogus: unknown field"),
            ({**OK, "tags": "news"}, "tags: should be a list"),
            ({**OK, "tags": ["a", 7]}, "tags[1]: should be a string"),
            ({**OK, "size": "big"}, "size: should be an integer"),
            ({**OK, "title": ""}, "title: should have at least 1 character"),
            ("just a string", "body: should be an object or a list"),
            (42, "body: should be an object or a list"),
            ([OK, 7], "[1]: should be an object"),
            (None, "body: field required"),
        ],
    )
    async def test_names_the_field_as_sent(self, client, body, detail):
        problem = await problem_of(await client.post("/items", json=body))

        assert problem["detail"] == detail
        assert [f"{e['field']}: {e['message']}" for e in problem["errors"]] == [detail]

    async def test_one_error_per_bad_field_in_a_batch(self, client):
        body = [OK, {"title": "", "url": "x"}, {"id": "c", "title": "C", "size": []}]

        problem = await problem_of(await client.post("/items", json=body))

        assert [e["field"] for e in problem["errors"]] == ["[1].url", "[1].title", "[2].size"]

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({"date": "x"}, "name: field required"),
            ([{"name": "a"}, {"name": 1}], "[1].name: should be a string"),
            ("x", "body: should be an object or a list or an integer"),
        ],
    )
    async def test_union_members_named_by_class_or_type(self, client, body, detail):
        problem = await problem_of(await client.post("/plain", json=body))

        assert problem["detail"] == detail

    async def test_a_field_named_like_a_type_is_still_named(self, client):
        problem = await problem_of(await client.post("/items", json={**OK, "Item": 1, "int": 2}))

        assert {e["field"] for e in problem["errors"]} == {"Item", "int"}

    async def test_malformed_json_says_where(self, client):
        response = await client.post(
            "/items", content=b'{"title": ', headers={"content-type": "application/json"}
        )

        problem = await problem_of(response)
        assert problem["detail"].startswith("body: invalid JSON at character 10")

    async def test_detail_lists_the_first_few_and_counts_the_rest(self, client):
        body = [{"id": str(i), "title": ""} for i in range(MAX_DETAILED + 3)]

        problem = await problem_of(await client.post("/items", json=body))

        assert len(problem["errors"]) == MAX_DETAILED + 3
        assert problem["detail"].endswith("; and 3 more")


class TestQueryErrors:
    @pytest.mark.parametrize(
        ("params", "detail"),
        [
            ({"limit": "abc"}, "limit: should be an integer"),
            ({"limit": "0"}, "limit: should be greater than or equal to 1"),
            ({"sort": "best"}, "sort: should be 'hot' or 'new'"),
            ({"ratio": "abc"}, "ratio: should be a number"),
        ],
    )
    async def test_names_the_parameter(self, client, params, detail):
        problem = await problem_of(await client.get("/things", params=params))

        assert problem["detail"] == detail


class TestFieldErrors:
    def test_a_models_own_validation_error(self):
        with pytest.raises(ValidationError) as caught:
            Item.model_validate({"url": "ftp://x", "title": "", "body": 1})

        errors = field_errors(caught.value.errors(), request_loc=False)

        assert errors == [
            {"field": "url", "message": "not an absolute http(s) URL: 'ftp://x'"},
            {"field": "title", "message": "should have at least 1 character"},
            {"field": "body", "message": "unknown field"},
        ]

    def test_without_the_input_union_tags_are_still_dropped(self):
        errors = [
            {"type": "missing", "loc": ("body", "function-after[_identified(), Item]", "title"), "msg": "x"},
            {"type": "list_type", "loc": ("body", "list[function-after[_identified(), Item]]"), "msg": "x"},
        ]

        assert field_errors(errors) == [{"field": "title", "message": "field required"}]

    def test_invalid_request_is_a_422_problem(self):
        problem = invalid_request([{"field": "cursor", "message": "not a cursor this API returned"}])

        assert (problem.status, problem.title) == (422, "Invalid request")
        assert problem.detail == "cursor: not a cursor this API returned"
        assert problem.extra == {"errors": [{"field": "cursor", "message": "not a cursor this API returned"}]}
