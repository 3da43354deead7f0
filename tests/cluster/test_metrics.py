"""B-cubed, NMI and ARI against values computed by hand."""

import math

import pytest

from tellwell.bench.cluster import ari, bcubed, nmi

# gold: a a a b b ; predicted: 1 1 2 2 2
GOLD = ["a", "a", "a", "b", "b"]
PRED = [1, 1, 2, 2, 2]


class TestBcubed:
    def test_hand_computed_example(self):
        # precision: cluster 1 -> 2 items at 2/2; cluster 2 -> a at 1/3, b b at 2/3 each: (2 + 5/3) / 5
        # recall: story a -> 2 items at 2/3, 1 at 1/3; story b -> 2 items at 2/2: (5/3 + 2) / 5
        p, r, f = bcubed(PRED, GOLD)
        assert p == pytest.approx(11 / 15)
        assert r == pytest.approx(11 / 15)
        assert f == pytest.approx(11 / 15)

    def test_perfect_clustering_scores_one(self):
        assert bcubed(["x", "x", "y"], ["a", "a", "b"]) == pytest.approx((1.0, 1.0, 1.0))

    def test_everything_in_one_cluster_has_full_recall_and_low_precision(self):
        p, r, _ = bcubed([0, 0, 0, 0], ["a", "a", "b", "b"])
        assert p == pytest.approx(0.5)
        assert r == pytest.approx(1.0)

    def test_all_singletons_have_full_precision_and_low_recall(self):
        p, r, _ = bcubed([0, 1, 2, 3], ["a", "a", "b", "b"])
        assert p == pytest.approx(1.0)
        assert r == pytest.approx(0.5)

    def test_label_names_do_not_matter(self):
        assert bcubed(PRED, GOLD) == pytest.approx(
            bcubed(["q", "q", "z", "z", "z"], ["b", "b", "b", "a", "a"])
        )

    def test_lengths_must_match(self):
        with pytest.raises(ValueError, match="length"):
            bcubed([1, 2], ["a"])


class TestNmi:
    def test_hand_computed_example(self):
        h = -(0.4 * math.log(0.4) + 0.6 * math.log(0.6))  # both partitions are {2, 3} / {3, 2}
        mi = (
            0.4 * math.log(0.4 / (0.4 * 0.6))
            + 0.2 * math.log(0.2 / (0.6 * 0.6))
            + 0.4 * math.log(0.4 / (0.6 * 0.4))
        )
        assert nmi(PRED, GOLD) == pytest.approx(mi / h)

    def test_identical_partitions_score_one(self):
        assert nmi([1, 1, 2, 3], ["a", "a", "b", "c"]) == pytest.approx(1.0)

    def test_one_cluster_against_two_stories_scores_zero(self):
        assert nmi([0, 0, 0, 0], ["a", "a", "b", "b"]) == pytest.approx(0.0)


class TestAri:
    def test_hand_computed_example(self):
        # same-cluster pairs in both: C(2,2) + C(2,2) = 2; pairs per cluster 1 + 3 = 4, per story 3 + 1 = 4
        expected = 4 * 4 / 10
        assert ari(PRED, GOLD) == pytest.approx((2 - expected) / (4 - expected))

    def test_identical_partitions_score_one(self):
        assert ari([1, 1, 2, 2], ["a", "a", "b", "b"]) == pytest.approx(1.0)

    def test_one_cluster_scores_zero(self):
        assert ari([0, 0, 0, 0], ["a", "a", "b", "b"]) == pytest.approx(0.0)
