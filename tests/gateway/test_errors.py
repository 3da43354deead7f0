"""The gateway's 422s: one formatter (``tellwell.common.http.field_errors``) for every query string."""

from __future__ import annotations

import pytest

INTERNALS = ("Input should", "Value error", "query.", "function-", "unable to parse")


def assert_problem(response, detail: str) -> None:
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Invalid request"
    assert problem["detail"] == detail
    field, message = detail.split(": ", 1)
    assert problem["errors"] == [{"field": field, "message": message}]
    assert not any(internal in problem["detail"] for internal in INTERNALS)


class TestFeedQuery:
    @pytest.mark.parametrize(
        ("params", "detail"),
        [
            ({"min_confidence": "abc"}, "min_confidence: should be a number"),
            ({"min_confidence": "150"}, "min_confidence: should be less than or equal to 100"),
            ({"limit": "1.5"}, "limit: should be an integer"),
            ({"limit": "0"}, "limit: should be greater than or equal to 1"),
            ({"since": "x" * 41}, "since: should have at most 40 characters"),
        ],
    )
    async def test_names_the_parameter_in_plain_words(self, client, params, detail):
        assert_problem(await client.get("/v1/stories", params=params), detail)

    async def test_a_choice_lists_the_allowed_values(self, client):
        problem = (await client.get("/v1/stories", params={"sort": "best"})).json()

        assert problem["detail"].startswith("sort: should be 'hot'")  # the list may grow with the API
        assert problem["errors"][0]["message"].startswith("should be 'hot'")

    async def test_every_bad_parameter_is_listed(self, client):
        response = await client.get("/v1/stories", params={"sort": "best", "lean": "up", "limit": "x"})

        assert [e["field"] for e in response.json()["errors"]] == ["sort", "lean", "limit"]

    async def test_a_bad_cursor_is_the_same_problem(self, client):
        assert_problem(
            await client.get("/v1/stories", params={"cursor": "not-a-cursor"}),
            "cursor: not a cursor this API returned (take next_cursor as it is)",
        )

    async def test_the_web_page_shows_the_same_message(self, client):
        response = await client.get("/", params={"min_confidence": "abc"})

        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/html")
        assert "min_confidence: should be a number" in response.text


class TestRouteParameters:
    async def test_fastapi_query_parameters_use_the_same_formatter(self, client):
        assert_problem(
            await client.get("/v1/sources", params={"limit": "abc"}), "limit: should be an integer"
        )
        assert_problem(
            await client.get("/v1/sources", params={"lean": "far"}),
            "lean: should be 'left', 'lean_left', 'center', 'lean_right', 'right' or 'unrated'",
        )
