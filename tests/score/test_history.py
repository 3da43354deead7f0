"""Score writes each story version's changes into the story's history and onto ``story.scored``."""

from datetime import UTC, datetime

import pytest

from tellwell.common.history import STORY_HISTORY, History
from tellwell.score.pipeline import ScorePipeline
from tests.score.stories import summary_for
from tests.score.test_service import Collected, chile_story, seed

pytestmark = pytest.mark.mongo

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


async def test_each_version_is_stored_with_what_changed_and_sent_with_it(mongo_db):
    members = chile_story()
    await seed(mongo_db, members)
    out = Collected()
    pipeline = ScorePipeline(mongo_db, out, clock=lambda: NOW)

    await pipeline.process([summary_for(members[:2], version=1)])
    await pipeline.process([summary_for(members, version=2)])
    await pipeline.process([summary_for(members, version=2)])  # redelivered: nothing new

    first, second, again = out.events
    assert [c.kind for c in first.changes] == ["created"]
    added = next(c for c in second.changes if c.kind == "sources_added")
    assert set(added.sources) == {m.source for m in members[2:]}
    assert again.changes == second.changes
    history = History.from_document(await mongo_db[STORY_HISTORY].find_one({"_id": "story-chile"}))
    assert [e.version for e in history.entries] == [first.version, second.version]
    assert history.entries[1].changes == second.changes
    assert history.last.sources.keys() == {m.source for m in members}
