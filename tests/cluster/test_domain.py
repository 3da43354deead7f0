"""The pure parts of clustering: features, scoring, the join/new decision, merges."""

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from tellwell.cluster.domain import (
    ArticleSignal,
    Params,
    Scored,
    StoryState,
    as_article,
    decide,
    older,
    score,
    should_absorb,
    should_merge,
    threshold_for,
)
from tellwell.cluster.features import ArticleFeatures, DocFreq, extract_entities, tokenize, weighted
from tests.cluster.articles import PARAMS, T0


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def signal(
    aid: str,
    title: str,
    vector: np.ndarray,
    *,
    at: datetime = T0,
    df: DocFreq | None = None,
    language: str = "en",
) -> ArticleSignal:
    feats = ArticleFeatures.of(title)
    df = df if df is not None else DocFreq()
    df.observe(list(feats.terms))
    return ArticleSignal(aid, vector, feats, weighted(feats.terms, df), at, language, "example.com")


def story_of(sid: str, *signals: ArticleSignal, params: Params = PARAMS) -> StoryState:
    story = StoryState.start(sid, signals[0], params)
    for s in signals[1:]:
        story.add(s, params)
    return story


class TestTokenize:
    def test_drops_stop_words_and_folds_plurals(self):
        assert tokenize("The stocks of Companies are rising") == ["stock", "company", "rising"]

    def test_keeps_numbers_and_possessive_stems(self):
        assert tokenize("Boeing's 777 jet") == ["boeing", "777", "jet"]


class TestArticleFeatures:
    def test_title_tokens_weigh_more_than_body_tokens(self):
        f = ArticleFeatures.of("Plane missing", "plane search continues", title_weight=2)
        assert f.terms["plane"] == 3
        assert f.terms["search"] == 1

    def test_trailing_ellipsis_is_dropped(self):
        f = ArticleFeatures.of("Search for missing  ...")
        assert set(f.terms) == {"search", "missing"}


class TestExtractEntities:
    def test_names_inside_running_text(self):
        ents = extract_entities("Officials said Malaysia Airlines lost contact with flight MH370 in 2014.")
        assert {"malaysia", "airline", "mh370", "2014"} <= set(ents)
        assert "officials" not in ents
        assert "official" not in ents

    def test_title_case_headline_keeps_only_acronyms_codes_and_numbers(self):
        ents = extract_entities("Search For Missing Plane Expands As NASA Joins MH370 Hunt With 40 Ships")
        assert set(ents) == {"nasa", "mh370", "40"}

    def test_lower_cased_text_yields_numbers_only(self):
        assert extract_entities("raider cowboy thanksgiving game 2013") == ["2013"]


class TestDocFreq:
    def test_idf_falls_as_a_term_spreads(self):
        df = DocFreq()
        for _ in range(10):
            df.observe(["other"])
        df.observe(["plane"])
        rare = df.idf("plane")
        for _ in range(5):
            df.observe(["plane"])
        assert df.idf("plane") < rare
        assert df.idf("unseen") > rare

    def test_counts_documents_not_occurrences(self):
        df = DocFreq()
        df.observe(["plane", "plane", "plane"])
        assert df.df["plane"] == 1
        assert df.n_docs == 1

    def test_snapshot_round_trip(self):
        df = DocFreq()
        df.observe(["a", "b"])
        df.observe(["a"])
        again = DocFreq.restore(df.snapshot())
        assert again.n_docs == 2
        assert again.idf("a") == df.idf("a")


class TestScore:
    def test_contributions_sum_to_the_total(self):
        df = DocFreq()
        story = story_of("s1", signal("a1", "Missing plane search", unit(1, 0, 0), df=df))
        total, parts = score(signal("a2", "Plane search widens", unit(1, 1, 0), df=df), story, df, PARAMS)
        assert total == pytest.approx(sum(parts.values()))
        assert {"embedding", "lexical", "time"} <= set(parts)

    def test_closer_vector_and_shared_words_score_higher(self):
        df = DocFreq()
        story = story_of("s1", signal("a1", "Missing plane search", unit(1, 0, 0), df=df))
        near, _ = score(
            signal("a2", "Missing plane search widens", unit(1, 0.1, 0), df=df), story, df, PARAMS
        )
        far, _ = score(signal("a3", "Oil prices fall", unit(0, 0, 1), df=df), story, df, PARAMS)
        assert near > far

    def test_time_penalty_grows_with_the_gap_and_is_capped(self):
        df = DocFreq()
        story = story_of("s1", signal("a1", "Missing plane", unit(1, 0), df=df))
        gaps = [
            score(
                signal("x", "Missing plane", unit(1, 0), at=T0 + timedelta(hours=h), df=df), story, df, PARAMS
            )[1]["time"]
            for h in (0, 6, 12, 1000)
        ]
        assert gaps[0] == 0.0
        assert gaps[0] > gaps[1] > gaps[2] > gaps[3]
        assert gaps[3] == pytest.approx(-PARAMS.w_time)

    def test_entity_contribution_only_when_the_article_names_something(self):
        df = DocFreq()
        story = story_of("s1", signal("a1", "Talks with NATO in Brussels", unit(1, 0), df=df))
        _, with_names = score(signal("a2", "NATO talks end", unit(1, 0), df=df), story, df, PARAMS)
        _, without = score(signal("a3", "talks end", unit(1, 0), df=df), story, df, PARAMS)
        assert with_names["entities"] > 0
        assert "entities" not in without

    def test_singleton_stories_get_their_own_threshold(self):
        params = replace(PARAMS, singleton_delta=0.1)
        one = story_of("s1", signal("a1", "x", unit(1, 0)), params=params)
        two = story_of("s2", signal("a1", "x", unit(1, 0)), signal("a2", "x", unit(1, 0)), params=params)
        assert threshold_for(one, params) == pytest.approx(params.join_threshold + 0.1)
        assert threshold_for(two, params) == pytest.approx(params.join_threshold)


class TestDecide:
    def test_joins_the_candidate_with_the_largest_margin(self):
        d = decide([Scored("a", 0.6, 0.5, {}), Scored("b", 0.65, 0.6, {}), Scored("c", 0.9, 0.7, {})], PARAMS)
        assert d.story_id == "c"
        assert d.score == 0.9

    def test_starts_a_new_story_when_nothing_reaches_its_threshold(self):
        d = decide([Scored("a", 0.2, 0.5, {"embedding": 0.2})], PARAMS)
        assert d.story_id is None
        assert d.score == 0.2
        assert d.breakdown == {"embedding": 0.2}

    def test_no_candidates_means_a_new_story(self):
        assert decide([], PARAMS).story_id is None

    def test_related_band_keeps_near_misses_only(self):
        params = replace(PARAMS, join_threshold=0.5, related_band=0.1)
        d = decide(
            [Scored("join", 0.7, 0.5, {}), Scored("near", 0.45, 0.5, {}), Scored("far", 0.3, 0.5, {})], params
        )
        assert d.story_id == "join"
        assert d.related == [("near", 0.45)]

    def test_related_list_is_bounded_and_best_first(self):
        params = replace(PARAMS, related_band=0.5, max_related=2)
        d = decide([Scored(f"s{i}", 0.1 + i / 100, 0.5, {}) for i in range(5)], params)
        assert d.related == [("s4", 0.14), ("s3", 0.13)]


class TestStoryState:
    def test_add_updates_centroid_times_and_version(self):
        story = story_of("s", signal("a1", "x", unit(1, 0)))
        story.add(signal("a2", "y", unit(0, 1), at=T0 + timedelta(hours=2)), PARAMS)
        assert story.member_ids == ["a1", "a2"]
        assert story.version == 2
        assert story.last_published_at == T0 + timedelta(hours=2)
        np.testing.assert_allclose(story.centroid, unit(1, 1), atol=1e-6)

    def test_related_stories_are_bounded(self):
        story = story_of("s", signal("a1", "x", unit(1, 0)))
        params = replace(PARAMS, max_related=2)
        for i, s in enumerate([0.1, 0.3, 0.2]):
            story.note_related(f"r{i}", s, params)
        assert story.related == {"r1": 0.3, "r2": 0.2}


class TestShouldMerge:
    def make(
        self, sid: str, vec: np.ndarray, words: str, at: datetime = T0, language: str = "en"
    ) -> StoryState:
        df = DocFreq()
        first = signal(sid + "-1", words, vec, at=at, df=df, language=language)
        return story_of(sid, first, *(replace(first, article_id=f"{sid}-{i}") for i in (2, 3)))

    def test_same_event_merges(self):
        a = self.make("a", unit(1, 0), "missing plane search")
        b = self.make("b", unit(1, 0.05), "missing plane search")
        ok, s = should_merge(a, b, DocFreq(), PARAMS)
        assert ok
        assert s >= PARAMS.merge_threshold

    def test_different_events_do_not_merge(self):
        a = self.make("a", unit(1, 0), "missing plane search")
        b = self.make("b", unit(0, 1), "oil price fall")
        assert should_merge(a, b, DocFreq(), PARAMS)[0] is False

    def test_other_language_does_not_merge(self):
        a = self.make("a", unit(1, 0), "missing plane")
        b = self.make("b", unit(1, 0), "missing plane", language="fr")
        assert should_merge(a, b, DocFreq(), PARAMS)[0] is False

    def test_stories_far_apart_in_time_do_not_merge(self):
        a = self.make("a", unit(1, 0), "missing plane")
        b = self.make("b", unit(1, 0), "missing plane", at=T0 + PARAMS.window + timedelta(hours=1))
        assert should_merge(a, b, DocFreq(), PARAMS)[0] is False

    def test_stories_too_small_do_not_merge(self):
        a = self.make("a", unit(1, 0), "missing plane search")
        b = story_of("b", signal("b-1", "missing plane search", unit(1, 0)))
        assert should_merge(a, b, DocFreq(), PARAMS)[0] is False
        assert should_merge(a, b, DocFreq(), replace(PARAMS, merge_min_size=1))[0] is True

    def test_the_older_story_survives(self):
        a = self.make("a", unit(1, 0), "x", at=T0 + timedelta(hours=1))
        b = self.make("b", unit(1, 0), "x", at=T0)
        survivor, absorbed = older(a, b)
        assert (survivor.story_id, absorbed.story_id) == ("b", "a")

    def test_absorb_moves_members_and_counts(self):
        a = self.make("a", unit(1, 0), "missing plane")
        b = self.make("b", unit(1, 0), "plane search")
        a.absorb(b, PARAMS)
        assert a.member_ids == ["a-1", "a-2", "a-3", "b-1", "b-2", "b-3"]
        assert a.terms == Counter({"plane": 12, "missing": 6, "search": 6})


ABSORB = replace(PARAMS, absorb_max_size=1)  # the re-check as these tests need it, whatever the default


class TestShouldAbsorb:
    def big(self, df: DocFreq, size: int = 3, language: str = "en") -> StoryState:
        first = signal("b-1", "Missing plane search widens", unit(1, 0), df=df, language=language)
        return story_of("big", first, *(replace(first, article_id=f"b-{i}") for i in range(2, size + 1)))

    def test_a_lone_story_is_scored_as_its_article(self):
        df = DocFreq()
        big = self.big(df)
        lone = signal("x", "Search for the missing plane", unit(1, 0.2), at=T0 + timedelta(hours=2), df=df)
        small = story_of("small", lone)
        as_story, _ = score(as_article(small, df), big, df, ABSORB)
        assert as_story == pytest.approx(score(lone, big, df, ABSORB)[0])

    def test_a_lone_article_that_would_join_now_is_absorbed(self):
        df = DocFreq()
        big = self.big(df)
        small = story_of("small", signal("x", "Missing plane search", unit(1, 0.1), df=df))
        ok, s = should_absorb(small, big, df, ABSORB)
        assert ok
        assert s >= threshold_for(big, ABSORB, as_article(small, df).features.length)

    def test_a_lone_article_on_another_event_is_not(self):
        df = DocFreq()
        big = self.big(df)
        small = story_of("small", signal("x", "Oil prices fall", unit(0, 1), df=df))
        assert should_absorb(small, big, df, ABSORB)[0] is False

    def test_only_stories_up_to_absorb_max_size_are_offered(self):
        df = DocFreq()
        big = self.big(df, size=4)
        one = signal("x", "Missing plane search", unit(1, 0.1), df=df)
        pair = story_of("pair", one, replace(one, article_id="y"))
        assert should_absorb(pair, big, df, ABSORB)[0] is False
        assert should_absorb(pair, big, df, replace(ABSORB, absorb_max_size=2))[0] is True
        assert should_absorb(story_of("one", one), big, df, replace(ABSORB, absorb_max_size=0))[0] is False

    def test_the_receiving_story_needs_merge_min_size_articles(self):
        df = DocFreq()
        small = story_of("small", signal("x", "Missing plane search", unit(1, 0.1), df=df))
        assert should_absorb(small, self.big(df, size=2), df, ABSORB)[0] is False
        assert should_absorb(small, self.big(df, size=3), df, ABSORB)[0] is True

    def test_other_language_or_outside_the_window_is_not_absorbed(self):
        df = DocFreq()
        small = story_of("small", signal("x", "Missing plane search", unit(1, 0.1), df=df))
        assert should_absorb(small, self.big(df, language="fr"), df, ABSORB)[0] is False
        late = signal("x", "Missing plane search", unit(1, 0.1), at=T0 + ABSORB.window + timedelta(hours=1))
        assert should_absorb(story_of("late", late), self.big(df), df, ABSORB)[0] is False
