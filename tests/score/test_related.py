"""Related stories share a subject: specific named entities within a time window, never category alone
(services/score/src/tellwell/score/related.py), in memory and through the pipeline on FerretDB."""

from datetime import UTC, datetime, timedelta

import pytest

from tellwell.common.events import RelatedStory
from tellwell.score import repository as repo
from tellwell.score.pipeline import ScorePipeline
from tellwell.score.related import EntityIndex, Entry, story_entities
from tests.score.stories import member, summary_for
from tests.score.test_service import article_doc

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

POT = [
    "Colorado collects $2 million in recreational pot taxes in first month",
    "Marijuana sales in Colorado bring in $2 million in taxes in January",
    "Colorado takes in $2.1 million from January marijuana taxes",
    "Recreational pot tax revenue in Colorado hits $2 million",
]
# same category (business), other subjects: what the Related section showed before
MCDONALDS = [
    "McDonald's February sales threaten first-quarter margins",
    "US sales at McDonald's slip in February as weather bites",
    "Weak February sales at McDonald's hit shares",
]
DICKS = [
    "Dick's Sporting Goods profit rises as winter boosts sales",
    "Strong quarter for Dick's Sporting Goods on cold-weather gear",
]
HOUSING = [
    "Senators unveil plan to wind down Fannie Mae and Freddie Mac",
    "Shares of Fannie Mae and Freddie Mac fall on US housing finance overhaul",
]
SNOWDEN = [
    "NSA leaker Edward Snowden speaks at SXSW via video link",
    "Edward Snowden tells SXSW crowd he has no regrets",
    "At SXSW, Snowden calls for oversight of surveillance",
]
SNOWDEN_LATER = [
    "European lawmakers hear testimony from Edward Snowden",
    "Snowden tells the European Parliament mass surveillance failed",
]
GENERIC = [  # capitalised words every story has
    "US Report: New jobless claims fall on Monday",
    "New Report on Monday shows US claims drop",
]


def entities_of(headlines: list[str]) -> tuple[str, ...]:
    return story_entities(headlines[0], headlines[:3], headlines)


def entry(story_id: str, headlines: list[str], *, days: float = 0, merged_into: str | None = None) -> Entry:
    at = T0 + timedelta(days=days)
    return Entry(story_id, 1, entities_of(headlines), at - timedelta(hours=6), at, merged_into)


def neighbours_of(index: EntityIndex, story_id: str, headlines: list[str], **kwargs) -> list[str]:
    e = entry(story_id, headlines, days=1)
    return [
        n.story_id
        for n in index.neighbours(story_id, e.entities, e.first_published_at, e.last_published_at, **kwargs)
    ]


class TestEntities:
    def test_a_story_names_its_subject_not_its_words(self):
        assert "colorado" in entities_of(POT)
        assert {"mcdonald"} <= set(entities_of(MCDONALDS))
        assert {"edward snowden", "sxsw", "nsa"} <= set(entities_of(SNOWDEN))
        # words that are capitalised in one headline but written in lower case elsewhere are no names
        assert not {"marijuana", "recreational", "sales", "taxes"} & set(entities_of(POT))

    def test_generic_capitalised_words_are_not_entities(self):
        assert entities_of(GENERIC) == ()

    def test_title_case_headlines_only_vote_for_names(self):
        headlines = [
            "Edward Snowden Tells SXSW Crowd He Has No Regrets",
            "Snowden Calls For Oversight Of Surveillance At SXSW",
            "Edward Snowden says he has no regrets",
        ]
        found = set(story_entities(headlines[2], [], headlines))
        assert {"snowden", "sxsw"} <= found
        assert not {"tells", "crowd", "regrets", "calls", "oversight", "surveillance"} & found

    def test_a_name_a_big_story_mentions_in_passing_is_not_its_subject(self):
        headlines = [f"Marijuana tax haul number {i} reported in Colorado" for i in range(30)]
        headlines += ["Colorado tax haul beats Washington State", "Colorado outpaces Washington State"]
        found = entities_of(headlines)
        assert "colorado" in found
        assert "washington state" not in found  # 2 of 32 headlines


class TestNeighbours:
    def test_same_category_without_a_shared_subject_is_not_related(self):
        """The Colorado pot-tax story: before, McDonald's sales, Dick's profit and housing finance."""
        index = EntityIndex()
        for sid, heads in [("mcd", MCDONALDS), ("dicks", DICKS), ("housing", HOUSING)]:
            index.add(entry(sid, heads))

        # cluster proposed them (just below its join threshold): they are checked all the same
        assert neighbours_of(index, "pot", POT, proposed=["mcd", "dicks", "housing"]) == []

    def test_two_stories_on_one_thread_are_related(self):
        index = EntityIndex()
        index.add(entry("snowden-sxsw", SNOWDEN))
        index.add(entry("mcd", MCDONALDS))

        found = index.neighbours(
            "snowden-eu", entities_of(SNOWDEN_LATER), T0 + timedelta(days=1), T0 + timedelta(days=1)
        )

        assert [n.story_id for n in found] == ["snowden-sxsw"]
        assert "snowden" in found[0].shared or "edward snowden" in found[0].shared
        assert 0 < found[0].share <= 1

    def test_a_story_without_a_neighbour_shows_none(self):
        index = EntityIndex()
        index.add(entry("snowden-sxsw", SNOWDEN))
        index.add(entry("generic", GENERIC))
        assert neighbours_of(index, "pot", POT) == []
        assert neighbours_of(index, "generic-2", GENERIC) == []
        assert EntityIndex().neighbours("pot", entities_of(POT), T0, T0) == []

    def test_merged_stories_are_never_related(self):
        index = EntityIndex()
        index.add(entry("snowden-a", SNOWDEN, merged_into="snowden-b"))
        assert neighbours_of(index, "snowden-eu", SNOWDEN_LATER) == []
        # nor a proposed one, nor a story that was merged after it was indexed
        index.add(entry("snowden-c", SNOWDEN))
        index.add(Entry("snowden-c", 2, entities_of(SNOWDEN), T0, T0, merged_into="snowden-b"))
        assert neighbours_of(index, "snowden-eu", SNOWDEN_LATER, proposed=["snowden-a", "snowden-c"]) == []

    def test_an_older_version_does_not_replace_a_newer_one(self):
        index = EntityIndex()
        index.add(Entry("s", 2, ("snowden",), T0, T0, merged_into="t"))
        index.add(Entry("s", 1, ("snowden",), T0, T0))
        assert index.neighbours("x", ("snowden",), T0, T0) == []

    def test_stories_outside_the_window_are_not_related(self):
        index = EntityIndex()
        index.add(entry("snowden-old", SNOWDEN, days=-10))
        assert neighbours_of(index, "snowden-eu", SNOWDEN_LATER) == []

    def test_an_entity_too_many_stories_name_is_not_specific(self):
        index = EntityIndex()
        for i in range(100):  # 'Ukraine' in every story of a busy week, each otherwise on its own
            index.add(Entry(f"s{i}", 1, ("ukraine", f"topic{i}"), T0, T0))
        assert not index.specific("ukraine")
        assert index.specific("topic3")
        assert index.neighbours("new", ("ukraine", "elsewhere"), T0, T0) == []
        assert [n.story_id for n in index.neighbours("new", ("ukraine", "topic3"), T0, T0)] == ["s3"]

    def test_rarer_shared_names_rank_first_and_the_list_is_reproducible(self):
        index = EntityIndex()
        for i in range(3):
            index.add(Entry(f"obama-{i}", 1, ("obama",), T0, T0 - timedelta(hours=i)))
        index.add(Entry("crimea", 1, ("crimea", "obama"), T0, T0 - timedelta(days=2)))
        for i in range(80):
            index.add(Entry(f"other-{i}", 1, (f"x{i}",), T0, T0))

        first = index.neighbours("new", ("obama", "crimea"), T0, T0)

        # the rarer shared name first, then by time gap
        assert [n.story_id for n in first] == ["crimea", "obama-0", "obama-1", "obama-2"]
        assert first == index.neighbours("new", ("obama", "crimea"), T0, T0)

    def test_at_most_max_related_are_shown(self):
        index = EntityIndex()
        for i in range(12):
            index.add(Entry(f"sochi-{i:02}", 1, ("sochi",), T0, T0 - timedelta(hours=i)))
        for i in range(300):
            index.add(Entry(f"other-{i}", 1, (f"x{i}",), T0, T0))

        found = index.neighbours("new", ("sochi",), T0, T0)

        assert [n.story_id for n in found] == [f"sochi-{i:02}" for i in range(10)]


@pytest.fixture
def pipeline(mongo_db):
    return ScorePipeline(mongo_db, lambda events: _nothing(), clock=lambda: T0 + timedelta(days=1))


async def _nothing() -> None:
    return None


def story(story_id: str, headlines: list[str], *, minutes: int = 0, **overrides):
    members = [
        member(f"outlet{i}.example", f"{h}. More text follows here.", n=i, minutes=minutes + i, title=h)
        for i, h in enumerate(headlines)
    ]
    summary = summary_for(members, claims=headlines[:2], story_id=story_id, title=headlines[0], **overrides)
    return members, summary


async def seed(db, *stories) -> None:
    await db.articles.insert_many([article_doc(m) for members, _ in stories for m in members])


@pytest.mark.mongo
class TestThroughThePipeline:
    async def test_the_view_lists_stored_stories_that_share_a_subject(self, mongo_db, pipeline):
        sxsw, mcd, eu = (
            story("snowden-sxsw", SNOWDEN),
            story("mcd", MCDONALDS),
            story("snowden-eu", SNOWDEN_LATER),
        )
        await seed(mongo_db, sxsw, mcd, eu)
        await repo.ensure_indexes(mongo_db)
        [first] = await pipeline.process([sxsw[1]])
        await pipeline.process([mcd[1]])

        # cluster proposed McDonald's (same category), not the SXSW story
        [view] = await pipeline.process(
            [eu[1].model_copy(update={"related": [RelatedStory(story_id="mcd", score=0.6)]})]
        )

        [related] = view.related
        assert related.story_id == "snowden-sxsw"
        assert related.title == first.title
        assert related.confidence == first.confidence.value
        assert related.source_count == first.source_count
        doc = await mongo_db["story_views"].find_one({"_id": "snowden-eu"})
        assert "snowden" in doc["entities"] or "edward snowden" in doc["entities"]
        # the entities another replica reads
        assert await mongo_db[repo.STORY_ENTITIES].find_one({"_id": "snowden-sxsw"}) is not None

    async def test_another_replica_finds_them_through_the_store(self, mongo_db, pipeline):
        sxsw, eu = story("snowden-sxsw", SNOWDEN), story("snowden-eu", SNOWDEN_LATER)
        await seed(mongo_db, sxsw, eu)
        await pipeline.process([sxsw[1]])

        other = ScorePipeline(mongo_db, lambda events: _nothing(), clock=lambda: T0 + timedelta(days=1))
        [view] = await other.process([eu[1]])

        assert [r.story_id for r in view.related] == ["snowden-sxsw"]

    async def test_a_merged_story_and_a_pot_story_are_not_related(self, mongo_db, pipeline):
        sxsw, eu, pot = story("snowden-sxsw", SNOWDEN), story("snowden-eu", SNOWDEN_LATER), story("pot", POT)
        await seed(mongo_db, sxsw, eu, pot)
        await pipeline.process([sxsw[1]])
        await pipeline.process([sxsw[1].model_copy(update={"version": 2, "merged_into": "elsewhere"})])

        [view] = await pipeline.process([eu[1]])
        [pot_view] = await pipeline.process([pot[1]])

        assert view.related == []
        assert pot_view.related == []
