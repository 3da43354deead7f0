"""The story_views document: flat fields for the feed, the whole view as JSON, prose joining."""

import asyncio
from datetime import UTC, datetime

import pytest

from tellwell.common.events import GroundedSentence
from tellwell.common.testing import make_story_scored
from tellwell.common.views import (
    VIEW_WRITES,
    mark_written,
    prose,
    view_document,
    view_from_document,
    write_mark,
)


def sentence(text: str) -> GroundedSentence:
    return GroundedSentence(text=text, article_ids=["a1"])


class TestProse:
    def test_headlines_get_a_full_stop_and_sentences_keep_theirs(self) -> None:
        texts = ["Men's Wearhouse buys Jos. A. Bank", "Is it over?", 'He said "no."', "  ", "Done."]
        assert (
            prose(map(sentence, texts))
            == 'Men\'s Wearhouse buys Jos. A. Bank. Is it over? He said "no." Done.'
        )


class TestViewDocument:
    def test_round_trip_and_feed_fields(self) -> None:
        view = make_story_scored(story_id="s-1", version=7)
        doc = view_document(view, updated_at=datetime(2026, 11, 29, tzinfo=UTC))
        assert view_from_document(doc) == view
        assert doc["_id"] == "s-1"
        assert doc["version"] == 7
        assert doc["summary_text"] == prose(view.summary)
        assert doc["sources"] == sorted({a.source for a in view.articles})
        assert isinstance(doc["view"], str)  # nested arrays (the body) cannot be stored by FerretDB


@pytest.mark.mongo
class TestWriteMarks:
    async def test_racing_marks_of_one_story_leave_one_mark(self, mongo_db):
        docs = [
            view_document(
                make_story_scored(story_id="race", version=v), updated_at=datetime(2026, 11, 29, tzinfo=UTC)
            )
            for v in range(1, 9)
        ]
        await asyncio.gather(*(mark_written(mongo_db, d) for d in docs))  # concurrent upserts of one _id

        marks = [m async for m in mongo_db[VIEW_WRITES].find({})]
        assert len(marks) == 1
        assert marks[0] in [write_mark(d) for d in docs]
