import json
from datetime import datetime

import pytest
from pydantic import ValidationError

from tellwell.common.events import EVENT_BY_TOPIC, StoryCluster, parse_event
from tellwell.common.testing import (
    make_raw_article,
    make_story_cluster,
    make_story_scored,
    make_story_summary,
)

FACTORIES = [make_raw_article, make_story_cluster, make_story_summary, make_story_scored]


class TestEnvelope:
    @pytest.mark.parametrize("factory", FACTORIES)
    def test_json_round_trip_dispatches_on_type(self, factory):
        event = factory()

        parsed = parse_event(event.model_dump_json())

        assert parsed == event
        assert type(parsed) is type(event)
        assert EVENT_BY_TOPIC[event.type] is type(event)

    def test_events_are_frozen(self):
        event = make_raw_article()
        with pytest.raises(ValidationError):
            event.title = "changed"  # type: ignore[misc]

    def test_envelope_fields_are_present(self):
        data = make_story_cluster().model_dump(mode="json")
        assert {"event_id", "type", "schema_version", "occurred_at", "producer", "trace_id"} <= set(data)

    def test_naive_timestamps_are_rejected(self):
        with pytest.raises(ValidationError, match="published_at"):
            make_raw_article(published_at=datetime(2026, 3, 2, 12, 0))

    def test_unknown_type_is_rejected(self):
        data = make_raw_article().model_dump(mode="json") | {"type": "raw.article.v9"}
        with pytest.raises(ValidationError, match="does not match any of the expected tags"):
            parse_event(json.dumps(data))

    def test_story_version_must_be_positive(self):
        with pytest.raises(ValidationError, match="version"):
            make_story_cluster(version=0)

    def test_unknown_fields_from_newer_producers_are_ignored(self):
        data = make_story_cluster().model_dump(mode="json") | {"added_in_v2": [1, 2]}
        assert isinstance(StoryCluster.model_validate(data), StoryCluster)
