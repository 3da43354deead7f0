"""Scoring on hand-built stories from real outlets of the bundled registry (pure: no stores)."""

import math
import random
from datetime import timedelta

import pytest

from tellwell.common.events import Lean, RelatedStory, StoryScored
from tellwell.common.sources import NEUTRAL_CREDIBILITY
from tellwell.common.testing import make_story_scored
from tellwell.score.domain import (
    HOTNESS_EPOCH,
    Member,
    ScoreParams,
    breakdown,
    hotness,
    independent_reports,
    is_primary,
    recompute,
    score_story,
    view_version,
)
from tests.score.stories import (
    CLAIMS,
    CONTRADICTING,
    OFF_CLAIM,
    SUPPORTING,
    T0,
    member,
    registry,
    sources_for,
    summary_for,
)

NOW = T0 + timedelta(hours=2)
# Independent outlets rated 'high' or better, none sharing an owner group with another.
CREDIBLE = ["reuters.com", "apnews.com", "nytimes.com", "bbc.com", "npr.org", "latimes.com", "thetimes.co.uk"]


def score(members: list[Member], claims: list[str] = CLAIMS, **overrides: object) -> StoryScored:
    return score_story(summary_for(members, claims, **overrides), members, sources_for(members), now=NOW)


def value(members: list[Member]) -> float:
    return score(members).confidence.value


class TestRegistryAssumptions:
    """The facts about real outlets these tests rely on, read from the bundled registry."""

    def test_outlets_are_rated_as_the_tests_assume(self):
        reg = registry()
        assert reg["reuters.com"].factuality == "very_high"
        assert {reg[d].factuality for d in CREDIBLE} <= {"high", "very_high"}
        assert len({reg[d].group_key for d in CREDIBLE}) == len(CREDIBLE)
        assert reg["chicagotribune.com"].owner_group == reg["mercurynews.com"].owner_group is not None
        assert "quakewatch.substack.com" not in reg

    def test_a_journal_and_government_domains_are_primary_a_newspaper_is_not(self):
        reg = registry()
        assert is_primary(reg["nature.com"])
        assert is_primary(reg["nasa.gov"])
        assert not is_primary(reg["reuters.com"])
        assert not is_primary(reg["nytimes.com"])


class TestIndependence:
    def test_wire_reprints_count_once_with_their_origin(self):
        reuters = member("reuters.com", SUPPORTING[0])
        ap = member("apnews.com", SUPPORTING[1], minutes=3)
        members = [
            reuters,
            ap,
            # marked by ingest
            member("yahoo.com", SUPPORTING[0], minutes=5, copy_of=reuters.article_id),
            # not marked, but the same text: folded by near-identical text
            member("latimes.com", SUPPORTING[1] + " ", minutes=9),
            member("cbsnews.com", SUPPORTING[0], minutes=12, copy_of=reuters.article_id),
        ]

        reports, collapsed = independent_reports(members, sources_for(members), ScoreParams())

        assert [r.lead.article_id for r in reports] == [reuters.article_id, ap.article_id]
        assert {c.article_id: (c.into_report, c.reason) for c in collapsed} == {
            members[2].article_id: (reuters.article_id, "copy"),
            members[3].article_id: (ap.article_id, "copy"),
            members[4].article_id: (reuters.article_id, "copy"),
        }

    def test_two_outlets_of_one_owner_are_one_voice(self):
        members = [
            member("chicagotribune.com", SUPPORTING[0]),
            member("mercurynews.com", SUPPORTING[1], minutes=4),
            member("chicagotribune.com", SUPPORTING[2], n=1, minutes=8),
            member("reuters.com", SUPPORTING[3], minutes=6),
        ]

        view = score(members)

        reports = view.confidence.reports
        assert len(reports) == 2
        tribune = next(r for r in reports if r.report_id == members[0].article_id)
        assert tribune.owner_group == "alden-global-capital"
        assert tribune.sources == ["chicagotribune.com", "mercurynews.com"]
        assert {c.article_id: c.reason for c in view.confidence.collapsed} == {
            members[1].article_id: "same_owner",
            members[2].article_id: "same_source",
        }
        assert view.source_count == 3
        assert view.article_count == 4


class TestConfidence:
    def test_an_unrated_blog_does_not_outweigh_two_credible_outlets_that_contradict_it(self):
        blog = member("quakewatch.substack.com", SUPPORTING[0])  # says 300 dead
        against = [member("reuters.com", CONTRADICTING[0]), member("apnews.com", CONTRADICTING[1])]  # 30
        agreeing = [member("reuters.com", SUPPORTING[1]), member("apnews.com", SUPPORTING[2])]

        disputed = score([blog, *against]).confidence
        blog_report = next(r for r in disputed.reports if r.report_id == blog.article_id)
        assert blog_report.credibility == NEUTRAL_CREDIBILITY
        assert blog_report.supports == [0, 1, 2]  # the title's event, the toll, the tsunami warning
        assert all(r.contradicts == [0, 1] for r in disputed.reports if r is not blog_report)

        # the death toll itself: far below what the blog alone would give it
        toll = breakdown(disputed.method, len(disputed.claims), disputed.reports).claims[0]
        assert 100 * toll.score < 10
        assert score([blog], claims=CLAIMS[:1]).confidence.value > 25
        assert score([blog, *against], claims=CLAIMS[:1]).confidence.value < 10
        # the story: the corroborated tsunami warning keeps it from zero, the dispute keeps it low
        assert disputed.value < 50
        assert score([blog, *agreeing]).confidence.value > disputed.value + 30

    def test_headline_paraphrases_naming_the_same_actors_and_figures_corroborate(self):
        """The demo's 'Men's Wearhouse buys Jos. A. Bank' story: other words, same names and amount."""
        claim = ["Jos. A. Bank to be acquired by Men's Wearhouse for $1.8 billion"]
        paraphrases = [
            "Men's Wearhouse finalizes deal to buy rival Jos. A. Bank",
            "Men's Wearhouse acquiring rival Jos A Bank Clothiers for $1.8 billion",
            "Jos. A. Bank agrees to $1.8 billion Men's Wearhouse bid",
            "Men's Wearhouse buys Jos. A. Bank",
        ]
        others = [
            "Men's Wearhouse to buy Jos. A. Bank for $2.1 billion",  # a conflicting amount
            "Eddie Bauer drops bid for Jos. A. Bank",  # another aspect
        ]
        members = [
            member(o, t, title=t, minutes=i)
            for i, (o, t) in enumerate(zip(CREDIBLE[:6], paraphrases + others, strict=True))
        ]

        conf = score(members, claims=claim, title=claim[0]).confidence

        assert conf.claims == claim
        assert [r.supports for r in conf.reports] == [[0]] * len(paraphrases) + [[]] * len(others)
        assert 60 <= conf.value <= 95

    def test_covering_the_story_is_not_corroborating_it(self):
        stating = score([member("reuters.com", SUPPORTING[0]), member("apnews.com", SUPPORTING[1])])
        off_claim = score([member("reuters.com", SUPPORTING[0]), member("apnews.com", OFF_CLAIM)])

        assert off_claim.confidence.reports[1].supports == []
        assert off_claim.confidence.value < stating.confidence.value

    def test_adding_an_independent_credible_corroborating_report_never_lowers_confidence(self):
        rng = random.Random(6)
        texts = SUPPORTING + CONTRADICTING + [OFF_CLAIM]
        for trial in range(40):
            outlets = rng.sample([*CREDIBLE, "quakewatch.substack.com", "foxnews.com"], rng.randint(1, 6))
            members = [member(o, rng.choice(texts), n=trial, minutes=i) for i, o in enumerate(outlets)]
            before = value(members)
            newcomer = rng.choice([o for o in CREDIBLE if o not in outlets] or ["voanews.com"])
            after = value([*members, member(newcomer, rng.choice(SUPPORTING), n=trial, minutes=30)])
            assert after >= before, (outlets, newcomer)

    def test_more_independent_corroboration_raises_confidence(self):
        figures = [
            value([member(o, SUPPORTING[i]) for i, o in enumerate(CREDIBLE[:n])]) for n in (1, 2, 3, 5)
        ]
        assert figures == sorted(figures)
        assert len(set(figures)) == 4

    def test_adding_copies_of_a_report_changes_nothing_in_the_figure(self):
        members = [
            member("reuters.com", SUPPORTING[0]),
            member("apnews.com", CONTRADICTING[0], minutes=2),
            member("bbc.com", OFF_CLAIM, minutes=3),
        ]
        copies = [
            member(o, members[k].text, minutes=10 + i, copy_of=members[k].article_id)
            for i, (o, k) in enumerate(
                [("yahoo.com", 0), ("nature.com", 1), ("npr.org", 2), ("foxnews.com", 0)]
            )
        ]

        before, after = score(members).confidence, score(members + copies).confidence

        assert after.value == before.value
        assert [(r.report_id, r.credibility, r.supports, r.contradicts) for r in after.reports] == [
            (r.report_id, r.credibility, r.supports, r.contradicts) for r in before.reports
        ]
        assert len(after.collapsed) == len(copies)

    def test_corroboration_only_from_one_owner_group_stays_low(self):
        one_owner = [member("chicagotribune.com", SUPPORTING[0]), member("mercurynews.com", SUPPORTING[1])]
        independent = [member("chicagotribune.com", SUPPORTING[0]), member("reuters.com", SUPPORTING[1])]

        low = score(one_owner).confidence

        assert len(low.reports) == 1
        assert low.single_source
        assert low.value < 50
        assert low.value == value(one_owner[:1])  # the second outlet of the group adds nothing
        assert value(independent) > low.value + 15

    def test_a_story_whose_one_source_is_the_paper_it_reports_scores_high(self):
        paper = member(
            "nature.com",
            "Researchers report a magnitude 7.1 earthquake that struck central Chile on Monday, killing "
            "300 people. Authorities issued a tsunami warning for the coasts of Chile and Peru.",
        )
        conf = score([paper]).confidence

        assert conf.single_source
        assert conf.reports[0].primary
        assert 90 <= conf.value <= 95
        assert conf.explanation.startswith("Single-source story")
        assert "primary source" in conf.explanation

    def test_a_single_secondary_source_scores_lower_and_says_so(self):
        conf = score([member("reuters.com", SUPPORTING[0])]).confidence

        assert conf.single_source
        assert not conf.reports[0].primary
        assert 30 <= conf.value < 50
        assert "Single-source story" in conf.explanation
        assert "secondary" in conf.explanation

    def test_the_figure_is_recomputed_from_the_payload_alone(self):
        stories = [
            [member("reuters.com", SUPPORTING[0])],
            [member("nature.com", SUPPORTING[0])],
            [
                member(o, t, minutes=i)
                for i, (o, t) in enumerate(zip(CREDIBLE, SUPPORTING + CONTRADICTING, strict=False))
            ],
            [member("quakewatch.substack.com", SUPPORTING[0]), member("reuters.com", CONTRADICTING[0])],
        ]
        for members in stories:
            view = score(members)
            payload = StoryScored.model_validate_json(view.model_dump_json())  # what a subscriber gets
            assert recompute(payload.confidence) == view.confidence.value

        # and the payload really determines it: dropping a report's support changes the figure
        conf = score(stories[2]).confidence
        tampered = conf.model_copy(
            update={"reports": [conf.reports[0].model_copy(update={"supports": []}), *conf.reports[1:]]}
        )
        assert recompute(tampered) < conf.value

    def test_an_unknown_method_cannot_be_recomputed(self):
        conf = score([member("reuters.com", SUPPORTING[0])]).confidence
        with pytest.raises(ValueError, match="unknown confidence method"):
            recompute(conf.model_copy(update={"method": "magic-v9"}))


class TestLeanAndBlindspot:
    def test_shares_are_over_independent_reports_with_a_rated_lean(self):
        members = [
            member("reuters.com", SUPPORTING[0]),  # center
            member("nytimes.com", SUPPORTING[1]),  # lean_left
            member("thetimes.co.uk", SUPPORTING[2]),  # lean_right
            member("foxnews.com", SUPPORTING[3]),  # right
            member("quakewatch.substack.com", SUPPORTING[4]),  # unrated
        ]
        copy = member("yahoo.com", SUPPORTING[0], copy_of=members[0].article_id)  # not a voice of its own
        lean = score([*members, copy]).lean

        assert (lean.left, lean.center, lean.right, lean.unrated) == (0.25, 0.25, 0.5, 1)
        assert lean.counts[Lean.right] == 1
        assert lean.counts[Lean.lean_left] == 1

    def test_a_story_covered_only_by_the_right_is_a_blindspot_once_big_enough(self):
        right = ["foxnews.com", "breitbart.com", "dailywire.com", "washingtonexaminer.com"]
        three = score([member(o, SUPPORTING[i]) for i, o in enumerate(right[:3])])
        two = score([member(o, SUPPORTING[i]) for i, o in enumerate(right[:2])])
        mixed = score([member(o, SUPPORTING[i]) for i, o in enumerate([*right[:3], "nytimes.com"])])

        assert three.blindspot is not None
        assert three.blindspot.side == "right"
        assert two.blindspot is None  # below blindspot_min_reports
        assert mixed.blindspot is None  # 3 of 4 is below the 0.8 share


class TestHotness:
    def test_the_stored_figure_orders_stories_as_their_decayed_arrival_rates_do_at_any_later_time(self):
        half_life = 6.0
        tau = half_life / math.log(2)
        burst_yesterday = [T0 - timedelta(hours=24, minutes=i) for i in range(12)]
        trickle_now = [T0 - timedelta(minutes=30 * i) for i in range(3)]
        stored = {
            "burst": hotness(burst_yesterday, T0, half_life),
            "trickle": hotness(trickle_now, T0, half_life),
        }
        for later in (T0, T0 + timedelta(hours=5), T0 + timedelta(days=3)):

            def rate(arrivals, later=later):
                return sum(math.exp(-(later - t).total_seconds() / 3600 / tau) for t in arrivals) / tau

            assert (stored["trickle"] > stored["burst"]) == (rate(trickle_now) > rate(burst_yesterday))
            # the documented conversion gives the rate back
            hours = (later - HOTNESS_EPOCH).total_seconds() / 3600
            assert math.isclose(
                math.exp(stored["trickle"] - hours / tau) / tau, rate(trickle_now), rel_tol=1e-4
            )

    def test_a_story_dated_in_the_future_is_not_hotter_than_one_arriving_now(self):
        assert hotness([T0 + timedelta(days=30)], T0, 6.0) == hotness([T0], T0, 6.0)

    def test_new_independent_sources_make_a_story_hotter_copies_do_not(self):
        base = [member("reuters.com", SUPPORTING[0])]
        more = [*base, member("apnews.com", SUPPORTING[1], minutes=20)]
        copied = [*base, member("yahoo.com", SUPPORTING[0], minutes=20, copy_of=base[0].article_id)]
        assert score(more).hotness > score(base).hotness == score(copied).hotness


class TestView:
    def test_the_view_carries_the_summary_members_and_counts(self):
        members = [member("reuters.com", SUPPORTING[0]), member("foxnews.com", SUPPORTING[1], minutes=7)]
        view = score(members, version=4)

        assert view.version == view_version(4, ScoreParams())
        assert view.cluster_version == 4
        assert view.title.startswith("Magnitude 7.1")
        assert [s.text for s in view.summary] == CLAIMS
        assert [a.source for a in view.articles] == ["reuters.com", "foxnews.com"]
        assert [a.lean for a in view.articles] == [Lean.center, Lean.right]
        assert view.first_published_at == T0
        assert view.last_published_at == T0 + timedelta(minutes=7)

    def test_versions_grow_with_the_cluster_version_and_with_a_scorer_revision(self):
        # cluster version x 100 + revision, as documented: stored views carry these numbers, so the
        # scale cannot change without every stored view comparing wrongly with new ones
        assert view_version(3, ScoreParams(revision=7)) == 307
        assert view_version(4, ScoreParams(revision=1)) > view_version(3, ScoreParams(revision=9))
        assert view_version(3, ScoreParams(revision=2)) > view_version(3, ScoreParams(revision=1))

    def test_a_language_model_summary_ranks_above_the_extractive_one_of_its_version(self):
        params = ScoreParams(revision=49)
        llm = view_version(3, params, "llm:qwen2.5")
        assert (
            view_version(3, params, "extractive-v1") < llm < view_version(4, ScoreParams(), "extractive-v1")
        )
        assert llm == 399  # 3 x 100 + 50 (llm:) + revision 49, the same for a redelivery

    def test_related_stories_get_display_fields_from_their_views_and_merges_are_followed(self):
        members = [member("reuters.com", SUPPORTING[0])]
        other = make_story_scored(story_id="story-copper", title="Copper jumps on Chile mine fears")
        summary = summary_for(
            members,
            related=[
                RelatedStory(story_id="story-copper-old", score=0.6),  # merged into story-copper
                RelatedStory(story_id="story-copper", score=0.5),  # the same survivor again
                RelatedStory(story_id="story-unscored", score=0.4),
            ],
        )
        view = score_story(
            summary,
            members,
            sources_for(members),
            now=NOW,
            related={"story-copper-old": other, "story-copper": other},
        )

        assert [(r.story_id, r.title) for r in view.related] == [
            ("story-copper", "Copper jumps on Chile mine fears"),
            ("story-unscored", None),
        ]
        assert view.related[0].confidence == other.confidence.value
        assert view.related[0].source_count == other.source_count


class TestPassageCache:
    def test_a_cached_story_scores_exactly_as_a_fresh_one(self):
        from tellwell.score.corroboration import PassageCache

        members = [
            member(o, t, minutes=i) for i, (o, t) in enumerate(zip(CREDIBLE, SUPPORTING, strict=False))
        ]
        cache = PassageCache()
        summary = summary_for(members)
        warm_up = score_story(summary, members[:-1], sources_for(members), now=NOW, cache=cache)
        cached = score_story(summary, members, sources_for(members), now=NOW, cache=cache)
        fresh = score_story(summary, members, sources_for(members), now=NOW)

        assert len(cache) == len(members)
        assert cached.confidence == fresh.confidence
        assert warm_up.confidence.value <= cached.confidence.value
