"""Story category: taxonomy reach, feed hints, the general fallback, learning and its honest measure."""

import pytest

from tellwell.bench.summarize import category_accuracy, correct
from tellwell.common.events import Category
from tellwell.summarize.category import CategoryModel, bundled_model, category_of_hint

# Headlines written for these tests (none is in the UCI stream the bundled model learned from).
UNSEEN = {
    Category.world: (
        "UN envoy urges ceasefire as troops mass on the border",
        "Refugees flee fighting as peace talks stall",
    ),
    Category.politics: (
        "Senate passes budget bill after party-line vote",
        "Governor signs law as lawmakers head into election campaign",
    ),
    Category.business: (
        "Shares fall as investors weigh quarterly earnings",
        "Bank profit beats analyst forecasts, stock rises",
    ),
    Category.technology: (
        "Apple unveils new iPhone software update for users",
        "Google launches app for Android smartphones",
    ),
    Category.science: (
        "Astronomers spot a comet passing near Mars",
        "NASA spacecraft reaches orbit around distant planet",
    ),
    Category.health: (
        "Doctors warn of flu outbreak as hospital patients rise",
        "New vaccine cuts infection risk, clinical trial finds",
    ),
    Category.sports: (
        "Striker scores late goal to win the cup final",
        "Coach praises players after league championship win",
    ),
    Category.entertainment: (
        "Actress stars in new Hollywood film premiere",
        "Singer announces world tour after album tops charts",
    ),
    Category.publications: (
        "Peer reviewed paper in the Lancet journal reports findings",
        "Preprint on arXiv proposes new dataset for analysis",
    ),
}


@pytest.mark.parametrize("expected", list(UNSEEN))
def test_an_unseen_story_of_every_taxonomy_category_gets_it(expected):
    assert bundled_model().predict(UNSEEN[expected]) is expected


class TestHints:
    # Business by its words, with a technology flavour.
    TITLES = ["Tech firm shares rise after deal"] * 10

    def test_the_text_decides_without_hints(self):
        assert bundled_model().predict(self.TITLES) is Category.business

    def test_a_hint_on_every_member_wins_over_a_moderate_text_signal(self):
        assert bundled_model().predict(self.TITLES, ["Technology"] * 10) is Category.technology

    def test_a_unanimous_hint_does_not_overrule_clear_text(self):
        texts = UNSEEN[Category.business]
        assert bundled_model().predict(texts, ["Technology"] * len(texts)) is Category.business

    def test_a_hint_on_one_member_in_ten_does_not(self):
        assert bundled_model().predict(self.TITLES, ["Technology"] + [None] * 9) is Category.business

    def test_hints_alone_classify_a_story_with_no_known_word(self):
        assert bundled_model().predict(["Xyzzy plugh frobnicate"], ["Sport"]) is Category.sports

    @pytest.mark.parametrize(
        ("hint", "expected"),
        [
            ("Sport", Category.sports),
            ("US Politics", Category.politics),
            ("Sci/Tech", Category.technology),
            ("AI", Category.technology),
            ("Arts & Culture", Category.entertainment),
            ("health", Category.health),
            # Short keys match whole words only: 'ai' is not in 'Air travel' or 'Paint'.
            ("Air travel", None),
            ("Paint", None),
            ("", None),
            (None, None),
        ],
    )
    def test_feed_category_names_map_to_the_taxonomy(self, hint, expected):
        assert category_of_hint(hint) is expected


def test_no_evidence_is_general():
    assert bundled_model().predict(["Xyzzy plugh frobnicate"]) is Category.general
    assert bundled_model().predict([]) is Category.general


# Toy labelled stories: each category's stories share made-up words that no description contains.
def toy_story(words: str, n: int = 4) -> list[str]:
    return [words] * n


class TestLearning:
    def test_words_shared_by_a_category_s_stories_are_learned(self):
        stories = [(toy_story("qwfp zxcv"), Category.business)] * 2 + [
            (toy_story("plkm mnbv"), Category.entertainment)
        ] * 2
        model = CategoryModel.train(stories)
        assert model.predict(["qwfp zxcv again"]) is Category.business
        assert model.predict(["mnbv plkm today"]) is Category.entertainment
        assert CategoryModel().predict(["qwfp zxcv again"]) is Category.general  # descriptions alone

    def test_the_saved_model_predicts_as_the_trained_one(self):
        stories = [(toy_story("qwfp zxcv"), Category.business)] * 2 + [
            (toy_story("plkm mnbv"), Category.health)
        ] * 2
        trained = CategoryModel.train(stories)
        loaded = CategoryModel.from_json(trained.to_json())
        for texts in (["qwfp zxcv again"], ["plkm mnbv"], list(UNSEEN[Category.sports])):
            assert loaded.predict(texts) is trained.predict(texts)


class TestHeldOutMeasure:
    """The bench's leave-one-story-out figure never lets a story into its own training set."""

    @staticmethod
    def measure(per_category: int) -> dict:
        """The bench's figures on two categories of ``per_category`` stories each, all alike."""
        business, entertainment = ([{"title": t} for t in toy_story(w)] for w in ("qwfp zxcv", "plkm mnbv"))
        stories = [business] * per_category + [entertainment] * per_category
        labels = [Category.business] * per_category + [Category.entertainment] * per_category
        return category_accuracy(stories, labels, nested=True)

    def test_a_story_is_not_part_of_its_own_training(self):
        # Two stories per category: held out, a story's words occur in one training story only,
        # below the two stories a term needs, so nothing is learned from them (it would, in-sample).
        result = self.measure(2)
        assert result["accuracy_leave_one_story_out"] == 0.0
        assert result["accuracy_nested_leave_one_story_out"] == 0.0
        assert result["held_out_misses"] == {"business->general": 2, "entertainment->general": 2}

    def test_words_the_other_stories_share_are_learned(self):
        # Four per category: a nested inner fold (two stories out) still trains on two of them.
        result = self.measure(4)
        assert result["accuracy_leave_one_story_out"] == 1.0
        assert result["accuracy_nested_leave_one_story_out"] == 1.0
        assert result["accuracy_leave_one_story_out_3_headlines"] == 1.0
        assert result["stories"] == 8


class TestUciLabels:
    """UCI labels its stories b / t / e / m, where t is "science and technology"."""

    def test_science_is_right_on_a_science_and_technology_story(self):
        assert correct(Category.science, Category.technology)
        assert not correct(Category.science, Category.technology, strict=True)

    def test_other_labels_need_their_own_category(self):
        assert correct(Category.business, Category.business, strict=True)
        assert not correct(Category.science, Category.business)
        assert not correct(Category.technology, Category.health)
        assert not correct(Category.world, Category.business)
