"""What a reader is told changed between two versions of a story (``tellwell.common.history``)."""

from datetime import UTC, datetime, timedelta

from tellwell.common.events import ArticleRef, Category, GroundedSentence, Lean, StoryScored
from tellwell.common.history import (
    HISTORY_MAX,
    History,
    changes_for,
    snapshot_of,
    story_changes,
    with_version,
)
from tellwell.common.testing import make_story_scored

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def grown(view: StoryScored, *outlets: tuple[str, str], version: int = 2) -> StoryScored:
    """The view with more member articles (one per (domain, name)) and a higher version."""
    extra = [
        ArticleRef(
            article_id=f"x-{domain}",
            url=f"https://{domain}/a",
            title=view.title,
            source=domain,
            source_name=name,
            lean=Lean.center,
            published_at=view.last_published_at,
        )
        for domain, name in outlets
    ]
    return view.model_copy(update={"version": version, "articles": [*view.articles, *extra]})


def kinds(changes) -> list[str]:
    return [c.kind for c in changes]


def test_the_first_version_is_created_with_its_sources():
    [change] = story_changes(None, snapshot_of(make_story_scored()))
    assert change.kind == "created"
    assert change.text == "First published, from 5 sources"


def test_added_sources_are_named_and_an_unchanged_story_has_no_changes():
    v1 = make_story_scored()
    v2 = grown(v1, ("nytimes.com", "The New York Times"), ("cnn.com", "CNN"))

    assert story_changes(snapshot_of(v1), snapshot_of(v1.model_copy(update={"version": 2}))) == []
    [change] = story_changes(snapshot_of(v1), snapshot_of(v2))
    assert change.text == "+2 sources: CNN, The New York Times"
    assert change.sources == ["cnn.com", "nytimes.com"]


def test_many_sources_are_summed_up():
    outlets = [(f"paper{i}.com", f"Paper {i}") for i in range(8)]
    [change] = story_changes(
        snapshot_of(make_story_scored()), snapshot_of(grown(make_story_scored(), *outlets))
    )
    assert change.text == "+8 sources: Paper 0, Paper 1, Paper 2, Paper 3, Paper 4 and 3 more"


def test_a_confidence_move_says_which_claims_gained_support():
    v1 = make_story_scored()
    confidence = v1.confidence
    # the second claim loses the two reports that stated it, but one: its support fell from 3 to 1
    reports = [r.model_copy(update={"supports": [0]}) for r in confidence.reports[:2]] + confidence.reports[
        2:
    ]
    v2 = v1.model_copy(
        update={"version": 2, "confidence": confidence.model_copy(update={"value": 55.0, "reports": reports})}
    )

    [change] = story_changes(snapshot_of(v1), snapshot_of(v2))
    assert change.kind == "confidence"
    assert change.text.startswith(f"Confidence {v1.confidence.value:.0f} % → 55 %: ")
    assert "now stated by 1 report (was 3)" in change.text
    assert change.claims == [confidence.claims[1]]


def test_a_move_under_a_point_is_not_a_change():
    v1 = make_story_scored()
    value = v1.confidence.value
    v2 = v1.model_copy(
        update={"version": 2, "confidence": v1.confidence.model_copy(update={"value": value + 0.4})}
    )
    assert story_changes(snapshot_of(v1), snapshot_of(v2)) == []


def test_title_summary_category_and_revised_figures():
    v1 = make_story_scored()
    text = "A magnitude 7.1 earthquake killed 12 people in central Chile on Monday."
    revised = "A magnitude 7.1 earthquake killed 30 people in central Chile on Monday."
    v1 = v1.model_copy(update={"summary": [GroundedSentence(text=text, article_ids=["a1"])]})
    v2 = v1.model_copy(
        update={
            "version": 2,
            "title": "Chile quake toll rises to 30",
            "summary": [GroundedSentence(text=revised, article_ids=["a1"])],
            "category": Category.science,
        }
    )

    changes = story_changes(snapshot_of(v1), snapshot_of(v2))
    assert kinds(changes) == ["title", "summary", "figures", "category"]
    assert changes[0].text == f"Title rewritten: “{v1.title}” → “Chile quake toll rises to 30”"
    assert (changes[1].before, changes[1].after) == (text, revised)
    assert changes[2].text == "Figures revised: 12 → 30"
    assert changes[3].text == "Category: world → science"


def test_rounding_is_not_a_revised_figure():
    v1 = make_story_scored()
    say = "Colorado collected {} in marijuana taxes in January."
    v1 = v1.model_copy(
        update={"summary": [GroundedSentence(text=say.format("$2.1 million"), article_ids=["a1"])]}
    )
    v2 = v1.model_copy(
        update={
            "version": 2,
            "summary": [GroundedSentence(text=say.format("$2 million"), article_ids=["a1"])],
        }
    )
    assert kinds(story_changes(snapshot_of(v1), snapshot_of(v2))) == ["summary"]


def test_a_merge_is_the_only_change_named():
    v1 = make_story_scored()
    v2 = grown(v1, ("cnn.com", "CNN")).model_copy(update={"merged_into": "story-9"})
    [change] = story_changes(snapshot_of(v1), snapshot_of(v2))
    assert (change.kind, change.story_id) == ("merged", "story-9")


class TestStoredHistory:
    def test_versions_append_and_a_redelivery_gets_the_changes_it_was_stored_with(self):
        v1 = make_story_scored()
        v1 = v1.model_copy(update={"changes": changes_for(None, snapshot_of(v1))})
        history = with_version(None, v1, AT)
        v2 = grown(v1, ("cnn.com", "CNN"))
        v2 = v2.model_copy(update={"changes": changes_for(history, snapshot_of(v2))})
        history = with_version(history, v2, AT + timedelta(minutes=5))

        assert [e.version for e in history.entries] == [1, 2]
        assert kinds(history.entries[1].changes) == ["sources_added"]
        assert changes_for(history, snapshot_of(v2)) == v2.changes  # the same version again
        assert changes_for(history, snapshot_of(v1)) == []  # an older one: stale, dropped by the caller
        assert with_version(history, v2, AT) is None
        assert History.from_document(history.to_document()) == history

    def test_the_history_is_bounded_and_counts_what_it_dropped(self):
        view = make_story_scored()
        history = None
        for version in range(1, HISTORY_MAX + 6):
            history = with_version(history, view.model_copy(update={"version": version}), AT)
        assert len(history.entries) == HISTORY_MAX
        assert history.entries[0].version == 6
        assert history.dropped == 5
