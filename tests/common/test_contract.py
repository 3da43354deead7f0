"""The committed contract under docs/ is current, and breaking changes are caught."""

import copy
import json

import pytest

from tellwell.common.contract import (
    asyncapi_document,
    compatibility_problems,
    json_schemas,
    snapshot_problems,
)
from tellwell.common.events import RawArticle
from tests.fixtures.infra import REPO

DOCS = REPO / "docs"


def committed() -> dict:
    return {p.stem: json.loads(p.read_text()) for p in (DOCS / "schemas").glob("*.json")}


class TestCommittedSnapshot:
    def test_every_topic_has_a_committed_schema(self):
        assert set(committed()) == {"raw.article", "story.cluster", "story.summary", "story.scored"}

    def test_current_models_are_compatible_with_the_snapshot(self):
        assert snapshot_problems(committed(), json_schemas()) == []

    def test_snapshot_is_up_to_date(self):
        assert committed() == json.loads(json.dumps(json_schemas())), "run `tellwell contract export`"

    def test_asyncapi_document_is_up_to_date_and_lists_the_topics(self):
        on_disk = json.loads((DOCS / "asyncapi.json").read_text())
        assert on_disk == asyncapi_document()
        addresses = {c["address"] for c in on_disk["channels"].values()}
        assert addresses == {"raw.article", "story.cluster", "story.summary", "story.scored"}


@pytest.fixture
def schema() -> dict:
    return RawArticle.model_json_schema(mode="serialization")


class TestCompatibilityRules:
    def test_identical_schema_is_compatible(self, schema):
        assert compatibility_problems(schema, copy.deepcopy(schema)) == []

    def test_adding_an_optional_field_is_compatible(self, schema):
        new = copy.deepcopy(schema)
        new["properties"]["paywalled"] = {"type": "boolean", "default": False}
        assert compatibility_problems(schema, new) == []

    def test_removing_a_field_is_not(self, schema):
        new = copy.deepcopy(schema)
        del new["properties"]["lead"]
        assert compatibility_problems(schema, new) == [".lead: removed"]

    def test_retyping_a_field_is_not(self, schema):
        new = copy.deepcopy(schema)
        new["properties"]["title"] = {"type": "integer"}
        assert compatibility_problems(schema, new) == [".title: type changed from string to integer"]

    def test_adding_a_required_field_is_not(self, schema):
        new = copy.deepcopy(schema)
        new["properties"]["region"] = {"type": "string"}
        new["required"].append("region")
        assert compatibility_problems(schema, new) == [".region: added as required"]

    def test_making_an_optional_field_required_is_not(self, schema):
        new = copy.deepcopy(schema)
        new["required"].append("lead")
        assert ".lead: made required" in compatibility_problems(schema, new)

    def test_removing_an_enum_value_is_not_but_adding_one_is(self, schema):
        field = schema["properties"]["content_source"]
        assert field["enum"] == ["page", "feed", "push", "import"]
        narrower, wider = copy.deepcopy(schema), copy.deepcopy(schema)
        narrower["properties"]["content_source"]["enum"] = ["page", "feed", "push"]
        wider["properties"]["content_source"]["enum"] = ["page", "feed", "push", "import", "api"]
        assert compatibility_problems(schema, narrower) == [
            ".content_source: enum values removed: ['import']"
        ]
        assert compatibility_problems(schema, wider) == []

    def test_nested_models_are_checked_through_refs(self):
        old = json_schemas()["story.scored"]
        new = copy.deepcopy(old)
        del new["$defs"]["Confidence"]["properties"]["claims"]
        assert compatibility_problems(old, new) == [".confidence.claims: removed"]

    def test_making_a_field_nullable_is_not(self, schema):
        new = copy.deepcopy(schema)
        new["properties"]["title"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
        assert compatibility_problems(schema, new) != []
