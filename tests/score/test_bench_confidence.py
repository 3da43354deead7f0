"""``tellwell bench confidence`` on a small hand-made stream (pure: no stores, no model)."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tellwell.bench.confidence import (
    Lexicon,
    Options,
    audit_figures,
    changed_number,
    negate,
    perturb_figure,
    perturb_negation,
    read_audit,
    run,
    spearman,
)
from tellwell.common.embed import HashEncoder
from tellwell.score.corroboration import Stance

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# (story, outlet domain, title, text): three events, two of them earthquakes (hard negatives of
# each other), each reported by independent real outlets of the bundled registry.
ROWS = [
    ("deal", "reuters.com", "Zorblax to buy Quuxly for $9 billion",
     "Zorblax said on Monday it will buy Quuxly for $9 billion in cash. The boards of both companies "
     "approved the deal, which is expected to close next year."),
    ("deal", "bbc.com", "Zorblax agrees $9 billion deal for Quuxly",
     "Zorblax has agreed to buy Quuxly for $9 billion, the companies said. Quuxly makes chips for "
     "phones and cars."),
    ("deal", "apnews.com", "Zorblax buys Quuxly in $9 billion deal",
     "Zorblax will buy Quuxly for $9 billion, the companies announced on Monday. Shares of Quuxly "
     "rose 20 percent."),
    ("deal", "csmonitor.com", "Zorblax to acquire Quuxly for $9 billion",
     "Zorblax is to acquire the chipmaker Quuxly for $9 billion. Regulators will review the deal."),
    ("deal", "npr.org", "Zorblax will buy Quuxly for $9 billion",
     "Zorblax will buy Quuxly for $9 billion in cash, the company said on Monday."),
    ("deal", "nytimes.com", "Zorblax strikes $9 billion deal to buy Quuxly",
     "Zorblax struck a deal to buy Quuxly for $9 billion on Monday. The deal still needs approval."),
    ("chile", "reuters.com", "Magnitude 6.1 earthquake strikes northern Chile",
     "A magnitude 6.1 earthquake struck northern Chile on Tuesday, the US Geological Survey said. "
     "There were no immediate reports of damage."),
    ("chile", "bbc.com", "Earthquake of magnitude 6.1 hits northern Chile",
     "An earthquake of magnitude 6.1 hit northern Chile near Arica, seismologists said."),
    ("chile", "apnews.com", "Strong 6.1 earthquake shakes northern Chile",
     "A strong earthquake of magnitude 6.1 shook northern Chile on Tuesday, officials said."),
    ("chile", "nytimes.com", "6.1 magnitude earthquake strikes Chile's north",
     "A magnitude 6.1 earthquake struck northern Chile on Tuesday, near the city of Arica."),
    ("peru", "reuters.com", "Magnitude 5.2 earthquake strikes southern Peru",
     "A magnitude 5.2 earthquake struck southern Peru on Wednesday, the US Geological Survey said."),
    ("peru", "csmonitor.com", "Earthquake of magnitude 5.2 hits southern Peru",
     "An earthquake of magnitude 5.2 hit southern Peru near Arequipa, seismologists said."),
    ("peru", "npr.org", "Moderate 5.2 earthquake shakes southern Peru",
     "A moderate earthquake of magnitude 5.2 shook southern Peru on Wednesday, officials said."),
]  # fmt: skip

PAIRS = [
    (5.0, "Zorblax to buy Quuxly for $9 billion", "Zorblax will buy Quuxly for $9 billion"),
    (
        4.6,
        "Magnitude 6.1 earthquake strikes northern Chile",
        "Earthquake of magnitude 6.1 hits northern Chile",
    ),
    (0.0, "Zorblax to buy Quuxly for $9 billion", "Magnitude 6.1 earthquake strikes northern Chile"),
    (0.4, "City council approves new stadium", "Earthquake of magnitude 5.2 hits southern Peru"),
    (2.5, "Zorblax to buy Quuxly", "Zorblax shares rise on Quuxly talks"),
]


def write_stream(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i, (story, domain, title, text) in enumerate(ROWS):
            row = {
                "id": f"t{i}",
                "title": title,
                "text": text,
                "source": domain,
                "url": f"https://www.{domain}/news/{story}-{i}",
                "lang": "en",
                "published_at": (T0 + timedelta(minutes=20 * i)).isoformat().replace("+00:00", "Z"),
                "story": story,
            }
            f.write(json.dumps(row) + "\n")
    return path


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bench")
    stream = write_stream(tmp / "hand.jsonl")
    pairs = tmp / "pairs.jsonl"
    pairs.write_text(
        "".join(json.dumps({"year": "2013", "score": s, "a": a, "b": b}) + "\n" for s, a, b in PAIRS)
    )
    other = tmp / "hand2.jsonl"  # a second stream, so that leave-one-stream-out has one to leave out
    other.write_text(stream.read_text())
    audit = tmp / "audit.jsonl"  # every member of its own story labelled as stating the claim
    audit.write_text(
        "".join(
            json.dumps({"stream": "hand", "story": story, "article_id": f"t{i}", "states": True}) + "\n"
            for i, (story, *_rest) in enumerate(ROWS)
        )
    )
    out = run(
        [stream, other],
        pairs,
        grid={"support_overlap": [0.5, 0.6]},
        encoder=HashEncoder(),
        options=Options(calibration_stories=10),
        audit_path=audit,
    )
    json.dumps(out)  # one JSON line: everything must serialise
    return out


class TestAudit:
    def test_audited_figures_count_against_the_labels(self, result: dict[str, Any]) -> None:
        # labels "every member states its story's claim" agree with the gold positives
        gold, audited = result["streams"]["hand"]["support"], result["streams"]["hand"]["audited_support"]
        assert (audited["tp"], audited["fn"]) == (gold["tp"], gold["fn"])
        assert audited["matched"] == gold["positives"]
        assert "audited_support" not in result["streams"]["hand2"]  # labels are per stream

    def test_a_label_overrides_the_gold_story(self) -> None:
        calls = {("s1", "a"): Stance.supports, ("s1", "b"): Stance.silent, ("s2", "c"): Stance.supports}
        labels = {("s1", "a"): False, ("s1", "b"): True, ("s2", "c"): True, ("s3", "unjudged"): True}
        got = audit_figures(calls, labels)
        assert (got["tp"], got["fp"], got["fn"], got["tn"]) == (1, 1, 1, 0)
        assert (got["labelled"], got["matched"]) == (4, 3)
        assert (got["precision"], got["recall"]) == (0.5, 0.5)

    def test_a_broken_label_line_names_its_place(self, tmp_path: Path) -> None:
        bad = tmp_path / "audit.jsonl"
        bad.write_text('{"stream": "x", "story": "s", "article_id": "a", "states": true}\n{"stream": "x"}\n')
        with pytest.raises(ValueError, match=r"audit\.jsonl:2"):
            read_audit(bad)


class TestSections:
    def test_every_section_is_reported(self, result: dict[str, Any]) -> None:
        stream = result["streams"]["hand"]
        for section in ("support", "contradiction", "calibration", "related", "timing_s", "targets_met"):
            assert section in stream
        assert {"pairs", "loso", "timing_s", "targets"} <= set(result)
        assert stream["stories"] == 3

    def test_figures_are_rates(self, result: dict[str, Any]) -> None:
        support = result["streams"]["hand"]["support"]
        assert support["positives"] >= 10
        assert support["negatives"] >= 3
        for key in ("precision", "recall", "f1"):
            assert 0.0 <= support[key] <= 1.0
        contradiction = result["streams"]["hand"]["contradiction"]
        assert 0.0 <= contradiction["false_contradiction_rate"] <= 1.0


class TestSupport:
    def test_clear_restatements_support_and_the_twin_earthquake_does_not(
        self, result: dict[str, Any]
    ) -> None:
        support = result["streams"]["hand"]["support"]
        assert support["recall"] >= 0.8
        assert support["fp"] == 0


class TestContradiction:
    def test_a_changed_figure_is_a_contradiction(self, result: dict[str, Any]) -> None:
        figure = result["streams"]["hand"]["contradiction"]["by_kind"]["figure"]
        assert figure["perturbed"] >= 8  # every report states the claim's $9 billion or 6.1
        assert figure["recall_of_supported"] == 1.0

    def test_unperturbed_reports_are_not_contradictions(self, result: dict[str, Any]) -> None:
        assert result["streams"]["hand"]["contradiction"]["false_contradictions"] == 0


class TestCalibration:
    def test_properties_hold_on_the_hand_made_stories(self, result: dict[str, Any]) -> None:
        cal = result["streams"]["hand"]["calibration"]
        assert cal["monotonicity_checked"] >= 2
        assert cal["monotonicity_violations"] == 0
        assert cal["copy_checked"]["copy_of"] == 3
        assert cal["copy_invariance_violations"] == 0
        assert cal["median_single_unrated"] < cal["median_credible_5plus"]
        assert cal["n_credible_5plus"] == 1  # the deal: six rated outlets


class TestPairsAndLoso:
    def test_pairs(self, result: dict[str, Any]) -> None:
        pairs = result["pairs"]
        assert pairs["pairs"] == 5
        assert pairs["clear"] == 4
        assert pairs["clear_accuracy"] == 1.0
        assert -1.0 <= pairs["spearman"] <= 1.0

    def test_loso_reports_the_grid(self, result: dict[str, Any]) -> None:
        loso = result["loso"]
        assert loso["points"] == 3  # the defaults and two grid points
        assert "hand" in loso["fitted_all"]
        held = loso["held_out"]["hand"]
        assert held["params"] in ({}, {"support_overlap": 0.5}, {"support_overlap": 0.6})
        assert held["default"]["f1"] == result["streams"]["hand"]["support"]["f1"]


class TestPerturbations:
    def test_figure_changed_by_at_least_thirty_percent(self) -> None:
        got = perturb_figure(
            "Zorblax to buy Quuxly for $9 billion", "Zorblax buys Quuxly, $9bn", "It pays 9 billion dollars."
        )
        assert got == ("Zorblax buys Quuxly, $14bn", "It pays 14 billion dollars.")
        assert changed_number("2.1") == "3.2"
        assert changed_number("1,200") == "1,800"
        assert perturb_figure("Quake kills 30", "Storm hits coast", "Rain in 2014.") is None

    def test_negation(self) -> None:
        lexicon = Lexicon()
        assert negate("Zorblax will buy Quuxly", lexicon) == "Zorblax will not buy Quuxly"
        assert (
            negate("Colorado collects $2M in pot taxes", lexicon)
            == "Colorado does not collect $2M in pot taxes"
        )
        assert negate("Weitz has a new film", lexicon) == "Weitz does not have a new film"
        assert negate("Why Woodley doesn't have a phone", lexicon) is None
        # with a stream's vocabulary, only words whose base form the stream uses are verbs
        known = Lexicon(vocab=Counter({"fall": 3, "speed": 2}))
        assert negate("Car speed record falls", known) == "Car speed record does not fall"
        got = perturb_negation(
            "Zorblax to buy Quuxly", "Deal news", "Zorblax said it will buy Quuxly. Rain fell.", lexicon, 4000
        )
        assert got == ("Deal news", "Zorblax said it will not buy Quuxly. Rain fell.")

    def test_spearman_with_ties(self) -> None:
        assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
        assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
        # ties get their average rank: ranks (1.5, 1.5, 3) against (1, 2, 3)
        assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(0.8660254)
