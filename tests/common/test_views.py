"""The story_views document: flat fields for the feed, the whole view as JSON, prose joining."""

from datetime import UTC, datetime

from tellwell.common.events import GroundedSentence
from tellwell.common.testing import make_story_scored
from tellwell.common.views import prose, view_document, view_from_document


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
